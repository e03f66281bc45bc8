"""The whole system paper-trading on another venue's prices.

A simulator started as its own process (`python -m venue.sim`, synthetic market, seed 12345)
stands in for Lighter. The system's paper venue (the venue-sim actor) mirrors it
(venue.sim.source: lighter, upstream_url: its websocket): the strategy's orders go to the paper
venue and fill there, on the stand-in's book and prints. Checked: fills happen at the paper venue,
none of the system's orders reach the stand-in, the stand-in's prints are the paper venue's, its
event time is the stand-in's, and every fill price lies within the stand-in's price range.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import ray_fixtures
from tests.ray_fixtures import SystemRun, make_settings, wait_until

ray_session = ray_fixtures.ray_session

REPO = Path(__file__).resolve().parent.parent
UPSTREAM_SEED = 12345  # not the system's seed (7): prices can only come from the upstream


def _get(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=10) as resp:  # noqa: S310 - a loopback test server
        return json.loads(resp.read())


def _prints(trades: list[dict[str, Any]]) -> set[tuple[str, str, bool]]:
    return {(t["price"], t["size"], t["is_maker_ask"]) for t in trades}


@pytest.fixture
def upstream() -> Iterator[str]:
    """The stand-in for Lighter: its base URL once it listens."""
    env = dict(os.environ, RAY_USAGE_STATS_ENABLED="0")
    proc = subprocess.Popen(
        [sys.executable, "-m", "venue.sim", "--source", "synthetic", "--speed", "1", "--port", "0",
         "--seed", str(UPSTREAM_SEED), "--log-level", "WARNING"],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # the server prints it, flushed, once it listens
        assert line.startswith("LIGHTER_SIM_URL="), line
        yield line.strip().split("=", 1)[1]
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.mark.timeout(120)
def test_the_system_trades_at_the_paper_venue_on_the_upstreams_prices(
    ray_session: Any, tmp_path: Path, upstream: str
) -> None:
    started_ms = int(time.time() * 1000)
    ws_url = upstream.replace("http://", "ws://", 1) + "/stream"
    settings = make_settings(tmp_path, venue={"sim": {"source": "lighter", "upstream_url": ws_url,
                                                      "history_hours": 0}})
    with SystemRun(settings) as run:
        wait_until(lambda: run.total_fills() >= 2, 60, interval_s=0.5, message="fills at the paper venue")
        fills = [t for a in run.accounts for t in run.call("venue-sim", "account_trades", a)]
        paper = run.call("venue-sim", "state")
        stand_in = _get(f"{upstream}/sim/state")
        ours = _get(f"{settings.venue.url}/api/v1/recentTrades?market_id=2&limit=100")["trades"]
        theirs = _get(f"{upstream}/api/v1/recentTrades?market_id=2&limit=100")["trades"]

    # the orders went to the paper venue, not to the stand-in
    assert paper["counters"]["txs"] >= 2 and stand_in["counters"]["txs"] == 0
    mirror = paper["live_sources"]["2"]
    assert mirror["connected"] and mirror["books"] > 0 and mirror["ws_malformed"] == 0
    # the stand-in's prints are the paper venue's market prints: every one of the span the paper
    # venue's newest 100 cover (fetched first: the stand-in's newer ones may be on their way)
    span = (min(t["timestamp"] for t in ours), max(t["timestamp"] for t in ours))
    expected = _prints([t for t in theirs if span[0] <= t["timestamp"] <= span[1]])
    assert len(expected) >= 10 and expected <= _prints(ours), (
        len(expected), sorted(expected - _prints(ours))[:5], paper["live_sources"])
    # the paper venue's clock is the stand-in's
    now = stand_in["event_time_ms"]
    assert now - 10_000 < paper["event_time_ms"] <= now
    # every fill at a price the stand-in's market had during the run (its own 1-minute candles)
    candles = _get(f"{upstream}/api/v1/candles?market_id=2&resolution=1m&count_back=500"
                   f"&start_timestamp={now - (int(time.time() * 1000) - started_ms) - 120_000}"
                   f"&end_timestamp={now + 60_000}")["c"]
    low, high = min(c["l"] for c in candles), max(c["h"] for c in candles)
    for fill in fills:
        assert low * 0.998 <= fill["price"] <= high * 1.002, (fill, low, high)
