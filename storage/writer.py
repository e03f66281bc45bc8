"""The single SQLite writer (used by the persistence actor): batched writes plus durable acknowledgements.

    writer = StorageWriter("data/paper.db", flush_interval_ms=50, flush_max_records=500)
    await writer.open()                       # creates/migrates the database, WAL mode
    writer.submit(journal_record)             # queued; committed within flush_interval_ms
    stored = await writer.write_durable(cmd)  # returns once the transaction holding it committed
    await writer.close()                      # flushes what is queued, then closes

`submit` maps the record to rows at once (a record storage does not keep raises TypeError in
the caller) and queues it; a background task commits the queue in ONE transaction every
`flush_interval_ms`, or as soon as `flush_max_records` are queued, or at once when a durable
write is waiting. Records are committed in the order they were submitted, durable or not.

`write_durable` is for what must be on disk before the next step: an OrderCommand before the
router sends it, a fill before anyone acts on it. It returns True when the record was stored and
False when it was a duplicate: a fill whose (account_index, trade_id) is already stored, an order
whose (account_index, client_order_index) is (a retried send), a trade already recorded. Duplicates
are ignored (never an error) and counted in `stats` ("duplicate_fill", "duplicate_order", ...).

If a batch's transaction fails, it is rolled back and its records are retried one transaction
each, so one bad record cannot take the others down; a record that still fails is counted in
stats["failed"] and, if durable, its caller gets the exception. The writer never logs record
contents.

Storage faults (storage.faults: the disk is full, the database is read-only, a disk I/O error):
every write fails until the disk changes, so records are not retried one by one. The writer
enters the fault state (`fault`, one line; `on_fault(fault)` is called once), and:
- nothing is acknowledged that did not commit: a durable write with `wait_s=0` (the router's
  journal write of an order, which must not be sent unless it is stored) fails at once with the
  StorageFault; one with a longer `wait_s` (default `hold_s`) is kept and retried, and fails
  when that time has passed without a commit;
- what was only queued (`submit`) is kept in memory, in order, and retried (at most
  `max_held` records: beyond that the oldest queued ones are dropped and counted, "dropped");
- every `retry_interval_s` it retries what it keeps, or, with nothing kept, a probe write
  (storage.faults.probe_write); the first commit ends the fault (`on_fault(None)`) and writing
  goes on as before. `flush()` returns during a fault (what is kept stays queued) so that
  readers are not blocked.

Durability: WAL with synchronous=FULL by default, so a commit survives a power cut, not only a
crash of the process.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, TypeVar

import aiosqlite
from loguru import logger

from storage.faults import StorageFault, probe_write, storage_fault
from storage.schema import Row, migrate, rows_for

Synchronous = Literal["OFF", "NORMAL", "FULL", "EXTRA"]
_T = TypeVar("_T")


class _Pending:
    __slots__ = ("rows", "future", "wait_s", "since")

    def __init__(self, rows: list[Row], future: asyncio.Future[bool] | None, wait_s: float = 0.0) -> None:
        self.rows = rows
        self.future = future
        self.wait_s = wait_s  # how long a durable write may wait out a storage fault
        self.since = time.monotonic()


async def _in_connection_thread(conn: aiosqlite.Connection, fn: Callable[..., _T], *args: Any) -> _T:
    """fn(<the sqlite3 connection>, *args) on aiosqlite's connection thread, in ONE hop.

    Why: every awaited aiosqlite statement is a round trip between the event loop and that thread
    (a queue put, then a call_soon_threadsafe back); a durable write is BEGIN, its inserts and
    COMMIT, and on a busy 2-core machine those hops, not SQLite (a WAL commit with fsync takes
    about 0.2 ms), made up most of its 1-4 ms. aiosqlite's public API has no "run this function
    in your thread"; `_execute` and `_conn` are how its own methods do it (aiosqlite 0.20-0.22,
    pinned in pyproject.toml; tests/test_storage.py exercises this path on every write).
    """
    return await conn._execute(fn, conn._conn, *args)  # noqa: SLF001


def _commit_rows(conn: sqlite3.Connection, batch: list[_Pending]) -> tuple[list[bool], Counter[str]]:
    """The batch's rows in one transaction (runs on the connection's thread)."""
    outcomes: list[bool] = []
    duplicates: Counter[str] = Counter()
    conn.execute("BEGIN IMMEDIATE")
    try:
        run: list[Row] = []  # consecutive rows of one plain statement, sent as one executemany
        for item in batch:
            stored = True
            for row in item.rows:
                if row.dedupe is None:
                    if run and run[0].sql != row.sql:
                        conn.executemany(run[0].sql, [r.params for r in run])
                        run = []
                    run.append(row)
                    continue
                if run:
                    conn.executemany(run[0].sql, [r.params for r in run])
                    run = []
                if conn.execute(row.sql, row.params).rowcount == 0:
                    stored = False
                    duplicates[f"duplicate_{row.dedupe}"] += 1
            outcomes.append(stored)
        if run:
            conn.executemany(run[0].sql, [r.params for r in run])
        conn.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")
        raise
    return outcomes, duplicates


def prepare_database(path: str | Path) -> list[int]:
    """Create the file (and its directory) if needed, switch it to WAL and migrate it.

    Returns the migration versions applied now. Synchronous: call it before opening readers, or
    through `StorageWriter.open`, which runs it in a thread.
    """
    db_path = Path(path)
    db_path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(db_path, isolation_level=None, timeout=10.0)
    try:
        mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise RuntimeError(f"{db_path}: SQLite refused WAL mode (journal_mode is {mode})")
        return migrate(conn)
    finally:
        conn.close()


class StorageWriter:
    def __init__(
        self,
        path: str | Path,
        *,
        flush_interval_ms: float = 50.0,
        flush_max_records: int = 500,
        keep_snapshots: int = 100,
        synchronous: Synchronous = "FULL",
        retry_interval_s: float = 1.0,
        hold_s: float = 25.0,
        max_held: int = 200_000,
        on_fault: Callable[[StorageFault | None], None] | None = None,
    ) -> None:
        if flush_interval_ms <= 0 or flush_max_records < 1 or keep_snapshots < 1:
            raise ValueError(
                "flush_interval_ms > 0, flush_max_records >= 1 and keep_snapshots >= 1 are required"
            )
        self.path = Path(path)
        self.flush_interval_s = flush_interval_ms / 1000.0
        self.flush_max_records = flush_max_records
        self.keep_snapshots = keep_snapshots
        self.synchronous: Synchronous = synchronous
        self.retry_interval_s = retry_interval_s
        self.hold_s = hold_s
        self.max_held = max_held
        self.on_fault = on_fault
        self.fault: StorageFault | None = None
        self.fault_since = 0.0  # monotonic
        self.stats: Counter[str] = Counter()
        self.last_error: str | None = None
        self._conn: aiosqlite.Connection | None = None
        self._queue: list[_Pending] = []
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    # --- lifecycle -----------------------------------------------------------------------------
    async def open(self) -> None:
        if self._conn is not None:
            raise RuntimeError("the writer is already open")
        await asyncio.to_thread(prepare_database, self.path)
        conn = await aiosqlite.connect(self.path, isolation_level=None, timeout=10.0)
        try:
            await conn.execute(f"PRAGMA synchronous={self.synchronous}")
            await conn.execute("PRAGMA busy_timeout=10000")
        except BaseException:
            await conn.close()
            raise
        self._conn = conn
        self._closing = False
        self._task = asyncio.create_task(self._run(), name=f"storage-writer:{self.path.name}")

    async def close(self) -> None:
        """Commit everything queued, then close. Safe to call twice."""
        if self._conn is None:
            return
        self._closing = True
        self._wake.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.flush()
        for item in self._queue:  # a storage fault outlived the writer: not stored, and said so
            self.stats["lost_on_close"] += 1
            if item.future is not None and not item.future.done():
                item.future.set_exception(self.fault or RuntimeError("the writer closed"))
        if self._queue:
            logger.bind(actor="persistence").error("{}: {} records not written at close", self.fault,
                                                   len(self._queue))
        self._queue = []
        await self._conn.close()
        self._conn = None

    async def __aenter__(self) -> StorageWriter:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @property
    def is_open(self) -> bool:
        return self._conn is not None and not self._closing

    @property
    def pending(self) -> int:
        """Records queued and not yet committed (for back-pressure in the caller)."""
        return len(self._queue)

    # --- writing -------------------------------------------------------------------------------
    def submit(self, record: object) -> None:
        """Queue a record for the next batch; TypeError if storage does not keep this type."""
        self._enqueue(record, None)

    async def write_durable(self, record: object, *, wait_s: float | None = None) -> bool:
        """Commit the record now (with whatever else is queued); True if stored, False if a duplicate.
        During a storage fault it waits up to wait_s (default hold_s; 0: not at all) for the disk
        to come back, then raises the StorageFault: it was not stored."""
        wait = self.hold_s if wait_s is None else wait_s
        if self.fault is not None and wait <= 0:
            self.stats["refused_while_faulted"] += 1
            raise self.fault
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._enqueue(record, future, wait)
        return await future

    async def flush(self) -> None:
        """Commit everything queued so far (during a storage fault: one retry, then what is kept
        stays queued; `fault` says so)."""
        async with self._lock:
            await self._flush_once()

    async def set_limits(self, *, max_page_count: int | None = None, query_only: bool | None = None) -> int:
        """Fault drills (tests, scripts/chaos.py): PRAGMA max_page_count (the database may not grow
        beyond it: SQLITE_FULL, a full disk without filling one) and PRAGMA query_only (writes
        refused: SQLITE_READONLY, the stand-in for a read-only database) on the writer's
        connection. Returns the database's page count now."""
        assert self._conn is not None
        async with self._conn.execute("PRAGMA page_count") as cursor:
            row = await cursor.fetchone()
        pages = int(row[0]) if row else 0
        if max_page_count is not None:
            await self._conn.execute(f"PRAGMA max_page_count={int(max_page_count)}")
        if query_only is not None:
            await self._conn.execute(f"PRAGMA query_only={'ON' if query_only else 'OFF'}")
        return pages

    def _enqueue(self, record: object, future: asyncio.Future[bool] | None, wait_s: float = 0.0) -> None:
        if not self.is_open:
            raise RuntimeError("the writer is not open")
        rows = rows_for(record, keep_snapshots=self.keep_snapshots)
        self._queue.append(_Pending(rows, future, wait_s))
        self.stats["submitted"] += 1
        if future is not None or len(self._queue) >= self.flush_max_records:
            self._wake.set()

    # --- the flusher ---------------------------------------------------------------------------
    async def _run(self) -> None:
        while True:
            if self.fault is None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=self.flush_interval_s)
            else:  # a storage fault: retried every retry_interval_s, whatever wakes the flusher
                retry_at = time.monotonic() + self.retry_interval_s
                while not self._closing and time.monotonic() < retry_at:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), timeout=retry_at - time.monotonic())
                    self._wake.clear()
                if self._closing:
                    return
            self._wake.clear()
            try:
                async with self._lock:
                    await self._flush_once()
            except Exception as exc:  # keep flushing: the error is counted and reported in stats
                self._note_error(exc)
            if self._closing:
                return

    async def _flush_once(self) -> None:
        if self._conn is None:
            return
        if not self._queue:
            if self.fault is not None:
                await self._probe()
            return
        batch, self._queue = self._queue, []
        try:
            outcomes = await self._commit(batch)
        except Exception as exc:
            fault = storage_fault(exc, self.path)
            if fault is not None:
                self._hold(batch, fault)
                return
            self.stats["batch_retries"] += 1
            self._note_error(exc)
            for at, item in enumerate(batch):  # isolate the record that failed: one transaction each
                try:
                    outcome = (await self._commit([item]))[0]
                except Exception as item_exc:
                    fault = storage_fault(item_exc, self.path)
                    if fault is not None:
                        self._hold(batch[at:], fault)
                        return
                    self.stats["failed"] += 1
                    self._note_error(item_exc)
                    if item.future is not None and not item.future.done():
                        item.future.set_exception(item_exc)
                    continue
                self._resolve(item, outcome)
            self._recovered()
            return
        for item, outcome in zip(batch, outcomes, strict=True):
            self._resolve(item, outcome)
        self._recovered()

    # --- storage faults ------------------------------------------------------------------------
    def _hold(self, batch: list[_Pending], fault: StorageFault) -> None:
        """A batch that could not commit for a storage fault: durable writes past their wait fail
        (never acknowledged), the rest goes back to the front of the queue, in order."""
        self.stats["fault_retries"] += 1
        if self.fault is None:
            self.fault, self.fault_since = fault, time.monotonic()
            self.stats["faults"] += 1
            self.last_error = str(fault)
            logger.bind(actor="persistence").error("{}: writes kept and retried every {:g} s", fault,
                                                   self.retry_interval_s)
            if self.on_fault is not None:
                self.on_fault(fault)
            self._wake.set()  # the flusher may be waiting a whole flush interval: retry on its fault schedule
        now = time.monotonic()
        kept: list[_Pending] = []
        for item in batch:
            if item.future is not None and (item.future.done() or now - item.since >= item.wait_s):
                if not item.future.done():
                    self.stats["failed_while_faulted"] += 1
                    item.future.set_exception(fault)
                continue
            kept.append(item)
        self._queue = kept + self._queue
        excess = len(self._queue) - self.max_held
        if excess > 0:  # memory is bounded: the oldest records only queued (never acknowledged) go
            dropped = 0
            out = []
            for item in self._queue:
                if dropped < excess and item.future is None:
                    dropped += 1
                    continue
                out.append(item)
            self._queue = out
            self.stats["dropped"] += dropped

    async def _probe(self) -> None:
        assert self._conn is not None
        try:
            await _in_connection_thread(self._conn, probe_write)
        except Exception as exc:
            fault = storage_fault(exc, self.path)
            if fault is None:
                raise
            self.stats["fault_retries"] += 1
            return
        self._recovered()

    def _recovered(self) -> None:
        if self.fault is None:
            return
        fault, self.fault = self.fault, None
        self.last_error = None
        logger.bind(actor="persistence").warning("{}: writes resumed after {:.1f} s", fault,
                                                 time.monotonic() - self.fault_since)
        if self.on_fault is not None:
            self.on_fault(None)

    async def _commit(self, batch: list[_Pending]) -> list[bool]:
        """Run the batch in one transaction; per record, True unless a dedupe insert was ignored."""
        assert self._conn is not None
        outcomes, duplicates = await _in_connection_thread(self._conn, _commit_rows, batch)
        self.stats.update(duplicates)  # counted once committed, not per attempt
        self.stats["transactions"] += 1
        self.stats["written"] += len(batch)
        return outcomes

    def _resolve(self, item: _Pending, stored: bool) -> None:
        if item.future is not None and not item.future.done():
            item.future.set_result(stored)

    def _note_error(self, exc: BaseException) -> None:
        # the type and SQLite's message only: never the record, which may be large or sensitive
        self.last_error = f"{type(exc).__name__}: {exc}"
        logger.bind(actor="persistence").error("storage write failed: {}", self.last_error)
