"""Supervision rules: restart intensity, backoff, heartbeat timeouts."""

from __future__ import annotations

from actors.health import Backoff, HeartbeatWatch, RestartIntensity


def test_restart_intensity_allows_n_restarts_in_the_period_then_escalates() -> None:
    intensity = RestartIntensity(max_restarts=3, period_s=10.0)
    assert [intensity.record(t) for t in (0.0, 1.0, 2.0)] == [True, True, True]
    assert intensity.record(3.0) is False  # the fourth within 10 s
    fresh = RestartIntensity(max_restarts=3, period_s=10.0)
    assert all(fresh.record(t) for t in (0.0, 4.0, 8.0, 12.0, 16.0))  # spread out: never exceeded
    assert fresh.recent == 3


def test_backoff_doubles_caps_and_resets_after_a_quiet_spell() -> None:
    backoff = Backoff(base_s=0.5, max_s=3.0, reset_after_s=60.0)
    assert [backoff.next_delay(t) for t in (0, 1, 2, 3, 4)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert backoff.next_delay(100.0) == 0.5


def test_heartbeat_watch_reports_a_silent_child_once_and_counts_restarts() -> None:
    watch = HeartbeatWatch(timeout_s=5.0)
    watch.add("feed", now_s=0.0)
    watch.add("risk", now_s=0.0)
    watch.beat("feed", seq=1, lag_ms=2.0, last_error="", now_s=4.0)
    assert watch.missing(now_s=6.0) == ["risk"]
    assert watch.missing(now_s=7.0) == []  # reported once
    assert watch.missing(now_s=9.5) == ["feed"]
    watch.beat("feed", seq=0, lag_ms=0.0, last_error="", now_s=10.0)  # restarted: seq went back
    assert watch.children["feed"].restarts == 1
    assert watch.children["feed"].state == "alive"


def test_a_restarting_child_gets_the_start_timeout_then_counts_as_missing() -> None:
    watch = HeartbeatWatch(timeout_s=5.0, start_timeout_s=60.0)
    watch.add("venue-sim", now_s=0.0)
    watch.beat("venue-sim", seq=1, lag_ms=0.0, last_error="", now_s=1.0)
    watch.restarting("venue-sim", now_s=2.0)  # Ray restarted it: the new process is coming up
    assert watch.missing(now_s=30.0) == []  # far beyond 5 s, within the start timeout
    assert watch.missing(now_s=62.5) == ["venue-sim"]  # stuck coming up
    watch.beat("venue-sim", seq=0, lag_ms=0.0, last_error="", now_s=63.0)
    assert watch.children["venue-sim"].state == "alive"
    assert watch.missing(now_s=68.5) == ["venue-sim"]  # alive again: the short timeout applies
