"""`python supervisor.py` with a bad configuration: exit status 2 and one clear line, before Ray starts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from supervisor import apply_overrides
from tests.conftest import SOL_CANDLES
from tests.ray_fixtures import settings_data

REPO = Path(__file__).resolve().parent.parent


def run_supervisor(config: Path, *args: str, timeout_s: float = 60.0) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LT_")}
    env["RAY_USAGE_STATS_ENABLED"] = "0"
    return subprocess.run([sys.executable, str(REPO / "supervisor.py"), "--config", str(config), *args],
                          capture_output=True, text=True, timeout=timeout_s, env=env, cwd=REPO)


def write(tmp_path: Path, data: dict[str, Any]) -> Path:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def assert_one_line(result: subprocess.CompletedProcess[str], *needles: str, prefix: str = "config error: ") -> None:
    assert result.returncode == 2, (result.returncode, result.stdout[-500:], result.stderr[-2000:])
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert lines[0].startswith(prefix), lines[0]
    for needle in needles:
        assert needle in lines[0], lines[0]
    assert "Traceback" not in result.stderr and "Ray" not in result.stdout


@pytest.mark.timeout(60)
def test_missing_field(tmp_path: Path) -> None:
    data = settings_data(tmp_path)
    del data["venue"]["ws_url"]
    assert_one_line(run_supervisor(write(tmp_path, data)), "venue.ws_url", "field required")


@pytest.mark.timeout(60)
def test_wrong_type(tmp_path: Path) -> None:
    data = settings_data(tmp_path)
    data["risk"]["max_net_notional"] = "lots"
    assert_one_line(run_supervisor(write(tmp_path, data)), "risk.max_net_notional")


@pytest.mark.timeout(60)
def test_key_in_yaml(tmp_path: Path) -> None:
    data = settings_data(tmp_path)
    secret = "ab" * 40
    data["strategies"][0]["private_key"] = secret
    result = run_supervisor(write(tmp_path, data))
    assert_one_line(result, "secrets are not allowed in YAML", "strategies[0].private_key")
    assert secret not in result.stderr + result.stdout


@pytest.mark.timeout(60)
def test_two_strategies_on_one_account_are_refused_at_start(tmp_path: Path) -> None:
    from tests.ray_fixtures import strategy_entry

    data = settings_data(tmp_path, strategies=[strategy_entry("one", 3001), strategy_entry("two", 3001)])
    assert_one_line(run_supervisor(write(tmp_path, data)), "strategies[1].account_index", "already used by")


@pytest.mark.timeout(60)
def test_bad_command_line_value(tmp_path: Path) -> None:
    data = settings_data(tmp_path)
    assert_one_line(run_supervisor(write(tmp_path, data), "--source", "candles:/no/such/file.csv.gz"),
                    "--source", "not found")


ARG_ERROR = "python supervisor.py: error: "


@pytest.mark.timeout(60)
@pytest.mark.parametrize(("args", "needles"), [
    (["--duration", "-5"], ["--duration", "more than 0 seconds", "-5"]),
    (["--duration", "0"], ["--duration", "more than 0 seconds", "leave the flag out"]),
    (["--speed", "-1"], ["--speed", ">= 0 or 'max'"]),
    (["--sim-port", "70000"], ["--sim-port", "65535"]),
])
def test_bad_flags_stop_start_up_in_one_line(tmp_path: Path, args: list[str], needles: list[str]) -> None:
    assert_one_line(run_supervisor(write(tmp_path, settings_data(tmp_path)), *args), *needles, prefix=ARG_ERROR)


@pytest.mark.timeout(60)
def test_a_database_in_a_directory_that_does_not_exist_is_refused_not_created(tmp_path: Path) -> None:
    missing = tmp_path / "nonexistent_dir"
    result = run_supervisor(write(tmp_path, settings_data(tmp_path)), "--db", str(missing / "x.db"))
    assert_one_line(result, "--db", "directory not found", str(missing))
    assert not missing.exists()


@pytest.mark.timeout(60)
def test_help_describes_the_run_in_full() -> None:
    result = subprocess.run([sys.executable, str(REPO / "supervisor.py"), "--help"], capture_output=True, text=True,
                            timeout=60, cwd=REPO)
    assert result.returncode == 0
    assert "`" not in result.stdout and "summary at exit" in result.stdout and "--sim-port" in result.stdout


def test_speed_has_one_meaning_everywhere(tmp_path: Path) -> None:
    """0 and 'max' are "as fast as possible" for the supervisor as for `python -m venue.sim`."""
    from config.cli import parse_speed
    from config.settings import AppSettings
    from supervisor import _parse
    from venue.sim.__main__ import parse_args as sim_args

    settings = AppSettings.model_validate(settings_data(tmp_path))
    for raw in ("0", "max"):
        assert apply_overrides(settings, _parse(["--speed", raw])).venue.sim.speed == 0.0
        assert sim_args(["--speed", raw]).speed == 0.0 == parse_speed(raw)
    assert apply_overrides(settings, _parse(["--speed", "600"])).venue.sim.speed == 600.0


def test_sim_port_zero_takes_a_free_port_and_points_both_urls_at_it(tmp_path: Path) -> None:
    from config.settings import AppSettings
    from supervisor import _parse
    from venue.sim.ports import port_in_use

    settings = AppSettings.model_validate(settings_data(tmp_path))
    moved = apply_overrides(settings, _parse(["--sim-port", "0"]))
    port = moved.venue.sim.port
    assert port != settings.venue.sim.port and not port_in_use(port)
    assert moved.venue.url == f"http://127.0.0.1:{port}" and moved.venue.ws_url == f"ws://127.0.0.1:{port}/stream"


@pytest.mark.timeout(60)
def test_an_unreachable_live_venue_is_said_in_one_line(tmp_path: Path) -> None:
    env_url = "https://127.0.0.1:1"  # refused at once, with or without a network
    data = yaml.safe_load((REPO / "config" / "live.example.yaml").read_text())
    data["venue"]["url"], data["venue"]["ws_url"] = env_url, "wss://127.0.0.1:1/stream"
    data["storage"] = {"db_path": str(tmp_path / "live.db"), "backup_dir": str(tmp_path / "backups")}
    result = run_supervisor(write(tmp_path, data), timeout_s=30)
    assert_one_line(result, "cannot be reached", "127.0.0.1:1", prefix="cannot start: venue ")


def _other_run_data(tmp_path: Path, **kw: Any) -> dict[str, Any]:
    data = settings_data(tmp_path, **kw)
    data["storage"]["db_path"] = str(tmp_path / "shared.db")
    return data


@pytest.mark.timeout(60)
def test_a_database_made_against_another_source_is_refused_before_anything_starts(tmp_path: Path) -> None:
    if not SOL_CANDLES.exists():
        pytest.skip(f"shared data not found at {SOL_CANDLES}")
    import sqlite3

    from config.settings import AppSettings
    from storage.identity import check_identity
    from storage.writer import prepare_database
    from supervisor import absolute_paths

    synthetic = absolute_paths(AppSettings.model_validate(_other_run_data(tmp_path)))
    db = Path(synthetic.storage.db_path)
    prepare_database(db)  # as a synthetic run left it
    conn = sqlite3.connect(db, isolation_level=None)
    check_identity(conn, synthetic.database_identity(), db_path=db, fresh_hint="")
    conn.close()
    result = run_supervisor(write(tmp_path, _other_run_data(tmp_path)), "--source", f"candles:{SOL_CANDLES}")
    assert_one_line(result, "paper synthetic", "paper candles", "--fresh", prefix="cannot start: database ")


@pytest.mark.timeout(180)
def test_a_second_run_never_reaches_the_first_one_s_venue_and_runs_on_a_port_of_its_own(tmp_path: Path) -> None:
    """The first run's simulator is stood in for by a listener on the configured port: the second run
    says so in one line and connects to it never; with --sim-port 0 and a database of its own it runs,
    and its summary is a table."""
    import socket

    data = settings_data(tmp_path, speed=20)
    port = data["venue"]["sim"]["port"]
    config = write(tmp_path, data)
    with socket.socket() as first_run:
        first_run.bind(("127.0.0.1", port))
        first_run.listen()
        first_run.settimeout(0.0)
        result = run_supervisor(config)
        assert_one_line(result, f"venue.sim.port {port} is in use", "--sim-port 0", prefix="cannot start: ")
        with pytest.raises(BlockingIOError):
            first_run.accept()  # nothing connected: not a single request reached the "first" venue
        second = run_supervisor(config, "--sim-port", "0", "--db", str(tmp_path / "second.db"), "--duration", "6",
                                timeout_s=150)
        with pytest.raises(BlockingIOError):
            first_run.accept()
    assert second.returncode == 0, (second.stdout[-2000:], second.stderr[-3000:])
    out = second.stdout.splitlines()
    at = out.index("summary")
    assert out[at + 1].split()[:4] == ["strategy", "trades", "wins", "net"]
    assert out[at + 2].split()[0] == "fast" and out[at + 3].split()[0] == "total"


@pytest.mark.timeout(60)
def test_an_operator_port_in_use_is_said_in_one_line_before_anything_starts(tmp_path: Path) -> None:
    import socket

    data = settings_data(tmp_path)
    with socket.socket() as other_run:
        other_run.bind(("127.0.0.1", 0))
        other_run.listen()
        data["operator"] = {"port": other_run.getsockname()[1]}
        result = run_supervisor(write(tmp_path, data))
    assert_one_line(result, "operator.port", "is in use", "--operator-port 0", prefix="cannot start: ")


@pytest.mark.timeout(60)
def test_an_address_where_no_ray_cluster_answers_is_one_line(tmp_path: Path) -> None:
    """ray.init waits minutes on such an address; the supervisor says so at once (exit 2)."""
    result = run_supervisor(write(tmp_path, settings_data(tmp_path)), "--address", "127.0.0.1:1", timeout_s=30)
    assert_one_line(result, "--address 127.0.0.1:1", "nothing answers there", prefix="cannot start: ")
