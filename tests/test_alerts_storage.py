"""The persistence actor's halt when SQLite cannot write is alerted as by storage, in one line."""

from __future__ import annotations

from tests.test_alerts_watch import T0, health, kinds, risk, risk_row, watch


def test_a_storage_halt_of_all_is_one_alert_by_storage() -> None:
    w = watch()
    reason = "storage: disk full (SQLITE_FULL) at /data/paper.db"
    w.observe(health(), risk(), {}, T0)
    alerts = w.observe(health(), risk({"a": risk_row("halted", reason), "b": risk_row("halted", reason)}), {}, T0 + 1)
    assert kinds(alerts) == ["halt"] and alerts[0].severity == "critical"
    assert alerts[0].text.startswith(f"HALTED all strategies (by storage): {reason}"), alerts[0].text


def _with_storage(fault: float, line: str | None = None) -> dict[str, object]:
    snapshot = health()
    snapshot["actors"]["persistence"] = {"state": "alive", "restarts": 0, "lag_ms": 0.0,  # type: ignore[index]
                                         "last_error": line, "stats": {"storage_fault": fault}}
    return snapshot


def test_a_storage_fault_and_its_end_are_alerted_once_each() -> None:
    w = watch()
    line = "storage: read-only database (SQLITE_READONLY) at /d/x.db: trading halted, writes retried every 1 s"
    assert w.observe(_with_storage(0.0), None, {}, T0) == []
    alerts = w.observe(_with_storage(1.0, line), None, {}, T0 + 1)
    assert kinds(alerts) == ["storage"] and alerts[0].severity == "critical"
    assert alerts[0].text.startswith("STORAGE FAULT: storage: read-only database (SQLITE_READONLY) at /d/x.db")
    assert w.observe(_with_storage(1.0, line), None, {}, T0 + 2) == []
    resumed = w.observe(_with_storage(0.0), None, {}, T0 + 3)
    assert kinds(resumed) == ["storage"] and resumed[0].severity == "info"
    assert "stays halted until an operator resumes" in resumed[0].text
    assert w.observe(_with_storage(0.0), None, {}, T0 + 4) == []
