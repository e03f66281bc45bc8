"""RateLimiter on a fake clock: at most N grants in any window, the N+1-th waits exactly enough."""

from __future__ import annotations

import asyncio

import pytest

from venue.ratelimit import RateLimiter


class FakeTime:
    """A clock that only moves when someone sleeps (or the test advances it)."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


def limiter(t: FakeTime, n: int = 60, per: float = 60.0) -> RateLimiter:
    return RateLimiter(n, per, clock=t.clock, sleep=t.sleep)


async def test_sixty_pass_at_once_and_the_sixty_first_waits_a_minute() -> None:
    t = FakeTime()
    rl = limiter(t)
    for _ in range(60):
        await rl.acquire()
    assert t.sleeps == [] and t.now == 1000.0
    await rl.acquire()
    assert t.sleeps == [pytest.approx(60.0)]
    assert t.now == pytest.approx(1060.0)


async def test_the_window_slides() -> None:
    t = FakeTime()
    rl = limiter(t)
    for _ in range(60):  # one a second: 1000 .. 1059
        await rl.acquire()
        t.now += 1.0
    t.now = 1059.5
    await rl.acquire()  # the grant at 1000 leaves the window at 1060
    assert t.sleeps == [pytest.approx(0.5)]
    t.now = 1060.25
    assert rl.try_acquire() is False  # the grant at 1001 is still inside until 1061
    t.now = 1061.0
    assert rl.try_acquire() is True


async def test_try_acquire_never_waits() -> None:
    t = FakeTime()
    rl = limiter(t, n=2, per=10.0)
    assert rl.try_acquire() and rl.try_acquire()
    assert rl.try_acquire() is False
    assert rl.delay() == pytest.approx(10.0)
    t.now += 10.0
    assert rl.delay() == 0.0
    assert rl.try_acquire() is True
    assert t.sleeps == []


async def test_concurrent_waiters_never_exceed_the_limit() -> None:
    t = FakeTime()
    rl = limiter(t, n=5, per=1.0)
    granted: list[float] = []

    async def one(i: int) -> None:
        await rl.acquire()
        granted.append(t.now)

    await asyncio.gather(*(one(i) for i in range(23)))
    assert len(granted) == 23
    for i, at in enumerate(granted):  # no window of 1 s holds more than 5 grants
        assert sum(1 for other in granted[i:] if other < at + 1.0) <= 5
    assert t.now == pytest.approx(1004.0)  # 23 grants at 5/s: the last batch starts at +4 s


async def test_a_queued_waiter_is_not_overtaken_by_try_acquire() -> None:
    t = FakeTime()
    gate = asyncio.Event()

    async def blocked_sleep(seconds: float) -> None:
        await gate.wait()
        t.now += seconds

    rl = RateLimiter(1, 1.0, clock=t.clock, sleep=blocked_sleep)
    await rl.acquire()
    waiter = asyncio.create_task(rl.acquire())
    await asyncio.sleep(0)  # the waiter is now queued, sleeping
    t.now += 5.0  # a slot is free, but it belongs to the waiter
    assert rl.try_acquire() is False
    gate.set()
    await waiter


def test_bad_configuration_is_refused() -> None:
    with pytest.raises(ValueError):
        RateLimiter(0, 60.0)
    with pytest.raises(ValueError):
        RateLimiter(60, 0.0)
