"""`python supervisor.py --dashboard` in a subprocess with its own Ray (RAY_AUTH_MODE=disabled, a
private temp dir): the Ray state API lists every named actor ALIVE, shows a killed actor's restart
count, and SIGTERM shuts the system down cleanly with exit status 0, a status table and a summary."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.ray_fixtures import settings_data, wait_until

REPO = Path(__file__).resolve().parent.parent
NAMES = {"persistence", "venue-sim", "feed", "risk", "router", "strategy:fast"}


class _Output:
    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(proc,), daemon=True)
        self._thread.start()

    def _read(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def find(self, pattern: str) -> re.Match[str] | None:
        for line in list(self.lines):
            match = re.search(pattern, line)
            if match:
                return match
        return None

    def join(self, timeout_s: float) -> None:
        self._thread.join(timeout=timeout_s)  # the pipe closes when the process exits

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def named_actors(address: str) -> dict[str, Any]:
    from ray.util.state import list_actors

    actors = list_actors(address=address, filters=[("ray_namespace", "=", "trader")], limit=100,
                         raise_on_missing_output=False, timeout=10)
    by_name: dict[str, Any] = {}
    for actor in actors:
        name = actor.name
        # a restarted actor is listed once per incarnation only in some versions: keep the live one
        if name and (name not in by_name or actor.state == "ALIVE"):
            by_name[name] = actor
    return by_name


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_dashboard_lists_named_actors_and_restart_counts(tmp_path: Path) -> None:
    config = tmp_path / "dash.yaml"
    config.write_text(yaml.safe_dump(settings_data(tmp_path, speed=20)))
    ray_tmp = tempfile.mkdtemp(prefix="lt-dash-", dir="/tmp")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LT_", "RAY_ADDRESS"))}
    env.update(RAY_USAGE_STATS_ENABLED="0", RAY_AUTH_MODE="disabled", RAY_TMPDIR=ray_tmp)
    proc = subprocess.Popen(
        [sys.executable, str(REPO / "supervisor.py"), "--config", str(config), "--dashboard", "--duration", "240",
         "--status-interval", "2"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=REPO,
    )
    out = _Output(proc)
    try:
        match = wait_until(lambda: out.find(r"Ray dashboard: (http://127\.0\.0\.1:\d+)"), 90, interval_s=0.5,
                           message=f"the dashboard URL ({out.text[-1500:]})")
        address = match.group(1)
        assert "authentication is DISABLED" in match.string
        wait_until(lambda: out.find(r"^strategy\s+account"), 120, interval_s=0.5,
                   message=f"the first status table ({out.text[-1500:]})")

        def all_alive() -> dict[str, Any] | None:
            actors = named_actors(address)
            return actors if NAMES <= set(actors) and all(actors[n].state == "ALIVE" for n in NAMES) else None

        actors = wait_until(all_alive, 60, interval_s=1.0, message="every named actor ALIVE")
        risk = actors["risk"]
        os.kill(int(risk.pid), signal.SIGKILL)

        def restarted() -> Any:
            from ray.util.state import get_actor

            state = get_actor(risk.actor_id, address=address, timeout=10)
            return state if state is not None and state.state == "ALIVE" and state.num_restarts >= 1 else None

        state = wait_until(restarted, 90, interval_s=1.0, message="the restart count of the killed risk actor")
        assert state.num_restarts == 1 and state.pid != risk.pid
        wait_until(lambda: out.find(r"risk restarted"), 60, interval_s=0.5, message="the supervisor to notice")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=90) == 0, out.text[-3000:]
        out.join(30)
        assert out.find(r"^summary$") and out.find(r"^fast ") and out.find(r"^actor restarts: .*risk 1"), out.text[-3000:]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
        shutil.rmtree(ray_tmp, ignore_errors=True)
