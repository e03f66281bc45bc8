"""The alerts' pure core: the gate (dedupe, rate limit, the suppressed count) with explicit times,
and the texts the system's facts become."""

from __future__ import annotations

import msgspec
import pytest

from alerts import (
    Alert,
    AlertGate,
    actor_restarted_alert,
    breaker_alert,
    daily_summary_alert,
    feed_stale_alert,
    format_actor_restarted,
    format_breaker,
    format_daily_summary,
    format_feed_stale,
    format_halt,
    format_position_adopted,
    halt_alert,
    position_adopted_alert,
)
from messages.control import Halt
from messages.state import BreakerState


def _alert(key: str, text: str = "something happened") -> Alert:
    return Alert(kind="feed_stale", severity="warning", text=text, key=key, ts=1)


# ---------------------------------------------------------------------------------------------
# The gate
# ---------------------------------------------------------------------------------------------


def test_same_key_within_the_window_is_sent_once_and_again_after_it() -> None:
    gate = AlertGate(["telegram", "webhook"], dedupe_s=60.0, max_per_minute=100)
    first = gate.admit(_alert("feed_stale:1"), now_s=0.0)
    assert set(first) == {"telegram", "webhook"}
    assert gate.admit(_alert("feed_stale:1"), now_s=59.9) == {}
    assert gate.stats.duplicates == 1
    assert set(gate.admit(_alert("feed_stale:2"), now_s=59.9)) == {"telegram", "webhook"}  # another key
    assert set(gate.admit(_alert("feed_stale:1"), now_s=60.0)) == {"telegram", "webhook"}  # the window passed
    # the window runs from the last one let through, not the last one seen
    assert gate.admit(_alert("feed_stale:1"), now_s=119.0) == {}
    assert set(gate.admit(_alert("feed_stale:1"), now_s=120.0)) == {"telegram", "webhook"}
    assert gate.stats.duplicates == 2
    assert gate.stats.admitted == 4


def test_a_zero_window_dedupes_nothing() -> None:
    gate = AlertGate(["telegram"], dedupe_s=0.0, max_per_minute=100)
    assert gate.admit(_alert("k"), now_s=5.0) and gate.admit(_alert("k"), now_s=5.0)


def test_rate_limit_holds_back_alerts_and_the_next_one_says_how_many() -> None:
    gate = AlertGate(["telegram"], dedupe_s=0.0, max_per_minute=3)
    for i in range(3):
        sent = gate.admit(_alert(f"k{i}", f"alert {i}"), now_s=float(i))
        assert sent["telegram"].text == f"alert {i}"
    for i in range(3, 8):  # 5 more within the same minute
        assert gate.admit(_alert(f"k{i}"), now_s=10.0 + i) == {}
    assert gate.stats.suppressed == {"telegram": 5}
    assert gate.pending("telegram") == 5
    # at 60.0 the first (sent at 0.0) leaves the window: one slot
    sent = gate.admit(_alert("k8", "breaker tripped"), now_s=60.0)
    assert sent["telegram"].text == "breaker tripped\n(+5 earlier alerts not sent: over 3 a minute)"
    assert sent["telegram"].key == "k8" and sent["telegram"].kind == "feed_stale"
    assert gate.pending("telegram") == 0
    # told once: the next alert carries no note
    assert gate.admit(_alert("k9", "plain"), now_s=61.0)["telegram"].text == "plain"
    assert gate.admit(_alert("k10"), now_s=61.5) == {}  # full: 2.0, 60.0 and 61.0 in the last minute


def test_rate_limit_is_per_channel() -> None:
    gate = AlertGate(["telegram", "webhook"], dedupe_s=0.0, max_per_minute=1)
    assert set(gate.admit(_alert("a"), now_s=0.0)) == {"telegram", "webhook"}
    assert gate.admit(_alert("b"), now_s=1.0) == {}
    assert gate.stats.suppressed == {"telegram": 1, "webhook": 1}
    sent = gate.admit(_alert("c", "c"), now_s=60.0)
    assert sent["telegram"].text == sent["webhook"].text == "c\n(+1 earlier alert not sent: over 1 a minute)"


def test_gate_refuses_bad_settings() -> None:
    with pytest.raises(ValueError, match="max_per_minute"):
        AlertGate(["telegram"], dedupe_s=1.0, max_per_minute=0)
    with pytest.raises(ValueError, match="dedupe_s"):
        AlertGate(["telegram"], dedupe_s=-1.0, max_per_minute=1)
    with pytest.raises(ValueError, match="distinct"):
        AlertGate(["telegram", "telegram"], dedupe_s=1.0, max_per_minute=1)


def test_forgotten_keys_do_not_accumulate() -> None:
    gate = AlertGate(["telegram"], dedupe_s=10.0, max_per_minute=10_000)
    for i in range(1000):
        gate.admit(_alert(f"k{i}"), now_s=float(i))
    assert len(gate._last_admitted) <= 11


# ---------------------------------------------------------------------------------------------
# Texts
# ---------------------------------------------------------------------------------------------


def _breaker(tripped: bool) -> BreakerState:
    return BreakerState(strategy="rsi-1", tripped=tripped, reason="daily loss" if tripped else "",
                        since_ts=1_700_000_000_000_000_000 if tripped else None, daily_loss=21.5,
                        day="2026-12-05", consecutive_losses=3, peak_equity=1000.0, equity=978.5,
                        ts_event=1_700_000_100_000_000_000, seq=4)


def test_halt_text_names_scope_issuer_and_reason() -> None:
    halt = Halt(reason="restart intensity exceeded: feed restarted 6 times in 60 s", scope="all",
                issued_by="supervisor", ts_event=123, seq=1)
    assert format_halt(halt) == ("HALTED all strategies (by supervisor): restart intensity exceeded: feed "
                                 "restarted 6 times in 60 s. New entries are refused; exits still run.")
    one = Halt(reason="circuit breaker: daily loss", scope="rsi-1", issued_by="risk", ts_event=5, seq=1)
    assert format_halt(one).startswith("HALTED strategy rsi-1 (by risk): circuit breaker: daily loss.")
    alert = halt_alert(halt)
    assert (alert.kind, alert.severity, alert.ts) == ("halt", "critical", 123)
    assert halt_alert(halt).key == alert.key != halt_alert(one).key


def test_breaker_texts_carry_usdc_and_the_drawdown() -> None:
    tripped = format_breaker(_breaker(True))
    assert tripped == ("BREAKER TRIPPED on rsi-1: daily loss. Daily loss 21.50 USDC on 2026-12-05 (UTC), "
                       "3 losses in a row, equity 978.50 USDC (peak 1000.00 USDC, drawdown 2.15%). "
                       "New entries are refused until it resets.")
    assert format_breaker(_breaker(False)).startswith("Breaker reset on rsi-1: new entries allowed again.")
    trip = breaker_alert(_breaker(True))
    assert (trip.kind, trip.severity, trip.ts) == ("breaker", "critical", 1_700_000_000_000_000_000)
    # the same trip seen in a later snapshot has the same key; a reset has another
    later = msgspec.structs.replace(_breaker(True), ts_event=1_700_000_200_000_000_000, seq=9)
    assert breaker_alert(later).key == trip.key
    assert breaker_alert(_breaker(False)).key != trip.key
    assert breaker_alert(_breaker(False)).severity == "info"


def test_position_adopted_text() -> None:
    assert format_position_adopted("breakout", 1, 0.0, -0.5, 3012.4) == (
        "POSITION TAKEN FROM THE VENUE for breakout (market 1): the venue holds -0.5 (base units) at "
        "3012.40 USDC, notional 1506.20 USDC; the strategy had +0.")
    alert = position_adopted_alert("breakout", 1, 0.0, -0.5, 3012.4, ts=7)
    assert (alert.kind, alert.severity, alert.ts) == ("position_adopted", "warning", 7)


def test_feed_stale_and_restart_texts() -> None:
    assert format_feed_stale(2, 42.4, 30.0) == (
        "FEED STALE: market 2 has been silent for 42 s (alert after 30 s). No new entries on it while stale.")
    # one key per market, so a long stale spell is re-sent once per dedupe window
    assert feed_stale_alert(2, 31, 30, ts=1).key == feed_stale_alert(2, 90, 30, ts=2).key
    assert format_actor_restarted("feed", 1, 60.0) == "ACTOR RESTARTED: feed (1 time in the last 60 s)."
    long_error = "ConnectionError:\n" + "x" * 500
    text = format_actor_restarted("router", 3, 60.0, long_error)
    assert text.startswith("ACTOR RESTARTED: router (3 times in the last 60 s); last error: ConnectionError: xxx")
    assert "\n" not in text and len(text) < 300 and text.endswith("....")
    # each restart is its own fact
    assert actor_restarted_alert("feed", 1, 60, ts=1).key != actor_restarted_alert("feed", 1, 60, ts=2).key


def test_daily_summary_text() -> None:
    summary = {"rsi-1": {"trades": 4, "pnl_quote": 12.34, "fees": 0.5},
               "breakout": {"trades": 0, "pnl_quote": 0.0},
               "mm": {"trades": 1, "pnl_quote": -3.2}}
    assert format_daily_summary("2026-12-05", summary) == (
        "Daily summary for 2026-12-05 (UTC):\n"
        "breakout: no trades\n"
        "mm: 1 trade, PnL -3.20 USDC\n"
        "rsi-1: 4 trades, PnL +12.34 USDC (fees 0.50 USDC)\n"
        "Total: 5 trades, PnL +9.14 USDC")
    assert format_daily_summary("2026-12-05", {}).splitlines()[1:] == ["no strategies ran",
                                                                       "Total: 0 trades, PnL +0.00 USDC"]
    with pytest.raises(ValueError, match="'mm' lacks pnl_quote"):
        format_daily_summary("2026-12-05", {"mm": {"trades": 1}})
    alert = daily_summary_alert("2026-12-05", summary, ts=9)
    assert (alert.kind, alert.severity, alert.key) == ("daily_summary", "info", "daily_summary:2026-12-05")
