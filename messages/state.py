"""State worth persisting: what actors save so that a restart can rebuild them from SQLite.

- `StrategySnapshot`: a strategy's own opaque encoded state (the strategy owns the format) plus
  the few fields other actors and operators need without decoding it.
- `PositionSnapshot`: one account's net position in one market (signed size: > 0 long), as the
  risk actor nets it from fills (source "fills") or as the venue reported it ("venue").
- `BreakerState`: one strategy's circuit breakers; persisted on every change so a restart does
  not clear a tripped breaker. day is the UTC date ("2025-05-04") the daily loss belongs to.
- `TradeRecord`: a closed round trip with its excursions and the indicator values at entry.
- `ParameterChange`: the parameters a strategy runs with, recorded at start and on every change.
"""

from __future__ import annotations

from typing import Literal

from messages.base import Message

PositionSide = Literal["long", "short"]
ParamValue = bool | int | float | str


class StrategySnapshot(Message, frozen=True, kw_only=True, tag="strategy_snapshot"):
    strategy: str
    account_index: int
    market_id: int
    state: bytes
    candles_count: int
    position_size: float = 0.0  # signed base units; 0 when flat
    entry_price: float | None = None
    entry_ts: int | None = None  # ns


class PositionSnapshot(Message, frozen=True, kw_only=True, tag="position_snapshot"):
    account_index: int
    market_id: int
    size: float  # signed base units
    avg_entry: float
    realized_pnl: float
    source: Literal["fills", "venue"] = "fills"


class BreakerState(Message, frozen=True, kw_only=True, tag="breaker_state"):
    strategy: str
    tripped: bool
    reason: str
    since_ts: int | None  # when it tripped (ns), None while not tripped
    daily_loss: float  # quote, positive is a loss
    day: str
    consecutive_losses: int
    peak_equity: float
    equity: float


class TradeRecord(Message, frozen=True, kw_only=True, tag="trade_record"):
    """A closed round trip. entry_ts and exit_ts are ns like every timestamp here (ts_event is the
    exit time); (strategy, account_index, market_id, entry_ts, exit_ts) identifies it in storage.
    mfe_bps/mae_bps: the largest favourable and adverse excursions from the entry price while the
    position was open, as magnitudes in bps (both >= 0).
    """

    strategy: str
    account_index: int
    market_id: int
    side: PositionSide
    entry_price: float
    exit_price: float
    entry_ts: int
    exit_ts: int
    size: float
    fees: float
    pnl_quote: float  # net of fees
    pnl_pct: float
    exit_reason: str
    mfe_bps: float
    mae_bps: float
    entry_context: dict[str, float] = {}


class ParameterChange(Message, frozen=True, kw_only=True, tag="parameter_change"):
    strategy: str
    preset: str
    params: dict[str, ParamValue]
    reason: str = ""  # "start", "operator", ...


StateMessage = StrategySnapshot | PositionSnapshot | BreakerState | TradeRecord | ParameterChange
