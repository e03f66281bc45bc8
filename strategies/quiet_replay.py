"""What a directional strategy tells the fast research replay it may skip (research only).

`QuietReplay` is mixed into `strategies.common.DirectionalStrategy`; the live path never calls
it. Two granularities:

- `quiet_band()` / `absorb_quiet(span)`: within the open candle, a price band and a time inside
  which no mid can make the strategy act or change anything but running aggregates (candle
  high/low/close/volume, MFE/MAE marks, mid history).
- `candle_run(path, i)` / `absorb_run(path, i, end, high, low)`: across candle closes. Given
  every candle of the path in advance (strategies.candle_tape), the strategy names the first
  close that may make it act (`_next_acting_close`: rsi_bb's next close whose indicators pass
  every entry check, or its next trend reversal; renko_ao none, its closes only resize bricks),
  and a price band per candle (`_feature_bands`) intersected with its rules' band. The replay
  scans to the first mid leaving it and hands the skipped mids and closes over in one call:
  the closed candles go to the indicators in bulk (`indicators.advance`, bit-identical to one
  update per candle), the open candle is set from the path's running aggregates.

Both are exact: the fast replay's trades and final snapshot equal the event-by-event replay's
(tests/test_fast_replay.py).
"""

from __future__ import annotations

import bisect
import math
from abc import abstractmethod
from typing import TYPE_CHECKING, Any, NamedTuple

from indicators.candles import CandleBuilder
from indicators.stream import RollingStdBps
from strategies.base import QuietBand, QuietSpan

if TYPE_CHECKING:
    import numpy as np

    from strategies.candle_tape import CandleTape
    from strategies.common import LosingStreak, OpenPosition, PendingOrder
    from strategies.mid_path import MidPath


class CandleRun(NamedTuple):
    """Mids a strategy lets the replay skip from the next one on: those before index `stop` (the
    mid that delivers the first close that may make it act), each strictly inside the band of
    its candle c, (lo[c - base], hi[c - base]), or (lo, hi) when they are one band for all, and
    before until_ms (candle_tape.scan_run's and scan_band's arguments)."""

    stop: int
    base: int
    lo: float | np.ndarray
    hi: float | np.ndarray
    until_ms: int


class QuietReplay:
    """The fast replay's hooks of DirectionalStrategy (see the module docstring)."""

    # DirectionalStrategy's state these hooks read and write
    params: Any
    _candles: CandleBuilder
    _vol_candles: CandleBuilder | None
    _vol: RollingStdBps
    _candles_seen: int
    _last_candle_open_ms: int | None
    _position: OpenPosition | None
    _pending: PendingOrder | None
    _streak: LosingStreak
    _entries_allowed: bool
    _retry_after_ms: int
    _last_ts: int | None
    _last_mid: float | None
    _dirty: bool
    _last_skip: str
    runs_across_candles = False  # a subclass that names its acting closes (_next_acting_close) sets it

    @property
    @abstractmethod
    def candle_interval_ms(self) -> int:
        """Strategy's."""

    @property
    @abstractmethod
    def max_silence_ms(self) -> int:
        """DirectionalStrategy's: beyond this silence the candles restart."""

    # ================================================================================ one candle
    def quiet_band(self) -> QuietBand | None:
        """See Strategy.quiet_band. Until the next candle (or volatility candle) opens nothing
        closes; the subclass bounds its features (`_feature_band`), and when it would evaluate
        rules, its exits (`_exit_band`) or entries (`_entry_band`). None while an order is
        pending or an exit is being re-sent."""
        ts = self._last_ts
        if self._pending is not None or ts is None:
            return None
        candles = self._candles
        until = candles.next_open_ms
        if until is None:
            return None
        if self._vol_candles is not None:
            vol_until = self._vol_candles.next_open_ms
            if vol_until is None:
                return None
            if vol_until < until:
                until = vol_until
        band = self._feature_band()
        if band is None:
            return None
        lo, hi = band
        pos = self._position
        if ts < self._retry_after_ms:  # nothing is evaluated before the back-off ends
            return QuietBand(lo, hi, min(until, self._retry_after_ms), candles.volume, pos is not None)
        rules = self._rules_band(ts)
        if rules is None:
            return None
        r_lo, r_hi, r_until = rules
        return QuietBand(
            r_lo if r_lo > lo else lo, r_hi if r_hi < hi else hi, r_until if r_until < until else until,
            candles.volume, pos is not None,
        )

    def absorb_quiet(self, span: QuietSpan) -> None:
        last = span.stop - 1
        self._candles.absorb(span.high, span.low, span.mids[last], span.volume)
        if self._vol_candles is not None:
            self._vol_candles.absorb(span.high, span.low, span.mids[last])
        self._absorb_span(span)

    def _rules_band(self, ts: int) -> tuple[float, float, int] | None:
        pos = self._position
        if pos is None:
            return self._entry_band()
        if pos.closing_reason:
            return None
        return self._exit_band(ts, pos)

    def _absorb_span(self, span: QuietSpan) -> None:
        """The per-mid state of a skipped span: the last mid, position marks, features."""
        last = span.stop - 1
        ts, mid = span.times[last], span.mids[last]
        self._last_ts, self._last_mid = ts, mid
        pos = self._position
        if pos is not None:
            if pos.side == "long":
                pos.best_mid, pos.worst_mid = max(pos.best_mid, span.high), min(pos.worst_mid, span.low)
            else:
                pos.best_mid, pos.worst_mid = min(pos.best_mid, span.low), max(pos.worst_mid, span.high)
        elif ts >= self._retry_after_ms:
            if not self._entries_allowed:
                self._last_skip = "entries_halted"
            elif self._streak.paused(ts):
                self._last_skip = "streak_pause"
        self._absorb_features(span)

    def _feature_band(self) -> tuple[float, float] | None:
        """Mids strictly inside leave the subclass's per-mid features as `_absorb_features` sets
        them (default: features change on candle closes only)."""
        return (-math.inf, math.inf)

    def _entry_band(self) -> tuple[float, float, int] | None:
        """Flat: (lo, hi, until_ms) within which `_entry_signal` cannot fire; None: any mid may."""
        return None

    def _exit_band(self, ts_ms: int, pos: OpenPosition) -> tuple[float, float, int] | None:
        """In a position: (lo, hi, until_ms) within which `_exit_reason` stays None; None: any mid may."""
        return None

    def _absorb_features(self, span: QuietSpan) -> None:  # noqa: B027 (optional hook)
        """The per-mid feature updates of `_update` for a skipped span."""

    # ================================================================================ many candles
    def candle_run(self, path: MidPath, i: int) -> CandleRun | None:
        """The mids from path index i on (i - 1 was the last fed) that may be skipped across
        candle closes, or None (then `quiet_band` decides)."""
        if not self.runs_across_candles:
            return None
        ts = self._last_ts
        if self._pending is not None or ts is None or ts < self._retry_after_ms:
            return None
        rules = self._rules_band(ts)
        if rules is None:
            return None
        tape = path.tape(self.candle_interval_ms)
        k = int(tape.candle_of[i - 1])
        if k != self._candles_seen:  # candles from before the path (a warm-up): the tape is not ours
            return None
        last = self._next_acting_close(path, tape, k)
        if last <= k:
            return None
        stop = int(tape.closes_at[last])
        restarts = path.silences(self.max_silence_ms)  # the candles restart there (common._accept)
        if restarts:
            at = bisect.bisect_left(restarts, i)
            if at < len(restarts) and restarts[at] < stop:
                stop = restarts[at]
        r_lo, r_hi, r_until = rules
        bands = self._feature_bands(tape, k, last)
        if bands is None:  # one band for every candle: the open one's
            band = self._feature_band()
            if band is None:
                return None
            return CandleRun(stop, k, max(band[0], r_lo), min(band[1], r_hi), r_until)
        # numpy here, not at the top: the live path imports this module and stays without it
        import numpy as np

        return CandleRun(stop, k, np.maximum(bands[0], r_lo), np.minimum(bands[1], r_hi), r_until)

    def absorb_run(self, path: MidPath, i: int, end: int, high: float, low: float) -> None:
        """Mids i..end-1 of a `candle_run` (high/low their extremes), as on_mid/on_trade would."""
        from indicators.advance import advance

        last = end - 1
        tape = path.tape(self.candle_interval_ms)
        volume = path.buckets(tape.interval_ms).volume[last]
        self._absorb_span(QuietSpan(path.times_list, path.mids_list, i, end, high, low, volume))
        k0, k1 = int(tape.candle_of[i - 1]), int(tape.candle_of[last])
        if k1 > k0:
            self._candles_seen += k1 - k0
            self._last_candle_open_ms = int(tape.open_ms[k1 - 1])
            self._dirty = True
            if self._vol_candles is None:
                advance(self._vol, tape.close[k0:k1])
            self._on_candles(tape, k0, k1, last)
        _resume(self._candles, path, tape, k1, last, volume)
        if self._vol_candles is not None:
            vol_tape = path.tape(self._vol_candles.interval_ms)
            v0, v1 = int(vol_tape.candle_of[i - 1]), int(vol_tape.candle_of[last])
            if v1 > v0:
                advance(self._vol, vol_tape.close[v0:v1])
            _resume(self._vol_candles, path, vol_tape, v1, last, self._vol_candles.volume if v1 == v0 else 0.0)

    def _next_acting_close(self, path: MidPath, tape: CandleTape, k: int) -> int:
        """The first candle >= k (k: the open one) whose close may make the strategy act or
        change what `_on_candles` cannot reproduce; the default: k itself (no run)."""
        return k

    def _feature_bands(self, tape: CandleTape, first: int, last: int) -> tuple[np.ndarray, np.ndarray] | None:
        """Per candle first..last: the band `_feature_band` would give while it is open; None (the
        default) when closes do not move it."""
        return None

    def _on_candles(self, tape: CandleTape, first: int, stop: int, last_mid: int) -> None:  # noqa: B027
        """Closed candles first..stop-1 of the tape, in bulk, as `_on_candle` one by one; last_mid:
        the path index of the last mid absorbed (optional hook)."""


def _resume(builder: CandleBuilder, path: MidPath, tape: CandleTape, k: int, last: int, volume: float) -> None:
    """The builder's open candle as on_mid/on_trade leave it after mid `last` (in candle k)."""
    buckets = path.buckets(tape.interval_ms)
    builder.resume(int(tape.open_ms[k]), float(tape.open[k]), buckets.high[last], buckets.low[last],
                   path.mids_list[last], volume)
