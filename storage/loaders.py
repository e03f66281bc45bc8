"""Read-only loaders: rehydration at actor start-up, and scripts (PnL queries, reports).

    with StorageReader("data/paper.db") as db:
        candles = db.candles("rsi_bb", market_id=2, interval_s=15, limit=500)   # oldest first
        snapshot = db.latest_snapshot("rsi_bb")                                 # or None
        open_orders = db.orders(status=OPEN_STATUSES, account_index=1001)

The connection is opened with SQLite's `file:...?mode=ro` URI, so a loader can never write, and
in WAL mode it reads a consistent snapshot while the writer keeps committing. Each method returns
the message Structs the writer was given (Candle, StrategySnapshot, PositionSnapshot,
BreakerState, OrderPartiallyFilled/OrderFilled, TradeRecord, JournalRecord, ParameterChange,
Halt/Resume/Flatten, FundingPayment), or `StoredOrder` for the orders table. Times are ns unless named _ms.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import msgspec

from messages.base import Side
from messages.control import Flatten, Halt, Resume
from messages.funding import FundingPayment
from messages.journal import JournalRecord
from messages.market import Candle
from messages.orders import Fill, OrderFilled, OrderIntent, OrderKind, OrderPartiallyFilled, TimeInForce
from messages.state import BreakerState, ParameterChange, PositionSnapshot, StrategySnapshot, TradeRecord
from storage.schema import schema_version


class StoredOrder(msgspec.Struct, frozen=True, kw_only=True):
    """One row of the orders table: the approved intent and what became of it."""

    account_index: int
    client_order_index: int
    strategy: str
    market_id: int
    side: Side
    kind: OrderKind
    tif: TimeInForce
    size: float
    price: float | None
    worst_price: float | None
    reduce_only: bool
    is_exit: bool
    reason: str
    expiry_ms: int | None
    intent_ts: int
    intent_seq: int
    command_seq: int
    sent_at: int
    status: str
    order_index: int | None
    tx_hash: str | None
    filled_size: float
    reject_code: int | None
    reject_reason: str | None
    cancel_requested_ts: int | None
    updated_ts: int

    def to_intent(self) -> OrderIntent:
        """The intent as the strategy sent it (a retried send reuses its client_order_index)."""
        return OrderIntent(
            strategy=self.strategy,
            account_index=self.account_index,
            market_id=self.market_id,
            client_order_index=self.client_order_index,
            side=self.side,
            size=self.size,
            kind=self.kind,
            tif=self.tif,
            reason=self.reason,
            price=self.price,
            worst_price=self.worst_price,
            reduce_only=self.reduce_only,
            is_exit=self.is_exit,
            expiry_ms=self.expiry_ms,
            ts_event=self.intent_ts,
            seq=self.intent_seq,
        )


_ORDER_COLUMNS = ", ".join(StoredOrder.__struct_fields__)
_BOOL_ORDER_COLUMNS = ("reduce_only", "is_exit")


class StorageReader:
    """A read-only connection to the database; use as a context manager or call close()."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"no database at {self.path}")
        uri = f"{self.path.resolve().as_uri()}?mode=ro"
        self._conn = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=10.0)
        self._conn.row_factory = sqlite3.Row

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> StorageReader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        return self._conn.execute(sql, tuple(params)).fetchall()

    def schema_version(self) -> int:
        return schema_version(self._conn)

    # --- strategies --------------------------------------------------------------------------
    def candles(
        self, strategy: str, market_id: int, interval_s: int, limit: int | None = None
    ) -> list[Candle]:
        """The last `limit` candles (all when None), oldest first. strategy "" means venue candles."""
        rows = self._rows(
            "SELECT * FROM candles WHERE strategy = ? AND market_id = ? AND interval_s = ? "
            "ORDER BY open_time_ms DESC LIMIT ?",
            (strategy, market_id, interval_s, -1 if limit is None else limit),
        )
        return [
            Candle(
                strategy=r["strategy"],
                market_id=r["market_id"],
                interval_s=r["interval_s"],
                open_time_ms=r["open_time_ms"],
                open=r["open"],
                high=r["high"],
                low=r["low"],
                close=r["close"],
                volume=r["volume"],
                ts_event=r["ts_event"],
                ts_init=r["ts_init"],
                seq=r["seq"],
            )
            for r in reversed(rows)
        ]

    def latest_snapshot(self, strategy: str) -> StrategySnapshot | None:
        rows = self._rows(
            "SELECT * FROM strategy_snapshots WHERE strategy = ? ORDER BY ts_event DESC, id DESC LIMIT 1",
            (strategy,),
        )
        if not rows:
            return None
        r = rows[0]
        return StrategySnapshot(
            strategy=r["strategy"],
            account_index=r["account_index"],
            market_id=r["market_id"],
            state=bytes(r["state"]),
            candles_count=r["candles_count"],
            position_size=r["position_size"],
            entry_price=r["entry_price"],
            entry_ts=r["entry_ts"],
            ts_event=r["ts_event"],
            seq=r["seq"],
        )

    def parameter_history(self, strategy: str) -> list[ParameterChange]:
        rows = self._rows(
            "SELECT * FROM parameter_history WHERE strategy = ? ORDER BY ts_event, id", (strategy,)
        )
        return [
            ParameterChange(
                strategy=r["strategy"],
                preset=r["preset"],
                params=json.loads(r["params"]),
                reason=r["reason"],
                ts_event=r["ts_event"],
                seq=r["seq"],
            )
            for r in rows
        ]

    # --- risk ----------------------------------------------------------------------------------
    def positions(self, account_index: int | None = None) -> list[PositionSnapshot]:
        rows = self._rows(
            "SELECT * FROM positions WHERE ? IS NULL OR account_index = ? ORDER BY account_index, market_id",
            (account_index, account_index),
        )
        return [
            PositionSnapshot(
                account_index=r["account_index"],
                market_id=r["market_id"],
                size=r["size"],
                avg_entry=r["avg_entry"],
                realized_pnl=r["realized_pnl"],
                source=r["source"],
                ts_event=r["ts_event"],
                seq=r["seq"],
            )
            for r in rows
        ]

    def breakers(self) -> dict[str, BreakerState]:
        rows = self._rows("SELECT * FROM breakers ORDER BY strategy")
        return {
            r["strategy"]: BreakerState(
                strategy=r["strategy"],
                tripped=bool(r["tripped"]),
                reason=r["reason"],
                since_ts=r["since_ts"],
                daily_loss=r["daily_loss"],
                day=r["day"],
                consecutive_losses=r["consecutive_losses"],
                peak_equity=r["peak_equity"],
                equity=r["equity"],
                ts_event=r["ts_event"],
                seq=r["seq"],
            )
            for r in rows
        }

    def kill_switch(self) -> dict[str, Halt | Resume | Flatten]:
        """The last kill-switch command per scope ("all" or a strategy name)."""
        kinds: dict[str, type[Halt] | type[Resume] | type[Flatten]] = {
            "halt": Halt,
            "resume": Resume,
            "flatten": Flatten,
        }
        return {
            r["scope"]: kinds[r["command"]](
                scope=r["scope"],
                reason=r["reason"],
                issued_by=r["issued_by"],
                ts_event=r["ts_event"],
                seq=r["seq"],
            )
            for r in self._rows("SELECT * FROM kill_switch ORDER BY scope")
        }

    def fills_since(
        self, ts_event: int = 0, *, strategy: str | None = None, account_index: int | None = None
    ) -> list[OrderPartiallyFilled | OrderFilled]:
        """Fills with ts_event >= the given time, oldest first, as the order events that carried them."""
        rows = self._rows(
            "SELECT * FROM fills WHERE ts_event >= ? AND (? IS NULL OR strategy = ?) "
            "AND (? IS NULL OR account_index = ?) ORDER BY ts_event, id",
            (ts_event, strategy, strategy, account_index, account_index),
        )
        events: list[OrderPartiallyFilled | OrderFilled] = []
        for r in rows:
            cls = OrderFilled if r["final"] else OrderPartiallyFilled
            events.append(
                cls(
                    strategy=r["strategy"],
                    account_index=r["account_index"],
                    market_id=r["market_id"],
                    client_order_index=r["client_order_index"],
                    side=r["side"],
                    fill=Fill(
                        trade_id=r["trade_id"],
                        price=r["price"],
                        size=r["size"],
                        fee=r["fee"],
                        is_maker=bool(r["is_maker"]),
                    ),
                    filled_total=r["filled_total"],
                    remaining=r["remaining"],
                    ts_event=r["ts_event"],
                    seq=r["seq"],
                )
            )
        return events

    def funding_since(
        self, ts_event: int = 0, *, strategy: str | None = None, account_index: int | None = None
    ) -> list[FundingPayment]:
        """Funding payments of hours at or after ts_event, oldest first (empty before schema v3)."""
        if self.schema_version() < 3:
            return []
        rows = self._rows(
            "SELECT * FROM funding WHERE ts_event >= ? AND (? IS NULL OR strategy = ?) "
            "AND (? IS NULL OR account_index = ?) ORDER BY ts_event, account_index, market_id",
            (ts_event, strategy, strategy, account_index, account_index),
        )
        return [
            FundingPayment(
                account_index=r["account_index"],
                market_id=r["market_id"],
                strategy=r["strategy"],
                funding_id=r["funding_id"],
                change=r["change"],
                rate=r["rate"],
                position_size=r["position_size"],
                ts_event=r["ts_event"],
                seq=r["seq"],
            )
            for r in rows
        ]

    def funding_totals(self, ts_event: int = 0, end_ts: int | None = None) -> dict[tuple[int, int], float]:
        """{(account_index, market_id): the sum of funding changes} over hours in [ts_event, end_ts)
        (> 0: received on balance)."""
        if self.schema_version() < 3:
            return {}
        rows = self._rows(
            "SELECT account_index, market_id, SUM(change) FROM funding WHERE ts_event >= ? "
            "AND (? IS NULL OR ts_event < ?) GROUP BY account_index, market_id",
            (ts_event, end_ts, end_ts),
        )
        return {(int(r[0]), int(r[1])): float(r[2]) for r in rows}

    def newest_trade_exit_ts(self) -> int | None:
        """The latest exit time in the trades table (event time, ns); None when it holds no trade."""
        ts: int | None = self._rows("SELECT MAX(exit_ts) FROM trades")[0][0]
        return ts

    def trades_since(self, ts_event: int = 0, *, strategy: str | None = None) -> list[TradeRecord]:
        """Round trips closed at or after ts_event (exit time), oldest first."""
        rows = self._rows(
            "SELECT * FROM trades WHERE exit_ts >= ? AND (? IS NULL OR strategy = ?) ORDER BY exit_ts, id",
            (ts_event, strategy, strategy),
        )
        return [
            TradeRecord(
                strategy=r["strategy"],
                account_index=r["account_index"],
                market_id=r["market_id"],
                side=r["side"],
                entry_price=r["entry_price"],
                exit_price=r["exit_price"],
                entry_ts=r["entry_ts"],
                exit_ts=r["exit_ts"],
                size=r["size"],
                fees=r["fees"],
                pnl_quote=r["pnl_quote"],
                pnl_pct=r["pnl_pct"],
                exit_reason=r["exit_reason"],
                mfe_bps=r["mfe_bps"],
                mae_bps=r["mae_bps"],
                entry_context=json.loads(r["entry_context"]),
                ts_event=r["ts_event"],
                seq=r["seq"],
            )
            for r in rows
        ]

    # --- orders --------------------------------------------------------------------------------
    def orders(
        self,
        *,
        status: str | Sequence[str] | None = None,
        strategy: str | None = None,
        account_index: int | None = None,
    ) -> list[StoredOrder]:
        """Orders filtered by status (one or several), strategy and account, oldest sent first."""
        statuses = [status] if isinstance(status, str) else list(status or [])
        where = ["(? IS NULL OR strategy = ?)", "(? IS NULL OR account_index = ?)"]
        params: list[Any] = [strategy, strategy, account_index, account_index]
        if statuses:
            where.append(f"status IN ({', '.join('?' * len(statuses))})")
            params += statuses
        rows = self._rows(
            f"SELECT {_ORDER_COLUMNS} FROM orders WHERE {' AND '.join(where)} ORDER BY sent_at, id", params
        )
        return [_stored_order(r) for r in rows]

    def order(self, account_index: int, client_order_index: int) -> StoredOrder | None:
        rows = self._rows(
            f"SELECT {_ORDER_COLUMNS} FROM orders WHERE account_index = ? AND client_order_index = ?",
            (account_index, client_order_index),
        )
        return _stored_order(rows[0]) if rows else None

    def max_client_order_index(self, account_index: int) -> int | None:
        """The highest client_order_index used on the account (to continue a deterministic sequence)."""
        row = self._rows(
            "SELECT MAX(client_order_index) AS m FROM orders WHERE account_index = ?", (account_index,)
        )
        value = row[0]["m"]
        return None if value is None else int(value)

    # --- journal -------------------------------------------------------------------------------
    def journal(
        self, since_ts: int = 0, *, kind: str | None = None, limit: int | None = None
    ) -> list[JournalRecord]:
        rows = self._rows(
            "SELECT * FROM journal WHERE ts_event >= ? AND (? IS NULL OR kind = ?) ORDER BY id LIMIT ?",
            (since_ts, kind, kind, -1 if limit is None else limit),
        )
        return [
            JournalRecord(
                kind=r["kind"],
                actor=r["actor"],
                seq=r["seq"],
                ts_event=r["ts_event"],
                ts_init=r["ts_init"],
                payload=bytes(r["payload"]),
            )
            for r in rows
        ]


def _stored_order(row: sqlite3.Row) -> StoredOrder:
    values = dict(row)
    for column in _BOOL_ORDER_COLUMNS:
        values[column] = bool(values[column])
    return StoredOrder(**values)
