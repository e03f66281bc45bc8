"""Secrets stay in the process that uses them (actors.secret_handoff), in real runs.

- `python supervisor.py` started with an API key, the Telegram bot token and the operator token in
  its environment: no process of the run but the supervisor (raylet, GCS, every worker: feed, risk,
  persistence, the strategy, venue-sim, operator, router) has any of them in /proc/<pid>/environ;
  the router signs with the key it was handed (the venue takes its orders) and, SIGKILLed, signs
  again in its new process, handed the key again (orders journaled after the kill, taken); the operator API accepts the token;
  after the run no secret is in its output, its Ray session directory (logs) or its database.
- In-process, with the secrets handed to the System: Ray's own record of each actor (the GCS actor
  table, what its state API and dashboard list: runtime env, call site, repr, ...) holds none of
  them, and the router's worker was handed its key (by its pid).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests import ray_fixtures
from tests.ray_fixtures import SystemRun, make_settings, settings_data, wait_until

ray_session = ray_fixtures.ray_session  # the session-wide Ray (a fixture)

REPO = Path(__file__).resolve().parent.parent
SECRET_NAMES = ("LT_API_KEY_", "LT_TELEGRAM_BOT_TOKEN", "LT_OPERATOR_TOKEN")
ACTOR_CLASSES = {"RouterActor", "PersistenceActor", "RiskActor", "FeedActor", "OperatorActor", "VenueSimActor",
                 "StrategyActor"}


def _fresh_secrets() -> dict[str, str]:
    import lighter

    key, _public, error = lighter.create_api_key()
    assert error is None and key
    return {"LT_API_KEY_2001_0": key.removeprefix("0x"),
            "LT_TELEGRAM_BOT_TOKEN": f"{secrets.randbelow(10**9)}:{secrets.token_urlsafe(30)}",
            "LT_TELEGRAM_CHAT_ID": "-1001234567",
            "LT_OPERATOR_TOKEN": secrets.token_urlsafe(32)}


def _children(root: int) -> list[int]:
    """Every process descended from root (by /proc/<pid>/stat's parent pid)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    out, frontier = [], [root]
    while frontier:
        pid = frontier.pop()
        kids = [p for p, parent in parents.items() if parent == pid]
        out += kids
        frontier += kids
    return out


def _title(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def _actors(root: int) -> dict[str, int]:
    """Actor class -> pid of the Ray workers under root (Ray titles a worker `ray::<Class>...`)."""
    out = {}
    for pid in _children(root):
        title = _title(pid)
        if title.startswith("ray::"):
            out[title[5:].split(".")[0].split()[0]] = pid
    return out


def _environ_leaks(pid: int, values: list[str]) -> list[str]:
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:  # gone meanwhile
        return []
    names = [v.split(b"=", 1)[0].decode() for v in environ.split(b"\0") if v]
    leaks = [n for n in names if n.startswith(SECRET_NAMES)]
    return leaks + [f"value #{i}" for i, v in enumerate(values) if v.encode() in environ]


def _orders(db: Path, since_ns: int = 0) -> int:
    """Orders journaled since since_ns that the venue took (signed and sent: neither pending nor rejected)."""
    try:
        conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True, timeout=5.0)
        try:
            return int(conn.execute("SELECT COUNT(*) FROM orders WHERE sent_at >= ? AND status NOT IN "
                                    "('pending', 'rejected')", (since_ns,)).fetchone()[0])
        finally:
            conn.close()
    except sqlite3.Error:
        return 0


def _files_holding(folder: Path, values: list[str]) -> list[str]:
    found = []
    for path in folder.rglob("*"):
        if path.is_file() and not path.is_symlink():
            try:
                data = path.read_bytes()
            except OSError:
                continue
            found += [f"{path}: value #{i}" for i, v in enumerate(values) if v.encode() in data]
    return found


@pytest.mark.timeout(300)
@pytest.mark.slow
def test_no_ray_process_holds_a_secret_and_the_router_signs_across_a_restart(tmp_path: Path) -> None:
    given = _fresh_secrets()
    values = [given["LT_API_KEY_2001_0"], given["LT_TELEGRAM_BOT_TOKEN"], given["LT_OPERATOR_TOKEN"]]
    data = settings_data(tmp_path, speed=20.0)
    data["alerts"] = {"enabled": True, "telegram": {"enabled": True, "base_url": "http://127.0.0.1:9"}}
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump(data))
    db = Path(data["storage"]["db_path"])
    ray_tmp = Path(tempfile.mkdtemp(prefix="ltsec", dir="/tmp"))  # short: Ray's socket paths live under it
    env = {k: v for k, v in os.environ.items() if not k.startswith("LT_")}
    env.update(given, RAY_USAGE_STATS_ENABLED="0", RAY_TMPDIR=str(ray_tmp))
    out, err = tmp_path / "stdout.txt", tmp_path / "stderr.txt"
    with out.open("w") as stdout, err.open("w") as stderr:
        proc = subprocess.Popen([sys.executable, str(REPO / "supervisor.py"), "--config", str(config),
                                 "--duration", "240"], stdout=stdout, stderr=stderr, env=env, cwd=REPO)
    try:
        wait_until(lambda: proc.poll() is not None or _orders(db) >= 2, 120.0, interval_s=0.5,
                   message="the run's first orders")
        assert proc.poll() is None, err.read_text()[-3000:]
        actors = _actors(proc.pid)
        assert ACTOR_CLASSES <= set(actors), actors
        processes = _children(proc.pid)
        assert len(processes) > len(ACTOR_CLASSES)  # raylet, GCS, ... besides the workers
        # the check sees a secret where there is one: the supervisor was started with them (its
        # initial environment block keeps them; it took them out of os.environ before Ray started)
        assert _environ_leaks(proc.pid, values)
        leaks = {pid: found for pid in processes if (found := _environ_leaks(pid, values))}
        assert leaks == {}, {pid: (_title(pid), found) for pid, found in leaks.items()}
        # the operator was handed its token: the API accepts it (and only it)
        info = json.loads(Path(f"{db}.operator.json").read_text())
        request = urllib.request.Request(info["url"] + "/api/v1/status",
                                         headers={"Authorization": f"Bearer {given['LT_OPERATOR_TOKEN']}"})
        with urllib.request.urlopen(request, timeout=10) as answer:
            assert answer.status == 200
        # the router, SIGKILLed, comes back in a new process, is handed the key again and signs
        router = actors["RouterActor"]
        killed_ns = time.time_ns()
        os.kill(router, signal.SIGKILL)
        wait_until(lambda: _actors(proc.pid).get("RouterActor") not in (None, router), 60.0, interval_s=0.2,
                   message="a new router process")
        wait_until(lambda: _orders(db, killed_ns) >= 2, 120.0, interval_s=0.5,
                   message="orders of the new router that the venue took")
        new_router = _actors(proc.pid)["RouterActor"]
        assert _environ_leaks(new_router, values) == []
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=90)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)
    try:
        logs = out.read_text() + err.read_text()
        assert logs.count("account 2001: API key from the supervisor's hand-off") == 2, logs[-3000:]
        assert "throwaway" not in logs
        assert [v for v in values if v in logs] == []
        assert _files_holding(ray_tmp, values) == []  # Ray's session: every log of every worker
        assert _files_holding(tmp_path, values) == []  # the database, its WAL, backups, the token files
        assert proc.returncode == 0, logs[-3000:]
    finally:
        shutil.rmtree(ray_tmp, ignore_errors=True)


@pytest.mark.timeout(120)
def test_ray_s_record_of_the_actors_holds_no_secret(ray_session: Any, tmp_path: Path) -> None:
    import ray
    from ray._private.state import state

    given = _fresh_secrets()
    settings = make_settings(tmp_path, speed=20.0)
    system_run = SystemRun(settings)
    from supervisor import System

    system_run.system = System(settings, namespace=system_run.namespace, secret_env=given)
    with system_run as run:
        wait_until(lambda: run.stats("router")["ready"] == 1.0, 30.0, message="the router")
        assert ("router", run.stats("router")["pid"], ("LT_API_KEY_2001_0",)) in [
            (role, float(pid), names) for role, pid, names in run.system.handoff.handed]
        records: dict[str, bytes] = {}
        for name, child in run.system.children.items():
            raw: Any = state.get_actor_info(ray.ActorID(bytes.fromhex(child.handle._actor_id.hex())))
            assert isinstance(raw, bytes), name  # the serialized ActorTableData (typed str | None in Ray)
            records[name] = raw
        assert all(run.namespace.encode() in record for record in records.values())  # the actors' own records
        for name, record in records.items():
            assert not [i for i, v in enumerate(given.values()) if v.encode() in record], name
