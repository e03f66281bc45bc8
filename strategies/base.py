"""The interface every strategy implements: events in, actions out, state in a plain dict.

A strategy is a pure, deterministic object: it never reads the wall clock, never does I/O and
never imports Ray; everything it knows arrives through the `on_*` methods with the event's own
time in ms. An actor (or the research replay) hosts one instance, feeds it market data and order
outcomes, turns the returned `Action`s into orders, persists `snapshot()` and restores it after
a restart. The contract, which every implementation keeps:

- One position at a time, no scaling in, at most one order pending: while an action is pending
  (emitted and neither filled in full nor reported done) no new action is returned.
- Exits are evaluated before entries on every event; `allow_entries(False)` (a risk halt or a
  tripped breaker) stops entries only, exits keep running.
- Every action's size is quantised to the market's lot and meets its minimums, or the action is
  not emitted at all.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar, Literal, NamedTuple

import msgspec

from indicators.candles import Candle
from messages.state import TradeRecord
from venue.markets import MarketSpec

Side = Literal["buy", "sell"]
OrderKind = Literal["market", "limit"]
TimeInForce = Literal["gtt", "post_only", "ioc"]
DoneReason = Literal["rejected", "canceled", "expired"]


class Action(msgspec.Struct, frozen=True, kw_only=True):
    """An order the strategy wants placed.

    price: the limit price, or for a market order the worst acceptable price (mid moved by the
        strategy's max slippage, rounded to the tick toward the mid so the cap is never exceeded).
    is_exit: True for an order that closes the position; exits must pass a risk halt.
    reason: why ("entry_long", "entry_short", "take_profit", "stop_loss", "time_stop",
        "trend_reversal", "trailing_stop", "breakout_failure", "no_progress", "ao_reversal").
    """

    side: Side
    size: float
    kind: OrderKind
    price: float
    tif: TimeInForce
    reduce_only: bool
    is_exit: bool
    reason: str


class QuietBand(NamedTuple):
    """What the mids after the last one seen cannot change (see `Strategy.quiet_band`).

    While a mid stays strictly inside (lo, hi) and its event time is before until_ms, `on_mid`
    returns no action and changes nothing but running aggregates: the open candle's high, low,
    close and volume, the position's best and worst mid, per-mid histories. volume: the open
    candle's volume so far, to which the skipped trades are added in order (float sums must be
    the ones `on_trade` would make). marks: the skipped mids' own extremes are needed (a position
    marks its best and worst mid); when False, the open candle's running extremes will do."""

    lo: float
    hi: float
    until_ms: int
    volume: float
    marks: bool


class QuietSpan(NamedTuple):
    """Mids (and trades) a replay skipped inside a QuietBand: times[start:stop], mids[start:stop].

    high/low: the extremes of those mids; volume: QuietBand.volume plus their trades, added in
    order. The mids are all in the open candle's interval(s): no candle closes inside a span."""

    times: Sequence[int]
    mids: Sequence[float]
    start: int
    stop: int
    high: float
    low: float
    volume: float


class Strategy(ABC):
    """Base of all strategies; see the module docstring for the contract.

    kind: the registry name ("rsi_bb", ...). params_type: the msgspec Struct of every
    configurable number, with the spec's defaults.
    """

    kind: ClassVar[str]
    params_type: ClassVar[type[msgspec.Struct]]

    def __init__(self, name: str, market: MarketSpec, params: Any, *, account_index: int = 0) -> None:
        if not isinstance(params, self.params_type):
            raise TypeError(f"{type(self).__name__} needs {self.params_type.__name__}, got {type(params).__name__}")
        self.name = name
        self.market = market
        self.params = params
        self.account_index = account_index

    # --- market data ---------------------------------------------------------------------
    @abstractmethod
    def on_mid(self, ts_ms: int, mid: float) -> list[Action]:
        """A mid price (bid+ask)/2 from the book tops: builds candles/bricks, exits, then entries."""

    @abstractmethod
    def on_trade(self, ts_ms: int, price: float, size: float) -> list[Action]:
        """A trade print on the venue: volume for the candles."""

    # --- order outcomes ------------------------------------------------------------------
    @abstractmethod
    def on_fill(self, ts_ms: int, side: Side, price: float, size: float, fee: float, is_exit: bool) -> list[Action]:
        """One fill of our order (fee in quote, paid > 0): updates the position, may close a trade."""

    @abstractmethod
    def on_order_done(self, reason: DoneReason, code: int = 0) -> None:
        """The pending order ended without filling in full; the strategy may act again."""

    @abstractmethod
    def adopt_position(self, ts_ms: int, size: float, entry_price: float) -> bool:
        """The venue's position on our account (signed size, average entry) replaces ours when they
        differ: the venue is the truth (a liquidation, a trade made by hand, a fill never heard
        of). Refused (False) while an order is pending, whose fills may still be on their way.
        True when the position changed."""

    # --- warm-up and risk ----------------------------------------------------------------
    @property
    @abstractmethod
    def candle_interval_ms(self) -> int:
        """The interval of the candles `warmup` expects (and the strategy persists)."""

    @abstractmethod
    def warmup(self, candles: list[Candle]) -> None:
        """Closed candles at `candle_interval_ms` from before now (e.g. the venue's endpoint)."""

    @abstractmethod
    def warmup_needed(self) -> int:
        """How many more closed candles the strategy needs before it can trade (0: ready)."""

    @abstractmethod
    def allow_entries(self, allowed: bool) -> None:
        """Risk halt or breaker: False stops new entries; exits still run."""

    # --- fast replay (research only; the live path never calls these) ---------------------
    def quiet_band(self) -> QuietBand | None:
        """The band and time within which the coming mids cannot make this strategy act or change
        anything but running aggregates; None (the default) when every mid may matter. A replay
        may then skip those mids and hand them to `absorb_quiet` in one call."""
        return None

    def absorb_quiet(self, span: QuietSpan) -> None:
        """Apply skipped mids exactly as on_mid/on_trade would have, one by one; only called for a
        span inside the last `quiet_band()`."""
        raise NotImplementedError(f"{type(self).__name__} has no quiet band")

    # --- results, state, operators -------------------------------------------------------
    @abstractmethod
    def closed_trades(self) -> list[TradeRecord]:
        """Trades closed since the previous call (drained)."""

    @abstractmethod
    def snapshot(self) -> dict[str, Any]:
        """Complete, JSON-serialisable state: restore(snapshot()) continues identically."""

    @abstractmethod
    def restore(self, state: dict[str, Any]) -> None:
        """Load a snapshot() (also one that went through json.dumps/loads)."""

    @abstractmethod
    def snapshot_due(self) -> bool:
        """True when the state changed enough since the last snapshot() to persist it now."""

    @abstractmethod
    def status(self) -> dict[str, Any]:
        """For operators: position, entry, unrealised PnL, trades, pending order, pauses."""
