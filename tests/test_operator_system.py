"""The operator API and `lighter-trader` against a running system: status, halt (risk refuses the
strategy's new entries), resume, /health going 503 while the paper venue's feed is frozen and 200
after, /metrics carrying the trading metrics with labels
(and the router's tick-to-order latency histogram), and 401 without the token over HTTP."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from actors.metrics import TICK_TO_ORDER_BOUNDARIES_MS
from lighter_cli.main import main as cli
from operator_api.token import read_info, read_token, token_path
from tests import ray_fixtures
from tests.ray_fixtures import SystemRun, make_settings, wait_until

ray_session = ray_fixtures.ray_session


def _get(url: str, token: str | None = None) -> tuple[int, bytes]:
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(req, timeout=10.0) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    rc = cli(list(argv))
    out = capsys.readouterr()
    return rc, out.out, out.err


@pytest.mark.timeout(90)
def test_cli_and_api_against_a_running_system(ray_session: Any, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    settings = make_settings(tmp_path, feed={"batch_interval_ms": 5.0, "stale_after_s": 2.0})
    db = str(settings.storage.db_path)
    with SystemRun(settings, supervise=True) as run:
        info = read_info(db)
        url = info["url"]
        assert url.startswith("http://127.0.0.1:") and info["token_file"] == str(token_path(db))
        token = read_token(token_path(db))
        assert run.system.operator_note() is not None and url in (run.system.operator_note() or "")

        def health() -> tuple[int, dict[str, Any]]:
            status, body = _get(url + "/health")
            return status, json.loads(body)

        wait_until(lambda: health()[0] == 200, 30.0, interval_s=0.3, message="/health 200")

        # status, as a trader reads it and as JSON
        rc, out, err = _cli(capsys, "status", "--db", db)
        assert rc == 0, err
        assert "fast" in out and "2001" in out and "operator" in out and "feed" in out
        rc, out, _ = _cli(capsys, "status", "--db", db, "--json")
        answer = json.loads(out)
        assert answer["strategies"]["fast"]["view"]["account"] == 2001
        assert answer["strategies"]["fast"]["view"]["mode"] == "running"
        assert answer["actors"]["risk"]["state"] == "alive"

        # halt one strategy: risk refuses its new entries; resume lifts it
        rc, out, err = _cli(capsys, "halt", "--db", db, "--strategy", "fast", "--reason", "test halt")
        assert rc == 0 and out.strip() == "halt (fast): fast", (out, err)
        risk = run.call("risk", "status")["strategies"]["fast"]
        assert risk["mode"] != "running" and risk["halt_reason"] == "test halt"
        rc, out, _ = _cli(capsys, "status", "--db", db, "--json")
        assert json.loads(out)["strategies"]["fast"]["view"]["halt_reason"] == "test halt"
        rc, out, _ = _cli(capsys, "resume", "--db", db, "--strategy", "fast")
        assert rc == 0 and out.strip() == "resume (fast): fast"
        assert run.call("risk", "status")["strategies"]["fast"]["mode"] == "running"
        rc, _, err = _cli(capsys, "halt", "--db", db, "--strategy", "nobody")
        assert rc == 2 and "HTTP 400: unknown strategy 'nobody'" in err and len(err.strip().splitlines()) == 1

        # the token guards everything but /health
        assert _get(url + "/api/v1/status")[0] == 401
        assert _get(url + "/metrics", "wrong")[0] == 401

        # trades and equity come from the database (read-only), in event time
        run.flush_all()
        status, body = _get(url + "/api/v1/trades?limit=3", token)
        assert status == 200 and isinstance(json.loads(body)["trades"], list)
        assert len(json.loads(body)["trades"]) <= 3
        status, body = _get(url + "/api/v1/equity", token)
        assert status == 200 and isinstance(json.loads(body)["equity"], dict)
        assert _get(url + "/api/v1/trades?limit=0", token)[0] == 400

        status, body = _get(url + "/metrics", token)
        text = body.decode()
        assert status == 200
        for name in ('lt_strategy_events_total{strategy="fast"}', 'lt_strategy_position{strategy="fast"}',
                     'lt_strategy_realized_pnl{strategy="fast"}', 'lt_strategy_fills_total{strategy="fast"}',
                     'lt_risk_orders_total{outcome="approved"}', 'lt_actor_up{actor="feed"} 1.0',
                     'lt_actor_up{actor="operator"} 1.0', "lt_feed_stale_markets 0.0"):
            assert name in text, name
        events = [float(line.split()[-1]) for line in text.splitlines()
                  if line.startswith('lt_strategy_events_total{strategy="fast"}')]
        assert events and events[0] > 0

        # the router's tick-to-order latencies, gathered by the operator scrape by scrape
        def latency_samples() -> dict[str, float]:
            _, body = _get(url + "/metrics", token)
            return {line.split()[0]: float(line.split()[1]) for line in body.decode().splitlines()
                    if line.startswith("lt_tick_to_order_ms")}

        first = wait_until(lambda: (s := latency_samples()).get("lt_tick_to_order_ms_count", 0.0) > 0 and s,
                           30.0, interval_s=0.3, message="tick-to-order latencies on /metrics")
        assert "# TYPE lt_tick_to_order_ms histogram" in text
        buckets = [v for k, v in first.items() if k.startswith("lt_tick_to_order_ms_bucket")]
        assert buckets == sorted(buckets) and len(buckets) == len(TICK_TO_ORDER_BOUNDARIES_MS) + 1
        assert first['lt_tick_to_order_ms_bucket{le="+Inf"}'] == first["lt_tick_to_order_ms_count"]
        assert first["lt_tick_to_order_ms_sum"] > 0
        recorded = len(run.call("router", "latencies"))  # what it kept: all of them in a short run
        assert first["lt_tick_to_order_ms_count"] <= recorded
        wait_until(lambda: latency_samples()["lt_tick_to_order_ms_count"] > first["lt_tick_to_order_ms_count"],
                   30.0, interval_s=0.3, message="the histogram's count to grow with new orders")

        # a frozen feed turns /health to 503 with the reason, and back to 200 after
        run.call("venue-sim", "set_faults", {"freeze_feed": True})
        wait_until(lambda: health()[0] == 503, 20.0, interval_s=0.3, message="/health 503 while frozen")
        assert any("stale" in reason for reason in health()[1]["reasons"])
        run.call("venue-sim", "set_faults", {"freeze_feed": False})
        wait_until(lambda: health()[0] == 200, 20.0, interval_s=0.3, message="/health 200 after unfreezing")
