"""Running the operator's tools (lighter_cli) from async tests against an in-process simulator.

`run_cli` starts `python -m lighter_cli ...` as a process (all of its output captured, logging
included: what the secrets checks need); `run_main` calls a tool's main() on a worker thread
(it runs its own event loop) with stdout and stderr captured, for the quick error cases.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TIMEOUT = 30.0


async def run_cli(*args: str, env: Mapping[str, str] | None = None) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "lighter_cli", *args, cwd=REPO, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, env={**os.environ, "RAY_USAGE_STATS_ENABLED": "0", **(env or {})})
    stdout, stderr = await asyncio.wait_for(proc.communicate(), TIMEOUT)
    assert proc.returncode is not None
    return proc.returncode, stdout.decode(), stderr.decode()


async def run_main(main: Callable[[Sequence[str]], int], *args: str) -> tuple[int, str, str]:
    def run() -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(list(args))
            except SystemExit as exc:  # argparse's errors
                code = int(exc.code or 0)
        return code, out.getvalue(), err.getvalue()

    return await asyncio.wait_for(asyncio.to_thread(run), TIMEOUT)
