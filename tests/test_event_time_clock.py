"""Risk's event clock and the digest of repeated refusals: pure helpers of the risk actor."""

from __future__ import annotations

from risk.event_clock import EventClock
from risk.refusal_digest import RefusalDigest

S = 10**9
EVENT = 1_746_316_800 * S  # 2025-05-04 00:00 UTC
WALL = 1_780_000_000 * S  # 2026: the present, later than every event of the 2025 data


def test_the_clock_moves_forward_with_market_data_only() -> None:
    clock = EventClock()
    assert clock.now_ns == 0
    assert clock.on_market_data(EVENT) and clock.now_ns == EVENT and clock.now_ms == EVENT // 1_000_000
    assert not clock.on_market_data(EVENT - S)  # an older event: the clock stays
    assert clock.on_market_data(EVENT + S) and clock.now_ns == EVENT + S


def test_an_intent_is_judged_at_its_own_event_time_unless_it_is_off_the_market_clock() -> None:
    clock = EventClock(max_skew_ns=3600 * S)
    assert clock.for_intent(EVENT) == EVENT  # before any market data, its own time is all there is
    clock.on_market_data(EVENT)
    assert clock.for_intent(EVENT + 20 * S) == EVENT + 20 * S  # finer than risk's batched view
    assert clock.for_intent(EVENT - 20 * S) == EVENT - 20 * S
    assert clock.for_intent(WALL) == EVENT  # a wall-clock stamp in a replay of 2025
    assert clock.for_intent(0) == EVENT  # no time at all
    assert clock.for_intent(EVENT - 2 * 3600 * S) == EVENT  # another timeline


def test_a_refusal_is_reported_at_once_then_counted_once_per_interval() -> None:
    digest = RefusalDigest(interval_s=10.0)
    first = digest.note(1001, "rate_limit", "account 1001 is at its 60 orders a minute", 100.0)
    assert [(line.count, line.first) for line in first] == [(1, True)]
    assert "rate_limit" in first[0].describe() and "1001" in first[0].describe()
    quiet = [digest.note(1001, "rate_limit", "at its limit", 100.0 + 0.25 * i) for i in range(1, 40)]
    assert all(lines == [] for lines in quiet)  # four a second for ten seconds: nothing logged
    due = digest.note(1001, "rate_limit", "at its limit", 110.0)
    assert [(line.count, line.span_s) for line in due] == [(40, 10.0)]
    assert due[0].describe() == "40 refusals of rate_limit for account 1001 in the last 10 s (latest: at its limit)"
    assert digest.total == 41


def test_kinds_and_accounts_are_counted_apart_and_a_stopped_episode_is_still_reported() -> None:
    digest = RefusalDigest(interval_s=10.0)
    assert len(digest.note(1001, "rate_limit", "r", 0.0)) == 1
    assert len(digest.note(1002, "rate_limit", "r", 0.0)) == 1  # another account
    assert len(digest.note(1001, "feed_stale", "f", 0.0)) == 1  # another kind
    digest.note(1001, "rate_limit", "r", 1.0)
    digest.note(1001, "rate_limit", "r", 2.0)
    assert digest.due(9.0) == []
    lines = digest.due(10.5)  # the refusals stopped: the periodic tick reports what was counted
    assert [(line.account, line.kind, line.count) for line in lines] == [(1001, "rate_limit", 2)]
    assert digest.due(21.0) == []  # a quiet interval ends every episode
    again = digest.note(1001, "rate_limit", "r", 22.0)
    assert [(line.count, line.first) for line in again] == [(1, True)]  # reported at once again
