"""Benchmark of the actor pipeline on the paper venue: `python scripts/bench_pipeline.py [--quick]`.

Three phases, each a full system (every actor, 4 strategy actors on 4 accounts), one Ray:

1. latency: the synthetic market paced to ~200 market events/s, the 4 strategies with parameters
   that trade often (the test-only FAST_RSI_PARAMS of tests/ray_fixtures.py, copied below). For
   every order: from the venue's publication of the market event behind it (the simulator records
   when it applied and published each event, by event-time ms) to the order's arrival at the venue
   (the simulator's audit of create-order transactions: when the request reached it, before it
   parsed it; so neither end counts the venue's own work). -> tick_to_order_p50_ms / p99_ms, over a span
   that starts 1 s after the first orders (their cold path is reported as first_orders_ms). (The
   candles are the strategy's default 15 s; at 2 s, the tests' choice, the 4 strategies'
   per-candle snapshots alone would keep the 2 cores busy.)
2. throughput: the synthetic market as fast as the simulator makes it, the 4 strategies with their
   default parameters (they rarely trade). Market events/s the feed received and delivered into
   every strategy actor (conflated where a strategy lagged), and the largest lag of a strategy
   behind the feed's receipt of an event. -> events_per_s, max_lag_ms. Run twice: with a 2-level
   synthetic book (--throughput-levels), where the pipeline rather than the simulator is the
   limit (the strategies read only the book top), and with the default 20 levels, where the
   simulator's own work per book update caps the rate (-> events_per_s_full_depth).
3. recovery: SIGKILL of one strategy actor's worker mid-run (phase 1's set-up), to the first market
   event the restarted, rehydrated actor processed. -> recovery_ms (median of 3 kills).

Prints a table and, as its LAST line, one JSON object. Targets: p50 <= 3 ms, p99 <= 15 ms,
>= 20,000 events/s with lag < 250 ms, recovery <= 1,500 ms. A benchmark, not a test: nothing is
asserted. Uses only loopback sockets and temporary files. A baseline first measures Ray alone:
two fire-and-forget hops between idle async actors (every hop of the pipeline pays at least that).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from scripts.bench_common import percentile, ray_call, start_bench_ray, wait_for

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

FAST_PARAMS: dict[str, Any] = {
    "candle_interval_s": 15, "rsi_period": 2, "bb_period": 3, "ema_fast": 2, "ema_slow": 3, "volume_window": 2,
    "rsi_momentum_strength": 0.0, "bb_position_threshold": 0.5, "trend_confirmation_bps": 0.0,
    "volatility_min_bps": 0.0, "volatility_max_bps": 1e6, "take_profit_bps": 2.0, "stop_loss_bps": 2.0,
    "max_hold_s": 20, "volatility_interval_ms": 2000, "volatility_window": 3, "adaptive": False,
    "retry_backoff_ms": 500,
}
SYNTHETIC_EVENTS_PER_S = 14.0  # the synthetic source's market events per second of event time
STRATEGIES = 4  # --strategies changes it (the figures are for 4)
DATA_LANE = True  # --ray-only sets it false: every message a Ray call (for comparison)


def _settings(tmp: Path, speed: float, fast: bool, candle_s: int = 15) -> Any:
    from config.settings import AppSettings
    from venue.sim.ports import free_static_port

    port = free_static_port()  # not an ephemeral one: see venue/sim/ports.py
    strategies = [{"name": f"s{i}", "kind": "rsi_bb", "market_id": 2, "account_index": 7001 + i,
                   "params": {**FAST_PARAMS, "candle_interval_s": candle_s} if fast else {}}
                  for i in range(STRATEGIES)]
    return AppSettings.model_validate({
        "mode": "paper",
        "venue": {"url": f"http://127.0.0.1:{port}", "ws_url": f"ws://127.0.0.1:{port}/stream",
                  "sim": {"source": "synthetic", "speed": speed, "seed": 11, "port": port, "collateral": 100_000.0}},
        "markets": [2],
        "strategies": strategies,
        "risk": {"max_net_notional": 1e9, "order_rate_per_min": 100_000, "reconcile_interval_s": 600.0,
                 "breakers": {"max_consecutive_losses": 100_000, "daily_loss_pct": 100.0, "max_drawdown_pct": 100.0}},
        "storage": {"db_path": str(tmp / f"bench-{uuid.uuid4().hex[:6]}.db"), "backup_dir": str(tmp / "backups")},
        "supervisor": {"heartbeat_interval_s": 1.0, "heartbeat_timeout_s": 30.0, "data_lane": DATA_LANE},
        "log_level": "WARNING",
    })


def _stats(handle: Any) -> dict[str, float]:
    from messages.codec import decode_heartbeat

    return dict(decode_heartbeat(ray_call(handle, "heartbeat")).stats)


def latency_and_recovery(tmp: Path, seconds: float, kills: int, events_per_s: float = 200.0,
                         candle_s: int = 15) -> dict[str, Any]:
    from supervisor import System

    speed = events_per_s / SYNTHETIC_EVENTS_PER_S
    options: dict[str, dict[str, Any]] = {"venue-sim": {"record_events": True}}
    system = System(_settings(tmp, speed, fast=True, candle_s=candle_s), namespace=f"bench-{uuid.uuid4().hex[:6]}",
                    options=options)
    system.start()
    try:
        sim, router, feed = system.handle("venue-sim"), system.handle("router"), system.handle("feed")
        # warm-up: the strategies build their first candles and place their first orders (the
        # cold path: connections, first calls; reported apart as first_orders_ms), then 1 s more
        wait_for(lambda: ray_call(sim, "created_orders"), 60.0, "the first order")
        time.sleep(1.0)  # past the first burst of orders: what follows is the steady state
        arrivals_before = len(ray_call(sim, "created_orders"))
        events_before = _stats(feed)["events_in"]
        t0 = time.monotonic()
        time.sleep(seconds)  # the measured span
        elapsed = time.monotonic() - t0
        events = _stats(feed)["events_in"] - events_before
        created_all = ray_call(sim, "created_orders")
        origins = {(a, c): (o, ts) for a, c, o, ts in ray_call(router, "order_origins")}
        walls = ray_call(sim, "event_walls", sorted({ts // 1_000_000 for _o, ts in origins.values()}))

        def tick_to_order(created: list[Any]) -> tuple[list[float], list[float]]:
            latencies, from_feed = [], []
            for account, coi, arrived, _code in created:
                origin = origins.get((account, coi))
                if origin is None:
                    continue
                origin_ns, ts_event = origin
                published = walls.get(ts_event // 1_000_000)
                if published is not None and published <= arrived:
                    latencies.append((arrived - published) / 1e6)
                from_feed.append((arrived - origin_ns) / 1e6)
            return latencies, from_feed

        latencies, from_feed = tick_to_order(created_all[arrivals_before:])
        first_burst = [c for c in created_all if c[2] - created_all[0][2] < 100_000_000]  # within 100 ms
        first_orders, _ = tick_to_order(first_burst)
        timings = {"strategy decided": [x for i in range(STRATEGIES)
                                        for x in ray_call(system.handle(f"strategy:s{i}"), "decision_lags")],
                   "risk received": ray_call(system.handle("risk"), "intent_lags"), **ray_call(router, "stage_timings")}
        stages = {k: (percentile(v, 0.5), percentile(v, 0.99)) for k, v in timings.items()}
        recoveries = []
        for i in range(kills):
            name = f"strategy:s{i % STRATEGIES}"
            handle = system.handle(name)
            before = _stats(handle)
            killed = time.time_ns()
            os.kill(int(before["pid"]), signal.SIGKILL)

            def back(h: Any = handle, b: dict[str, float] = before) -> dict[str, float] | None:
                try:
                    s = _stats(h)
                except Exception:
                    return None
                return s if s["incarnation_ms"] != b["incarnation_ms"] and s.get("first_event_ms", 0) > 0 else None

            after = wait_for(back, 60.0, f"{name} to restart")
            recoveries.append(after["first_event_ms"] - killed / 1e6)
            time.sleep(1.0)  # let the system settle between kills
        return {
            "events_per_s_offered": events / elapsed,
            "orders": len(latencies),
            "tick_to_order_p50_ms": percentile(latencies, 0.50),
            "tick_to_order_p99_ms": percentile(latencies, 0.99),
            "feed_to_order_p50_ms": percentile(from_feed, 0.50),
            "feed_to_order_p99_ms": percentile(from_feed, 0.99),
            "first_orders_ms": [round(x, 1) for x in first_orders],
            "recovery_ms": statistics.median(recoveries) if recoveries else float("nan"),
            "recoveries_ms": [round(r, 1) for r in recoveries],
            "stages": stages,
        }
    finally:
        system.stop(cancel_orders=False)


def throughput(tmp: Path, seconds: float, speed: float, levels: int | None = None) -> dict[str, Any]:
    from supervisor import System

    options: dict[str, dict[str, Any]] = {"venue-sim": {"synthetic_levels": levels}} if levels else {}
    system = System(_settings(tmp, speed, fast=False), namespace=f"bench-{uuid.uuid4().hex[:6]}", options=options)
    system.start()
    try:
        feed = system.handle("feed")
        strategies = [system.handle(f"strategy:s{i}") for i in range(STRATEGIES)]
        time.sleep(3.0)  # warm-up before the measured span
        for handle in strategies:
            ray_call(handle, "reset_max_lag")
        sim = system.handle("venue-sim")
        sim_before = ray_call(sim, "state")["counters"]["source_events"]
        before = _stats(feed)
        covered_before = [_stats(h)["market_events"] for h in strategies]
        t0 = time.monotonic()
        time.sleep(seconds)  # the measured span
        elapsed = time.monotonic() - t0
        after = _stats(feed)
        sim_events = ray_call(sim, "state")["counters"]["source_events"] - sim_before
        lags = [ray_call(h, "reset_max_lag") for h in strategies]
        delivered = [(_stats(h)["market_events"] - b) / elapsed for h, b in zip(strategies, covered_before, strict=True)]
        return {
            "events_per_s": (after["events_in"] - before["events_in"]) / elapsed,
            "venue_events_per_s": sim_events / elapsed,
            "delivered_per_strategy_per_s": [round(d) for d in delivered],
            "max_lag_ms": max(lags),
        }
    finally:
        system.stop(cancel_orders=False)


def ray_two_hops(n: int = 200, interval_s: float = 0.05) -> dict[str, float]:
    """Baseline: Ray alone, A -> B -> C fire-and-forget between async actors doing nothing else,
    20 messages a second. Every hop of the pipeline pays this."""
    import asyncio

    import ray

    @ray.remote(num_cpus=0)
    class Sink:
        def __init__(self) -> None:
            self.lat: list[float] = []

        async def f(self, t0: int) -> None:
            self.lat.append((time.time_ns() - t0) / 1e6)

        async def get(self) -> list[float]:
            return self.lat

    @ray.remote(num_cpus=0)
    class Hop:
        def __init__(self, sink: Any) -> None:
            self.sink = sink
            self.tasks: set[Any] = set()

        async def f(self, t0: int) -> None:
            task = asyncio.ensure_future(self._wait(self.sink.f.remote(t0)))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

        async def _wait(self, ref: Any) -> None:
            await ref

    @ray.remote(num_cpus=0)
    class Source:
        def __init__(self, hop: Any) -> None:
            self.hop = hop

        async def run(self, n: int, interval_s: float) -> None:
            for _ in range(n):
                self.hop.f.remote(time.time_ns())
                await asyncio.sleep(interval_s)  # the message rate

    # @ray.remote(...) made these ActorClasses, but mypy ignores what a class decorator returns and
    # still sees the plain classes (no `.remote`): use them untyped
    sink_cls: Any = Sink
    hop_cls: Any = Hop
    source_cls: Any = Source
    sink = sink_cls.remote()
    source = source_cls.remote(hop_cls.remote(sink))
    ray.get(source.run.remote(n, interval_s), timeout=120)
    lat = wait_for(lambda: (v := ray.get(sink.get.remote(), timeout=30)) and len(v) >= n and v, 30, "the sink")
    return {"p50": percentile(lat, 0.5), "p99": percentile(lat, 0.99)}


def main(argv: list[str] | None = None) -> int:
    global DATA_LANE, STRATEGIES
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency-s", type=float, default=30.0)
    parser.add_argument("--throughput-s", type=float, default=20.0)
    parser.add_argument("--throughput-speed", type=float, default=5000.0)
    parser.add_argument("--throughput-levels", type=int, default=2,
                        help="book levels per side of the synthetic source in the throughput phase")
    parser.add_argument("--kills", type=int, default=3)
    parser.add_argument("--events-per-s", type=float, default=200.0, help="market events/s of the latency phase")
    parser.add_argument("--candle-s", type=int, default=15, help="candle interval of the latency phase's strategies")
    parser.add_argument("--quick", action="store_true", help="short spans (a smoke run)")
    parser.add_argument("--strategies", type=int, default=STRATEGIES,
                        help="strategy actors (identical, so they order on the same ticks)")
    parser.add_argument("--ray-only", action="store_true", help="no data lane: every message is a Ray call")
    args = parser.parse_args(argv)
    DATA_LANE = not args.ray_only
    STRATEGIES = args.strategies
    if args.quick:
        args.latency_s, args.throughput_s, args.kills = 10.0, 8.0, 1

    import ray

    tmp = start_bench_ray()
    try:
        hops = ray_two_hops()
        lat = latency_and_recovery(tmp, args.latency_s, args.kills, args.events_per_s, args.candle_s)
        thr = throughput(tmp, args.throughput_s, args.throughput_speed, levels=args.throughput_levels)
        thr_full = throughput(tmp, args.throughput_s, args.throughput_speed)
    finally:
        ray.shutdown()
        shutil.rmtree(tmp, ignore_errors=True)
    rows = [
        ("baseline: Ray alone, 2 one-way hops p50 / p99", f"{hops['p50']:.2f} / {hops['p99']:.2f} ms"),
        ("market events/s offered (latency phase)", f"{lat['events_per_s_offered']:.0f}"),
        ("orders measured", str(lat["orders"])),
        ("tick -> order p50 / p99 (venue event -> venue)", f"{lat['tick_to_order_p50_ms']:.2f} / "
                                                           f"{lat['tick_to_order_p99_ms']:.2f} ms (<= 3 / 15)"),
        ("  the first orders after start (cold, not in the above)", f"{lat['first_orders_ms']} ms"),
        ("feed receipt -> venue p50 / p99", f"{lat['feed_to_order_p50_ms']:.2f} / {lat['feed_to_order_p99_ms']:.2f} ms"),
        *((f"  stage {k} p50 / p99", f"{p50:.2f} / {p99:.2f} ms") for k, (p50, p99) in lat["stages"].items()),
        (f"events/s into {STRATEGIES} strategy actors ({args.throughput_levels}-level book)",
         f"{thr['events_per_s']:.0f} (>= 20000)"),
        ("  market source events/s at the venue", f"{thr['venue_events_per_s']:.0f}"),
        ("  delivered per strategy (after conflation)", str(thr["delivered_per_strategy_per_s"])),
        ("  max strategy lag", f"{thr['max_lag_ms']:.1f} ms (< 250)"),
        (f"events/s into {STRATEGIES} strategy actors (20-level book)", f"{thr_full['events_per_s']:.0f}"),
        ("  market source events/s at the venue", f"{thr_full['venue_events_per_s']:.0f}"),
        ("  max strategy lag", f"{thr_full['max_lag_ms']:.1f} ms"),
        ("recovery after SIGKILL of a strategy", f"{lat['recovery_ms']:.0f} ms {lat['recoveries_ms']} (<= 1500)"),
    ]
    width = max(len(r[0]) for r in rows)
    for label, value in rows:
        print(f"{label:<{width}}  {value}")
    result = {
        "tick_to_order_p50_ms": round(lat["tick_to_order_p50_ms"], 3),
        "tick_to_order_p99_ms": round(lat["tick_to_order_p99_ms"], 3),
        "events_per_s": round(thr["events_per_s"], 1),
        "max_lag_ms": round(thr["max_lag_ms"], 1),
        "throughput_book_levels": args.throughput_levels,
        "events_per_s_full_depth": round(thr_full["events_per_s"], 1),
        "max_lag_ms_full_depth": round(thr_full["max_lag_ms"], 1),
        "recovery_ms": round(lat["recovery_ms"], 1),
        "first_orders_ms": lat["first_orders_ms"],
        "orders": lat["orders"],
        "events_per_s_offered_latency_phase": round(lat["events_per_s_offered"], 1),
        "data_lane": DATA_LANE,
        "strategies": STRATEGIES,
        "ray_two_hops_p50_ms": round(hops["p50"], 3),
        "ray_two_hops_p99_ms": round(hops["p99"], 3),
    }
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
