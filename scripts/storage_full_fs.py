"""A really full disk: the storage writer on a small tmpfs (`mount -t tmpfs -o size=1m`; needs root).

    sudo .venv/bin/python -m scripts.storage_full_fs [--size-kib 1024]

A database is made on a fresh tmpfs, a ballast file takes the rest of its space, and records are
written until SQLite's own write fails with the file system's ENOSPC (not PRAGMA max_page_count,
which the tests use where mounting is not allowed). Then: an order's durable write is refused at
once, the queued records are kept; the ballast is deleted, space returns and the kept records
commit by themselves. Prints a table of the steps and, last, one JSON object. Exits 2 with one
line when it cannot mount (not root, or no permission in this container).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from storage import StorageReader, StorageWriter
from storage.faults import StorageFault


class MountUnavailable(RuntimeError):
    """tmpfs cannot be mounted here; str() is one line."""


@contextlib.contextmanager
def tmpfs(size_kib: int) -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="lt-fullfs-"))
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kib}k", "tmpfs", str(folder)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        folder.rmdir()
        raise MountUnavailable(f"cannot mount a tmpfs: {' '.join(done.stderr.split()) or done.returncode}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], capture_output=True)
        folder.rmdir()


def _fill(path: Path) -> int:
    """A ballast file as large as the file system lets it grow; returns its size."""
    written = 0
    with path.open("wb", buffering=0) as f:
        try:
            while True:
                written += f.write(b"\0" * 4096) or 0
        except OSError:  # ENOSPC: full
            pass
    return written


async def run_full_fs(size_kib: int = 1024) -> dict[str, Any]:
    """The steps on a tmpfs of size_kib; MountUnavailable where mounting is not allowed."""
    from tests.test_storage import candle, command, fill

    with tmpfs(size_kib) as folder:
        db = folder / "full.db"
        faults: list[StorageFault | None] = []
        writer = StorageWriter(db, flush_interval_ms=10_000, retry_interval_s=0.1, on_fault=faults.append)
        await writer.open()
        try:
            assert await writer.write_durable(command(1)) is True
            ballast = _fill(folder / "ballast")
            submitted, started = 0, time.monotonic()
            while writer.fault is None and time.monotonic() - started < 30.0:
                for _ in range(50):
                    writer.submit(candle(15_000 * submitted))
                    submitted += 1
                await writer.flush()
            fault = writer.fault
            if fault is None:
                raise RuntimeError("the file system never filled up")
            refused = False
            try:
                await writer.write_durable(command(2), wait_s=0.0)
            except StorageFault:
                refused = True
            held = asyncio.ensure_future(writer.write_durable(fill(7)))
            (folder / "ballast").unlink()  # space returns
            freed_at = time.monotonic()
            stored = await asyncio.wait_for(held, 10.0)
            while writer.fault is not None or writer.pending:
                if time.monotonic() - freed_at > 10.0:
                    raise RuntimeError("writes did not resume")
                await asyncio.sleep(0.02)  # polling the writer
            recovered_s = time.monotonic() - freed_at
        finally:
            await writer.close()
        with StorageReader(db) as reader:
            candles = len(reader.candles("rsi_bb", 2, 15, 1_000_000))
            order_2 = reader.order(1001, 2)
        return {"fault": str(fault), "ballast_bytes": ballast, "order_refused": refused and order_2 is None,
                "fill_stored": stored, "records_submitted": submitted, "records_stored": candles,
                "recovered_s": round(recovered_s, 3), "fault_calls": [None if f is None else str(f) for f in faults]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.storage_full_fs", description=__doc__.splitlines()[0])
    parser.add_argument("--size-kib", type=int, default=1024, help="the tmpfs's size (default 1024)")
    args = parser.parse_args(argv)
    try:
        result = asyncio.run(run_full_fs(args.size_kib))
    except MountUnavailable as exc:
        print(str(exc), file=sys.stderr)
        return 2
    for name in ("fault", "ballast_bytes", "order_refused", "fill_stored", "records_submitted", "records_stored",
                 "recovered_s"):
        print(f"{name:<18} {result[name]}")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
