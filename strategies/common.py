"""Machinery shared by the directional strategies (rsi_bb, renko_ao, breakout).

- `CommonParams`: sizing, slippage and the adaptive rules, inherited by every strategy's params.
- Sizing: quantised to the lot between size_min and size_max, never below the market minimums
  (checked at the order's worst price, which is what the venue checks); else no entry.
- Adaptive sizing and stops from volatility = population std of the last 20 candle returns in
  bps, on candles of `volatility_interval_ms` (ours: 15 s, the interval the notes' thresholds
  were written for, so that the same bands mean the same in all three strategies):
      vol > 8 bps          high:   stop x1.2, take-profit x1.1, full size
      vol < 2 bps          low:    stop x0.9, size x0.7
      2 <= vol <= 8        normal: full size, normal stops. The spec names 3-6 as "optimal";
                           the gaps 2-3 and 6-8 are normal as well (ours), so the bands are
                           exactly three and the boundaries 2 and 8 themselves are normal.
  The multipliers are fixed when the entry is decided and kept with the position.
- Losing streak (a loss is a trade closed with PnL net of fees < 0; a win > 0 resets; a zero
  trade leaves the streak as it is): from 2 consecutive losses size x0.8 and entries are skipped
  in low volatility; each loss that brings the streak to 3 or more pauses entries for 5 minutes
  of event time from that trade's exit.
- `DirectionalStrategy`: the event loop every strategy shares: candles from mids, one position,
  one pending order, exits before entries, fills into `TradeRecord`s with MFE/MAE measured on
  the mids since entry, snapshot/restore of all of it. Subclasses add indicators and rules.
"""

from __future__ import annotations

import math
from abc import abstractmethod
from typing import Any, Literal, NamedTuple

import msgspec

from indicators.candles import Candle, CandleBuilder
from indicators.stream import RollingStdBps
from messages.state import TradeRecord
from strategies.base import Action, DoneReason, Side, Strategy
from strategies.quiet_replay import QuietReplay
from venue.markets import MarketSpec, OrderRefused, Rounding

PositionSide = Literal["long", "short"]
SNAPSHOT_VERSION = 1
NS_PER_MS = 1_000_000
EPS_BPS = 1e-6  # a mid exactly at a bps threshold must not be missed by float noise
MAX_TIME_JUMP_MS = 7 * 24 * 3600 * 1000  # (ours) beyond a week of silence, restart the candles


class CommonParams(msgspec.Struct, frozen=True, kw_only=True):
    """Every strategy's params inherit these; each number is the spec's default or (ours)."""

    size_min: float = 0.1
    size_max: float = 0.1
    max_slippage_bps: float = 10.0  # (ours) a market order's worst price from the mid
    retry_backoff_ms: int = 1_000  # (ours) event time to wait after an order ended unfilled
    volatility_interval_ms: int = 15_000  # (ours) see the module docstring
    volatility_window: int = 20
    adaptive: bool = True
    vol_high_bps: float = 8.0
    vol_low_bps: float = 2.0
    high_vol_stop_mult: float = 1.2
    high_vol_tp_mult: float = 1.1
    low_vol_stop_mult: float = 0.9
    low_vol_size_mult: float = 0.7
    streak_size_after: int = 2
    streak_size_mult: float = 0.8
    streak_pause_after: int = 3
    streak_pause_ms: int = 300_000
    streak_skip_low_vol: bool = True


# ---------------------------------------------------------------------------------------------
# Sizing and prices
# ---------------------------------------------------------------------------------------------


def worst_price(market: MarketSpec, side: Side, mid: float, max_slippage_bps: float) -> float:
    """A market order's worst acceptable price: the mid moved by the slippage cap, on the tick.

    Rounded toward the mid (a buy down, a sell up) so the cap is never exceeded.
    """
    # round(.., 9) first: 150 x 1.001 is 150.14999999999998 in floats, which must not floor to 150.149
    if side == "buy":
        return market.quantize_price(round(mid * (1.0 + max_slippage_bps / 1e4), 9), Rounding.DOWN)
    return market.quantize_price(round(mid * (1.0 - max_slippage_bps / 1e4), 9), Rounding.UP)


def meets_minimums(market: MarketSpec, size: float, price: float) -> bool:
    try:
        market.check_order(market.size_to_int(size, Rounding.NEAREST), market.price_to_int(price))
    except OrderRefused:
        return False
    return True


def quantize_entry_size(market: MarketSpec, size: float, size_min: float, size_max: float, price: float) -> float | None:
    """size clamped to [size_min, size_max], floored to the lot; None if below the market minimums."""
    clamped = round(min(max(size, size_min), size_max), 9)  # 0.2 x 0.7 must floor to 0.14, not 0.139
    quantized = market.quantize_size(clamped, Rounding.DOWN)
    if quantized <= 0 or not meets_minimums(market, quantized, price):
        return None
    return quantized


# ---------------------------------------------------------------------------------------------
# Adaptive rules
# ---------------------------------------------------------------------------------------------


class Adjustment(NamedTuple):
    regime: str  # "high", "low", "normal", or "unknown" before volatility exists
    size_mult: float
    stop_mult: float
    tp_mult: float


def adaptive_adjustment(vol_bps: float | None, p: CommonParams) -> Adjustment:
    if not p.adaptive or vol_bps is None:
        return Adjustment("unknown" if vol_bps is None else "normal", 1.0, 1.0, 1.0)
    if vol_bps > p.vol_high_bps:
        return Adjustment("high", 1.0, p.high_vol_stop_mult, p.high_vol_tp_mult)
    if vol_bps < p.vol_low_bps:
        return Adjustment("low", p.low_vol_size_mult, p.low_vol_stop_mult, 1.0)
    return Adjustment("normal", 1.0, 1.0, 1.0)


class LosingStreak(msgspec.Struct, kw_only=True):
    losses: int = 0
    pause_until_ms: int = 0

    def record(self, pnl_quote: float, exit_ts_ms: int, p: CommonParams) -> None:
        if pnl_quote > 0:
            self.losses = 0
        elif pnl_quote < 0:
            self.losses += 1
            if p.adaptive and self.losses >= p.streak_pause_after:
                self.pause_until_ms = exit_ts_ms + p.streak_pause_ms

    def paused(self, ts_ms: int) -> bool:
        return ts_ms < self.pause_until_ms

    def in_streak(self, p: CommonParams) -> bool:
        return p.adaptive and self.losses >= p.streak_size_after

    def size_mult(self, p: CommonParams) -> float:
        return p.streak_size_mult if self.in_streak(p) else 1.0


# ---------------------------------------------------------------------------------------------
# Position and pending order
# ---------------------------------------------------------------------------------------------


class PendingOrder(msgspec.Struct, kw_only=True):
    side: Side
    size_units: int
    filled_units: int
    is_exit: bool
    reason: str
    ts_ms: int
    context: dict[str, float] = {}  # entry: indicator values at the decision
    plan: dict[str, float] = {}  # entry: exit levels and multipliers fixed at the decision


class OpenPosition(msgspec.Struct, kw_only=True):
    side: PositionSide
    size_units: int  # open size in lots (exact)
    entry_units: int  # total entered (for the record)
    entry_notional: float  # sum of fill price x size of the entry fills
    entry_ts_ms: int
    fees: float
    best_mid: float
    worst_mid: float
    exit_units: int = 0
    exit_notional: float = 0.0
    closing_reason: str = ""  # set once an exit triggered: it is re-sent until flat
    context: dict[str, float] = {}
    plan: dict[str, float] = {}

    @property
    def direction(self) -> float:
        return 1.0 if self.side == "long" else -1.0

    @property
    def entry_price(self) -> float:
        return self.entry_notional / self.entry_units

    def favourable_bps(self, price: float) -> float:
        """The move from entry in the position's favour, in bps (negative when against)."""
        return (price - self.entry_price) / self.entry_price * 1e4 * self.direction

    def mark(self, mid: float) -> None:
        self.best_mid = max(self.best_mid, mid) if self.side == "long" else min(self.best_mid, mid)
        self.worst_mid = min(self.worst_mid, mid) if self.side == "long" else max(self.worst_mid, mid)


class EntrySignal(NamedTuple):
    side: Side
    context: dict[str, float]
    plan: dict[str, float]


# ---------------------------------------------------------------------------------------------
# The shared event loop
# ---------------------------------------------------------------------------------------------


class DirectionalStrategy(QuietReplay, Strategy):
    """One position, one pending order, exits before entries; subclasses supply the rules.

    Per mid: closed candles (and volatility candles) are applied, then `_update` (subclass
    features such as bricks), the open position's MFE/MAE are marked, and then, when nothing is
    pending and no retry back-off runs: the exit rules if a position is open, else the entry
    rules if entries are allowed and no streak pause runs. `on_trade` only adds volume.
    """

    params: CommonParams

    def __init__(self, name: str, market: MarketSpec, params: Any, *, account_index: int = 0) -> None:
        super().__init__(name, market, params, account_index=account_index)
        p = self.params
        self._candles = CandleBuilder(self.candle_interval_ms)
        # volatility shares the strategy's candles when the intervals agree
        self._vol_candles = (
            None if p.volatility_interval_ms == self.candle_interval_ms else CandleBuilder(p.volatility_interval_ms)
        )
        self._vol = RollingStdBps(p.volatility_window)
        self._max_silence_ms = self._silence_limit()  # per mid in _accept: computed once
        self._candles_seen = 0
        self._last_candle_open_ms: int | None = None
        self._position: OpenPosition | None = None
        self._pending: PendingOrder | None = None
        self._streak = LosingStreak()
        self._entries_allowed = True
        self._retry_after_ms = 0
        self._last_ts: int | None = None
        self._last_mid: float | None = None
        self._closed: list[TradeRecord] = []
        self._trade_seq = 0
        self._trades_total = 0
        self._wins_total = 0
        self._pnl_total = 0.0
        self._dropped_events = 0
        self._adopted = 0  # positions corrected to the venue's
        self._dirty = False
        self._last_skip = ""

    # ================================================================================ hooks
    @abstractmethod
    def _on_candle(self, candle: Candle) -> None:
        """A closed candle of `candle_interval_ms` (live or warm-up): update indicators."""

    def _update(self, ts_ms: int, mid: float, closed: list[Candle]) -> None:  # noqa: B027 (optional hook)
        """After the candles of this event closed: per-mid features (e.g. Renko bricks)."""

    @abstractmethod
    def _exit_reason(self, ts_ms: int, mid: float, pos: OpenPosition) -> str | None:
        """The exit that triggers on this event, or None."""

    @abstractmethod
    def _entry_signal(self, ts_ms: int, mid: float) -> EntrySignal | None:
        """The entry that triggers on this event, or None (set `_last_skip` to say why not)."""

    @abstractmethod
    def _features_state(self) -> dict[str, Any]:
        """The subclass's own state (indicators, histories) for the snapshot."""

    @abstractmethod
    def _load_features_state(self, state: dict[str, Any]) -> None: ...

    def _on_position_closed(self) -> None:  # noqa: B027 (optional hook)
        """A trade closed (e.g. to forget per-trade exit state)."""

    def _on_position_opened(self) -> None:  # noqa: B027 (optional hook)
        """The first entry fill arrived."""

    def _on_entry_sent(self, signal: EntrySignal) -> None:  # noqa: B027 (optional hook)
        """An entry action for `signal` was emitted."""

    def _plan_without_entry(self, price: float) -> dict[str, float]:
        """The exit plan of a position no entry of ours opened (an external fill, an adopted
        position), for strategies whose exits need one."""
        return {}

    # ================================================================================ events
    def on_mid(self, ts_ms: int, mid: float) -> list[Action]:
        if not self._accept(ts_ms, mid):
            return []
        self._last_ts, self._last_mid = ts_ms, mid
        closed = self._candles.on_mid(ts_ms, mid)
        for candle in closed:
            self._apply_candle(candle)
        if self._vol_candles is not None:
            for candle in self._vol_candles.on_mid(ts_ms, mid):
                self._vol.update(candle.close)
        self._update(ts_ms, mid, closed)
        pos = self._position
        if pos is not None:
            pos.mark(mid)
        if self._pending is not None or ts_ms < self._retry_after_ms:
            return []
        if pos is not None:
            return self._exit_actions(ts_ms, mid, pos)
        if not self._entries_allowed:
            self._last_skip = "entries_halted"
            return []
        if self._streak.paused(ts_ms):
            self._last_skip = "streak_pause"
            return []
        signal = self._entry_signal(ts_ms, mid)
        return [] if signal is None else self._entry_actions(ts_ms, mid, signal)

    def on_trade(self, ts_ms: int, price: float, size: float) -> list[Action]:
        if not (math.isfinite(price) and math.isfinite(size) and price > 0 and size > 0):
            self._dropped_events += 1
            return []
        self._candles.on_trade(ts_ms, price, size)
        return []

    def on_fill(self, ts_ms: int, side: Side, price: float, size: float, fee: float, is_exit: bool) -> list[Action]:
        units = self.market.size_to_int(size, Rounding.NEAREST)
        if units <= 0 or not (math.isfinite(price) and price > 0):
            self._dropped_events += 1
            return []
        self._dirty = True
        pending = self._pending
        if pending is not None and pending.side == side:
            pending.filled_units += units
            if pending.filled_units >= pending.size_units:
                self._pending = None
        self._apply_fill(ts_ms, side, price, units, fee, pending)
        return []

    def adopt_position(self, ts_ms: int, size: float, entry_price: float) -> bool:
        if self._pending is not None:
            return False
        units = self.market.size_to_int(abs(size), Rounding.NEAREST)
        side: PositionSide = "long" if size > 0 else "short"
        pos = self._position
        if pos is None and units == 0:
            return False
        if pos is not None and units > 0 and pos.side == side:
            if pos.size_units == units:
                return False
            pos.size_units = units  # the entry price stays ours: the fills behind it were
        elif units == 0:
            # gone without a fill of ours: no trade is recorded, its exit price is unknown
            self._position = None
            self._on_position_closed()
        else:
            price = entry_price if math.isfinite(entry_price) and entry_price > 0 else self._last_mid or 0.0
            if price <= 0:
                return False  # nothing to measure exits from yet: adopted once a price is known
            self._open(ts_ms, side, price, units, 0.0, None)
        self._adopted += 1
        self._dirty = True
        return True

    def on_order_done(self, reason: DoneReason, code: int = 0) -> None:
        if self._pending is None:
            return
        self._pending = None
        self._dirty = True
        if self._last_ts is not None:
            self._retry_after_ms = self._last_ts + self.params.retry_backoff_ms

    # ================================================================================ decisions
    def _exit_actions(self, ts_ms: int, mid: float, pos: OpenPosition) -> list[Action]:
        reason = pos.closing_reason or self._exit_reason(ts_ms, mid, pos)
        if not reason:
            return []
        pos.closing_reason = reason
        side: Side = "sell" if pos.side == "long" else "buy"
        size = self.market.size_from_int(pos.size_units)
        price = worst_price(self.market, side, mid, self.params.max_slippage_bps)
        if not meets_minimums(self.market, size, price):
            # a remainder below the venue's minimum cannot be sent on its own; status shows it
            self._last_skip = "exit_below_minimum"
            return []
        return [self._send(ts_ms, side, pos.size_units, price, is_exit=True, reason=reason)]

    def _entry_actions(self, ts_ms: int, mid: float, signal: EntrySignal) -> list[Action]:
        p = self.params
        adj = adaptive_adjustment(self._vol.value, p)
        if self._streak.in_streak(p) and p.streak_skip_low_vol and adj.regime == "low":
            self._last_skip = "streak_low_vol"
            return []
        price = worst_price(self.market, signal.side, mid, p.max_slippage_bps)
        size = quantize_entry_size(
            self.market, p.size_max * adj.size_mult * self._streak.size_mult(p), p.size_min, p.size_max, price
        )
        if size is None:
            self._last_skip = "size_below_minimum"
            return []
        context = dict(signal.context)
        if self._vol.value is not None:  # absent rather than NaN: the record must stay valid JSON
            context["volatility_bps"] = self._vol.value
        context.update(losing_streak=float(self._streak.losses), size_mult=adj.size_mult * self._streak.size_mult(p))
        plan = dict(signal.plan)
        plan.update(stop_mult=adj.stop_mult, tp_mult=adj.tp_mult)
        reason = "entry_long" if signal.side == "buy" else "entry_short"
        units = self.market.size_to_int(size, Rounding.NEAREST)
        self._last_skip = ""
        self._on_entry_sent(signal)
        return [self._send(ts_ms, signal.side, units, price, is_exit=False, reason=reason, context=context, plan=plan)]

    def _send(
        self,
        ts_ms: int,
        side: Side,
        units: int,
        price: float,
        *,
        is_exit: bool,
        reason: str,
        context: dict[str, float] | None = None,
        plan: dict[str, float] | None = None,
    ) -> Action:
        self._pending = PendingOrder(
            side=side,
            size_units=units,
            filled_units=0,
            is_exit=is_exit,
            reason=reason,
            ts_ms=ts_ms,
            context=context or {},
            plan=plan or {},
        )
        self._dirty = True
        return Action(
            side=side,
            size=self.market.size_from_int(units),
            kind="market",
            price=price,
            tif="ioc",
            reduce_only=is_exit,
            is_exit=is_exit,
            reason=reason,
        )

    # ================================================================================ fills
    def _apply_fill(
        self, ts_ms: int, side: Side, price: float, units: int, fee: float, pending: PendingOrder | None
    ) -> None:
        pos = self._position
        fill_side: PositionSide = "long" if side == "buy" else "short"
        if pos is None:
            self._open(ts_ms, fill_side, price, units, fee, pending)
            return
        if pos.side == fill_side:  # a further fill of the entry order
            pos.size_units += units
            pos.entry_units += units
            pos.entry_notional += price * units
            pos.fees += fee
            return
        closed = min(units, pos.size_units)
        pos.exit_units += closed
        pos.exit_notional += price * closed
        pos.fees += fee * closed / units
        pos.size_units -= closed
        if pos.size_units == 0:
            if not pos.closing_reason:  # a fill we did not ask for (e.g. the venue's liquidation)
                pos.closing_reason = pending.reason if pending is not None and pending.is_exit else "external"
            self._close(ts_ms, pos)
        if units > closed:  # an overshoot opens the other way with the rest
            self._open(ts_ms, fill_side, price, units - closed, fee * (units - closed) / units, None)

    def _open(
        self, ts_ms: int, side: PositionSide, price: float, units: int, fee: float, pending: PendingOrder | None
    ) -> None:
        ours = pending is not None and not pending.is_exit
        self._position = OpenPosition(
            side=side,
            size_units=units,
            entry_units=units,
            entry_notional=price * units,
            entry_ts_ms=ts_ms,
            fees=fee,
            best_mid=price,
            worst_mid=price,
            context=dict(pending.context) if ours and pending is not None else {},
            plan=dict(pending.plan) if ours and pending is not None else self._plan_without_entry(price),
        )
        self._on_position_opened()

    def _close(self, ts_ms: int, pos: OpenPosition) -> None:
        lot = self.market.lot
        size = pos.exit_units * lot
        entry = pos.entry_price
        exit_price = pos.exit_notional / pos.exit_units
        gross = (exit_price - entry) * size * pos.direction
        pnl = gross - pos.fees
        mfe = max(0.0, (pos.best_mid - entry) / entry * 1e4 * pos.direction)
        mae = max(0.0, -(pos.worst_mid - entry) / entry * 1e4 * pos.direction)
        self._trade_seq += 1
        self._closed.append(
            TradeRecord(
                ts_event=ts_ms * NS_PER_MS,
                seq=self._trade_seq,
                strategy=self.name,
                account_index=self.account_index,
                market_id=self.market.market_id,
                side=pos.side,
                entry_price=entry,
                exit_price=exit_price,
                entry_ts=pos.entry_ts_ms * NS_PER_MS,  # TradeRecord times are ns, like ts_event
                exit_ts=ts_ms * NS_PER_MS,
                size=self.market.size_from_int(pos.exit_units),
                fees=pos.fees,
                pnl_quote=pnl,
                pnl_pct=pnl / (entry * size) * 100.0,
                exit_reason=pos.closing_reason,
                mfe_bps=mfe,
                mae_bps=mae,
                entry_context=pos.context,
            )
        )
        self._trades_total += 1
        self._wins_total += pnl > 0
        self._pnl_total += pnl
        self._streak.record(pnl, ts_ms, self.params)
        self._position = None
        self._on_position_closed()

    # ================================================================================ warm-up, risk
    def _apply_candle(self, candle: Candle) -> None:
        self._candles_seen += 1
        self._last_candle_open_ms = candle.open_time_ms
        self._dirty = True
        if self._vol_candles is None:
            self._vol.update(candle.close)
        self._on_candle(candle)

    def warmup(self, candles: list[Candle]) -> None:
        """Apply closed candles older than any seen; each must be one interval after the previous.

        Volatility candles (when their interval differs) are not rebuilt from these: it warms up
        on live mids within 20 of its own intervals (5 minutes by default).
        """
        interval = self.candle_interval_ms
        fresh = [c for c in candles if self._last_candle_open_ms is None or c.open_time_ms > self._last_candle_open_ms]
        for prev, cur in zip(fresh, fresh[1:], strict=False):
            if cur.open_time_ms - prev.open_time_ms != interval:
                raise ValueError(
                    f"{self.name}: warm-up candles must be {interval} ms apart, got "
                    f"{cur.open_time_ms - prev.open_time_ms} ms at {cur.open_time_ms}"
                )
        for candle in fresh:
            self._warmup_candle(candle)

    def _warmup_candle(self, candle: Candle) -> None:
        self._apply_candle(candle)

    def allow_entries(self, allowed: bool) -> None:
        if allowed != self._entries_allowed:
            self._dirty = True
        self._entries_allowed = allowed

    def closed_trades(self) -> list[TradeRecord]:
        out, self._closed = self._closed, []
        return out

    # ================================================================================ state
    def snapshot(self) -> dict[str, Any]:
        self._dirty = False
        return {
            "version": SNAPSHOT_VERSION,
            "kind": self.kind,
            "name": self.name,
            "candles": self._candles.to_state(),
            "vol_candles": self._vol_candles.to_state() if self._vol_candles is not None else None,
            "vol": self._vol.to_state(),
            "candles_seen": self._candles_seen,
            "last_candle_open_ms": self._last_candle_open_ms,
            "position": msgspec.to_builtins(self._position),
            "pending": msgspec.to_builtins(self._pending),
            "streak": msgspec.to_builtins(self._streak),
            "entries_allowed": self._entries_allowed,
            "retry_after_ms": self._retry_after_ms,
            "last_ts": self._last_ts,
            "last_mid": self._last_mid,
            "closed": [msgspec.to_builtins(t) for t in self._closed],
            "trade_seq": self._trade_seq,
            "totals": [self._trades_total, self._wins_total, self._pnl_total],
            "dropped_events": self._dropped_events,
            "adopted": self._adopted,
            "features": self._features_state(),
        }

    def restore(self, state: dict[str, Any]) -> None:
        if state.get("version") != SNAPSHOT_VERSION or state.get("kind") != self.kind:
            raise ValueError(
                f"{self.name}: snapshot of kind {state.get('kind')!r} v{state.get('version')} cannot be "
                f"restored into {self.kind!r} v{SNAPSHOT_VERSION}"
            )
        self._candles = CandleBuilder.from_state(state["candles"])
        self._vol_candles = CandleBuilder.from_state(state["vol_candles"]) if state["vol_candles"] is not None else None
        self._max_silence_ms = self._silence_limit()
        self._vol = RollingStdBps.from_state(state["vol"])
        self._candles_seen = state["candles_seen"]
        self._last_candle_open_ms = state["last_candle_open_ms"]
        self._position = msgspec.convert(state["position"], OpenPosition | None)
        self._pending = msgspec.convert(state["pending"], PendingOrder | None)
        self._streak = msgspec.convert(state["streak"], LosingStreak)
        self._entries_allowed = state["entries_allowed"]
        self._retry_after_ms = state["retry_after_ms"]
        self._last_ts = state["last_ts"]
        self._last_mid = state["last_mid"]
        self._closed = [msgspec.convert(t, TradeRecord) for t in state["closed"]]
        self._trade_seq = state["trade_seq"]
        self._trades_total, self._wins_total, self._pnl_total = state["totals"]
        self._dropped_events = state["dropped_events"]
        self._adopted = state.get("adopted", 0)  # absent from snapshots written before it existed
        self._load_features_state(state["features"])
        self._dirty = False

    def snapshot_due(self) -> bool:
        return self._dirty

    def status(self) -> dict[str, Any]:
        pos = self._position
        mid = self._last_mid
        unrealized = 0.0
        if pos is not None and mid is not None:
            unrealized = (mid - pos.entry_price) * self.market.size_from_int(pos.size_units) * pos.direction
        return {
            "strategy": self.name,
            "kind": self.kind,
            "market_id": self.market.market_id,
            "position": None
            if pos is None
            else {
                "side": pos.side,
                "size": self.market.size_from_int(pos.size_units),
                "entry_price": pos.entry_price,
                "entry_ts_ms": pos.entry_ts_ms,
                "unrealized_pnl": unrealized,
                "closing": pos.closing_reason,
            },
            "pending": None if self._pending is None else msgspec.to_builtins(self._pending),
            "trades": self._trades_total,
            "wins": self._wins_total,
            "realized_pnl": self._pnl_total,
            "losing_streak": self._streak.losses,
            "paused_until_ms": self._streak.pause_until_ms,
            "entries_allowed": self._entries_allowed,
            "volatility_bps": self._vol.value,
            "warmup_needed": self.warmup_needed(),
            "candle_interval_ms": self.candle_interval_ms,
            "mark": mid,
            "last_ts_ms": self._last_ts,
            "last_skip": self._last_skip,
            "dropped_events": self._dropped_events,
            "adopted": self._adopted,
        }

    # ================================================================================ helpers
    @property
    def max_silence_ms(self) -> int:
        """The longest silence the candles fill with empty ones: MAX_TIME_JUMP_MS, or less where
        a builder would refuse that many empty candles (5-second candles: about 5.8 days); after a
        longer one they restart (the builder raised on every later mid)."""
        return self._max_silence_ms

    def _silence_limit(self) -> int:
        builders = [self._candles] if self._vol_candles is None else [self._candles, self._vol_candles]
        return min(MAX_TIME_JUMP_MS, *(b.max_gap_candles * b.interval_ms for b in builders))

    def _accept(self, ts_ms: int, mid: float) -> bool:
        """Bad input never crashes a strategy: non-finite or non-positive mids and events older
        than the last one are counted and dropped. After a silence of more than `max_silence_ms` the
        candles restart from this mid instead of filling that many empty candles."""
        last = self._last_ts
        if not (isinstance(mid, (int, float)) and math.isfinite(mid) and mid > 0) or (
            last is not None and ts_ms < last
        ):
            self._dropped_events += 1
            return False
        if last is not None and ts_ms - last > self._max_silence_ms:
            # far too many empty candles to fill: start the candles afresh (the indicators see a gap)
            self._candles = CandleBuilder(self.candle_interval_ms)
            if self._vol_candles is not None:
                self._vol_candles = CandleBuilder(self.params.volatility_interval_ms)
        return True


# ---------------------------------------------------------------------------------------------
# Exit helpers shared by the bps-based strategies
# ---------------------------------------------------------------------------------------------


def reached(move_bps: float, threshold_bps: float) -> bool:
    """move >= threshold, up to float noise (EPS_BPS)."""
    return move_bps >= threshold_bps - EPS_BPS


def bps_stop_or_target(pos: OpenPosition, mid: float, stop_loss_bps: float, take_profit_bps: float) -> str | None:
    """Stop loss and take profit measured from the ENTRY price, each scaled by the adaptive
    multiplier fixed at entry (never from the peak)."""
    move = pos.favourable_bps(mid)
    if reached(-move, stop_loss_bps * pos.plan.get("stop_mult", 1.0)):
        return "stop_loss"
    if reached(move, take_profit_bps * pos.plan.get("tp_mult", 1.0)):
        return "take_profit"
    return None


QUIET_MARGIN_BPS = 2 * EPS_BPS  # a quiet band stops this far inside a bps threshold (past float noise)


def move_band(pos: OpenPosition, above_bps: float, below_bps: float) -> tuple[float, float] | None:
    """The mids whose favourable move from the entry is strictly between above_bps and below_bps
    (either may be infinite), narrowed by QUIET_MARGIN_BPS on each side; None when empty."""
    m1, m2 = above_bps + QUIET_MARGIN_BPS, below_bps - QUIET_MARGIN_BPS
    if not m1 < m2:
        return None
    entry, d = pos.entry_price, pos.direction
    a, b = entry * (1.0 + d * m1 / 1e4), entry * (1.0 + d * m2 / 1e4)
    return (a, b) if d > 0 else (b, a)


def bps_exit_band(
    pos: OpenPosition, stop_loss_bps: float, take_profit_bps: float, trailing: tuple[float, float] | None = None
) -> tuple[float, float] | None:
    """The band where `bps_stop_or_target` (and `trailing_exit` with (activation, distance) when
    given) stays None. Before the trailing stop activates the band stops short of activation;
    after, it keeps the best mid where it is and stays short of the trail."""
    band = move_band(pos, -stop_loss_bps * pos.plan.get("stop_mult", 1.0), take_profit_bps * pos.plan.get("tp_mult", 1.0))
    if band is None or trailing is None:
        return band
    activation, distance = trailing
    best = pos.favourable_bps(pos.best_mid)
    if not reached(best, activation):
        trail = move_band(pos, -math.inf, activation)
    else:
        trail = move_band(pos, best - distance, math.inf)
        if trail is not None:  # the best mid must not move: the band ends at it
            trail = (trail[0], min(trail[1], pos.best_mid)) if pos.side == "long" else (max(trail[0], pos.best_mid), trail[1])
    if trail is None:
        return None
    lo, hi = max(band[0], trail[0]), min(band[1], trail[1])
    return (lo, hi) if lo < hi else None


def trailing_exit(pos: OpenPosition, mid: float, activation_bps: float, distance_bps: float) -> bool:
    """Once the best mid since entry is `activation_bps` in profit, exit `distance_bps` back from it."""
    best = pos.favourable_bps(pos.best_mid)
    return reached(best, activation_bps) and reached(best - pos.favourable_bps(mid), distance_bps)
