"""The SQLite schema, its migrations, and how each message becomes rows (pure: no I/O here but `migrate`).

Migrations are an ordered list; `schema_version` records the applied ones. `migrate(conn)` applies
the missing ones, each in its own IMMEDIATE transaction that re-reads the version first, so it is
idempotent and safe when two processes start at once. Never edit a released migration: append one.

Tables (v1)
    journal             every JournalRecord (append-only; payload is the msgpack of the message)
    orders              one row per (account_index, client_order_index), written from the approved
                        OrderCommand before it is sent; order events move `status` forward only
                        (pending < accepted < partially_filled < filled|canceled|expired|rejected)
    fills               one row per (account_index, trade_id): a fill is stored exactly once
    trades              closed round trips (TradeRecord), entry context as JSON
    positions           latest PositionSnapshot per (account_index, market_id)
    candles             closed candles per (strategy, market_id, interval_s, open_time_ms)
    strategy_snapshots  the last `keep_snapshots` StrategySnapshots per strategy
    breakers            latest BreakerState per strategy
    kill_switch         latest Halt/Resume/Flatten per scope
    parameter_history   every ParameterChange
    database_identity   what the database belongs to: venue and markets (v2, storage/identity.py)
    funding             one row per (account_index, market_id, ts_event): each hourly funding
                        payment (FundingPayment) stored exactly once (v3)

"Latest" tables only accept a row whose ts_event is not older than the stored one, so a late
duplicate never rolls state back. Timestamps are ns unless the column says _ms.
"""

from __future__ import annotations

import json
import sqlite3
import time
from typing import Any, NamedTuple

from messages.control import Flatten, Halt, Resume
from messages.funding import FundingPayment
from messages.journal import JournalRecord
from messages.market import Candle
from messages.orders import (
    CancelAllIntent,
    CancelIntent,
    OrderAccepted,
    OrderCanceled,
    OrderCommand,
    OrderExpired,
    OrderFilled,
    OrderIntent,
    OrderModified,
    OrderPartiallyFilled,
    OrderRejected,
)
from messages.state import BreakerState, ParameterChange, PositionSnapshot, StrategySnapshot, TradeRecord


class Migration(NamedTuple):
    version: int
    description: str
    statements: tuple[str, ...]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "initial schema",
        (
            """CREATE TABLE IF NOT EXISTS journal (
                id INTEGER PRIMARY KEY,
                kind TEXT NOT NULL,
                actor TEXT NOT NULL,
                seq INTEGER NOT NULL,
                ts_event INTEGER NOT NULL,
                ts_init INTEGER NOT NULL,
                payload BLOB NOT NULL
            )""",
            "CREATE INDEX IF NOT EXISTS journal_by_time ON journal (ts_event)",
            "CREATE INDEX IF NOT EXISTS journal_by_actor ON journal (actor, seq)",
            """CREATE TABLE IF NOT EXISTS orders (
                id INTEGER PRIMARY KEY,
                account_index INTEGER NOT NULL,
                client_order_index INTEGER NOT NULL,
                strategy TEXT NOT NULL,
                market_id INTEGER NOT NULL,
                side TEXT NOT NULL,
                kind TEXT NOT NULL,
                tif TEXT NOT NULL,
                size REAL NOT NULL,
                price REAL,
                worst_price REAL,
                reduce_only INTEGER NOT NULL,
                is_exit INTEGER NOT NULL,
                reason TEXT NOT NULL,
                expiry_ms INTEGER,
                intent_ts INTEGER NOT NULL,
                intent_seq INTEGER NOT NULL,
                command_seq INTEGER NOT NULL,
                sent_at INTEGER NOT NULL,
                status TEXT NOT NULL DEFAULT 'pending',
                status_rank INTEGER NOT NULL DEFAULT 0,
                order_index INTEGER,
                tx_hash TEXT,
                filled_size REAL NOT NULL DEFAULT 0,
                reject_code INTEGER,
                reject_reason TEXT,
                cancel_requested_ts INTEGER,
                updated_ts INTEGER NOT NULL,
                UNIQUE (account_index, client_order_index)
            )""",
            "CREATE INDEX IF NOT EXISTS orders_by_status ON orders (status)",
            "CREATE INDEX IF NOT EXISTS orders_by_strategy ON orders (strategy, sent_at)",
            """CREATE TABLE IF NOT EXISTS fills (
                id INTEGER PRIMARY KEY,
                account_index INTEGER NOT NULL,
                trade_id INTEGER NOT NULL,
                strategy TEXT NOT NULL,
                market_id INTEGER NOT NULL,
                client_order_index INTEGER NOT NULL,
                side TEXT NOT NULL,
                price REAL NOT NULL,
                size REAL NOT NULL,
                fee REAL NOT NULL,
                is_maker INTEGER NOT NULL,
                filled_total REAL NOT NULL,
                remaining REAL NOT NULL,
                final INTEGER NOT NULL,
                ts_event INTEGER NOT NULL,
                seq INTEGER NOT NULL,
                UNIQUE (account_index, trade_id)
            )""",
            "CREATE INDEX IF NOT EXISTS fills_by_time ON fills (ts_event)",
            "CREATE INDEX IF NOT EXISTS fills_by_strategy ON fills (strategy, ts_event)",
            """CREATE TABLE IF NOT EXISTS trades (
                id INTEGER PRIMARY KEY,
                strategy TEXT NOT NULL,
                account_index INTEGER NOT NULL,
                market_id INTEGER NOT NULL,
                side TEXT NOT NULL,
                entry_price REAL NOT NULL,
                exit_price REAL NOT NULL,
                entry_ts INTEGER NOT NULL,
                exit_ts INTEGER NOT NULL,
                size REAL NOT NULL,
                fees REAL NOT NULL,
                pnl_quote REAL NOT NULL,
                pnl_pct REAL NOT NULL,
                exit_reason TEXT NOT NULL,
                mfe_bps REAL NOT NULL,
                mae_bps REAL NOT NULL,
                entry_context TEXT NOT NULL,
                ts_event INTEGER NOT NULL,
                seq INTEGER NOT NULL,
                UNIQUE (strategy, account_index, market_id, entry_ts, exit_ts)
            )""",
            "CREATE INDEX IF NOT EXISTS trades_by_exit ON trades (exit_ts)",
            "CREATE INDEX IF NOT EXISTS trades_by_strategy ON trades (strategy, exit_ts)",
            """CREATE TABLE IF NOT EXISTS positions (
                account_index INTEGER NOT NULL,
                market_id INTEGER NOT NULL,
                size REAL NOT NULL,
                avg_entry REAL NOT NULL,
                realized_pnl REAL NOT NULL,
                source TEXT NOT NULL,
                ts_event INTEGER NOT NULL,
                seq INTEGER NOT NULL,
                PRIMARY KEY (account_index, market_id)
            )""",
            """CREATE TABLE IF NOT EXISTS candles (
                strategy TEXT NOT NULL,
                market_id INTEGER NOT NULL,
                interval_s INTEGER NOT NULL,
                open_time_ms INTEGER NOT NULL,
                open REAL NOT NULL,
                high REAL NOT NULL,
                low REAL NOT NULL,
                close REAL NOT NULL,
                volume REAL NOT NULL,
                ts_event INTEGER NOT NULL,
                ts_init INTEGER NOT NULL,
                seq INTEGER NOT NULL,
                UNIQUE (strategy, market_id, interval_s, open_time_ms)
            )""",
            """CREATE TABLE IF NOT EXISTS strategy_snapshots (
                id INTEGER PRIMARY KEY,
                strategy TEXT NOT NULL,
                account_index INTEGER NOT NULL,
                market_id INTEGER NOT NULL,
                state BLOB NOT NULL,
                candles_count INTEGER NOT NULL,
                position_size REAL NOT NULL,
                entry_price REAL,
                entry_ts INTEGER,
                ts_event INTEGER NOT NULL,
                seq INTEGER NOT NULL
            )""",
            "CREATE INDEX IF NOT EXISTS snapshots_by_strategy ON strategy_snapshots (strategy, ts_event, id)",
            """CREATE TABLE IF NOT EXISTS breakers (
                strategy TEXT PRIMARY KEY,
                tripped INTEGER NOT NULL,
                reason TEXT NOT NULL,
                since_ts INTEGER,
                daily_loss REAL NOT NULL,
                day TEXT NOT NULL,
                consecutive_losses INTEGER NOT NULL,
                peak_equity REAL NOT NULL,
                equity REAL NOT NULL,
                ts_event INTEGER NOT NULL,
                seq INTEGER NOT NULL
            )""",
            """CREATE TABLE IF NOT EXISTS kill_switch (
                scope TEXT PRIMARY KEY,
                command TEXT NOT NULL,
                reason TEXT NOT NULL,
                issued_by TEXT NOT NULL,
                ts_event INTEGER NOT NULL,
                seq INTEGER NOT NULL
            )""",
            """CREATE TABLE IF NOT EXISTS parameter_history (
                id INTEGER PRIMARY KEY,
                strategy TEXT NOT NULL,
                preset TEXT NOT NULL,
                params TEXT NOT NULL,
                reason TEXT NOT NULL,
                ts_event INTEGER NOT NULL,
                seq INTEGER NOT NULL
            )""",
            "CREATE INDEX IF NOT EXISTS parameters_by_strategy ON parameter_history (strategy, ts_event)",
        ),
    ),
    Migration(
        2,
        "what the database belongs to (storage/identity.py)",
        ("CREATE TABLE IF NOT EXISTS database_identity (key TEXT PRIMARY KEY, value TEXT NOT NULL)",),
    ),
    Migration(
        3,
        "hourly funding payments, each stored once",
        (
            """CREATE TABLE IF NOT EXISTS funding (
                id INTEGER PRIMARY KEY,
                account_index INTEGER NOT NULL,
                market_id INTEGER NOT NULL,
                strategy TEXT NOT NULL,
                funding_id INTEGER NOT NULL,
                change REAL NOT NULL,
                rate REAL NOT NULL,
                position_size REAL NOT NULL,
                ts_event INTEGER NOT NULL,
                seq INTEGER NOT NULL,
                UNIQUE (account_index, market_id, ts_event)
            )""",
            "CREATE INDEX IF NOT EXISTS funding_by_strategy ON funding (strategy, ts_event)",
        ),
    ),
)

LATEST_VERSION = MIGRATIONS[-1].version

TABLES = (
    "journal",
    "orders",
    "fills",
    "trades",
    "positions",
    "candles",
    "strategy_snapshots",
    "breakers",
    "kill_switch",
    "parameter_history",
    "database_identity",
    "funding",
)

# what a run leaves behind: a database holding any of these was used for trading
TRADING_TABLES = ("orders", "fills", "trades", "positions", "candles", "strategy_snapshots", "breakers",
                  "kill_switch", "funding")


def schema_version(conn: sqlite3.Connection) -> int:
    """The highest applied migration (0 for a fresh database)."""
    exists = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'"
    ).fetchone()
    if not exists:
        return 0
    return int(conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version").fetchone()[0])


def migrate(conn: sqlite3.Connection) -> list[int]:
    """Apply the missing migrations; returns the versions applied now ([] when up to date).

    conn must be in autocommit mode (isolation_level=None): the transactions are explicit.
    """
    if conn.isolation_level is not None:
        raise ValueError("migrate() needs a connection opened with isolation_level=None")
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_version ("
        "version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at_ns INTEGER NOT NULL)"
    )
    found = schema_version(conn)
    if found > LATEST_VERSION:
        raise RuntimeError(
            f"database schema version {found} is newer than this code knows ({LATEST_VERSION})"
        )
    applied: list[int] = []
    for migration in MIGRATIONS:
        conn.execute("BEGIN IMMEDIATE")
        try:
            if schema_version(conn) >= migration.version:  # re-read under the write lock
                conn.execute("ROLLBACK")
                continue
            for statement in migration.statements:
                conn.execute(statement)
            conn.execute(
                "INSERT INTO schema_version (version, description, applied_at_ns) VALUES (?, ?, ?)",
                (migration.version, migration.description, time.time_ns()),
            )
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        applied.append(migration.version)
    return applied


# ---------------------------------------------------------------------------------------------
# Messages -> rows
# ---------------------------------------------------------------------------------------------

# status ranks: an order's status only moves forward; the first terminal status wins
PENDING, ACCEPTED, PARTIALLY_FILLED = "pending", "accepted", "partially_filled"
FILLED, CANCELED, EXPIRED, REJECTED = "filled", "canceled", "expired", "rejected"
STATUS_RANK = {PENDING: 0, ACCEPTED: 1, PARTIALLY_FILLED: 2, FILLED: 3, CANCELED: 3, EXPIRED: 3, REJECTED: 3}
OPEN_STATUSES = (PENDING, ACCEPTED, PARTIALLY_FILLED)


class Row(NamedTuple):
    """One statement to run. dedupe names what an ignored insert means ("fill", "order")."""

    sql: str
    params: tuple[Any, ...]
    dedupe: str | None = None


PersistableRecord = (
    OrderCommand
    | OrderAccepted
    | OrderRejected
    | OrderPartiallyFilled
    | OrderFilled
    | OrderCanceled
    | OrderExpired
    | TradeRecord
    | Candle
    | StrategySnapshot
    | BreakerState
    | PositionSnapshot
    | JournalRecord
    | ParameterChange
    | Halt
    | Resume
    | Flatten
    | FundingPayment
)

_INSERT_JOURNAL = (
    "INSERT INTO journal (kind, actor, seq, ts_event, ts_init, payload) VALUES (?, ?, ?, ?, ?, ?)"
)
_INSERT_ORDER = (
    "INSERT INTO orders (account_index, client_order_index, strategy, market_id, side, kind, tif, size, "
    "price, worst_price, reduce_only, is_exit, reason, expiry_ms, intent_ts, intent_seq, command_seq, "
    "sent_at, updated_ts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (account_index, client_order_index) DO NOTHING"
)
_CANCEL_REQUESTED = (
    "UPDATE orders SET cancel_requested_ts = ?, updated_ts = MAX(updated_ts, ?) "
    "WHERE account_index = ? AND client_order_index = ?"
)
_CANCEL_ALL_REQUESTED = (
    "UPDATE orders SET cancel_requested_ts = ?, updated_ts = MAX(updated_ts, ?) "
    "WHERE account_index = ? AND status_rank < 3 AND (? IS NULL OR market_id = ?)"
)
# status moves forward only; details (tx hash, fill totals) are kept whatever the order of arrival
_ORDER_STATUS = (
    "UPDATE orders SET status = CASE WHEN status_rank < ? THEN ? ELSE status END, "
    "status_rank = MAX(status_rank, ?), updated_ts = MAX(updated_ts, ?) "
    "WHERE account_index = ? AND client_order_index = ?"
)
_ORDER_ACCEPTED = (
    "UPDATE orders SET tx_hash = ?, order_index = COALESCE(?, order_index) "
    "WHERE account_index = ? AND client_order_index = ?"
)
_ORDER_REJECTED = (
    "UPDATE orders SET reject_code = ?, reject_reason = ? WHERE account_index = ? AND client_order_index = ?"
)
_ORDER_MODIFIED = (
    "UPDATE orders SET price = ?, size = filled_size + ?, updated_ts = ? "
    "WHERE account_index = ? AND client_order_index = ?"
)
_ORDER_FILLED_SIZE = (
    "UPDATE orders SET filled_size = MAX(filled_size, ?) WHERE account_index = ? AND client_order_index = ?"
)
_INSERT_FILL = (
    "INSERT INTO fills (account_index, trade_id, strategy, market_id, client_order_index, side, price, size, "
    "fee, is_maker, filled_total, remaining, final, ts_event, seq) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (account_index, trade_id) DO NOTHING"
)
_INSERT_TRADE = (
    "INSERT INTO trades (strategy, account_index, market_id, side, entry_price, exit_price, entry_ts, "
    "exit_ts, size, fees, pnl_quote, pnl_pct, exit_reason, mfe_bps, mae_bps, entry_context, ts_event, seq) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (strategy, account_index, market_id, entry_ts, exit_ts) DO NOTHING"
)
_UPSERT_CANDLE = (
    "INSERT INTO candles (strategy, market_id, interval_s, open_time_ms, open, high, low, close, volume, "
    "ts_event, ts_init, seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (strategy, market_id, interval_s, open_time_ms) DO UPDATE SET open = excluded.open, "
    "high = excluded.high, low = excluded.low, close = excluded.close, volume = excluded.volume, "
    "ts_event = excluded.ts_event, ts_init = excluded.ts_init, seq = excluded.seq"
)
_INSERT_SNAPSHOT = (
    "INSERT INTO strategy_snapshots (strategy, account_index, market_id, state, candles_count, "
    "position_size, entry_price, entry_ts, ts_event, seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_PRUNE_SNAPSHOTS = (
    "DELETE FROM strategy_snapshots WHERE strategy = ? AND id NOT IN "
    "(SELECT id FROM strategy_snapshots WHERE strategy = ? ORDER BY ts_event DESC, id DESC LIMIT ?)"
)
_UPSERT_POSITION = (
    "INSERT INTO positions (account_index, market_id, size, avg_entry, realized_pnl, source, ts_event, seq) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (account_index, market_id) DO UPDATE SET "
    "size = excluded.size, avg_entry = excluded.avg_entry, realized_pnl = excluded.realized_pnl, "
    "source = excluded.source, ts_event = excluded.ts_event, seq = excluded.seq "
    "WHERE excluded.ts_event >= positions.ts_event"
)
_UPSERT_BREAKER = (
    "INSERT INTO breakers (strategy, tripped, reason, since_ts, daily_loss, day, consecutive_losses, "
    "peak_equity, equity, ts_event, seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (strategy) DO UPDATE SET tripped = excluded.tripped, reason = excluded.reason, "
    "since_ts = excluded.since_ts, daily_loss = excluded.daily_loss, day = excluded.day, "
    "consecutive_losses = excluded.consecutive_losses, peak_equity = excluded.peak_equity, "
    "equity = excluded.equity, ts_event = excluded.ts_event, seq = excluded.seq "
    "WHERE excluded.ts_event >= breakers.ts_event"
)
_UPSERT_KILL_SWITCH = (
    "INSERT INTO kill_switch (scope, command, reason, issued_by, ts_event, seq) VALUES (?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (scope) DO UPDATE SET command = excluded.command, reason = excluded.reason, "
    "issued_by = excluded.issued_by, ts_event = excluded.ts_event, seq = excluded.seq "
    "WHERE excluded.ts_event >= kill_switch.ts_event"
)
_INSERT_FUNDING = (
    "INSERT INTO funding (account_index, market_id, strategy, funding_id, change, rate, position_size, "
    "ts_event, seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (account_index, market_id, ts_event) DO NOTHING"
)
_INSERT_PARAMETERS = (
    "INSERT INTO parameter_history (strategy, preset, params, reason, ts_event, seq) "
    "VALUES (?, ?, ?, ?, ?, ?)"
)

KILL_SWITCH_COMMANDS: dict[type, str] = {Halt: "halt", Resume: "resume", Flatten: "flatten"}


def rows_for(record: object, *, keep_snapshots: int = 100) -> list[Row]:
    """The statements that persist one record, in order. TypeError for a record storage does not keep."""
    match record:
        case JournalRecord():
            return [
                Row(
                    _INSERT_JOURNAL,
                    (record.kind, record.actor, record.seq, record.ts_event, record.ts_init, record.payload),
                )
            ]
        case OrderCommand(intent=OrderIntent() as intent):
            return [Row(_INSERT_ORDER, _order_params(record, intent), dedupe="order")]
        case OrderCommand(intent=CancelIntent() as cancel):
            key = (cancel.account_index, cancel.client_order_index)
            return [Row(_CANCEL_REQUESTED, (record.ts_event, record.ts_event, *key))]
        case OrderCommand(intent=CancelAllIntent() as cancel_all):
            market = cancel_all.market_id
            return [
                Row(
                    _CANCEL_ALL_REQUESTED,
                    (record.ts_event, record.ts_event, cancel_all.account_index, market, market),
                )
            ]
        case OrderAccepted():
            key = (record.account_index, record.client_order_index)
            return [
                Row(_ORDER_ACCEPTED, (record.tx_hash, record.order_index, *key)),
                _status_row(record, ACCEPTED),
            ]
        case OrderRejected(op="place"):
            key = (record.account_index, record.client_order_index)
            return [Row(_ORDER_REJECTED, (record.code, record.reason, *key)), _status_row(record, REJECTED)]
        case OrderRejected():  # a refused modify or cancel: the order rests as it was
            return []
        case OrderModified():
            key = (record.account_index, record.client_order_index)
            return [Row(_ORDER_MODIFIED, (record.price, record.remaining, record.ts_event, *key))]
        case OrderPartiallyFilled() | OrderFilled():
            final = isinstance(record, OrderFilled)
            key = (record.account_index, record.client_order_index)
            return [
                Row(_INSERT_FILL, _fill_params(record, final), dedupe="fill"),
                Row(_ORDER_FILLED_SIZE, (record.filled_total, *key)),
                _status_row(record, FILLED if final else PARTIALLY_FILLED),
            ]
        case OrderCanceled():
            return [_status_row(record, CANCELED)]
        case OrderExpired():
            return [_status_row(record, EXPIRED)]
        case TradeRecord():
            return [Row(_INSERT_TRADE, _trade_params(record), dedupe="trade")]
        case Candle():
            return [Row(_UPSERT_CANDLE, _candle_params(record))]
        case StrategySnapshot():
            return [
                Row(_INSERT_SNAPSHOT, _snapshot_params(record)),
                Row(_PRUNE_SNAPSHOTS, (record.strategy, record.strategy, keep_snapshots)),
            ]
        case PositionSnapshot():
            return [Row(_UPSERT_POSITION, _position_params(record))]
        case BreakerState():
            return [Row(_UPSERT_BREAKER, _breaker_params(record))]
        case Halt() | Resume() | Flatten():
            command = KILL_SWITCH_COMMANDS[type(record)]
            return [
                Row(
                    _UPSERT_KILL_SWITCH,
                    (record.scope, command, record.reason, record.issued_by, record.ts_event, record.seq),
                )
            ]
        case FundingPayment():
            return [Row(_INSERT_FUNDING, _funding_params(record), dedupe="funding")]
        case ParameterChange():
            params = json.dumps(record.params, sort_keys=True)
            return [
                Row(
                    _INSERT_PARAMETERS,
                    (record.strategy, record.preset, params, record.reason, record.ts_event, record.seq),
                )
            ]
    raise TypeError(f"storage keeps no {type(record).__name__} (wrap it in a JournalRecord to journal it)")


def _status_row(
    event: OrderAccepted | OrderRejected | OrderPartiallyFilled | OrderFilled | OrderCanceled | OrderExpired,
    status: str,
) -> Row:
    rank = STATUS_RANK[status]
    return Row(
        _ORDER_STATUS, (rank, status, rank, event.ts_event, event.account_index, event.client_order_index)
    )


def _order_params(command: OrderCommand, intent: OrderIntent) -> tuple[Any, ...]:
    return (
        intent.account_index,
        intent.client_order_index,
        intent.strategy,
        intent.market_id,
        intent.side,
        intent.kind,
        intent.tif,
        intent.size,
        intent.price,
        intent.worst_price,
        int(intent.reduce_only),
        int(intent.is_exit),
        intent.reason,
        intent.expiry_ms,
        intent.ts_event,
        intent.seq,
        command.seq,
        command.ts_event,  # sent_at: approved by risk; the router sends only after this row committed
        command.ts_event,
    )


def _fill_params(event: OrderPartiallyFilled | OrderFilled, final: bool) -> tuple[Any, ...]:
    fill = event.fill
    return (
        event.account_index,
        fill.trade_id,
        event.strategy,
        event.market_id,
        event.client_order_index,
        event.side,
        fill.price,
        fill.size,
        fill.fee,
        int(fill.is_maker),
        event.filled_total,
        event.remaining,
        int(final),
        event.ts_event,
        event.seq,
    )


def _trade_params(trade: TradeRecord) -> tuple[Any, ...]:
    return (
        trade.strategy,
        trade.account_index,
        trade.market_id,
        trade.side,
        trade.entry_price,
        trade.exit_price,
        trade.entry_ts,
        trade.exit_ts,
        trade.size,
        trade.fees,
        trade.pnl_quote,
        trade.pnl_pct,
        trade.exit_reason,
        trade.mfe_bps,
        trade.mae_bps,
        json.dumps(trade.entry_context, sort_keys=True),
        trade.ts_event,
        trade.seq,
    )


def _candle_params(candle: Candle) -> tuple[Any, ...]:
    return (
        candle.strategy,
        candle.market_id,
        candle.interval_s,
        candle.open_time_ms,
        candle.open,
        candle.high,
        candle.low,
        candle.close,
        candle.volume,
        candle.ts_event,
        candle.ts_init,
        candle.seq,
    )


def _snapshot_params(snapshot: StrategySnapshot) -> tuple[Any, ...]:
    return (
        snapshot.strategy,
        snapshot.account_index,
        snapshot.market_id,
        snapshot.state,
        snapshot.candles_count,
        snapshot.position_size,
        snapshot.entry_price,
        snapshot.entry_ts,
        snapshot.ts_event,
        snapshot.seq,
    )


def _position_params(position: PositionSnapshot) -> tuple[Any, ...]:
    return (
        position.account_index,
        position.market_id,
        position.size,
        position.avg_entry,
        position.realized_pnl,
        position.source,
        position.ts_event,
        position.seq,
    )


def _funding_params(payment: FundingPayment) -> tuple[Any, ...]:
    return (
        payment.account_index,
        payment.market_id,
        payment.strategy,
        payment.funding_id,
        payment.change,
        payment.rate,
        payment.position_size,
        payment.ts_event,
        payment.seq,
    )


def _breaker_params(breaker: BreakerState) -> tuple[Any, ...]:
    return (
        breaker.strategy,
        int(breaker.tripped),
        breaker.reason,
        breaker.since_ts,
        breaker.daily_loss,
        breaker.day,
        breaker.consecutive_losses,
        breaker.peak_equity,
        breaker.equity,
        breaker.ts_event,
        breaker.seq,
    )
