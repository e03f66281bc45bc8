"""Risk's clock: event time, as the market data tells it (DESIGN invariant 6).

Only market data moves it: the ts_event of book tops and trades, which the venue stamps. A feed
status is the feed's opinion of its own health, stamped before any data may have arrived, and a
control command (halt, resume, flatten) carries its issuer's wall clock; neither may move the
clock, or one wall-clock value freezes every window measured on it for the rest of a replay
(the clock only moves forward, and the present is later than every recorded event).

An intent is judged at its own ts_event (the time of the market event the strategy acted on,
finer than the market data risk itself sees, which the feed batches for it) as long as that lies
within `max_skew_ns` of this clock; one that does not (a wall-clock stamp, another timeline) is
judged at this clock instead. Before any market data there is nothing to compare with, and the
intent's own time is all there is.
"""

from __future__ import annotations

NS_PER_MS = 1_000_000
MAX_SKEW_NS = 3600 * 10**9  # far beyond any lag between risk's and a strategy's view of the market


class EventClock:
    def __init__(self, max_skew_ns: int = MAX_SKEW_NS) -> None:
        self.max_skew_ns = max_skew_ns
        self.now_ns = 0  # 0: no market data seen yet

    @property
    def now_ms(self) -> int:
        return self.now_ns // NS_PER_MS

    def on_market_data(self, ts_ns: int) -> bool:
        """A book top's or trade's ts_event; True when the clock moved forward."""
        if ts_ns > self.now_ns:
            self.now_ns = ts_ns
            return True
        return False

    def for_intent(self, ts_ns: int) -> int:
        """The event time to judge an intent stamped ts_ns at."""
        if self.now_ns == 0:
            return ts_ns
        if ts_ns <= 0 or abs(ts_ns - self.now_ns) > self.max_skew_ns:
            return self.now_ns
        return ts_ns
