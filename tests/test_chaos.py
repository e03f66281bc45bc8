"""A short fault campaign end to end (scripts/chaos.py): the whole system with every strategy kind
on an external paper venue over the shared SOL candles, a seeded schedule of faults including one
whole-node crash, then every check from outside. The campaign runs its own supervisor and Ray
(a node crash kills them), so it is a subprocess, not the session Ray.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FAULTS = 24


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_short_campaign_with_a_node_crash_keeps_every_invariant(tmp_path: Path, sol_candles_path: Path) -> None:
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    done = subprocess.run(
        [sys.executable, "-m", "scripts.chaos", "--faults", str(FAULTS), "--seed", "5", "--node-crashes", "1",
         "--candles", str(sol_candles_path), "--workdir", str(tmp_path / "run")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=580)
    lines = done.stdout.strip().splitlines()
    for line in lines:  # the run's Ray directory (short, in /tmp: Ray's socket paths) is kept with --workdir
        if line.startswith("kept: ") and " Ray's logs in " in line:
            shutil.rmtree(line.rsplit(" Ray's logs in ", 1)[1], ignore_errors=True)
    assert lines and lines[-1].startswith("{"), "\n".join(lines[-30:]) + "\n" + done.stderr[-3000:]
    summary = json.loads(lines[-1])
    report = "\n".join(lines[-60:])
    assert summary["faults"] == FAULTS and summary["node_crashes"] == 1, report
    for name in ("lost_fills", "duplicate_fills", "duplicate_orders", "position_mismatches", "orphan_orders",
                 "entries_while_down", "secrets_found", "unrecovered"):
        assert summary[name] == 0, f"{name}: {summary['examples'].get(name)}\n{report}"
    assert summary["venue_trades"] > 0 and summary["traded_after_last_fault"], report
    assert summary["exit_code"] == 0, report
    assert summary["failed"] == [] and done.returncode == 0, report
