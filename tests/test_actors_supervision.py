"""The supervisor's health loop: restarts are counted per child, and a child restarting more often
than the restart intensity allows halts trading through risk (persisted, so it survives)."""

from __future__ import annotations

import os
import signal
import time
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from tests import ray_fixtures
from tests.ray_fixtures import SystemRun, make_settings, wait_until

ray_session = ray_fixtures.ray_session  # the session-wide Ray (a fixture)


def _answers_again(run: SystemRun, name: str, before: dict[str, float]) -> bool:
    try:
        stats = run.stats(name)
    except Exception:  # still restarting
        return False
    return stats["pid"] != before["pid"] and stats["ready"] == 1.0


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_restart_intensity_exceeded_halts_trading(ray_session: Any, tmp_path: Path) -> None:
    from storage import StorageReader

    settings = make_settings(tmp_path, speed=5.0, supervisor={"max_restarts": 1, "period_s": 120.0})
    with SystemRun(settings, supervise=True) as run:
        for expected in (1, 2):
            before = run.stats("feed")
            os.kill(int(before["pid"]), signal.SIGKILL)

            def counted(n: int = expected) -> bool:  # bound now: expected is a loop variable
                return run.system.children["feed"].restarts >= n

            wait_until(counted, 60, interval_s=0.2,
                       message=f"restart {expected} of the feed to be counted ({run.poll_errors[-3:]})")
            # counted as soon as Ray restarts it: wait until the new process answers before the next kill
            wait_until(partial(_answers_again, run, "feed", before), 60, interval_s=0.2,
                       message="the restarted feed to answer")
        # the first restart was within the intensity (1 in 120 s), the second exceeds it
        wait_until(lambda: run.system.halted_by_supervisor, 30, message="the supervisor to halt trading")
        assert run.system.halted_by_supervisor is not None and "feed" in run.system.halted_by_supervisor
        status = run.call("risk", "status")
        assert status["strategies"]["fast"]["mode"] == "halted"
        assert "restart intensity" in status["strategies"]["fast"]["halt_reason"]
        run.call("persistence", "flush")
        with StorageReader(settings.storage.db_path) as db:
            command = db.kill_switch()["all"]
        assert type(command).__name__ == "Halt" and command.issued_by == "supervisor"
        assert run.system.status()["halted"]
        assert "TRADING HALTED" in run.system.status_table()
        # a restart of risk does not lift the halt
        before = run.stats("risk")
        os.kill(int(before["pid"]), signal.SIGKILL)
        wait_until(lambda: run.system.children["risk"].restarts >= 1, 60, interval_s=0.2,
                   message="the risk restart to be counted")
        assert run.call("risk", "status")["strategies"]["fast"]["mode"] == "halted"


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_a_start_longer_than_the_heartbeat_timeout_is_not_silence(ray_session: Any, tmp_path: Path) -> None:
    # the children start one after another; the first ones are up long before polling begins, and
    # were once counted silent since their own start (so a slow start restarted the venue)
    timeout_s = 1.5
    settings = make_settings(tmp_path, supervisor={"heartbeat_interval_s": 0.3, "heartbeat_timeout_s": timeout_s})
    began = time.monotonic()
    with SystemRun(settings) as run:
        took = time.monotonic() - began
        assert took > timeout_s, f"the start took only {took:.1f} s: this test needs a longer one"
        # the first round does not wait for the answers, as when a loaded machine answers late
        run.system.poll(wait_s=0.0)
        polled_until = time.monotonic() + 2 * timeout_s
        while True:
            scheduled = {name: child.kill_at for name, child in run.system.children.items() if child.kill_at}
            assert not scheduled, f"restarts scheduled for healthy children: {sorted(scheduled)}"
            if time.monotonic() > polled_until:
                break
            run.system.poll(wait_s=0.3)
        states = {name: health.state for name, health in run.system.watch.children.items()}
        assert set(states.values()) == {"alive"}, states
        assert all(child.restarts == 0 for child in run.system.children.values())


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_a_restarted_child_gets_time_to_come_up_before_it_counts_as_hung(ray_session: Any, tmp_path: Path) -> None:
    # a restarted actor is silent while its new process comes up (seconds on a busy machine):
    # that is one restart to count, not a hung actor to kill again
    timeout_s = 1.5
    settings = make_settings(tmp_path, supervisor={"heartbeat_interval_s": 0.3, "heartbeat_timeout_s": timeout_s,
                                                   "restart_timeout_s": 120.0})
    with SystemRun(settings) as run:  # the test polls, so that the restart happens between two polls
        run.system.poll(wait_s=1.0)
        assert run.system.watch.children["router"].state == "alive"
        last_beat = run.system.watch.children["router"].last_beat_s
        before = run.stats("router")
        os.kill(int(before["pid"]), signal.SIGKILL)
        wait_until(partial(_answers_again, run, "router", before), 90, interval_s=0.2,
                   message="the restarted router to answer")
        while time.monotonic() - last_beat <= timeout_s:  # silent longer than the timeout, as seen by the supervisor
            time.sleep(0.1)
        run.system.poll(wait_s=0.0)  # its answer not in yet: only the silence is seen
        router = run.system.children["router"]
        assert router.kill_at is None, "the supervisor took the restarted router for a hung one"
        assert router.restarts == 1
        run.system.poll(wait_s=1.0)
        assert run.system.watch.children["router"].state == "alive" and router.restarts == 1


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_an_answer_from_the_dead_incarnation_is_no_sign_of_the_new_ones_life(ray_session: Any,
                                                                               tmp_path: Path) -> None:
    # a heartbeat answered just before the kill and read just after it counts the restart; the
    # new incarnation is still coming up and has not been heard from (it was once taken for
    # alive, then killed as hung when its start outlasted the heartbeat timeout)
    import ray

    from supervisor import _ray_restarts

    settings = make_settings(tmp_path, supervisor={"heartbeat_interval_s": 1.0, "heartbeat_timeout_s": 3.0,
                                                   "restart_timeout_s": 120.0})
    with SystemRun(settings) as run:  # the test polls
        run.system.poll(wait_s=1.0)
        run.system.poll(wait_s=0.0)  # asks again; the answers are left unread
        router = run.system.children["router"]
        asked_at = router.pending_since
        ready, _ = ray.wait([router.pending], timeout=10.0)
        assert ready, "the router did not answer its heartbeat"
        before = run.stats("router")
        os.kill(int(before["pid"]), signal.SIGKILL)
        wait_until(lambda: (_ray_restarts(router.handle) or 0) >= 1, 10, interval_s=0.02,
                   message="Ray to see the router die")
        assert time.monotonic() - asked_at < 2.0, "too slow to read the old answer before the poll drops it"
        run.system.poll(wait_s=0.0)  # reads the dead incarnation's answer
        assert router.restarts == 1 and router.kill_at is None
        assert run.system.watch.children["router"].state == "restarting"
        wait_until(partial(_answers_again, run, "router", before), 90, interval_s=0.2,
                   message="the restarted router to answer")
        run.system.poll(wait_s=1.0)
        assert run.system.watch.children["router"].state == "alive" and router.restarts == 1
