"""AlertWatch: each alert raised by the change that calls for it, and not without it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from alerts.watch import AlertWatch

T0 = 1_780_000_000.0  # wall time, s
DAY1_NS = int(datetime(2026, 6, 1, 23, 59, 50, tzinfo=UTC).timestamp()) * 1_000_000_000
DAY2_NS = int(datetime(2026, 6, 2, 0, 0, 1, tzinfo=UTC).timestamp()) * 1_000_000_000


def health(restarts: dict[str, int] | None = None, stale: int = 0, halted: str | None = None,
           last_error: str | None = None) -> dict[str, Any]:
    restarts = restarts or {}
    actors: dict[str, dict[str, Any]] = {name: {"state": "alive", "restarts": restarts.get(name, 0), "lag_ms": 0.0,
                     "last_error": last_error if name in restarts else None, "stats": {}}
              for name in ("feed", "risk", "router", "strategy:a")}
    actors["feed"]["stats"] = {"stale_markets": float(stale)}
    return {"actors": actors, "halted": halted}


def risk_row(mode: str = "running", reason: str = "", tripped: bool = False) -> dict[str, Any]:
    return {"mode": mode, "halt_reason": reason, "breaker_tripped": tripped,
            "breaker": "consecutive losses (equity 990.00, peak 1000.00, day pnl -10.00, losses in a row 3)"
            if tripped else "ok"}


def risk(rows: dict[str, dict[str, Any]] | None = None, event_ns: int = DAY1_NS) -> dict[str, Any]:
    return {"strategies": rows if rows is not None else {"a": risk_row(), "b": risk_row()},
            "event_time_ns": event_ns}


def strat(trades: int = 0, pnl: float = 0.0, adopted: int = 0, size: float = 0.0,
          mismatch: str | None = None) -> dict[str, Any]:
    return {"market_id": 1, "trades": trades, "realized_pnl": pnl, "adopted": adopted, "position_size": size,
            "position": None if size == 0 else {"size": abs(size), "entry_price": 3000.0},
            "position_mismatch": mismatch}


def watch() -> AlertWatch:
    return AlertWatch(feed_stale_alert_s=30.0, restart_period_s=60.0)


def kinds(alerts: list[Any]) -> list[str]:
    return [a.kind for a in alerts]


def test_a_quiet_system_raises_nothing() -> None:
    w = watch()
    for i in range(5):
        assert w.observe(health(), risk(), {"a": strat(), "b": strat()}, T0 + i) == []


def test_a_restart_is_alerted_once_and_counted_in_the_period() -> None:
    w = watch()
    assert w.observe(health({"risk": 2}), None, {}, T0) == []  # restarts before the watch: the baseline
    assert w.observe(health({"risk": 2}), None, {}, T0 + 1) == []
    alerts = w.observe(health({"risk": 3}, last_error="boom"), None, {}, T0 + 2)
    assert kinds(alerts) == ["actor_restarted"]
    assert "risk (1 time in the last 60 s)" in alerts[0].text and "boom" in alerts[0].text
    assert w.observe(health({"risk": 3}), None, {}, T0 + 3) == []
    second = w.observe(health({"risk": 4}), None, {}, T0 + 10)
    assert "2 times in the last 60 s" in second[0].text and second[0].key != alerts[0].key
    third = w.observe(health({"risk": 5}), None, {}, T0 + 100)  # the first two left the window
    assert "1 time in the last 60 s" in third[0].text


def test_a_halt_by_the_operator_of_one_strategy() -> None:
    w = watch()
    assert w.observe(None, risk(), {}, T0) == []
    alerts = w.observe(None, risk({"a": risk_row("halted", "test halt"), "b": risk_row()}), {}, T0 + 1)
    assert kinds(alerts) == ["halt"]
    assert "HALTED strategy a (by operator): test halt" in alerts[0].text
    assert w.observe(None, risk({"a": risk_row("halted", "test halt"), "b": risk_row()}), {}, T0 + 2) == []
    flat = w.observe(None, risk({"a": risk_row("flattening", "test halt"), "b": risk_row()}), {}, T0 + 3)
    assert kinds(flat) == ["halt"] and "flatten" in flat[0].text and flat[0].key != alerts[0].key


def test_a_halt_of_all_by_restart_intensity_is_one_alert_by_the_supervisor() -> None:
    w = watch()
    reason = "restart intensity exceeded: risk restarted 6 times in 60 s"
    w.observe(health(), risk(), {}, T0)
    alerts = w.observe(health(halted=reason), risk({"a": risk_row("halted", reason), "b": risk_row("halted", reason)}),
                       {}, T0 + 1)
    assert kinds(alerts) == ["halt"]
    assert alerts[0].text.startswith("HALTED all strategies (by supervisor): restart intensity exceeded")


def test_a_halt_restored_at_start_is_alerted_at_first_sight() -> None:
    alerts = watch().observe(None, risk({"a": risk_row("halted", "maintenance"), "b": risk_row()}), {}, T0)
    assert kinds(alerts) == ["halt"] and "strategy a" in alerts[0].text


def test_a_breaker_trip_and_its_reset() -> None:
    w = watch()
    assert w.observe(None, risk(), {}, T0) == []
    tripped = risk({"a": risk_row(tripped=True), "b": risk_row()})
    alerts = w.observe(None, tripped, {}, T0 + 1)
    assert kinds(alerts) == ["breaker"] and alerts[0].severity == "critical"
    assert "BREAKER TRIPPED on a: consecutive losses" in alerts[0].text
    assert w.observe(None, tripped, {}, T0 + 2) == []
    reset = w.observe(None, risk(), {}, T0 + 3)
    assert kinds(reset) == ["breaker"] and reset[0].severity == "info"


def test_a_breaker_halt_is_told_as_by_risk() -> None:
    w = watch()
    w.observe(None, risk(), {}, T0)
    rows = {"a": risk_row("halted", "circuit breaker: daily loss"), "b": risk_row()}
    assert "(by risk)" in w.observe(None, risk(rows), {}, T0 + 1)[0].text


def test_a_position_taken_from_the_venue() -> None:
    w = watch()
    assert w.observe(None, None, {"a": strat(adopted=1, size=0.0)}, T0) == []  # earlier adoptions: baseline
    assert w.observe(None, None, {"a": strat(adopted=1, size=0.0)}, T0 + 1) == []
    alerts = w.observe(None, None, {"a": strat(adopted=2, size=0.5)}, T0 + 2)
    assert kinds(alerts) == ["position_adopted"]
    assert "venue holds +0.5" in alerts[0].text and "had +0" in alerts[0].text
    assert w.observe(None, None, {"a": strat(adopted=2, size=0.5)}, T0 + 3) == []


def test_a_start_up_mismatch_is_alerted_once() -> None:
    w = watch()
    mismatch = "strategy +0, risk +0.5"
    alerts = w.observe(None, None, {"a": strat(adopted=3, size=0.5, mismatch=mismatch)}, T0)
    assert kinds(alerts) == ["position_adopted"] and mismatch in alerts[0].text
    assert w.observe(None, None, {"a": strat(adopted=3, size=0.5, mismatch=mismatch)}, T0 + 1) == []


def test_the_feed_stale_longer_than_the_setting() -> None:
    w = watch()
    assert w.observe(health(stale=1), None, {}, T0) == []
    assert w.observe(health(stale=1), None, {}, T0 + 29) == []
    alerts = w.observe(health(stale=1), None, {}, T0 + 31)
    assert kinds(alerts) == ["feed_stale"] and "for 31 s" in alerts[0].text
    assert w.observe(health(stale=0), None, {}, T0 + 32) == []
    assert w.observe(health(stale=2), None, {}, T0 + 40) == []  # a new silence starts its own count


def test_the_daily_summary_when_the_utc_day_of_event_time_rolls() -> None:
    w = watch()
    assert w.observe(None, risk(event_ns=0), {"a": strat(trades=1, pnl=1.0)}, T0) == []  # no market time yet
    assert w.observe(None, risk(event_ns=DAY1_NS), {"a": strat(trades=1, pnl=1.0), "b": strat()}, T0 + 1) == []
    assert w.observe(None, risk(event_ns=DAY1_NS + 5 * 10**9),
                     {"a": strat(trades=4, pnl=-2.5), "b": strat()}, T0 + 2) == []
    alerts = w.observe(None, risk(event_ns=DAY2_NS), {"a": strat(trades=4, pnl=-2.5), "b": strat()}, T0 + 3)
    assert kinds(alerts) == ["daily_summary"]
    assert alerts[0].text.splitlines() == ["Daily summary for 2026-06-01 (UTC):", "a: 3 trades, PnL -3.50 USDC",
                                           "b: no trades", "Total: 3 trades, PnL -3.50 USDC"]
    assert w.observe(None, risk(event_ns=DAY2_NS + 10**9), {"a": strat(trades=5, pnl=0.0)}, T0 + 4) == []


def test_a_missing_snapshot_changes_nothing() -> None:
    w = watch()
    w.observe(health({"risk": 1}), risk(), {"a": strat(adopted=0)}, T0)
    assert w.observe(None, None, {"a": None}, T0 + 1) == []
    alerts = w.observe(health({"risk": 2}), risk(), {"a": strat(adopted=1, size=1.0)}, T0 + 2)
    assert sorted(kinds(alerts)) == ["actor_restarted", "position_adopted"]


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError):
        AlertWatch(feed_stale_alert_s=0, restart_period_s=60.0)
