"""Storage faults in one run (a system start costs half a minute).

The disk fills (persistence.storage_drill: PRAGMA max_page_count on the writer's connection, a
full disk without filling one): trading halts through risk's kill switch with the one line
"storage: disk full (SQLITE_FULL) at <db>", and again after risk is SIGKILLed (its halt could not
be stored); no order reaches the venue while it lasts; every fill the venue made is stored once
space returns (nothing acknowledged lost, nothing held lost); the halt stays (persisted) until an
operator resumes, and then trading goes on. Then a read-only database (PRAGMA query_only, the
stand-in for one: the tests may run as root, whom chmod does not stop) halts with its own line."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from messages.codec import CONTROL, decode_heartbeat
from messages.control import Halt, Resume
from storage import StorageReader
from tests import ray_fixtures
from tests.ray_fixtures import SystemRun, make_settings, wait_until

ray_session = ray_fixtures.ray_session  # the session-wide Ray (a fixture)


def _modes(run: SystemRun) -> dict[str, tuple[str, str]]:
    rows = run.call("risk", "status")["strategies"]
    return {name: (str(row["mode"]), str(row.get("halt_reason") or "")) for name, row in rows.items()}


def _venue_orders(run: SystemRun) -> int:
    return len(run.call("venue-sim", "created_orders"))


def _risk_back(run: SystemRun, old_pid: int) -> bool:
    try:
        stats = run.stats("risk")
    except Exception:  # restarting
        return False
    return int(stats["pid"]) != old_pid and stats["ready"] == 1.0


def _fault(run: SystemRun) -> float:
    return run.stats("persistence")["storage_fault"]


@pytest.mark.timeout(180)
@pytest.mark.slow
def test_a_full_disk_halts_trading_sends_nothing_loses_nothing_and_resumes_by_the_operator_then_read_only(
        ray_session: Any, tmp_path: Path) -> None:
    settings = make_settings(tmp_path, speed=20.0, storage={"db_path": str(tmp_path / "test.db"),
                                                              "backup_dir": str(tmp_path / "backups"),
                                                              "fault_retry_s": 0.2})
    db = settings.storage.db_path
    line = f"storage: disk full (SQLITE_FULL) at {Path(db).resolve()}"
    with SystemRun(settings) as run:
        wait_until(lambda: _venue_orders(run) >= 3, 60.0, interval_s=0.2, message="orders before the fault")
        run.call("persistence", "storage_drill", "full")
        wait_until(lambda: _fault(run) == 1.0, 30.0, interval_s=0.05, message="the disk to fill")
        assert run.call("persistence", "storage_fault") == line
        wait_until(lambda: all(m == ("halted", line) for m in _modes(run).values()), 15.0, interval_s=0.05,
                   message="the storage halt")
        time.sleep(0.5)  # an order whose journal committed before the fault may still be on its way
        sent_before = _venue_orders(run)
        refused_before = run.stats("persistence")["storage_refused"]
        # risk, SIGKILLed, comes back running (the storage halt could not be stored): the guard halts
        # it again, and until then the journal refuses whatever it approves
        risk_pid = int(run.stats("risk")["pid"])
        os.kill(risk_pid, signal.SIGKILL)
        wait_until(lambda: _risk_back(run, risk_pid), 30.0, interval_s=0.1, message="risk to restart")
        wait_until(lambda: all(m == ("halted", line) for m in _modes(run).values()), 15.0, interval_s=0.05,
                   message="the storage halt again, in risk's new process")
        time.sleep(2.0)  # the disk stays full a while longer (a window to watch: nothing may reach the venue)
        assert _venue_orders(run) == sent_before, "an order reached the venue while the disk was full"
        assert _fault(run) == 1.0
        run.call("persistence", "storage_drill", None)  # space returns
        wait_until(lambda: _fault(run) == 0.0, 15.0, interval_s=0.05, message="writes to resume")
        # the halt stays, persisted now, until an operator resumes
        wait_until(lambda: all(m[0] == "halted" and "writes resumed" in m[1] for m in _modes(run).values()),
                   15.0, interval_s=0.1, message="the persisted storage halt")
        with StorageReader(db) as reader:
            stored = [c for c in reader.kill_switch().values() if isinstance(c, Halt)]
        assert any(c.issued_by == "storage" and c.reason.startswith(line) for c in stored), stored
        # every fill the venue made, before and during the fault, is stored once
        fills = wait_until(lambda: (lambda db_fills, venue: len(db_fills) == venue and db_fills)(
            run.db_fills(), run.total_fills()), 30.0, interval_s=0.2, message="every fill stored")
        assert len({(f.account_index, f.fill.trade_id) for f in fills}) == len(fills)
        assert run.stats("persistence")["storage_refused"] >= refused_before
        resume = Resume(reason="disk cleaned", scope="all", issued_by="operator", ts_event=time.time_ns(),
                        seq=time.time_ns() // 1000)
        run.call("risk", "control", CONTROL.encode(resume))
        resumed_at = _venue_orders(run)
        wait_until(lambda: _venue_orders(run) > resumed_at, 60.0, interval_s=0.2, message="trading after the resume")
        # a read-only database, in the same run (a system start costs half a minute): its own line
        readonly = f"storage: read-only database (SQLITE_READONLY) at {Path(db).resolve()}"
        run.call("persistence", "storage_drill", "readonly")
        wait_until(lambda: all(m == ("halted", readonly) for m in _modes(run).values()), 20.0, interval_s=0.05,
                   message="the read-only halt")
        heartbeat = decode_heartbeat(run.call("persistence", "heartbeat"))
        assert (heartbeat.last_error or "").startswith(readonly + ": trading halted"), heartbeat.last_error
        run.call("persistence", "storage_drill", None)
        wait_until(lambda: _fault(run) == 0.0, 15.0, interval_s=0.05, message="writes to resume")

