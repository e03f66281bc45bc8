"""The persistence actor: the single SQLite writer, hourly online backups, and the read methods
other actors rehydrate from (asking this actor rather than opening the file works on a cluster too).

Writes (messages encoded with `messages.codec.ANY`, JournalRecords included):
    submit(data) / submit_many([data, ...])   batched: committed within storage.flush_interval_ms
    write_durable(data) -> bool               committed before it returns; False = a duplicate
                                              (an order already journaled, a fill already stored)
    write_durable_many([data, ...])           the same for a batch (what the actors' outboxes use,
                                              so nothing they were told is stored can be lost)
Reads (each flushes what is queued first, so a caller sees everything it submitted before):
    strategy_state(name, market_id, interval_s, limit) -> dict   snapshot, candles, order seq info
    risk_state() -> dict                                         breakers, kill switch, positions, funding
    open_orders(accounts) -> [StoredOrder msgpack]
    known_orders(accounts, since_ns) -> [(account, client_order_index)]
    fill_ids(accounts, since_ns) -> [(account, trade_id)]
    fills(strategy=None, since_ns=0) -> [fill event bytes]; orders(...) -> [StoredOrder msgpack]
    fills_after(strategy, offset) -> [fill event bytes]          in storage order, after the first offset
    funding(strategy=None, since_ns=0) -> [FundingPayment bytes]  hourly funding, each stored once

Storage faults (SQLite cannot write: disk full, read-only database, disk I/O error; storage.faults):
the writer keeps what it was given and retries every `storage.fault_retry_s`, and
actors.storage_guard halts trading through risk's kill switch, with the fault's line as reason
("storage: disk full (SQLITE_FULL) at <path>"); the halt stays, persisted, once writes resume,
until an operator resumes. Nothing is acknowledged that did not commit: an OrderCommand's
write_durable (the router's journal write, before the order may be sent) fails at once with the
StorageFault, so no order is sent while storage cannot write; other durable writes wait up to
HOLD_S for the disk and then fail; write_durable_many raises the StorageFault for the whole call
(the caller's Outbox keeps the batch and sends it again). `storage_drill(kind)` stages a fault on
the writer's connection for tests and fault campaigns (PRAGMA max_page_count / query_only).

Every write is idempotent on retry (orders, fills and funding payments dedupe on their keys,
latest-state tables keep the newest ts_event, candles upsert), so Ray retries calls in flight when this actor dies
(MAX_TASK_RETRIES = -1). What was only queued (not durable) when it died is lost: at most one
flush interval of candles, snapshots and journal records; orders and fills are always durable.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import msgspec

from actors.common import ActorContext, ActorShell
from actors.storage_guard import StorageGuard
from messages.codec import ANY, FUNDING, ORDER_EVENTS, STATE
from messages.orders import OrderCommand
from storage import OPEN_STATUSES, StorageReader, StorageWriter, backup_database_async, list_backups
from storage.faults import StorageFault

HOLD_S = 25.0  # a durable write (not an order) waits this long for the disk: under its callers' timeouts
NO_PAGE_LIMIT = 2**31  # SQLite caps max_page_count at its own largest

_ORDER_ENCODER = msgspec.msgpack.Encoder()


class PersistenceActor(ActorShell):
    MAX_TASK_RETRIES = -1
    LANE_METHODS = frozenset({"write_durable", "write_durable_many"})

    def __init__(self, ctx: ActorContext) -> None:
        super().__init__(ctx)
        storage = self.settings.storage
        self.db_path = Path(storage.db_path)
        self.guard = StorageGuard(self.sender, self.log)
        self.writer = StorageWriter(
            self.db_path,
            flush_interval_ms=storage.flush_interval_ms,
            flush_max_records=storage.flush_max_records,
            retry_interval_s=storage.fault_retry_s,
            hold_s=HOLD_S,
            on_fault=self._on_fault,
        )
        self.backup_task: asyncio.Task[None] | None = None
        self.last_backup: str | None = None
        self.writes = 0
        self.durable_writes = 0
        self.decode_errors = 0

    async def _start(self) -> None:
        await self.writer.open()
        self.log.info("database {} open", self.db_path)
        self.backup_task = asyncio.ensure_future(self._backups())

    async def _backups(self) -> None:
        storage = self.settings.storage
        while True:
            await asyncio.sleep(storage.backup_interval_s)  # a period, not a wait for a condition
            try:
                await self.backup_now()
            except Exception as exc:
                self.note_error(f"backup failed: {type(exc).__name__}: {exc}")

    async def backup_now(self) -> str:
        storage = self.settings.storage
        await self.writer.flush()
        path = await backup_database_async(self.db_path, storage.backup_dir, keep=storage.keep_backups)
        self.last_backup = str(path)
        self.log.info("backup written: {} ({} kept)", path, len(list_backups(self.db_path, storage.backup_dir)))
        return str(path)

    # --- writes --------------------------------------------------------------------------------
    def _decode(self, data: bytes) -> Any:
        try:
            return ANY.decode(data)
        except msgspec.DecodeError as exc:
            self.decode_errors += 1
            raise ValueError(f"persistence: undecodable record ({exc})") from None

    async def submit(self, data: bytes) -> None:
        await self.ready()
        self.writer.submit(self._decode(data))
        self.writes += 1

    async def submit_many(self, items: list[bytes]) -> int:
        await self.ready()
        for data in items:
            try:
                self.writer.submit(self._decode(data))
            except (ValueError, TypeError) as exc:  # one bad record must not drop the rest
                self.note_error(f"record dropped: {exc}")
                continue
            self.writes += 1
        return len(items)

    async def write_durable(self, data: bytes) -> bool:
        await self.ready()
        self.durable_writes += 1
        record = self._decode(data)
        # an order waits for nothing: it is sent only once stored, and late it would be stale
        return await self.writer.write_durable(record, wait_s=0.0 if isinstance(record, OrderCommand) else None)

    async def write_durable_many(self, items: list[bytes]) -> list[bool]:
        """Commit all of them (one transaction when they arrive together) before returning; a
        record that cannot be stored is logged and answered False, never retried by the caller."""
        await self.ready()
        futures: list[Any] = []
        for data in items:
            try:
                futures.append(self.writer.write_durable(self._decode(data)))
            except (ValueError, TypeError) as exc:
                self.note_error(f"record dropped: {exc}")
                futures.append(_false())
        self.durable_writes += len(items)
        results = await asyncio.gather(*futures, return_exceptions=True)
        fault = next((r for r in results if isinstance(r, StorageFault)), None)
        if fault is not None:  # not stored: the caller keeps the batch and sends it again
            raise fault
        out = []
        for result in results:
            if isinstance(result, BaseException):
                self.note_error(f"durable write failed: {type(result).__name__}: {result}")
                out.append(False)
            else:
                out.append(bool(result))
        return out

    async def flush(self) -> None:
        await self.ready()
        await self.writer.flush()

    async def close(self) -> None:
        """Flush and close (the supervisor's clean shutdown); later writes raise."""
        await self.ready()
        if self.backup_task is not None:
            self.backup_task.cancel()
        await self.writer.close()

    # --- reads ---------------------------------------------------------------------------------
    async def _read(self, fn: Any, *args: Any) -> Any:
        await self.ready()
        await self.writer.flush()

        def run() -> Any:
            with StorageReader(self.db_path) as reader:
                return fn(reader, *args)

        return await asyncio.to_thread(run)

    async def strategy_state(self, name: str, market_id: int, interval_s: int, limit: int = 500) -> dict[str, Any]:
        def read(db: StorageReader) -> dict[str, Any]:
            snapshot = db.latest_snapshot(name)
            candles = db.candles(name, market_id, interval_s, limit)
            orders = db.orders(strategy=name, status=OPEN_STATUSES)
            return {
                "snapshot": STATE.encode(snapshot) if snapshot is not None else None,
                "candles": [ANY.encode(c) for c in candles],
                "open_orders": [_ORDER_ENCODER.encode(o) for o in orders],
            }

        return await self._read(read)

    async def risk_state(self) -> dict[str, Any]:
        def read(db: StorageReader) -> dict[str, Any]:
            return {
                "breakers": [STATE.encode(b) for b in db.breakers().values()],
                "kill_switch": [ANY.encode(c) for c in db.kill_switch().values()],
                "positions": [STATE.encode(p) for p in db.positions()],
                "funding": [FUNDING.encode(p) for p in db.funding_since(0)],
            }

        return await self._read(read)

    async def open_orders(self, accounts: list[int] | None = None) -> list[bytes]:
        def read(db: StorageReader) -> list[bytes]:
            rows = db.orders(status=OPEN_STATUSES)
            return [_ORDER_ENCODER.encode(o) for o in rows if accounts is None or o.account_index in accounts]

        return await self._read(read)

    async def orders(self, strategy: str | None = None, account_index: int | None = None) -> list[bytes]:
        def read(db: StorageReader) -> list[bytes]:
            return [_ORDER_ENCODER.encode(o) for o in db.orders(strategy=strategy, account_index=account_index)]

        return await self._read(read)

    async def fills(self, strategy: str | None = None, since_ns: int = 0) -> list[bytes]:
        def read(db: StorageReader) -> list[bytes]:
            return [ORDER_EVENTS.encode(f) for f in db.fills_since(since_ns, strategy=strategy)]

        return await self._read(read)

    async def funding(self, strategy: str | None = None, since_ns: int = 0) -> list[bytes]:
        """Stored funding payments (FUNDING-encoded), oldest first."""
        def read(db: StorageReader) -> list[bytes]:
            return [FUNDING.encode(p) for p in db.funding_since(since_ns, strategy=strategy)]

        return await self._read(read)

    async def known_orders(self, accounts: list[int], since_ns: int = 0) -> list[tuple[int, int]]:
        """(account, client_order_index) of every order journaled since since_ns (its approval)."""
        await self.ready()
        await self.writer.flush()
        return await asyncio.to_thread(
            _keys, self.db_path, "orders", "client_order_index", "sent_at", accounts, since_ns
        )

    async def fill_ids(self, accounts: list[int], since_ns: int = 0) -> list[tuple[int, int]]:
        """(account, trade_id) of every fill stored since since_ns."""
        await self.ready()
        await self.writer.flush()
        return await asyncio.to_thread(_keys, self.db_path, "fills", "trade_id", "ts_event", accounts, since_ns)

    async def fills_after(self, strategy: str, offset: int) -> list[bytes]:
        """The strategy's fills in the order they were stored, skipping the first `offset`
        (a strategy that applied N fills asks for the rest after a restart)."""
        await self.ready()
        await self.writer.flush()

        def read() -> list[bytes]:
            conn = sqlite3.connect(f"{self.db_path.resolve().as_uri()}?mode=ro", uri=True, timeout=10.0)
            try:
                rows = conn.execute(
                    "SELECT trade_id, account_index, ts_event FROM fills WHERE strategy = ? ORDER BY id "
                    "LIMIT -1 OFFSET ?", (strategy, offset)).fetchall()
            finally:
                conn.close()
            if not rows:
                return []
            wanted = [(int(r[1]), int(r[0])) for r in rows]
            with StorageReader(self.db_path) as db:
                events = {(f.account_index, f.fill.trade_id): f
                          for f in db.fills_since(min(int(r[2]) for r in rows), strategy=strategy)}
            return [ORDER_EVENTS.encode(events[key]) for key in wanted if key in events]

        return await asyncio.to_thread(read)

    async def order_status(self, account_index: int, cois: list[int]) -> dict[int, str]:
        """The stored status of these orders of an account (absent: never journaled)."""
        def read(db: StorageReader) -> dict[int, str]:
            out: dict[int, str] = {}
            for coi in cois:
                order = db.order(account_index, coi)
                if order is not None:
                    out[coi] = order.status
            return out

        return await self._read(read)

    async def max_client_order_index(self, account_index: int) -> int | None:
        return await self._read(lambda db: db.max_client_order_index(account_index))

    # --- storage faults ------------------------------------------------------------------------
    def _on_fault(self, fault: StorageFault | None) -> None:
        if fault is not None:  # the writer logged the one line; the health table shows it too
            self.errors += 1
            self.last_error = f"{fault}: trading halted, writes retried every {self.writer.retry_interval_s:g} s"
        self.guard.on_fault(fault)

    async def storage_fault(self) -> str | None:
        """The storage fault now (one line), or None."""
        return None if self.writer.fault is None else str(self.writer.fault)

    async def storage_drill(self, kind: str | None) -> int:
        """Stage a storage fault on the writer's connection, or end one (None): "full" = the
        database may not grow (PRAGMA max_page_count = its size now: SQLITE_FULL once its free
        pages are used), "readonly" = writes refused (PRAGMA query_only: SQLITE_READONLY, the
        stand-in for a read-only database that root's permissions would not give). For tests
        and fault campaigns; returns the database's page count."""
        await self.ready()
        if kind == "full":
            pages = await self.writer.set_limits()
            return await self.writer.set_limits(max_page_count=pages)
        if kind == "readonly":
            return await self.writer.set_limits(query_only=True)
        if kind is None:
            return await self.writer.set_limits(max_page_count=NO_PAGE_LIMIT, query_only=False)
        raise ValueError(f"storage_drill: kind is 'full', 'readonly' or None, got {kind!r}")

    # --- liveness ------------------------------------------------------------------------------
    def stats(self) -> dict[str, float]:
        return {
            "storage_fault": 1.0 if self.writer.fault is not None else 0.0,
            "storage_fault_s": self.guard.fault_s,
            "storage_refused": float(self.writer.stats.get("refused_while_faulted", 0)
                                     + self.writer.stats.get("failed_while_faulted", 0)),
            "writes": float(self.writes),
            "durable_writes": float(self.durable_writes),
            "pending": float(self.writer.pending),
            "failed": float(self.writer.stats.get("failed", 0)),
            "duplicate_fill": float(self.writer.stats.get("duplicate_fill", 0)),
            "duplicate_order": float(self.writer.stats.get("duplicate_order", 0)),
            "duplicate_funding": float(self.writer.stats.get("duplicate_funding", 0)),
            "transactions": float(self.writer.stats.get("transactions", 0)),
        }


async def _false() -> bool:
    return False


def _keys(path: Path, table: str, column: str, time_column: str, accounts: list[int],
          since_ns: int) -> list[tuple[int, int]]:
    """(account_index, <column>) of a table's rows for these accounts since a time, read-only.

    Only for the fixed table/column names above (never user input)."""
    if not accounts:
        return []
    marks = ", ".join("?" * len(accounts))
    sql = (f"SELECT account_index, {column} FROM {table} WHERE account_index IN ({marks}) "
           f"AND {time_column} >= ?")
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=10.0)
    try:
        rows = conn.execute(sql, (*accounts, since_ns)).fetchall()
    finally:
        conn.close()
    return [(int(r[0]), int(r[1])) for r in rows]
