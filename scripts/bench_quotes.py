"""Benchmark of the market maker's requotes on the paper venue: `python scripts/bench_quotes.py [--quick]`.

A full system (venue, feed, risk, router, persistence) with ONE strategy actor: the market maker
on a premium account (no maker speed bump at the venue), quoting near the touch (the test-only
FAST_MAKER_PARAMS of tests/test_maker_system.py, copied below) with a requote tolerance of
`--tolerance-bps` (0.5 bps: the spec's 2 bps requotes a side about once per 2 s of market time on
the synthetic market) and no cancel cap to speak of (the 30 a minute of the spec would cap the
requotes, not measure them), on the synthetic market paced to `--events-per-s`.

For every requote (a Modify the maker decided on a book top because the mid moved or its planned
price drifted): from the venue's publication of the market event behind it (the simulator records
when it applied and published each event, by event-time ms; the ModifyIntent carries that event's
time) to the venue's acceptance of the modify (the simulator's audit of modify transactions: when
it had applied it). The two records meet through the transaction's nonce: the router records the
nonce of each accepted modify beside the intent's event time. -> requote_p50_ms / p99_ms, over a
span that starts 1 s after the first requote. Stages (p50 / p99): the venue's publication to the
feed's receipt, the feed's receipt to the router (through the maker and risk; risk's own record of
the feed -> risk part), the router's journaling and signing, the transaction's trip to the venue,
and the venue's application of it. requotes_per_s counts the requotes accepted in the span.

Prints a table and, as its LAST line, one JSON object. Targets: p50 <= 5 ms, p99 <= 20 ms on 2 cores.
A benchmark, not a test: nothing is asserted. Uses only loopback sockets and temporary files.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

from scripts.bench_common import percentile, ray_call, start_bench_ray, wait_for

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

MAKER, MAKER_ACCOUNT = "mm", 7201
# quotes close to the touch that rarely pause (copied from tests/test_maker_system.py)
FAST_MAKER_PARAMS: dict[str, Any] = {
    "spread_bps": 2.0, "vol_band_min_bps": 1.0, "vol_band_max_bps": 3.0, "low_vol_pause_bps": 0.0,
    "low_vol_resume_bps": 0.0, "trend_down_bps": -1000.0, "trend_up_bps": 1000.0, "trend_resume_bps": 1000.0,
    "vol_warmup_samples": 5, "defensive_extra_bps": 0.0,
}
SYNTHETIC_EVENTS_PER_S = 14.0  # the synthetic source's market events per second of event time
REQUOTE_REASONS = ("requote_moved", "requote_drift")  # a requote caused by the market's move
STAGES = ("venue publish -> feed receipt", "feed receipt -> router (maker, risk)", "router: journal + sign",
          "sent -> venue arrival", "venue arrival -> applied")


def _settings(tmp: Path, speed: float, tolerance_bps: float) -> Any:
    from config.settings import AppSettings
    from venue.sim.ports import free_static_port

    port = free_static_port()  # not an ephemeral one: see venue/sim/ports.py
    params = {**FAST_MAKER_PARAMS, "requote_tolerance_bps": tolerance_bps, "max_cancels_per_minute": 1_000_000}
    maker = {"name": MAKER, "kind": "market_maker", "market_id": 2, "account_index": MAKER_ACCOUNT,
             "size_min": 0.061, "size_max": 0.15, "params": params,
             "breakers": {"max_consecutive_losses": 100_000, "daily_loss_pct": 100.0, "max_drawdown_pct": 100.0}}
    return AppSettings.model_validate({
        "mode": "paper",
        "venue": {"url": f"http://127.0.0.1:{port}", "ws_url": f"ws://127.0.0.1:{port}/stream",
                  "sim": {"source": "synthetic", "speed": speed, "seed": 11, "port": port, "collateral": 100_000.0,
                          "account_tiers": {MAKER_ACCOUNT: "premium"}}},
        "markets": [2],
        "strategies": [maker],
        "risk": {"max_net_notional": 1e9, "reconcile_interval_s": 600.0,
                 "breakers": {"max_consecutive_losses": 100_000, "daily_loss_pct": 100.0, "max_drawdown_pct": 100.0}},
        "storage": {"db_path": str(tmp / f"bench-{uuid.uuid4().hex[:6]}.db"), "backup_dir": str(tmp / "backups")},
        "supervisor": {"heartbeat_interval_s": 1.0, "heartbeat_timeout_s": 30.0},
        "log_level": "WARNING",
    })


def match_requotes(venue_modifies: list[tuple[int, int, int, int, int, int]],
                   router_modifies: list[tuple[int, int, int, int, int, int, int, int, str]],
                   walls: dict[int, int], since_ns: int) -> list[dict[str, Any]]:
    """The requotes the venue accepted at or after since_ns, each joined to the router's record of
    it (by account and nonce) and to the publication of its market event. Modifies the router did
    not see accepted, that an order event rather than a market event caused (origin 0), that are not
    requotes (the hedger's), or whose event's publication is unknown are left out."""
    from venue import codes

    by_nonce = {(r[0], r[2]): r for r in router_modifies}
    out = []
    for account, coi, nonce, arrived, applied, code in venue_modifies:
        if code != codes.OK or arrived < since_ns:
            continue
        record = by_nonce.get((account, nonce))
        if record is None:
            continue
        _a, r_coi, _n, origin, ts_event, received, sent, answered, reason = record
        if r_coi != coi or not origin or reason not in REQUOTE_REASONS:
            continue
        published = walls.get(ts_event // 1_000_000)
        if published is None or published > arrived:
            continue
        out.append({"reason": reason, "ts_event": ts_event, "published": published, "origin": origin, "received": received,
                    "sent": sent, "arrived": arrived, "applied": applied, "answered": answered})
    return out


def measure_requotes(tmp: Path, seconds: float, events_per_s: float = 200.0, tolerance_bps: float = 0.5,
                     first_timeout_s: float = 60.0) -> dict[str, Any]:
    """Runs the system with the maker, waits for its first requote and 1 s more, measures `seconds`.
    Needs a running Ray (the benchmark's own, or the tests' session)."""
    from messages.codec import decode_heartbeat
    from supervisor import System
    from venue import codes

    speed = events_per_s / SYNTHETIC_EVENTS_PER_S
    options: dict[str, dict[str, Any]] = {"venue-sim": {"record_events": True}}
    system = System(_settings(tmp, speed, tolerance_bps), namespace=f"bench-{uuid.uuid4().hex[:6]}", options=options)
    system.start()
    try:
        sim, router, risk = system.handle("venue-sim"), system.handle("router"), system.handle("risk")
        wait_for(lambda: ray_call(sim, "modified_orders"), first_timeout_s, "the maker's first requote")
        time.sleep(1.0)  # past the first requotes (cold paths): what follows is the steady state
        risk_lags_before = len(ray_call(risk, "intent_lags"))
        since_ns = time.time_ns()
        t0 = time.monotonic()
        time.sleep(seconds)  # the measured span
        elapsed = time.monotonic() - t0
        until_ns = time.time_ns()
        venue_modifies = [m for m in ray_call(sim, "modified_orders") if m[3] < until_ns]
        router_modifies = ray_call(router, "modify_origins")
        walls = ray_call(sim, "event_walls", sorted({r[4] // 1_000_000 for r in router_modifies}))
        risk_lags = ray_call(risk, "intent_lags")[risk_lags_before:]
        maker = ray_call(system.handle(f"strategy:{MAKER}"), "status")
        router_stats = dict(decode_heartbeat(ray_call(router, "heartbeat")).stats)
    finally:
        system.stop(cancel_orders=False)
    requotes = match_requotes(venue_modifies, router_modifies, walls, since_ns)
    latencies = [(r["applied"] - r["published"]) / 1e6 for r in requotes]
    stages = {
        STAGES[0]: [(r["origin"] - r["published"]) / 1e6 for r in requotes],
        STAGES[1]: [(r["received"] - r["origin"]) / 1e6 for r in requotes],
        STAGES[2]: [(r["sent"] - r["received"]) / 1e6 for r in requotes],
        STAGES[3]: [(r["arrived"] - r["sent"]) / 1e6 for r in requotes],
        STAGES[4]: [(r["applied"] - r["arrived"]) / 1e6 for r in requotes],
    }
    # both sides requoted on one book top: they share one sendTxBatch when the router has both at
    # once; else the second goes after the first's round trip (the order client sends one request
    # of an account at a time, holding its lock to the venue's answer)
    firsts: dict[int, int] = {}
    for r in requotes:
        firsts[r["ts_event"]] = min(firsts.get(r["ts_event"], r["sent"]), r["sent"])
    alone = [(r["applied"] - r["published"]) / 1e6 for r in requotes if r["sent"] == firsts[r["ts_event"]]]
    second = [(r["applied"] - r["published"]) / 1e6 for r in requotes if r["sent"] != firsts[r["ts_event"]]]
    accepted = [m for m in venue_modifies if m[3] >= since_ns and m[5] == codes.OK]
    return {
        "requotes": len(requotes),
        "matched": requotes,
        "requotes_per_s": len(requotes) / elapsed,
        "modifies_accepted_per_s": len(accepted) / elapsed,
        "modifies_refused": sum(1 for m in venue_modifies if m[3] >= since_ns and m[5] != codes.OK),
        "reasons": dict(Counter(r["reason"] for r in requotes)),
        "latencies_ms": latencies,
        "requote_p50_ms": percentile(latencies, 0.50),
        "requote_p90_ms": percentile(latencies, 0.90),
        "requote_p99_ms": percentile(latencies, 0.99),
        "requote_max_ms": max(latencies, default=float("nan")),
        "first_of_event": (len(alone), percentile(alone, 0.5), percentile(alone, 0.99)),
        "second_of_event": (len(second), percentile(second, 0.5), percentile(second, 0.99)),
        "arrival_p50_ms": percentile([(r["arrived"] - r["published"]) / 1e6 for r in requotes], 0.50),
        "arrival_p99_ms": percentile([(r["arrived"] - r["published"]) / 1e6 for r in requotes], 0.99),
        "stages": {k: (percentile(v, 0.5), percentile(v, 0.99)) for k, v in stages.items()},
        "risk_received": (percentile(risk_lags, 0.5), percentile(risk_lags, 0.99)),
        "maker": {k: maker.get(k) for k in ("requotes", "rejections", "maker_fills", "taker_fills", "inventory",
                                             "skip")},
        "elapsed_s": elapsed,
        # modifies that shared a sendTxBatch with another (the router's coalescer, actors/coalesce.py)
        "modifies_batched": int(router_stats.get("modifies_batched", 0)),
        "modify_batches": int(router_stats.get("modify_batches", 0)),
        "modifies_sent": int(router_stats.get("modify_sent", 0)),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="the measured span")
    parser.add_argument("--events-per-s", type=float, default=200.0, help="market events/s of the synthetic source")
    parser.add_argument("--tolerance-bps", type=float, default=0.5, help="the maker's requote_tolerance_bps")
    parser.add_argument("--quick", action="store_true", help="a 10 s span (a smoke run)")
    args = parser.parse_args(argv)
    if args.seconds <= 0 or args.events_per_s <= 0 or args.tolerance_bps < 0:
        print("bench_quotes: --seconds and --events-per-s must be > 0, --tolerance-bps >= 0", file=sys.stderr)
        return 2
    if args.quick:
        args.seconds = 10.0

    import ray

    tmp = start_bench_ray()
    try:
        result = measure_requotes(tmp, args.seconds, args.events_per_s, args.tolerance_bps)
    finally:
        ray.shutdown()
        shutil.rmtree(tmp, ignore_errors=True)
    rows = [
        ("market events/s (synthetic source)", f"{args.events_per_s:.0f}"),
        ("requote tolerance", f"{args.tolerance_bps:g} bps"),
        ("requotes measured", f"{result['requotes']} {result['reasons']}"),
        ("requotes/s accepted at the venue", f"{result['requotes_per_s']:.1f} "
                                             f"(every modify: {result['modifies_accepted_per_s']:.1f}/s, "
                                             f"{result['modifies_refused']} refused)"),
        ("requote p50 / p90 / p99 / max (venue event -> modify applied)",
         f"{result['requote_p50_ms']:.2f} / {result['requote_p90_ms']:.2f} / {result['requote_p99_ms']:.2f} / "
         f"{result['requote_max_ms']:.2f} ms (p50 <= 5, p99 <= 20)"),
        ("  to the modify's arrival at the venue p50 / p99",
         f"{result['arrival_p50_ms']:.2f} / {result['arrival_p99_ms']:.2f} ms"),
        ("  the first (or only) requote of its book top: n, p50 / p99",
         "{} requotes, {:.2f} / {:.2f} ms".format(*result["first_of_event"])),
        ("  the other side's, sent after the first's: n, p50 / p99",
         "{} requotes, {:.2f} / {:.2f} ms".format(*result["second_of_event"])),
        *((f"  stage {k} p50 / p99", f"{p50:.2f} / {p99:.2f} ms") for k, (p50, p99) in result["stages"].items()),
        ("  (feed receipt -> risk received, every maker intent)",
         f"{result['risk_received'][0]:.2f} / {result['risk_received'][1]:.2f} ms"),
        ("modifies sent / in shared batches (batches)",
         f"{result['modifies_sent']} / {result['modifies_batched']} ({result['modify_batches']})"),
        ("the maker at the end", str(result["maker"])),
    ]
    width = max(len(r[0]) for r in rows)
    for label, value in rows:
        print(f"{label:<{width}}  {value}")
    print(json.dumps({
        "requote_p50_ms": round(result["requote_p50_ms"], 3),
        "requote_p90_ms": round(result["requote_p90_ms"], 3),
        "requote_p99_ms": round(result["requote_p99_ms"], 3),
        "requote_max_ms": round(result["requote_max_ms"], 3),
        "requotes_per_s": round(result["requotes_per_s"], 2),
        "requotes": result["requotes"],
        "requote_arrival_p50_ms": round(result["arrival_p50_ms"], 3),
        "requote_arrival_p99_ms": round(result["arrival_p99_ms"], 3),
        "stages_p50_p99_ms": {k: [round(p50, 3), round(p99, 3)] for k, (p50, p99) in result["stages"].items()},
        "events_per_s": args.events_per_s,
        "requote_tolerance_bps": args.tolerance_bps,
        "seconds": round(result["elapsed_s"], 1),
    }), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
