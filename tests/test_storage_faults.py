"""Storage faults in the writer (storage.writer, storage.faults), with SQLite's own limits: PRAGMA
max_page_count makes the database "full" (SQLITE_FULL) deterministically, PRAGMA query_only makes
it refuse writes (SQLITE_READONLY; the stand-in for a read-only database, which chmod cannot give
a test that may run as root). Nothing acknowledged is lost, no order is stored (hence sent) while
the disk is full, queued records survive, writing resumes by itself when space returns."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import pytest

from storage import StorageReader, StorageWriter
from storage.faults import StorageFault, storage_fault
from tests.test_storage import candle, command, fill

RETRY_S = 0.1


def test_sqlite_errors_are_told_apart_from_record_errors(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "x.db")
    conn.execute("CREATE TABLE t (x INTEGER PRIMARY KEY)")
    conn.execute("INSERT INTO t VALUES (1)")
    with pytest.raises(sqlite3.IntegrityError) as constraint:
        conn.execute("INSERT INTO t VALUES (1)")
    assert storage_fault(constraint.value, "x.db") is None  # one record's problem: isolated, not a fault
    conn.execute("PRAGMA query_only=ON")
    with pytest.raises(sqlite3.OperationalError) as readonly:
        conn.execute("INSERT INTO t VALUES (2)")
    fault = storage_fault(readonly.value, "/d/x.db")
    assert str(fault) == "storage: read-only database (SQLITE_READONLY) at /d/x.db"
    full = sqlite3.OperationalError("database or disk is full")
    assert str(storage_fault(full, "/d/x.db")) == "storage: disk full (SQLITE_FULL) at /d/x.db"
    import pickle

    assert str(pickle.loads(pickle.dumps(fault))) == str(fault)  # crosses Ray as itself


async def _fill_up(writer: StorageWriter, start_ms: int) -> int:
    """Candles submitted until the writer reports the disk full; returns how many were submitted."""
    submitted = 0
    deadline = time.monotonic() + 20.0
    while writer.fault is None:
        assert time.monotonic() < deadline, "the database never filled up"
        for _ in range(50):
            writer.submit(candle(start_ms + 15_000 * submitted))
            submitted += 1
        await writer.flush()
    return submitted


async def _wait_for(predicate, timeout_s: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.02)  # polling the writer's state


async def test_a_full_disk_refuses_orders_keeps_the_rest_and_resumes_when_space_returns(tmp_path: Path) -> None:
    path = tmp_path / "full.db"
    faults: list[StorageFault | None] = []
    writer = StorageWriter(path, flush_interval_ms=10_000, retry_interval_s=RETRY_S, hold_s=30.0,
                           on_fault=faults.append)
    await writer.open()
    try:
        assert await writer.write_durable(command(1)) is True  # acknowledged before the disk filled
        pages = await writer.set_limits()
        await writer.set_limits(max_page_count=pages)
        submitted = await _fill_up(writer, 0)
        assert [str(f) for f in faults] == [f"storage: disk full (SQLITE_FULL) at {path}"]
        # an order is refused at once: it must not be sent, since it is not stored
        with pytest.raises(StorageFault, match="disk full"):
            await writer.write_durable(command(2), wait_s=0.0)
        # a fill waits for the disk; one that may wait only briefly fails, and is NOT stored later
        held = asyncio.ensure_future(writer.write_durable(fill(7)))
        brief = asyncio.ensure_future(writer.write_durable(fill(8), wait_s=0.2))
        with pytest.raises(StorageFault):
            await asyncio.wait_for(brief, 5.0)
        assert not held.done()
        writer.submit(candle(15_000 * submitted))  # queued during the fault: kept
        await writer.set_limits(max_page_count=2**31)  # space returns
        assert await asyncio.wait_for(held, 5.0) is True
        await _wait_for(lambda: writer.fault is None and writer.pending == 0)
        assert faults[-1] is None and len(faults) == 2
        await writer.write_durable(fill(9))  # writing goes on as before
    finally:
        await writer.close()
    with StorageReader(path) as db:
        assert db.order(1001, 1) is not None and db.order(1001, 2) is None
        assert sorted(f.fill.trade_id for f in db.fills_since(0)) == [7, 9]
        candles = db.candles("rsi_bb", 2, 15, 100_000)
    assert len(candles) == submitted + 1  # every queued candle, none lost to the fault
    assert writer.stats["refused_while_faulted"] == 1 and writer.stats["failed_while_faulted"] == 1


async def test_a_read_only_database_is_one_line_and_a_probe_finds_it_writable_again(tmp_path: Path) -> None:
    path = tmp_path / "ro.db"
    faults: list[StorageFault | None] = []
    writer = StorageWriter(path, flush_interval_ms=10_000, retry_interval_s=RETRY_S, on_fault=faults.append)
    await writer.open()
    try:
        await writer.set_limits(query_only=True)
        writer.submit(candle(0))
        await writer.flush()
        assert [str(f) for f in faults] == [f"storage: read-only database (SQLITE_READONLY) at {path}"]
        assert writer.pending == 1
        await writer.set_limits(query_only=False)
        await _wait_for(lambda: writer.fault is None)  # the kept candle commits on the next retry
        assert faults == [faults[0], None] and writer.pending == 0
        # with nothing queued, recovery is found by a probe write that leaves nothing behind
        await writer.set_limits(query_only=True)
        with pytest.raises(StorageFault):
            await writer.write_durable(fill(1), wait_s=0.05)
        assert writer.fault is not None and writer.pending == 0
        await writer.set_limits(query_only=False)
        await _wait_for(lambda: writer.fault is None)
    finally:
        await writer.close()
    with StorageReader(path) as db:
        assert len(db.candles("rsi_bb", 2, 15, 10)) == 1 and db.fills_since(0) == []
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT COUNT(*) FROM schema_version WHERE version < 0").fetchone()[0] == 0
    conn.close()


async def test_a_really_full_file_system_where_a_tmpfs_can_be_mounted() -> None:
    """SQLite's write failing with the file system's ENOSPC (scripts/storage_full_fs.py); mounting
    needs root and a container that allows it, so elsewhere (CI) this is skipped with the reason."""
    import os

    from scripts.storage_full_fs import MountUnavailable, run_full_fs

    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (run scripts/storage_full_fs.py with sudo)")
    try:
        result = await run_full_fs(1024)
    except MountUnavailable as exc:
        pytest.skip(str(exc))
    assert result["fault"].startswith("storage: disk full (SQLITE_FULL) at ")
    assert result["order_refused"] and result["fill_stored"]
    assert result["records_stored"] == result["records_submitted"] > 0
    assert result["fault_calls"][-1] is None and len(result["fault_calls"]) == 2
