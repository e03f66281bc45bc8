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
