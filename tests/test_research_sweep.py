"""The sweep end to end through Ray Tune (the session's Ray, 2 CPUs): walk-forward folds searched
by Optuna, the HTML report written, and the same seed choosing the same parameters twice."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from tests import ray_fixtures

ray_session = ray_fixtures.ray_session

SPACE = ["--param", "rsi_period=int:3:20", "--param", "rsi_momentum_strength=float:0:10",
         "--param", "take_profit_bps=float:2:10"]


@pytest.fixture(scope="module")
def two_days(sol_candles_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first two days of the shared SOL candles (a copy in a temporary directory)."""
    out = tmp_path_factory.mktemp("sweep") / "sol_2d.csv.gz"
    with gzip.open(sol_candles_path, "rt") as src, gzip.open(out, "wt") as dst:
        for i, line in enumerate(src):
            if i > 2 * 1440:
                break
            dst.write(line)
    return out


def run_sweep(data: Path, out: Path, seed: int, capsys: pytest.CaptureFixture[str]) -> tuple[dict, str]:
    from research.sweep import main

    code = main(["--strategy", "rsi_bb", "--data", str(data), *SPACE, "--folds", "2", "--train-days", "0.5",
                 "--test-days", "0.25", "--trials", "4", "--startup-trials", "2", "--seed", str(seed), "--min-trades", "5",
                 "--html", str(out / f"sweep{seed}.html"), "--json", str(out / f"sweep{seed}.json")])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return json.loads((out / f"sweep{seed}.json").read_text()), captured.out + captured.err


@pytest.mark.timeout(120)
def test_sweep_through_tune_writes_its_report_and_reproduces_with_a_seed(
        ray_session: object, two_days: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    first, text = run_sweep(two_days, tmp_path, 11, capsys)
    assert len(first["folds"]) == 2
    for fold in first["folds"]:
        assert len(fold["trial_scores"]) == 4  # every trial ran through Tune and came back
        assert [t["score"] for t in fold["trials"]] == fold["trial_scores"]
        assert fold["params"] in [t["params"] for t in fold["trials"]] and not any(t["error"] for t in fold["trials"])
        assert fold["is_score"] == max(fold["trial_scores"])
        assert fold["is_trades"] >= 5 and fold["oos_trades"] is not None
        assert set(fold["params"]) == {"rsi_period", "rsi_momentum_strength", "take_profit_bps"}
        assert 3 <= fold["params"]["rsi_period"] <= 20
    assert first["out_of_sample"]["trades"] == sum(f["oos_trades"] for f in first["folds"])
    assert "| fold | train (UTC) | test (UTC) |" in text and "sweep rsi_bb [" in text  # table and progress bar
    page = (tmp_path / "sweep11.html").read_text()
    assert 'id="folds"' in page and page.count("<svg") >= 5 and "<script" not in page
    assert f"rsi_period={first['folds'][0]['params']['rsi_period']}" in page

    # trials 3 and 4 of each fold are TPE's, sampled from the results before them: the same again
    again, _ = run_sweep(two_days, tmp_path, 11, capsys)
    assert [f["params"] for f in again["folds"]] == [f["params"] for f in first["folds"]]
    assert [f["trial_scores"] for f in again["folds"]] == [f["trial_scores"] for f in first["folds"]]


@pytest.mark.timeout(120)
def test_an_address_where_no_cluster_answers_is_one_line_and_exit_2(two_days: Path) -> None:
    """`--address` joins a Ray cluster; where nothing listens the sweep says so at once (ray.init
    alone waits minutes), in a process of its own (this one already has Ray)."""
    import os
    import socket
    import subprocess
    import sys

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    repo = Path(__file__).resolve().parent.parent
    done = subprocess.run(
        [sys.executable, "-m", "research.sweep", "--strategy", "rsi_bb", "--data", str(two_days), *SPACE,
         "--folds", "1", "--train-days", "0.5", "--test-days", "0.25", "--trials", "2",
         "--address", f"127.0.0.1:{port}"],
        cwd=repo, env={**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}, capture_output=True, text=True, timeout=100)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [
        f"python -m research.sweep: error: --address 127.0.0.1:{port}: nothing answers there (Connection refused)"]
