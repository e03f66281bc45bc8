"""`rsi_bb`: RSI + Bollinger trend following on 15-second mid candles (STRATEGIES.md section 1).

Entries are decided on the event that closes a candle, from that candle's indicator values:
  long:  RSI > 50 + 15; bb_pos >= 0.5 - 0.3 (and <= 0.5 - 0.3 + band when a band is set, as in
         preset `selective`); EMA9 above EMA21 by >= 2 bps of EMA21; the candle's volume above
         the 20-candle average volume (skipped while that average is 0, i.e. the feed has no
         trades); volatility (see strategies.common) within 2-25 bps.
  short: the mirror (RSI < 50 - 15, bb_pos <= 0.5 + 0.3, EMA9 below EMA21 by >= 2 bps).
Exits, on every mid, from the entry price: stop loss 9 bps, take profit 4.5 bps (both scaled by
the adaptive multipliers fixed at entry), the trailing stop when enabled, trend reversal (on a
candle close, a long exits when RSI < 50 and a short when RSI > 50), time stop 8 minutes.
"""

from __future__ import annotations

import bisect
import math
from typing import TYPE_CHECKING, Any

from indicators.candles import Candle
from indicators.stream import EMA, RSI, SMA, Bollinger
from strategies.base import QuietSpan, Side
from strategies.common import (
    CommonParams,
    DirectionalStrategy,
    EntrySignal,
    OpenPosition,
    bps_exit_band,
    bps_stop_or_target,
    trailing_exit,
)

if TYPE_CHECKING:
    import numpy as np

    from strategies.candle_tape import CandleTape
    from strategies.mid_path import MidPath

ENTRY_CHECKS = ("volatility", "volume", "rsi", "bb_pos", "ema_trend")  # the order entry_checks lists them


class RsiBbParams(CommonParams, frozen=True, kw_only=True, forbid_unknown_fields=True):
    candle_interval_s: int = 15
    rsi_period: int = 14
    bb_period: int = 20
    bb_std: float = 2.0
    ema_fast: int = 9  # (ours)
    ema_slow: int = 21  # (ours)
    rsi_bullish_threshold: float = 50.0
    rsi_bearish_threshold: float = 50.0
    rsi_momentum_strength: float = 15.0
    bb_position_threshold: float = 0.3
    bb_position_band: float | None = None  # selective: 0.1 -> long 0.2-0.3, short 0.7-0.8
    trend_confirmation_bps: float = 2.0
    volume_window: int = 20
    volatility_min_bps: float = 2.0
    volatility_max_bps: float = 25.0
    take_profit_bps: float = 4.5
    stop_loss_bps: float = 9.0
    max_hold_s: int = 480
    reversal_rsi: float = 50.0
    trailing_stop: bool = False
    trailing_activation_bps: float = 3.0  # (ours) the notes name no numbers for it
    trailing_distance_bps: float = 2.0  # (ours)


class RsiBbStrategy(DirectionalStrategy):
    kind = "rsi_bb"
    params_type = RsiBbParams
    params: RsiBbParams

    def __init__(self, name: str, market: Any, params: RsiBbParams, *, account_index: int = 0) -> None:
        super().__init__(name, market, params, account_index=account_index)
        self._make_indicators()
        self._fresh_close = False  # a candle closed on this event (live, not warm-up)
        self._tape_rules: tuple[Any, ...] | None = None  # fast replay: close_rules of one tape

    def _make_indicators(self) -> None:
        p = self.params
        self._rsi = RSI(p.rsi_period)
        self._bb = Bollinger(p.bb_period, p.bb_std)
        self._ema_fast = EMA(p.ema_fast)
        self._ema_slow = EMA(p.ema_slow)
        self._volume_avg = SMA(p.volume_window)
        self._last_close = 0.0
        self._last_volume = 0.0

    @property
    def candle_interval_ms(self) -> int:
        return self.params.candle_interval_s * 1000

    # --- features --------------------------------------------------------------------------
    def _on_candle(self, candle: Candle) -> None:
        self._rsi.update(candle.close)
        self._bb.update(candle.close)
        self._ema_fast.update(candle.close)
        self._ema_slow.update(candle.close)
        self._volume_avg.update(candle.volume)
        self._last_close = candle.close
        self._last_volume = candle.volume

    def _update(self, ts_ms: int, mid: float, closed: list[Candle]) -> None:
        self._fresh_close = bool(closed)

    def _ready(self) -> bool:
        # an `and` chain: this runs on every candle close, where a generator costs (fast replay)
        return (
            self._rsi.ready
            and self._bb.ready
            and self._ema_fast.ready
            and self._ema_slow.ready
            and self._volume_avg.ready
        )

    def warmup_needed(self) -> int:
        if self._ready():
            return 0
        p = self.params
        needed = max(p.rsi_period + 1, p.bb_period, p.ema_slow, p.volume_window)
        return max(1, needed - self._candles_seen)

    def features(self) -> dict[str, float] | None:
        """The last closed candle's indicator values (the entry context), None while warming up."""
        if not self._ready():
            return None
        upper, middle, lower = self._bb.upper, self._bb.middle, self._bb.lower
        assert upper is not None and middle is not None and lower is not None
        width = upper - lower
        fast, slow, avg = self._ema_fast.value, self._ema_slow.value, self._volume_avg.value
        assert fast is not None and slow is not None and avg is not None and self._rsi.value is not None
        return {
            "close": self._last_close,
            "rsi": self._rsi.value,
            "bb_upper": upper,
            "bb_middle": middle,
            "bb_lower": lower,
            "bb_pos": (self._last_close - lower) / width if width > 0 else 0.5,
            "ema_fast": fast,
            "ema_slow": slow,
            "ema_div_bps": (fast - slow) / slow * 1e4,
            "volume": self._last_volume,
            "volume_avg": avg,
        }

    def entry_checks(self, side: Side, features: dict[str, float] | None = None) -> dict[str, bool] | None:
        """Each entry rule for `side` on the last closed candle; None while warming up. An entry
        needs every one of them true. `features`: this candle's features() when already at hand."""
        f = self.features() if features is None else features
        vol = self._vol.value
        if f is None or vol is None:
            return None
        return dict(zip(ENTRY_CHECKS, self._side_checks(side, f, vol), strict=True))

    def _side_checks(self, side: Side, f: dict[str, float], vol: float) -> tuple[bool, bool, bool, bool, bool]:
        """The entry rules in ENTRY_CHECKS order (a tuple: this runs on every candle close)."""
        p = self.params
        band = p.bb_position_band
        volatility = p.volatility_min_bps <= vol <= p.volatility_max_bps
        # skipped (true) while the average is 0: the feed has no trades
        volume = f["volume_avg"] <= 0 or f["volume"] > f["volume_avg"]
        bb_pos = f["bb_pos"]
        if side == "buy":
            bb_min = 0.5 - p.bb_position_threshold
            return (
                volatility,
                volume,
                f["rsi"] > p.rsi_bullish_threshold + p.rsi_momentum_strength,
                bb_pos >= bb_min and (band is None or bb_pos <= bb_min + band),
                f["ema_div_bps"] >= p.trend_confirmation_bps,
            )
        bb_max = 0.5 + p.bb_position_threshold
        return (
            volatility,
            volume,
            f["rsi"] < p.rsi_bearish_threshold - p.rsi_momentum_strength,
            bb_pos <= bb_max and (band is None or bb_pos >= bb_max - band),
            f["ema_div_bps"] <= -p.trend_confirmation_bps,
        )

    # --- rules ---------------------------------------------------------------------------
    def _entry_signal(self, ts_ms: int, mid: float) -> EntrySignal | None:
        if not self._fresh_close:
            return None
        f = self.features()
        vol = self._vol.value
        if f is None or vol is None:
            self._last_skip = "warming_up"
            return None
        buy = self._side_checks("buy", f, vol)
        if all(buy):
            return EntrySignal("buy", f, {})
        sell = self._side_checks("sell", f, vol)
        if all(sell):
            return EntrySignal("sell", f, {})
        failed_buy = ",".join([k for k, ok in zip(ENTRY_CHECKS, buy, strict=True) if not ok])
        failed_sell = ",".join([k for k, ok in zip(ENTRY_CHECKS, sell, strict=True) if not ok])
        self._last_skip = "long: " + failed_buy + "; short: " + failed_sell
        return None

    def _exit_reason(self, ts_ms: int, mid: float, pos: OpenPosition) -> str | None:
        p = self.params
        hit = bps_stop_or_target(pos, mid, p.stop_loss_bps, p.take_profit_bps)
        if hit:
            return hit
        if p.trailing_stop and trailing_exit(pos, mid, p.trailing_activation_bps, p.trailing_distance_bps):
            return "trailing_stop"
        rsi = self._rsi.value
        if self._fresh_close and rsi is not None:
            if (pos.side == "long" and rsi < p.reversal_rsi) or (pos.side == "short" and rsi > p.reversal_rsi):
                return "trend_reversal"
        if ts_ms - pos.entry_ts_ms >= p.max_hold_s * 1000:
            return "time_stop"
        return None

    # --- fast replay: entries and the trend reversal only on candle closes -------------------
    def _entry_band(self) -> tuple[float, float, int] | None:
        return (-math.inf, math.inf, 2**62)

    def _exit_band(self, ts_ms: int, pos: OpenPosition) -> tuple[float, float, int] | None:
        p = self.params
        trailing = (p.trailing_activation_bps, p.trailing_distance_bps) if p.trailing_stop else None
        band = bps_exit_band(pos, p.stop_loss_bps, p.take_profit_bps, trailing)
        return None if band is None else (band[0], band[1], pos.entry_ts_ms + p.max_hold_s * 1000)

    def _absorb_features(self, span: QuietSpan) -> None:
        self._fresh_close = False

    runs_across_candles = True

    def _next_acting_close(self, path: MidPath, tape: CandleTape, k: int) -> int:
        # entries and the trend reversal act on closes only: the next close where they may
        rules = self._tape_rules
        if rules is None or rules[0] is not tape:
            self._tape_rules = rules = (tape, *(closes.tolist() for closes in close_rules(self.params, path, tape)))
        pos = self._position
        closes = rules[1] if pos is None else rules[2] if pos.side == "long" else rules[3]
        at = bisect.bisect_left(closes, k)
        return closes[at] if at < len(closes) else len(tape) - 1

    def _on_candles(self, tape: CandleTape, first: int, stop: int, last_mid: int) -> None:
        from indicators.advance import advance

        closes = tape.close[first:stop]
        advance(self._rsi, closes)
        advance(self._bb, closes)
        advance(self._ema_fast, closes)
        advance(self._ema_slow, closes)
        advance(self._volume_avg, tape.volume[first:stop])
        self._last_close = float(tape.close[stop - 1])
        self._last_volume = float(tape.volume[stop - 1])
        self._fresh_close = bool(tape.closes_at[stop - 1] == last_mid)

    # --- state ---------------------------------------------------------------------------
    def _features_state(self) -> dict[str, Any]:
        return {
            "rsi": self._rsi.to_state(),
            "bb": self._bb.to_state(),
            "ema_fast": self._ema_fast.to_state(),
            "ema_slow": self._ema_slow.to_state(),
            "volume_avg": self._volume_avg.to_state(),
            "last_close": self._last_close,
            "last_volume": self._last_volume,
            "fresh_close": self._fresh_close,
        }

    def _load_features_state(self, state: dict[str, Any]) -> None:
        self._rsi = RSI.from_state(state["rsi"])
        self._bb = Bollinger.from_state(state["bb"])
        self._ema_fast = EMA.from_state(state["ema_fast"])
        self._ema_slow = EMA.from_state(state["ema_slow"])
        self._volume_avg = SMA.from_state(state["volume_avg"])
        self._last_close = state["last_close"]
        self._last_volume = state["last_volume"]
        self._fresh_close = state["fresh_close"]


def close_rules(p: RsiBbParams, path: MidPath, tape: CandleTape) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fast replay: the candles of `tape` on whose close an entry may fire, a long's trend
    reversal, a short's (sorted indices). The batch kernels give the streaming indicators'
    values bit for bit, and the checks are `_side_checks`' expressions, so a close not listed
    cannot act; one listed may still not (a pause, the size, the other checks of `_entry_actions`)."""
    import numpy as np

    from indicators import batch

    close, volume = tape.close, tape.volume
    rsi = batch.rsi(close, p.rsi_period)
    upper, _, lower = batch.bollinger(close, p.bb_period, p.bb_std)
    fast, slow = batch.ema(close, p.ema_fast), batch.ema(close, p.ema_slow)
    avg = batch.sma(volume, p.volume_window)
    if p.volatility_interval_ms == tape.interval_ms:
        vol = batch.rolling_std_bps(close, p.volatility_window)
    else:  # the volatility candles closed by the mid that closes each candle (the last never does)
        vol_tape = path.tape(p.volatility_interval_ms)
        vol_all = batch.rolling_std_bps(vol_tape.close, p.volatility_window)
        at = vol_tape.candle_of[np.minimum(tape.closes_at, len(path.mids) - 1)] - 1
        vol = np.where(at >= 0, vol_all[np.maximum(at, 0)], np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        ready = np.isfinite(rsi) & np.isfinite(upper) & np.isfinite(fast) & np.isfinite(slow) & np.isfinite(avg)
        ready &= np.isfinite(vol)
        width = upper - lower
        bb_pos = np.where(width > 0, (close - lower) / width, 0.5)
        ema_div = (fast - slow) / slow * 1e4
        volatility = (p.volatility_min_bps <= vol) & (vol <= p.volatility_max_bps)
        volume_ok = (avg <= 0) | (volume > avg)
        bb_min, bb_max, band = 0.5 - p.bb_position_threshold, 0.5 + p.bb_position_threshold, p.bb_position_band
        buy = (rsi > p.rsi_bullish_threshold + p.rsi_momentum_strength) & (bb_pos >= bb_min)
        buy &= ema_div >= p.trend_confirmation_bps
        sell = (rsi < p.rsi_bearish_threshold - p.rsi_momentum_strength) & (bb_pos <= bb_max)
        sell &= ema_div <= -p.trend_confirmation_bps
        if band is not None:
            buy &= bb_pos <= bb_min + band
            sell &= bb_pos >= bb_max - band
        entries = ready & volatility & volume_ok & (buy | sell)
        long_exits, short_exits = rsi < p.reversal_rsi, rsi > p.reversal_rsi
    return np.flatnonzero(entries), np.flatnonzero(long_exits), np.flatnonzero(short_exits)
