"""Benchmark of the venue layer against the local simulator (a benchmark, not a test).

    python scripts/bench_venue.py [--orders 3000] [--accounts 2] [--subscribers 5] [--seconds 10]

1. Orders: `--accounts` order clients (one per account, each a closed loop: sign on a worker
   thread, send, wait for the answer) place post-only bids through the real lighter-sdk signer
   against a simulator in its own process. Reports orders/s over all clients, the latency of
   each order from the call to the venue's answer (p50, p99) and the client's CPU per order;
   twice: over REST sendTx (the headline keys) and over the websocket's jsonapi/sendtx (`*_ws`).
2. Book updates: `--subscribers` websocket clients of one market, each keeping its own L2 book,
   against a simulator replaying a source as fast as it can. Reports book updates received per
   second, summed over the subscribers, for two sources: the real BTC L2 recording in
   ../shared/data (real depth diffs and book tickers: the headline `book_updates_per_s`), and
   the synthetic source (`book_updates_per_s_synthetic`). Without the shared data the headline
   falls back to the synthetic figure, and says so.

Prints a table, writes bench_venue.json (or --out) and, as its last line, one JSON object with
orders_per_s, order_p50_ms, order_p99_ms and book_updates_per_s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import lighter

from venue import wire
from venue.order_client import OrderClient, TxAccepted
from venue.rest import LighterRest
from venue.ws_client import LighterWsClient

MARKET = 2
REPO = Path(__file__).resolve().parent.parent
RECORDING = Path(os.environ.get("LT_SHARED_DATA", REPO.parent / "shared" / "data")) / "btcusdt_perp_ws_20240808.gz"


def start_simulator(*extra: str) -> tuple[subprocess.Popen[str], str]:
    cmd = [sys.executable, "-m", "venue.sim", "--port", "0", *extra]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line.startswith("LIGHTER_SIM_URL="):
            return proc, line.strip().split("=", 1)[1]
        if not line and proc.poll() is not None:
            break
    proc.kill()
    raise SystemExit("the simulator did not start")


def stop(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


async def bench_orders(url: str, n_orders: int, n_accounts: int, ws_url: str | None = None) -> dict[str, float]:
    async with LighterRest(url) as rest:
        markets = await rest.order_book_details()
    mid = None
    for _ in range(100):
        async with LighterRest(url) as rest:
            book = await rest.order_book_orders(MARKET, 1)
        if book.bids and book.asks:
            mid = (book.bids[0].price + book.asks[0].price) / 2
            break
        await asyncio.sleep(0.1)
    if mid is None:
        raise SystemExit("the simulator has no two-sided book")
    clients = []
    for i in range(n_accounts):
        key, _pub, err = lighter.create_api_key()
        if err:
            raise SystemExit(err)
        client = await OrderClient.create(url, 2001 + i if ws_url is None else 3001 + i, 0, key, markets,
                                          rate_limit=None, ws_url=ws_url)
        await client.warm_up()  # the socket connects (when there is one)
        clients.append(client)
        del key
    latencies: list[float] = []
    rejected = 0
    per_client = n_orders // n_accounts

    async def run(client: OrderClient, warm: int) -> None:
        nonlocal rejected
        for i in range(warm + per_client):
            price = mid * (0.99 - 0.00001 * (i % 500))  # resting bids well away from the touch
            t0 = time.perf_counter()
            outcome = await client.limit_order(MARKET, False, 0.1, price, tif="post_only")
            elapsed = (time.perf_counter() - t0) * 1e3
            if i < warm:
                continue
            if isinstance(outcome, TxAccepted):
                latencies.append(elapsed)
            else:
                rejected += 1

    await asyncio.gather(*(run(c, 20) for c in clients))  # warm-up: connections, signer threads
    latencies.clear()
    rejected = 0
    t0, cpu0 = time.perf_counter(), time.process_time()
    await asyncio.gather(*(run(c, 0) for c in clients))
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    for client in clients:
        await client.close()
    return {
        "orders": float(len(latencies)),
        "orders_rejected": float(rejected),
        "orders_per_s": len(latencies) / wall,
        "order_p50_ms": statistics.median(latencies),
        "order_p99_ms": percentile(latencies, 0.99),
        "order_max_ms": max(latencies),
        "client_cpu_us_per_order": cpu / max(1, len(latencies)) * 1e6,
    }


async def bench_books(url: str, n_subscribers: int, seconds: float) -> dict[str, float]:
    counts = [0] * n_subscribers

    def counter(i: int):  # noqa: ANN202 - a closure per subscriber
        def on_event(event: object) -> None:
            if isinstance(event, wire.BookUpdated):
                counts[i] += 1
        return on_event

    ws_url = url.replace("http", "ws", 1) + "/stream"
    clients = [LighterWsClient(ws_url, markets=[MARKET], subscribe_trades=False, on_event=counter(i),
                               stale_after_s=60.0) for i in range(n_subscribers)]
    for client in clients:
        await client.start()
    await asyncio.sleep(1.0)  # all subscribed and past their snapshots
    start = list(counts)
    t0 = time.perf_counter()
    await asyncio.sleep(seconds)
    wall = time.perf_counter() - t0
    got = [c - s for c, s in zip(counts, start, strict=True)]
    gaps = sum(c.stats.gaps for c in clients)
    malformed = sum(c.stats.malformed for c in clients)
    for client in clients:
        await client.stop()
    return {
        "book_updates_per_s": sum(got) / wall,
        "book_updates_per_s_per_subscriber": min(got) / wall,
        "book_gaps": float(gaps),
        "book_malformed": float(malformed),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=3000)
    parser.add_argument("--accounts", type=int, default=2)
    parser.add_argument("--subscribers", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=8.0,
                        help="book phase length per source (the recording lasts ~70k updates)")
    parser.add_argument("--out", default="bench_venue.json")
    args = parser.parse_args(argv)

    results: dict[str, float] = {}
    proc, url = start_simulator("--source", "synthetic", "--speed", "1")
    try:
        results.update(asyncio.run(bench_orders(url, args.orders, args.accounts)))
        over_ws = asyncio.run(bench_orders(url, args.orders, args.accounts,
                                           ws_url=url.replace("http://", "ws://", 1) + "/stream"))
        results.update({f"{k}_ws": v for k, v in over_ws.items()})
    finally:
        stop(proc)
    sources = {"_synthetic": "synthetic"}
    if RECORDING.exists():
        sources[""] = f"binance:{RECORDING}"
    for suffix, source in sources.items():
        proc, url = start_simulator("--source", source, "--speed", "0")
        try:
            books = asyncio.run(bench_books(url, args.subscribers, args.seconds))
        finally:
            stop(proc)
        results.update({f"{k}{suffix}": v for k, v in books.items()})
    if "book_updates_per_s" not in results:
        print(f"no recording at {RECORDING}: book_updates_per_s is the synthetic source's figure")
        results["book_updates_per_s"] = results["book_updates_per_s_synthetic"]

    print(f"{'metric':<36}{'value':>12}")
    for name, value in results.items():
        print(f"{name:<36}{value:>12.2f}")
    summary = {k: round(results[k], 3) for k in ("orders_per_s", "order_p50_ms", "order_p99_ms",
                                                  "orders_per_s_ws", "order_p50_ms_ws", "order_p99_ms_ws",
                                                  "book_updates_per_s", "book_updates_per_s_synthetic")}
    meta = {"cpus": os.cpu_count(), "accounts": args.accounts, "subscribers": args.subscribers}
    Path(args.out).write_text(json.dumps({**results, **meta}, indent=2))
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
