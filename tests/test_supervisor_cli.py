"""`python supervisor.py` with a bad configuration: exit status 2 and one clear line, before Ray starts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

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


def assert_one_line(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert result.returncode == 2, (result.returncode, result.stdout[-500:], result.stderr[-2000:])
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert lines[0].startswith("config error: ")
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
