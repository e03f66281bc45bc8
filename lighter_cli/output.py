"""What the operator's tools (record, candles, keys, test-order) share: a plain-text table for
people, JSON for scripts, one-line errors with exit status 2, and progress lines on stderr.

A tool raises `ToolError` for anything the operator must fix or retry (a bad flag value, an
unreachable venue, a refusal); `run_tool` turns it into `lighter-trader <tool>: error: ...` on
one line and exit status 2. Messages never carry secrets: the tools build them from codes,
counts and public values only.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

T = TypeVar("T")


class ToolError(Exception):
    """One line for the operator: what failed and, where it helps, what to do."""


def one_line(text: str) -> str:
    return " ".join(str(text).split())


def run_tool(prog: str, body: Callable[[], int]) -> int:
    """body() -> exit status; a ToolError is one line on stderr and exit status 2."""
    try:
        return body()
    except ToolError as exc:
        print(f"{prog}: error: {one_line(str(exc))}", file=sys.stderr, flush=True)
        return 2


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Left-aligned columns, a rule under the header."""
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, default=str), flush=True)


class Progress:
    """At most one progress line per `every_s` on stderr (the table or JSON goes to stdout)."""

    def __init__(self, prog: str, every_s: float = 2.0, enabled: bool = True) -> None:
        self.prog = prog
        self.every_s = every_s
        self.enabled = enabled
        self._last = time.monotonic()  # the first line after every_s: a quick failure stays one line

    def __call__(self, text: str, force: bool = False) -> None:
        now = time.monotonic()
        if self.enabled and (force or now - self._last >= self.every_s):
            self._last = now
            print(f"{self.prog}: {text}", file=sys.stderr, flush=True)


class Steps:
    """Named, timed steps: a table for people, a list for --json."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    async def run(self, name: str, action: Callable[[], Awaitable[T]], detail: Callable[[T], str]) -> T:
        started = time.perf_counter()
        try:
            result = await action()
        except ToolError as exc:
            self.rows.append({"step": name, "ok": False, "ms": _ms(started), "detail": one_line(str(exc))})
            raise
        self.rows.append({"step": name, "ok": True, "ms": _ms(started), "detail": detail(result)})
        return result

    def table(self) -> str:
        return table(["step", "ok", "ms", "detail"],
                     [[r["step"], "yes" if r["ok"] else "NO", r["ms"], r["detail"]] for r in self.rows])  # fmt: skip


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)
