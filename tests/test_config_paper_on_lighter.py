"""Paper strategies and live profiles: the paper-on-Lighter profile, and the refusal of a paper
strategy inside a live profile (one line, exit status 2, pointing at that profile)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from config import ConfigError, load_config
from config.check import main as check_main

REPO = Path(__file__).resolve().parent.parent
PAPER_ON_LIGHTER = REPO / "config" / "paper_on_lighter.yaml"
PAPER = REPO / "config" / "paper.yaml"
LIVE_EXAMPLE = REPO / "config" / "live.example.yaml"


def _write(tmp_path: Path, data: dict[str, Any]) -> Path:
    path = tmp_path / "profile.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _live_with_a_paper_strategy() -> dict[str, Any]:
    data = yaml.safe_load(LIVE_EXAMPLE.read_text())
    data["strategies"][1].update(enabled=True, mode="paper")
    return data


def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LT_")}
    env["RAY_USAGE_STATS_ENABLED"] = "0"
    return env


def test_the_paper_on_lighter_profile_mirrors_mainnet_sol_next_to_the_other_profiles(
        capsys: pytest.CaptureFixture[str]) -> None:
    settings = load_config(PAPER_ON_LIGHTER, env={})
    paper = load_config(PAPER, env={})
    sim = settings.venue.sim
    assert settings.mode == "paper" and settings.markets == [2]
    assert (sim.source, sim.upstream_url, sim.speed) == ("lighter", "wss://mainnet.zklighter.elliot.ai/stream", 1.0)
    assert settings.strategies and all(s.mode == "paper" for s in settings.strategies)
    # its own ports and database: it runs beside paper.yaml (and a live profile)
    assert sim.port != paper.venue.sim.port and settings.operator.port != paper.operator.port
    assert settings.storage.db_path != paper.storage.db_path
    assert settings.database_identity()["venue"] == "paper lighter wss://mainnet.zklighter.elliot.ai/stream seed 7"
    assert check_main(["--config", str(PAPER_ON_LIGHTER)], env={}) == 0
    assert "source=lighter mirroring wss://mainnet.zklighter.elliot.ai/stream" in capsys.readouterr().out


def test_a_paper_strategy_in_a_live_profile_is_refused_naming_the_paper_profile(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(_write(tmp_path, _live_with_a_paper_strategy()), env={})
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("config error: strategies[1].mode: 'renko_ao' is a paper strategy in a live profile")
    assert "config/paper_on_lighter.yaml" in message and "source: lighter" in message


def test_a_disabled_paper_strategy_in_a_live_profile_is_harmless_and_allowed(tmp_path: Path) -> None:
    data = _live_with_a_paper_strategy()
    data["strategies"][1]["enabled"] = False
    settings = load_config(_write(tmp_path, data), env={})
    assert settings.mode == "live" and settings.strategies[1].mode == "paper"


@pytest.mark.timeout(60)
def test_the_supervisor_and_the_check_refuse_it_in_one_line_with_exit_2(tmp_path: Path) -> None:
    data = _live_with_a_paper_strategy()
    data["storage"] = {"db_path": str(tmp_path / "live.db"), "backup_dir": str(tmp_path / "backups")}
    path = _write(tmp_path, data)
    for command in ([sys.executable, str(REPO / "supervisor.py"), "--config", str(path)],
                    [sys.executable, "-m", "config.check", "--config", str(path)]):
        result = subprocess.run(command, capture_output=True, text=True, timeout=50, env=_clean_env(), cwd=REPO)
        assert result.returncode == 2, (command, result.stdout[-500:], result.stderr[-2000:])
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("config error: strategies[1].mode: 'renko_ao' is a paper"), lines
    assert not (tmp_path / "live.db").exists()  # refused before anything started


@pytest.mark.parametrize(("sim", "needle"), [
    ({"source": "lighter"}, "venue.sim.upstream_url: the lighter source needs the ws:// or wss:// URL"),
    ({"source": "lighter", "upstream_url": "https://mainnet.zklighter.elliot.ai"}, "venue.sim.upstream_url:"),
    ({"source": "lighter", "upstream_url": "wss://mainnet.zklighter.elliot.ai/stream", "speed": 100},
     "venue.sim.speed: the lighter source runs in real time (1), got 100"),
])
def test_a_lighter_source_needs_a_websocket_url_and_real_time(tmp_path: Path, sim: dict[str, Any],
                                                               needle: str) -> None:
    data = yaml.safe_load(PAPER_ON_LIGHTER.read_text())
    data["venue"]["sim"] = {k: v for k, v in data["venue"]["sim"].items() if k not in ("upstream_url", "speed")}
    data["venue"]["sim"].update(sim)
    with pytest.raises(ConfigError) as caught:
        load_config(_write(tmp_path, data), env={})
    assert needle in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.timeout(60)
def test_an_unreachable_upstream_stops_start_up_in_one_line_before_ray(tmp_path: Path) -> None:
    from venue.sim.ports import free_static_port

    data = yaml.safe_load(PAPER_ON_LIGHTER.read_text())
    port = free_static_port()
    data["venue"].update(url=f"http://127.0.0.1:{port}", ws_url=f"ws://127.0.0.1:{port}/stream")
    data["venue"]["sim"].update(port=port, upstream_url="ws://127.0.0.1:1/stream")
    data["operator"] = {"port": 0}
    data["storage"] = {"db_path": str(tmp_path / "paper.db"), "backup_dir": str(tmp_path / "backups")}
    result = subprocess.run([sys.executable, str(REPO / "supervisor.py"), "--config", str(_write(tmp_path, data))],
                            capture_output=True, text=True, timeout=50, env=_clean_env(), cwd=REPO)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2 and len(lines) == 1, (result.returncode, lines[-5:])
    assert lines[0].startswith("cannot start: venue.sim.upstream_url ws://127.0.0.1:1/stream cannot be reached"), lines
    assert "Ray" not in result.stdout
