"""`renko_ao`: Renko bricks + Awesome Oscillator divergence, counter-trend (STRATEGIES.md section 2).

Bricks are built from every mid. Brick size = ATR(14) of 1-minute mid candles x 1.3 (ours: the
notes say "ATR from price changes"); until that ATR exists, 0.1% of the price. A brick's size is
fixed when it forms (RenkoBuilder). AO = SMA5 - SMA34 of the brick medians (high+low)/2.

Divergence (ours, exact), over the last `renko_lookback` bricks that have an AO value:
  bullish: i2 = the brick with the lowest low (the latest on ties); i1 = the brick with the
           lowest AO before i2; price made a lower low (low[i2] < low[i1]) while AO made a
           higher low (AO[i2] > AO[i1]) -> long.
  bearish: the mirror (highest high at i2, highest AO before it, high[i2] > high[i1],
           AO[i2] < AO[i1]) -> short.
  divergence_strength = |AO[i2] - AO[i1]| / max|AO| over the window (>= 0.05);
  ao_strength = |AO of the newest brick| / max|AO| over the window (>= 0.10);
  at least `min_bricks_since_divergence` (3) bricks formed after i2; brick ATR (the 1-minute
  ATR in bps of the mid) within 2-12 bps. If both sides qualify the newer i2 wins. One
  divergence (one i2 brick) is traded at most once.
BB(20, 2) on brick closes gives bb_pos at entry, recorded in the context; "enhanced" means
bb_pos <= 0.4 for a long (>= 0.6 for a short); preset `strict` requires it.
Entries are decided on the events that form bricks. Exits on every mid, from the entry price:
stop loss 8 bps, take profit 12 bps (adaptive multipliers), time stop 8 minutes, and AO reversal
(two consecutive bricks formed since entry whose AO moved against the position).
The last 1000 mids persist with the bricks; `snapshot_due` turns true every 100 mids and on
every brick (the notes' persistence cadence).
"""

from __future__ import annotations

import math
from collections import deque
from typing import TYPE_CHECKING, Any

import msgspec

from indicators.candles import Candle
from indicators.renko import Brick, RenkoBuilder
from indicators.stream import ATR, AwesomeOscillator, Bollinger
from strategies.base import QuietSpan
from strategies.common import (
    CommonParams,
    DirectionalStrategy,
    EntrySignal,
    OpenPosition,
    bps_exit_band,
    bps_stop_or_target,
)
from strategies.divergence import BrickPoint, Divergence, find_divergence

if TYPE_CHECKING:
    import numpy as np

    from strategies.candle_tape import CandleTape
    from strategies.mid_path import MidPath


class RenkoAoParams(CommonParams, frozen=True, kw_only=True, forbid_unknown_fields=True):
    atr_interval_s: int = 60  # (ours) the candles the brick ATR is computed on
    renko_atr_period: int = 14
    renko_atr_multiplier: float = 1.3
    fallback_brick_pct: float = 0.1  # % of the price, until the ATR exists
    ao_fast_period: int = 5
    ao_slow_period: int = 34
    renko_lookback: int = 30
    min_divergence_strength: float = 0.05
    min_ao_strength: float = 0.10
    min_bricks_since_divergence: int = 3
    optimal_atr_min_bps: float = 2.0
    optimal_atr_max_bps: float = 12.0
    bb_period: int = 20
    bb_std: float = 2.0
    bb_enhancement_threshold: float = 0.4
    bb_required: bool = False
    take_profit_bps: float = 12.0
    stop_loss_bps: float = 8.0
    max_hold_s: int = 480
    ao_reversal_bricks: int = 2
    mid_history_size: int = 1000  # (ours)
    mid_history_save_every: int = 100
    warmup_candles: int = 240  # (ours) 1-minute candles to replay into bricks at start-up


class RenkoAoStrategy(DirectionalStrategy):
    kind = "renko_ao"
    params_type = RenkoAoParams
    params: RenkoAoParams

    def __init__(self, name: str, market: Any, params: RenkoAoParams, *, account_index: int = 0) -> None:
        super().__init__(name, market, params, account_index=account_index)
        p = self.params
        self._atr = ATR(p.renko_atr_period)
        self._renko = RenkoBuilder(1.0)  # the size is set from the price before every update
        self._ao = AwesomeOscillator(p.ao_fast_period, p.ao_slow_period)
        self._bb = Bollinger(p.bb_period, p.bb_std)
        self._bricks: deque[BrickPoint] = deque(maxlen=max(p.renko_lookback, p.bb_period) + 1)
        self._brick_count = 0
        self._new_bricks = 0  # bricks formed on this event
        self._ao_against = 0  # consecutive bricks since entry whose AO moved against the position
        self._traded_extreme_id = -1
        self._mids: deque[tuple[int, float]] = deque(maxlen=p.mid_history_size)
        self._mids_since_save = 0
        self._tape_cache: tuple[Any, ...] | None = None  # fast replay: _tape_sizes of one tape
        self._reanchored = 0  # bricks started again from a price (see _feed_renko)

    @property
    def candle_interval_ms(self) -> int:
        return self.params.atr_interval_s * 1000

    # --- features --------------------------------------------------------------------------
    def _on_candle(self, candle: Candle) -> None:
        self._atr.update(candle.high, candle.low, candle.close)

    def _brick_size(self, price: float) -> float:
        atr = self._atr.value
        if atr is not None and atr > 0:
            return atr * self.params.renko_atr_multiplier
        return price * self.params.fallback_brick_pct / 100.0

    def _update(self, ts_ms: int, mid: float, closed: list[Candle]) -> None:
        self._mids.append((ts_ms, mid))
        self._mids_since_save += 1
        if self._mids_since_save >= self.params.mid_history_save_every:
            self._dirty = True
        self._new_bricks = 0
        self._feed_renko(ts_ms, mid)

    def _feed_renko(self, ts_ms: int, price: float) -> None:
        renko = self._renko
        renko.size = size = self._brick_size(price)
        top, bottom = renko.top, renko.bottom
        if top is not None and bottom is not None and max(price - top, bottom - price) / size > renko.max_bricks_per_update:
            # hours without a mid (a feed outage) close as many flat candles, which shrink the ATR
            # and the brick size to nearly nothing: the next move would be millions of bricks (the
            # builder refuses; raised here, it stopped every mid's exits until the next candle)
            renko.reanchor(price)
            self._reanchored += 1
            return
        for brick in renko.update(ts_ms, price):
            self._on_brick(brick)

    def _on_brick(self, brick: Brick) -> None:
        prev_ao = self._ao.value
        self._ao.update(brick.high, brick.low)
        self._bb.update(brick.close)
        ao = self._ao.value
        self._brick_count += 1
        self._new_bricks += 1
        self._dirty = True
        self._bricks.append(BrickPoint(id=self._brick_count, high=brick.high, low=brick.low, close=brick.close, ao=ao))
        pos = self._position
        if pos is not None and ao is not None and prev_ao is not None:
            against = ao < prev_ao if pos.side == "long" else ao > prev_ao
            self._ao_against = self._ao_against + 1 if against else 0

    def _on_position_opened(self) -> None:
        self._ao_against = 0

    def _warmup_candle(self, candle: Candle) -> None:
        """A 1-minute warm-up candle: bricks from its path with the ATR as it stood during the
        minute (as live), then the ATR update. The path is the simulator's candle rule: open, the
        extreme against the close first, the other extreme, close."""
        c = candle
        path = (c.open, c.high, c.low, c.close) if c.close < c.open else (c.open, c.low, c.high, c.close)
        step = self.candle_interval_ms // len(path)
        for k, price in enumerate(path):
            self._feed_renko(c.open_time_ms + k * step, price)
        self._apply_candle(candle)

    def warmup_needed(self) -> int:
        p = self.params
        if self._atr.ready and self._ao.ready and len(self._bricks) >= p.renko_lookback:
            return 0
        return max(1, p.warmup_candles - self._candles_seen)

    def _window(self) -> list[BrickPoint]:
        return [b for b in list(self._bricks)[-self.params.renko_lookback :] if b.ao is not None]

    def _bb_pos(self) -> float | None:
        upper, lower = self._bb.upper, self._bb.lower
        if upper is None or lower is None or not self._bricks:
            return None
        width = upper - lower
        return (self._bricks[-1].close - lower) / width if width > 0 else 0.5

    # --- rules ---------------------------------------------------------------------------
    def entry_checks(self) -> tuple[Divergence | None, dict[str, bool]] | None:
        """The divergence on the current bricks and each entry rule for it; None while warming
        up. An entry needs every check true."""
        atr = self._atr.value
        if not self._ao.ready or atr is None or self._last_mid is None:
            return None
        p = self.params
        div = find_divergence(self._window())
        atr_bps = atr / self._last_mid * 1e4
        enhanced = self._bb_enhanced(div)
        checks = {
            "divergence": div is not None,
            "bricks_since": div is not None and div.bricks_since >= p.min_bricks_since_divergence,
            "divergence_strength": div is not None and div.strength >= p.min_divergence_strength,
            "ao_strength": div is not None and div.ao_strength >= p.min_ao_strength,
            "atr_range": p.optimal_atr_min_bps <= atr_bps <= p.optimal_atr_max_bps,
            "bb": enhanced or not p.bb_required,
            "not_traded": div is not None and div.extreme_id != self._traded_extreme_id,
        }
        return div, checks

    def _bb_enhanced(self, div: Divergence | None) -> bool:
        bb_pos = self._bb_pos()
        if div is None or bb_pos is None:
            return False
        t = self.params.bb_enhancement_threshold
        return bb_pos <= t if div.side == "buy" else bb_pos >= 1.0 - t

    def _entry_signal(self, ts_ms: int, mid: float) -> EntrySignal | None:
        if self._new_bricks == 0:
            return None
        result = self.entry_checks()
        if result is None:
            self._last_skip = "warming_up"
            return None
        div, checks = result
        if div is None or not all(checks.values()):
            self._last_skip = ",".join(k for k, ok in checks.items() if not ok)
            return None
        assert self._ao.value is not None and self._atr.value is not None
        context = {
            "ao": self._ao.value,
            "divergence_strength": div.strength,
            "ao_strength": div.ao_strength,
            "bricks_since_divergence": float(div.bricks_since),
            "atr_bps": self._atr.value / mid * 1e4,
            "brick_size": self._renko.size,
            "brick_count": float(self._brick_count),
            "bb_enhanced": 1.0 if self._bb_enhanced(div) else 0.0,
        }
        bb_pos = self._bb_pos()
        if bb_pos is not None:
            context["bb_pos"] = bb_pos
        return EntrySignal(div.side, context, {"divergence_extreme_id": float(div.extreme_id)})

    def _on_entry_sent(self, signal: EntrySignal) -> None:
        self._traded_extreme_id = int(signal.plan["divergence_extreme_id"])

    def _exit_reason(self, ts_ms: int, mid: float, pos: OpenPosition) -> str | None:
        p = self.params
        hit = bps_stop_or_target(pos, mid, p.stop_loss_bps, p.take_profit_bps)
        if hit:
            return hit
        if self._ao_against >= p.ao_reversal_bricks:
            return "ao_reversal"
        if ts_ms - pos.entry_ts_ms >= p.max_hold_s * 1000:
            return "time_stop"
        return None

    # --- fast replay: bricks bound the mids; entries only on bricks --------------------------
    def _feature_band(self) -> tuple[float, float] | None:
        atr = self._atr.value
        top, bottom = self._renko.top, self._renko.bottom
        if atr is None or atr <= 0 or top is None or bottom is None:
            return None  # the fallback size moves with the price
        size = self._renko.size  # the ATR's, fixed until the next candle closes
        return (bottom - size, top + size)  # the very expressions RenkoBuilder.update compares with

    def _entry_band(self) -> tuple[float, float, int] | None:
        return (-math.inf, math.inf, 2**62)

    def _exit_band(self, ts_ms: int, pos: OpenPosition) -> tuple[float, float, int] | None:
        p = self.params
        if self._ao_against >= p.ao_reversal_bricks:
            return None
        band = bps_exit_band(pos, p.stop_loss_bps, p.take_profit_bps)
        return None if band is None else (band[0], band[1], pos.entry_ts_ms + p.max_hold_s * 1000)

    def _absorb_features(self, span: QuietSpan) -> None:
        count = span.stop - span.start
        first = max(span.start, span.stop - (self._mids.maxlen or count))
        self._mids.extend(zip(span.times[first : span.stop], span.mids[first : span.stop], strict=True))
        self._mids_since_save += count
        if self._mids_since_save >= self.params.mid_history_save_every:
            self._dirty = True
        self._new_bricks = 0

    runs_across_candles = True

    def _next_acting_close(self, path: MidPath, tape: CandleTape, k: int) -> int:
        # closes only resize the bricks: a run lasts while the ATR gives them a size
        invalid = self._tape_sizes(tape)[1]
        at = int(invalid.searchsorted(k + 1))
        return int(invalid[at]) - 1 if at < len(invalid) else len(tape) - 1

    def _feature_bands(self, tape: CandleTape, first: int, last: int) -> tuple[np.ndarray, np.ndarray] | None:
        band = self._feature_band()
        top, bottom = self._renko.top, self._renko.bottom
        if band is None or top is None or bottom is None:
            return None
        size = self._tape_sizes(tape)[0][first : last + 1]
        lo, hi = bottom - size, top + size
        lo[0], hi[0] = band
        return lo, hi

    def _tape_sizes(self, tape: CandleTape) -> tuple[np.ndarray, np.ndarray]:
        """Per candle of the tape, the brick size while it is open (the ATR of the closes before
        it, as `_brick_size`), and the candles where the ATR gives none (sorted indices)."""
        found = self._tape_cache
        if found is None or found[0] is not tape:
            import numpy as np

            from indicators import batch

            p = self.params
            atr = batch.atr(tape.high, tape.low, tape.close, p.renko_atr_period)
            size = np.empty(len(tape))
            size[0] = np.nan
            size[1:] = atr[:-1] * p.renko_atr_multiplier
            with np.errstate(invalid="ignore"):
                invalid = np.flatnonzero(~(size > 0))
            self._tape_cache = found = (tape, size, invalid)
        return found[1], found[2]

    def _on_candles(self, tape: CandleTape, first: int, stop: int, last_mid: int) -> None:
        from indicators.advance import advance_atr

        advance_atr(self._atr, tape.high[first:stop], tape.low[first:stop], tape.close[first:stop])
        atr = self._atr.value
        assert atr is not None
        self._renko.size = atr * self.params.renko_atr_multiplier

    # --- state ---------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        return {**super().status(), "bricks_reanchored": self._reanchored}

    def recent_mids(self) -> list[tuple[int, float]]:
        """The recent mid history (event ms, mid), oldest first, as persisted."""
        return list(self._mids)

    def snapshot(self) -> dict[str, Any]:
        self._mids_since_save = 0
        return super().snapshot()

    def _features_state(self) -> dict[str, Any]:
        return {
            "atr": self._atr.to_state(),
            "renko": self._renko.to_state(),
            "ao": self._ao.to_state(),
            "bb": self._bb.to_state(),
            "bricks": [msgspec.to_builtins(b) for b in self._bricks],
            "brick_count": self._brick_count,
            "new_bricks": self._new_bricks,
            "ao_against": self._ao_against,
            "traded_extreme_id": self._traded_extreme_id,
            "mids": [list(m) for m in self._mids],
            "reanchored": self._reanchored,
        }

    def _load_features_state(self, state: dict[str, Any]) -> None:
        self._atr = ATR.from_state(state["atr"])
        self._renko = RenkoBuilder.from_state(state["renko"])
        self._ao = AwesomeOscillator.from_state(state["ao"])
        self._bb = Bollinger.from_state(state["bb"])
        self._bricks.clear()
        self._bricks.extend(msgspec.convert(b, BrickPoint) for b in state["bricks"])
        self._brick_count = state["brick_count"]
        self._new_bricks = state["new_bricks"]
        self._ao_against = state["ao_against"]
        self._traded_extreme_id = state["traded_extreme_id"]
        self._reanchored = state.get("reanchored", 0)  # absent from snapshots written before it existed
        self._mids.clear()
        self._mids.extend((int(t), float(m)) for t, m in state["mids"])
        self._mids_since_save = 0
