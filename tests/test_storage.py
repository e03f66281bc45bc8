"""Storage: migrations, WAL, batched and durable writes, exactly-once fills, backups, loaders."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from messages import (
    BreakerState,
    CancelAllIntent,
    Candle,
    Fill,
    Flatten,
    Halt,
    Heartbeat,
    OrderAccepted,
    OrderCanceled,
    OrderCommand,
    OrderFilled,
    OrderIntent,
    OrderPartiallyFilled,
    OrderRejected,
    ParameterChange,
    PositionSnapshot,
    Resume,
    StrategySnapshot,
    TradeRecord,
)
from messages.codec import journal_record, open_journal_record
from storage import (
    LATEST_VERSION,
    OPEN_STATUSES,
    StorageReader,
    StorageWriter,
    backup_database,
    list_backups,
    migrate,
    prepare_database,
    schema_version,
)
from storage.schema import MIGRATIONS, TABLES

NEVER_MS = 600_000.0  # a flush interval no test waits for: only size, durability or close flush


# ---------------------------------------------------------------------------------------------
# Builders
# ---------------------------------------------------------------------------------------------


def command(
    coi: int, *, account: int = 1001, strategy: str = "rsi_bb", seq: int = 1, ts: int = 1_000
) -> OrderCommand:
    intent = OrderIntent(
        strategy=strategy,
        account_index=account,
        market_id=2,
        client_order_index=coi,
        side="buy",
        size=0.1,
        kind="limit",
        tif="post_only",
        reason="entry_long",
        price=150.25,
        ts_event=ts - 10,
        seq=seq,
    )
    return OrderCommand(intent=intent, ts_event=ts, seq=100 + seq)


def fill(
    trade_id: int,
    *,
    coi: int = 1,
    account: int = 1001,
    final: bool = True,
    ts: int = 2_000,
    strategy: str = "rsi_bb",
) -> OrderFilled | OrderPartiallyFilled:
    cls = OrderFilled if final else OrderPartiallyFilled
    return cls(
        strategy=strategy,
        account_index=account,
        market_id=2,
        client_order_index=coi,
        side="buy",
        fill=Fill(trade_id=trade_id, price=150.25, size=0.05, fee=0.001, is_maker=True),
        filled_total=0.1 if final else 0.05,
        remaining=0.0 if final else 0.05,
        ts_event=ts,
        seq=trade_id,
    )


def candle(open_time_ms: int, *, strategy: str = "rsi_bb", close: float = 150.0) -> Candle:
    return Candle(
        strategy=strategy,
        market_id=2,
        interval_s=15,
        open_time_ms=open_time_ms,
        open=149.0,
        high=151.0,
        low=148.5,
        close=close,
        volume=3.5,
        ts_event=open_time_ms * 1_000_000 + 15_000_000_000,
        ts_init=1,
        seq=open_time_ms,
    )


def trade(exit_ts: int, *, strategy: str = "rsi_bb") -> TradeRecord:
    return TradeRecord(
        strategy=strategy,
        account_index=1001,
        market_id=2,
        side="short",
        entry_price=150.0,
        exit_price=149.9,
        entry_ts=exit_ts - 60,
        exit_ts=exit_ts,
        size=0.1,
        fees=0.002,
        pnl_quote=0.008,
        pnl_pct=0.053,
        exit_reason="take_profit",
        mfe_bps=8.5,
        mae_bps=2.0,
        entry_context={"rsi": 31.5, "bb_pos": 0.77},
        ts_event=exit_ts,
        seq=exit_ts,
    )


def halt(ts: int) -> Halt:
    return Halt(reason="operator", scope="all", ts_event=ts, seq=ts)


def count(path: Path, table: str) -> int:
    with StorageReader(path) as reader:
        return int(reader._conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "test.db"


@pytest.fixture
async def writer(db_path: Path) -> AsyncIterator[StorageWriter]:
    async with StorageWriter(db_path, flush_interval_ms=NEVER_MS, flush_max_records=1000) as w:
        yield w


async def eventually(check: Callable[[], bool], timeout_s: float = 10.0) -> None:
    """Poll until check() holds (a correctness wait with a generous bound, not a speed assertion)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not check():
        assert loop.time() < deadline, "condition not reached"
        await asyncio.sleep(0.01)


# ---------------------------------------------------------------------------------------------
# Schema
# ---------------------------------------------------------------------------------------------


def test_migrations_apply_on_a_fresh_database_and_are_idempotent(db_path: Path) -> None:
    assert prepare_database(db_path) == [m.version for m in MIGRATIONS] == [1, 2, 3]
    assert prepare_database(db_path) == []
    conn = sqlite3.connect(db_path, isolation_level=None)
    try:
        assert migrate(conn) == []
        assert schema_version(conn) == LATEST_VERSION
        names = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert set(TABLES) | {"schema_version"} <= names
        assert conn.execute("SELECT COUNT(*) FROM schema_version").fetchone()[0] == len(MIGRATIONS)
    finally:
        conn.close()


def test_a_database_newer_than_the_code_is_refused(db_path: Path) -> None:
    prepare_database(db_path)
    conn = sqlite3.connect(db_path, isolation_level=None)
    conn.execute("INSERT INTO schema_version VALUES (?, 'from the future', 0)", (LATEST_VERSION + 1,))
    with pytest.raises(RuntimeError, match="newer than this code"):
        migrate(conn)
    conn.close()


def test_migrate_requires_explicit_transactions(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "implicit.db")
    with pytest.raises(ValueError, match="isolation_level=None"):
        migrate(conn)
    conn.close()


async def test_database_is_in_wal_mode(writer: StorageWriter, db_path: Path) -> None:
    other = sqlite3.connect(db_path)
    try:
        assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        other.close()
    with StorageReader(db_path) as reader:
        assert reader.schema_version() == LATEST_VERSION


# ---------------------------------------------------------------------------------------------
# Writes
# ---------------------------------------------------------------------------------------------


async def test_submitted_records_wait_for_the_batch_and_land_in_one_transaction(
    writer: StorageWriter, db_path: Path
) -> None:
    for i in range(50):
        writer.submit(candle(i * 15_000))
    assert writer.pending == 50
    assert count(db_path, "candles") == 0  # not committed before the batch is flushed
    await writer.flush()
    assert count(db_path, "candles") == 50
    assert writer.stats["transactions"] == 1 and writer.stats["written"] == 50 and writer.pending == 0


async def test_a_full_batch_is_committed_without_waiting_for_the_interval(db_path: Path) -> None:
    async with StorageWriter(db_path, flush_interval_ms=NEVER_MS, flush_max_records=20) as writer:
        for i in range(20):
            writer.submit(journal_record(halt(i), actor="risk", seq=i, ts_init=i))
        await eventually(lambda: writer.pending == 0 and writer.stats["written"] == 20)
        assert count(db_path, "journal") == 20


async def test_the_interval_flushes_a_partial_batch(db_path: Path) -> None:
    async with StorageWriter(db_path, flush_interval_ms=20, flush_max_records=1000) as writer:
        writer.submit(halt(5))
        await eventually(lambda: writer.stats["written"] == 1)
        assert count(db_path, "kill_switch") == 1


async def test_write_durable_has_committed_when_it_returns(writer: StorageWriter, db_path: Path) -> None:
    writer.submit(candle(0))  # queued before: committed in the same transaction, in order
    assert await writer.write_durable(command(7)) is True
    with StorageReader(db_path) as reader:  # a second, read-only connection
        stored = reader.order(1001, 7)
        assert stored is not None and stored.status == "pending" and stored.sent_at == 1_000
        assert stored.to_intent() == command(7).intent
        assert len(reader.candles("rsi_bb", 2, 15)) == 1


async def test_concurrent_durable_writes_all_commit(writer: StorageWriter, db_path: Path) -> None:
    results = await asyncio.gather(*(writer.write_durable(command(coi)) for coi in range(30)))
    assert results == [True] * 30
    assert count(db_path, "orders") == 30


async def test_a_duplicate_fill_is_ignored_and_reported(writer: StorageWriter, db_path: Path) -> None:
    assert await writer.write_durable(fill(555)) is True
    assert await writer.write_durable(fill(555)) is False
    writer.submit(fill(556))
    writer.submit(fill(556))  # twice inside one batch
    writer.submit(fill(556, account=1002))  # trade ids are unique per account only
    await writer.flush()
    assert count(db_path, "fills") == 3
    assert writer.stats["duplicate_fill"] == 2


async def test_a_retried_order_keeps_the_first_row(writer: StorageWriter, db_path: Path) -> None:
    assert await writer.write_durable(command(9, seq=1, ts=1_000)) is True
    assert await writer.write_durable(command(9, seq=2, ts=5_000)) is False
    with StorageReader(db_path) as reader:
        stored = reader.order(1001, 9)
        assert stored is not None and stored.sent_at == 1_000 and stored.intent_seq == 1
    assert writer.stats["duplicate_order"] == 1


async def test_order_status_only_moves_forward(writer: StorageWriter, db_path: Path) -> None:
    key: dict[str, Any] = dict(strategy="rsi_bb", account_index=1001, market_id=2, client_order_index=3)
    await writer.write_durable(command(3))
    writer.submit(fill(10, coi=3, final=False, ts=2_000))
    writer.submit(fill(11, coi=3, final=True, ts=3_000))
    writer.submit(OrderAccepted(tx_hash="0xabc", order_index=77, ts_event=1_500, seq=4, **key))  # late
    writer.submit(OrderCanceled(reason="late cancel", ts_event=4_000, seq=5, **key))
    await writer.write_durable(command(4))
    writer.submit(
        OrderRejected(
            code=21720,
            reason="post-only order would cross",
            ts_event=2_000,
            seq=6,
            **{**key, "client_order_index": 4},
        )
    )
    await writer.write_durable(command(5))
    await writer.flush()
    with StorageReader(db_path) as reader:
        filled = reader.order(1001, 3)
        assert filled is not None
        assert (filled.status, filled.filled_size, filled.tx_hash, filled.order_index) == (
            "filled",
            0.1,
            "0xabc",
            77,
        )
        rejected = reader.order(1001, 4)
        assert rejected is not None and (rejected.status, rejected.reject_code) == ("rejected", 21720)
        assert [o.client_order_index for o in reader.orders(status="filled")] == [3]
        assert [o.client_order_index for o in reader.orders(status=OPEN_STATUSES, account_index=1001)] == [5]
        assert reader.orders(strategy="breakout") == []
        assert reader.max_client_order_index(1001) == 5 and reader.max_client_order_index(1999) is None


async def test_cancel_all_marks_open_orders_only(writer: StorageWriter, db_path: Path) -> None:
    await writer.write_durable(command(1))
    await writer.write_durable(command(2))
    await writer.write_durable(fill(1, coi=1))
    cancel_all = CancelAllIntent(
        strategy="rsi_bb", account_index=1001, reason="flatten", ts_event=9_000, seq=3
    )
    await writer.write_durable(OrderCommand(intent=cancel_all, ts_event=9_001, seq=50))
    with StorageReader(db_path) as reader:
        assert [o.cancel_requested_ts for o in reader.orders()] == [None, 9_001]


async def test_a_failing_record_does_not_take_its_batch_down(writer: StorageWriter, db_path: Path) -> None:
    saboteur = sqlite3.connect(db_path, isolation_level=None)
    saboteur.execute("DROP TABLE fills")
    saboteur.close()
    writer.submit(candle(0))
    with pytest.raises(sqlite3.OperationalError, match="no such table: fills"):
        await writer.write_durable(fill(1))
    writer.submit(candle(15_000))
    await writer.flush()
    assert count(db_path, "candles") == 2
    assert writer.stats["failed"] == 1 and writer.last_error is not None and "fills" in writer.last_error


async def test_records_storage_does_not_keep_are_refused_at_submit(writer: StorageWriter) -> None:
    with pytest.raises(TypeError, match="storage keeps no Heartbeat"):
        writer.submit(Heartbeat(actor="feed", ts_event=1, seq=1))
    with pytest.raises(TypeError):
        await writer.write_durable(object())


async def test_close_flushes_and_a_closed_writer_refuses_records(db_path: Path) -> None:
    writer = StorageWriter(db_path, flush_interval_ms=NEVER_MS)
    with pytest.raises(RuntimeError, match="not open"):
        writer.submit(halt(1))
    await writer.open()
    writer.submit(halt(1))
    await writer.close()
    await writer.close()
    assert count(db_path, "kill_switch") == 1
    with pytest.raises(RuntimeError, match="not open"):
        writer.submit(halt(2))


# ---------------------------------------------------------------------------------------------
# Loaders read what was written
# ---------------------------------------------------------------------------------------------


async def test_loaders_return_the_messages_that_were_written(db_path: Path) -> None:
    async with StorageWriter(db_path, flush_interval_ms=NEVER_MS, keep_snapshots=3) as writer:
        candles = [candle(i * 15_000, close=150 + i) for i in range(10)]
        for c in candles:
            writer.submit(c)
        writer.submit(candle(0, strategy="breakout"))
        writer.submit(candle(0, close=999.0))  # a re-persisted candle replaces the stored one
        snapshots = [
            StrategySnapshot(
                strategy="rsi_bb",
                account_index=1001,
                market_id=2,
                state=bytes([i, 0, 255]),
                candles_count=i,
                position_size=-0.1 * i,
                entry_price=150.0,
                entry_ts=i,
                ts_event=i,
                seq=i,
            )
            for i in range(1, 6)
        ]
        for s in snapshots:
            writer.submit(s)
        position = PositionSnapshot(
            account_index=1001, market_id=2, size=-0.1, avg_entry=150.0, realized_pnl=0.5, ts_event=50, seq=2
        )
        writer.submit(position)
        writer.submit(
            PositionSnapshot(
                account_index=1001, market_id=2, size=9.9, avg_entry=1.0, realized_pnl=0.0, ts_event=40, seq=1
            )
        )  # older: must not roll the position back
        breaker = BreakerState(
            strategy="rsi_bb",
            tripped=True,
            reason="daily loss 2.1%",
            since_ts=77,
            daily_loss=21.0,
            day="2025-05-04",
            consecutive_losses=2,
            peak_equity=1010.0,
            equity=989.0,
            ts_event=77,
            seq=3,
        )
        writer.submit(breaker)
        writer.submit(halt(100))
        writer.submit(Resume(reason="ok", scope="all", ts_event=200, seq=2))
        writer.submit(Flatten(reason="drill", scope="breakout", ts_event=150, seq=3))
        writer.submit(halt(120))  # older than the resume: ignored
        trades = [trade(1_000), trade(2_000, strategy="breakout"), trade(3_000)]
        for t in trades:
            writer.submit(t)
        writer.submit(trade(1_000))  # the same round trip again
        fills = [fill(1, ts=100), fill(2, ts=200, final=False, strategy="breakout"), fill(3, ts=300)]
        for f in fills:
            writer.submit(f)
        params = ParameterChange(
            strategy="rsi_bb",
            preset="selective",
            params={"rsi_period": 14, "take_profit_bps": 4.5, "trailing": True, "mode": "x"},
            reason="start",
            ts_event=5,
            seq=1,
        )
        writer.submit(params)
        journal = [journal_record(f, actor="router", seq=i, ts_init=i) for i, f in enumerate(fills)]
        for j in journal:
            writer.submit(j)

    with StorageReader(db_path) as reader:
        loaded = reader.candles("rsi_bb", 2, 15)
        assert loaded[0].close == 999.0 and loaded[1:] == candles[1:]
        assert reader.candles("rsi_bb", 2, 15, limit=3) == candles[-3:]
        assert [c.strategy for c in reader.candles("breakout", 2, 15)] == ["breakout"]
        assert reader.candles("rsi_bb", 2, 60) == []

        assert reader.latest_snapshot("rsi_bb") == snapshots[-1]
        assert reader.latest_snapshot("nobody") is None
        assert reader._conn.execute("SELECT COUNT(*) FROM strategy_snapshots").fetchone()[0] == 3

        assert reader.positions() == [position] and reader.positions(account_index=7) == []
        assert reader.breakers() == {"rsi_bb": breaker}
        switch = reader.kill_switch()
        assert switch["all"] == Resume(reason="ok", scope="all", ts_event=200, seq=2)
        assert isinstance(switch["breakout"], Flatten)

        assert reader.trades_since(0) == trades
        assert reader.trades_since(1_500, strategy="rsi_bb") == [trades[2]]
        assert reader.fills_since(0) == fills
        assert reader.fills_since(150) == fills[1:]
        assert reader.fills_since(0, strategy="rsi_bb") == [fills[0], fills[2]]
        assert reader.fills_since(0, account_index=1002) == []

        assert reader.parameter_history("rsi_bb") == [params]
        stored_journal = reader.journal()
        assert stored_journal == journal
        assert [open_journal_record(j) for j in stored_journal] == fills
        assert reader.journal(since_ts=150, limit=1) == [journal[1]]


def test_the_reader_is_read_only(db_path: Path) -> None:
    prepare_database(db_path)
    with StorageReader(db_path) as reader, pytest.raises(sqlite3.OperationalError, match="readonly"):
        reader._conn.execute("INSERT INTO kill_switch VALUES ('all', 'halt', '', '', 0, 0)")
    with pytest.raises(FileNotFoundError):
        StorageReader(db_path.with_name("absent.db"))


# ---------------------------------------------------------------------------------------------
# Backups
# ---------------------------------------------------------------------------------------------


async def test_backup_keeps_the_last_ten(writer: StorageWriter, db_path: Path, tmp_path: Path) -> None:
    await writer.write_durable(command(1))
    backup_dir = tmp_path / "backups"
    backup_dir.mkdir()
    unrelated = backup_dir / "notes.txt"
    unrelated.write_text("keep me")
    start = datetime(2025, 5, 4, 12, 0, tzinfo=UTC)
    made = []
    for i in range(12):  # the writer keeps writing between backups
        writer.submit(halt(i))
        await writer.flush()
        made.append(backup_database(db_path, backup_dir, keep=10, now=start + timedelta(minutes=i)))
    kept = list_backups(db_path, backup_dir)
    assert kept == made[2:]
    assert not made[0].exists() and not made[1].exists()
    assert unrelated.exists()
    assert not list(backup_dir.glob("*.partial"))
    with StorageReader(kept[-1]) as reader:  # a backup is a complete, readable database
        assert reader.schema_version() == LATEST_VERSION
        assert reader.order(1001, 1) is not None
        assert reader.kill_switch()["all"].ts_event == 11


def test_backups_in_the_same_instant_get_distinct_ordered_names(db_path: Path, tmp_path: Path) -> None:
    prepare_database(db_path)
    moment = datetime(2025, 5, 4, tzinfo=UTC)
    first = backup_database(db_path, tmp_path / "b", now=moment)
    second = backup_database(db_path, tmp_path / "b", now=moment)
    assert first != second and list_backups(db_path, tmp_path / "b") == [first, second]
    assert first.name == "test-20250504T000000_000000Z.db"


async def test_a_modified_order_keeps_its_row_with_the_new_terms_and_a_refused_modify_changes_nothing(
        writer: StorageWriter, db_path: Path) -> None:
    from messages.orders import OrderModified

    key: dict[str, Any] = dict(strategy="rsi_bb", account_index=1001, market_id=2, client_order_index=7)
    await writer.write_durable(command(7))
    writer.submit(fill(20, coi=7, final=False))  # 0.05 of 0.1 filled
    writer.submit(OrderModified(price=151.0, remaining=0.08, ts_event=2_500, seq=1, **key))
    writer.submit(OrderRejected(code=21710, reason="order not found", op="modify", ts_event=2_600, seq=2, **key))
    writer.submit(OrderRejected(code=21710, reason="order not found", op="cancel", ts_event=2_700, seq=3, **key))
    await writer.flush()
    with StorageReader(db_path) as reader:
        order = reader.order(1001, 7)
        assert order is not None
        assert (order.price, order.size, order.filled_size) == (151.0, pytest.approx(0.13), 0.05)
        assert (order.status, order.reject_code) == ("partially_filled", None)  # still open at the venue
