"""`breakout`: breakout + momentum on 15-minute mid candles (STRATEGIES.md section 3).

Entries are decided on the event that closes a candle (the first mid of the next interval),
once 50 candles are known (live or warm-up):
  long:  the candle closes above the highest high of the previous 30 candles (the breakout
         level); RSI(14) > 60; MACD(12, 26, 9) line above its signal; ATR(14) above its value
         3 candles earlier (expanding, ours); EMA20 > EMA50; ATR within 3-15 bps of the close.
  short: the mirror (close below the lowest low, RSI < 40, MACD below, EMA20 < EMA50).
Exits (ATR = the ATR at entry, fixed with the position):
  stop loss        mid through the breakout level -/+ 1.5 ATR (x the adaptive stop multiplier)
  take profit      mid at entry +/- 2.5 ATR (x the adaptive take-profit multiplier)
  trailing stop    once the best mid since entry is 1 ATR in profit, 0.5 ATR back from it
  breakout failure a candle closes back inside the level (long: close <= level), at once
  time stop        60 minutes after entry
  no progress      after 30 minutes, if the best favourable move since entry (MFE, measured on
                   the mids) stays below 0.5 ATR (ours; monotone, so it fires at the first mid
                   past 30 minutes or never)
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any

from indicators.candles import Candle
from indicators.stream import ATR, EMA, MACD, RSI
from strategies.base import QuietSpan, Side
from strategies.common import CommonParams, DirectionalStrategy, EntrySignal, OpenPosition


class BreakoutParams(CommonParams, frozen=True, kw_only=True, forbid_unknown_fields=True):
    candle_interval_s: int = 900
    min_candles: int = 50
    breakout_lookback: int = 30
    rsi_period: int = 14
    rsi_bullish_threshold: float = 60.0
    rsi_bearish_threshold: float = 40.0
    macd_fast: int = 12
    macd_slow: int = 26
    macd_signal: int = 9
    atr_period: int = 14
    atr_expansion_lookback: int = 3  # (ours) ATR now vs this many candles earlier
    ema_fast: int = 20
    ema_slow: int = 50
    atr_min_bps: float = 3.0
    atr_max_bps: float = 15.0
    take_profit_atr: float = 2.5
    stop_loss_atr: float = 1.5
    trailing_activation_atr: float = 1.0
    trailing_distance_atr: float = 0.5
    max_hold_s: int = 3600
    no_progress_s: int = 1800
    no_progress_atr: float = 0.5  # (ours)


class BreakoutStrategy(DirectionalStrategy):
    kind = "breakout"
    params_type = BreakoutParams
    params: BreakoutParams

    def __init__(self, name: str, market: Any, params: BreakoutParams, *, account_index: int = 0) -> None:
        super().__init__(name, market, params, account_index=account_index)
        p = self.params
        self._rsi = RSI(p.rsi_period)
        self._macd = MACD(p.macd_fast, p.macd_slow, p.macd_signal)
        self._atr = ATR(p.atr_period)
        self._ema_fast = EMA(p.ema_fast)
        self._ema_slow = EMA(p.ema_slow)
        # the previous candles' highs and lows (the current one is appended after the check)
        self._highs: deque[float] = deque(maxlen=p.breakout_lookback)
        self._lows: deque[float] = deque(maxlen=p.breakout_lookback)
        self._atr_history: deque[float] = deque(maxlen=p.atr_expansion_lookback + 1)
        self._last: dict[str, float] = {}  # the last closed candle's features
        self._fresh_close = False

    @property
    def candle_interval_ms(self) -> int:
        return self.params.candle_interval_s * 1000

    # --- features --------------------------------------------------------------------------
    def _on_candle(self, candle: Candle) -> None:
        p = self.params
        level_high = max(self._highs) if len(self._highs) == p.breakout_lookback else None
        level_low = min(self._lows) if len(self._lows) == p.breakout_lookback else None
        self._rsi.update(candle.close)
        self._macd.update(candle.close)
        self._atr.update(candle.high, candle.low, candle.close)
        self._ema_fast.update(candle.close)
        self._ema_slow.update(candle.close)
        if self._atr.value is not None:
            self._atr_history.append(self._atr.value)
        self._highs.append(candle.high)
        self._lows.append(candle.low)
        last: dict[str, float] = {"close": candle.close}
        if level_high is not None and level_low is not None:
            last.update(level_high=level_high, level_low=level_low)
        rsi, macd, signal = self._rsi.value, self._macd.macd, self._macd.signal
        atr, fast, slow = self._atr.value, self._ema_fast.value, self._ema_slow.value
        if (
            self._ready()
            and rsi is not None
            and macd is not None
            and signal is not None
            and atr is not None
            and fast is not None
            and slow is not None
        ):
            last.update(
                rsi=rsi,
                macd=macd,
                macd_signal=signal,
                atr=atr,
                atr_earlier=self._atr_history[0],
                atr_bps=atr / candle.close * 1e4,
                ema_fast=fast,
                ema_slow=slow,
            )
        self._last = last

    def _update(self, ts_ms: int, mid: float, closed: list[Candle]) -> None:
        self._fresh_close = bool(closed)

    def _ready(self) -> bool:
        return (
            self._rsi.ready
            and self._macd.ready
            and self._atr.ready
            and self._ema_fast.ready
            and self._ema_slow.ready
            and len(self._atr_history) == self.params.atr_expansion_lookback + 1
        )

    def warmup_needed(self) -> int:
        return max(0, self.params.min_candles - self._candles_seen) or (0 if self._ready() else 1)

    # --- rules ---------------------------------------------------------------------------
    def entry_checks(self, side: Side) -> dict[str, bool] | None:
        """Each entry rule for `side` on the last closed candle; None while warming up. An entry
        needs every one of them true."""
        p = self.params
        f = self._last
        if self._candles_seen < p.min_candles or "rsi" not in f or "level_high" not in f:
            return None
        d = 1.0 if side == "buy" else -1.0
        return {
            "breakout": (f["close"] - (f["level_high"] if side == "buy" else f["level_low"])) * d > 0,
            "rsi": f["rsi"] > p.rsi_bullish_threshold if side == "buy" else f["rsi"] < p.rsi_bearish_threshold,
            "macd": (f["macd"] - f["macd_signal"]) * d > 0,
            "atr_expanding": f["atr"] > f["atr_earlier"],
            "ema_trend": (f["ema_fast"] - f["ema_slow"]) * d > 0,
            "atr_range": p.atr_min_bps <= f["atr_bps"] <= p.atr_max_bps,
        }

    def _entry_signal(self, ts_ms: int, mid: float) -> EntrySignal | None:
        if not self._fresh_close:
            return None
        failed: list[str] = []
        sides: tuple[Side, Side] = ("buy", "sell")
        for side in sides:
            checks = self.entry_checks(side)
            if checks is None:
                self._last_skip = "warming_up"
                return None
            if all(checks.values()):
                f = self._last
                level = f["level_high"] if side == "buy" else f["level_low"]
                return EntrySignal(side, dict(f), {"level": level, "atr": f["atr"]})
            failed.append(",".join(k for k, ok in checks.items() if not ok))
        self._last_skip = "long: " + failed[0] + "; short: " + failed[1]
        return None

    def _plan_without_entry(self, price: float) -> dict[str, float]:
        """No broken level to measure from: the entry price stands in for it, with the ATR of now
        (before the ATR is known, the widest one this strategy would enter on)."""
        atr = self._atr.value or price * self.params.atr_max_bps / 1e4
        return {"level": price, "atr": atr}

    def _exit_reason(self, ts_ms: int, mid: float, pos: OpenPosition) -> str | None:
        p = self.params
        level, atr = pos.plan["level"], pos.plan["atr"]
        d = pos.direction
        entry = pos.entry_price
        stop = level - d * p.stop_loss_atr * atr * pos.plan.get("stop_mult", 1.0)
        target = entry + d * p.take_profit_atr * atr * pos.plan.get("tp_mult", 1.0)
        eps = entry * 1e-10  # a mid exactly at a level must not be missed by float noise
        if (mid - stop) * d <= eps:
            return "stop_loss"
        if (mid - target) * d >= -eps:
            return "take_profit"
        best_move = (pos.best_mid - entry) * d
        trail_from = best_move - (mid - entry) * d
        if best_move >= p.trailing_activation_atr * atr - eps and trail_from >= p.trailing_distance_atr * atr - eps:
            return "trailing_stop"
        if self._fresh_close and (self._last["close"] - level) * d <= 0:
            return "breakout_failure"
        held = ts_ms - pos.entry_ts_ms
        if held >= p.max_hold_s * 1000:
            return "time_stop"
        if held >= p.no_progress_s * 1000 and best_move < p.no_progress_atr * atr:
            return "no_progress"
        return None

    # --- fast replay: entries and the breakout failure only on candle closes -----------------
    def _entry_band(self) -> tuple[float, float, int] | None:
        return (-math.inf, math.inf, 2**62)

    def _exit_band(self, ts_ms: int, pos: OpenPosition) -> tuple[float, float, int] | None:
        """Mirrors _exit_reason: three times its eps inside each price level."""
        p = self.params
        level, atr = pos.plan["level"], pos.plan["atr"]
        d = pos.direction
        entry = pos.entry_price
        stop = level - d * p.stop_loss_atr * atr * pos.plan.get("stop_mult", 1.0)
        target = entry + d * p.take_profit_atr * atr * pos.plan.get("tp_mult", 1.0)
        margin = 3 * entry * 1e-10
        # in move space (mid - entry) * d: stays above `low` and below `high`
        low, high = (stop - entry) * d + margin, (target - entry) * d - margin
        best_move = (pos.best_mid - entry) * d
        if best_move < p.trailing_activation_atr * atr - margin / 3:
            high = min(high, p.trailing_activation_atr * atr - margin)
        else:  # active: the best mid must not move, and the mid stays short of the trail
            high = min(high, best_move)
            low = max(low, best_move - p.trailing_distance_atr * atr + margin)
        if not low < high:
            return None
        until = pos.entry_ts_ms + p.max_hold_s * 1000
        progress_at = pos.entry_ts_ms + p.no_progress_s * 1000
        if ts_ms < progress_at:
            until = min(until, progress_at)
        elif best_move < p.no_progress_atr * atr:
            return None
        lo, hi = (entry + low, entry + high) if d > 0 else (entry - high, entry - low)
        return (lo, hi, until)

    def _absorb_features(self, span: QuietSpan) -> None:
        self._fresh_close = False

    # --- state ---------------------------------------------------------------------------
    def _features_state(self) -> dict[str, Any]:
        return {
            "rsi": self._rsi.to_state(),
            "macd": self._macd.to_state(),
            "atr": self._atr.to_state(),
            "ema_fast": self._ema_fast.to_state(),
            "ema_slow": self._ema_slow.to_state(),
            "highs": list(self._highs),
            "lows": list(self._lows),
            "atr_history": list(self._atr_history),
            "last": dict(self._last),
            "fresh_close": self._fresh_close,
        }

    def _load_features_state(self, state: dict[str, Any]) -> None:
        self._rsi = RSI.from_state(state["rsi"])
        self._macd = MACD.from_state(state["macd"])
        self._atr = ATR.from_state(state["atr"])
        self._ema_fast = EMA.from_state(state["ema_fast"])
        self._ema_slow = EMA.from_state(state["ema_slow"])
        self._highs.clear()
        self._highs.extend(state["highs"])
        self._lows.clear()
        self._lows.extend(state["lows"])
        self._atr_history.clear()
        self._atr_history.extend(state["atr_history"])
        self._last = {k: float(v) for k, v in state["last"].items()}
        self._fresh_close = state["fresh_close"]
