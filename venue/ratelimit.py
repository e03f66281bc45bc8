"""A per-account request limiter: at most `max_requests` in any window of `per_seconds`.

Lighter limits standard accounts to 60 requests a minute and answers HTTP 429 beyond that, so
the order client waits here instead of burning requests on refusals. It is a sliding-window log
(one timestamp per granted request), exact rather than a token-bucket approximation: a burst of
60 passes at once and the 61st waits until the first leaves the window. Waiters are served in
arrival order. The clock and sleep are injected so tests run on a fake clock in microseconds.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable


class RateLimiter:
    def __init__(
        self,
        max_requests: int = 60,
        per_seconds: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        if max_requests < 1:
            raise ValueError(f"max_requests must be >= 1, got {max_requests}")
        if not per_seconds > 0:
            raise ValueError(f"per_seconds must be > 0, got {per_seconds}")
        self.max_requests = max_requests
        self.per_seconds = float(per_seconds)
        self._clock = clock
        self._sleep = sleep
        # when each grant still inside the window leaves it (grant time + per_seconds); storing the
        # expiry rather than the grant time keeps "expired" and "delay" on one float comparison
        self._expiries: deque[float] = deque()
        self._queue = asyncio.Lock()  # FIFO: asyncio.Lock wakes waiters in arrival order
        self.waited_s = 0.0  # total time spent waiting (observability)

    def __repr__(self) -> str:
        return f"RateLimiter(max_requests={self.max_requests}, per_seconds={self.per_seconds})"

    def delay(self) -> float:
        """Seconds until a request would be allowed (0.0 when one is allowed now)."""
        now = self._clock()
        self._expire(now)
        if len(self._expiries) < self.max_requests:
            return 0.0
        return self._expiries[0] - now  # > 0: _expire removed every expiry <= now

    def try_acquire(self) -> bool:
        """Take a slot if one is free now and nobody is queued for one; never waits."""
        if self._queue.locked():
            return False
        return self._grant_if_free()

    async def acquire(self) -> None:
        """Wait until a slot is free, then take it."""
        async with self._queue:
            while not self._grant_if_free():
                wait = self.delay()
                self.waited_s += wait
                await self._sleep(wait)

    def _grant_if_free(self) -> bool:
        now = self._clock()
        self._expire(now)
        if len(self._expiries) >= self.max_requests:
            return False
        self._expiries.append(now + self.per_seconds)
        return True

    def _expire(self, now: float) -> None:
        # a grant at t counts against every window that contains t: it frees at t + per_seconds
        while self._expiries and self._expiries[0] <= now:
            self._expiries.popleft()
