"""Benchmark: numba batch kernels against TA-Lib, and the cost of one streaming update.

    .venv/bin/python scripts/bench_indicators.py [--n 1000000] [--repeats 15] [--out FILE]

Batch: each kernel runs on the same --n values (a seeded random walk with 10 bps steps, high/low
0-5 bps around it) beside its TA-Lib counterpart, after one warm-up call each (numba compiles or
loads its cache, TA-Lib touches its code). Calls alternate ours/TA-Lib so both see the same
machine load, and each side keeps its best time of --repeats. ratio = ours / TA-Lib (< 1: faster).
AO has no TA-Lib function: the reference is the median price plus two talib.SMA and a subtraction;
rolling_std_bps is compared with computing the bps returns in numpy plus talib.STDDEV.

Streaming: mean ns per `update` over --stream-updates values, the Python loop included.

Prints a table, writes JSON (bench_indicators.json in the cwd unless --out), and prints as its
last line one JSON object: <kernel>_ratio_vs_talib and <indicator>_update_ns for each.
Targets: every ratio <= 1.5, every update <= 2,000 ns.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import talib

from indicators import batch, stream

RATIO_TARGET = 1.5
UPDATE_NS_TARGET = 2_000.0


def synthetic_prices(n: int, seed: int = 7) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    close = 150.0 * np.exp(np.cumsum(rng.normal(0.0, 1e-3, n)))
    high = close * (1.0 + np.abs(rng.normal(0.0, 5e-4, n)))
    low = close * (1.0 - np.abs(rng.normal(0.0, 5e-4, n)))
    return high, low, close


def best_times(ours: Callable[[], Any], theirs: Callable[[], Any], repeats: int) -> tuple[float, float]:
    ours()  # warm-up: compile or load numba's cache
    theirs()
    best_ours = best_theirs = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        ours()
        best_ours = min(best_ours, time.perf_counter() - start)
        start = time.perf_counter()
        theirs()
        best_theirs = min(best_theirs, time.perf_counter() - start)
    return best_ours, best_theirs


def batch_cases(high: np.ndarray, low: np.ndarray, close: np.ndarray) -> dict[str, tuple[Callable, Callable]]:
    def ao_reference() -> np.ndarray:
        median = (high + low) / 2.0
        return talib.SMA(median, 5) - talib.SMA(median, 34)

    def std_reference() -> np.ndarray:
        returns = (close[1:] / close[:-1] - 1.0) * 1e4
        return talib.STDDEV(returns, 20)

    return {
        "sma": (lambda: batch.sma(close, 20), lambda: talib.SMA(close, 20)),
        "ema": (lambda: batch.ema(close, 20), lambda: talib.EMA(close, 20)),
        "rsi": (lambda: batch.rsi(close, 14), lambda: talib.RSI(close, 14)),
        "bollinger": (lambda: batch.bollinger(close, 20, 2.0), lambda: talib.BBANDS(close, 20, 2.0, 2.0)),
        "atr": (lambda: batch.atr(high, low, close, 14), lambda: talib.ATR(high, low, close, 14)),
        "macd": (lambda: batch.macd(close, 12, 26, 9), lambda: talib.MACD(close, 12, 26, 9)),
        "awesome_oscillator": (lambda: batch.awesome_oscillator(high, low, 5, 34), ao_reference),
        "rolling_std_bps": (lambda: batch.rolling_std_bps(close, 20), std_reference),
        "highest": (lambda: batch.highest(high, 20), lambda: talib.MAX(high, 20)),
        "lowest": (lambda: batch.lowest(low, 20), lambda: talib.MIN(low, 20)),
    }


def stream_cases() -> dict[str, tuple[Callable[[], Any], int]]:
    """name -> (factory, number of inputs per update)."""
    return {
        "sma": (lambda: stream.SMA(20), 1),
        "ema": (lambda: stream.EMA(20), 1),
        "rsi": (lambda: stream.RSI(14), 1),
        "bollinger": (lambda: stream.Bollinger(20, 2.0), 1),
        "atr": (lambda: stream.ATR(14), 3),
        "macd": (lambda: stream.MACD(12, 26, 9), 1),
        "awesome_oscillator": (lambda: stream.AwesomeOscillator(5, 34), 2),
        "rolling_std_bps": (lambda: stream.RollingStdBps(20), 1),
        "highest": (lambda: stream.Highest(20), 1),
        "lowest": (lambda: stream.Lowest(20), 1),
    }


def time_stream(factory: Callable[[], Any], arity: int, high: list[float], low: list[float],
                close: list[float]) -> float:
    update = factory().update
    start = time.perf_counter_ns()
    if arity == 1:
        for c in close:
            update(c)
    elif arity == 2:
        for h, lo in zip(high, low, strict=True):
            update(h, lo)
    else:
        for h, lo, c in zip(high, low, close, strict=True):
            update(h, lo, c)
    return (time.perf_counter_ns() - start) / len(close)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="values per batch kernel call")
    parser.add_argument("--repeats", type=int, default=15, help="timed calls per side; the best counts")
    parser.add_argument("--stream-updates", type=int, default=300_000, help="updates per streaming class")
    parser.add_argument("--out", type=Path, default=Path("bench_indicators.json"))
    args = parser.parse_args()

    high, low, close = synthetic_prices(args.n)
    summary: dict[str, float] = {}
    batch_rows: dict[str, dict[str, float]] = {}
    print(f"batch kernels on {args.n:,} values, best of {args.repeats} (ms)")
    print(f"{'kernel':<20}{'ours':>10}{'talib':>10}{'ratio':>8}")
    for name, (ours, theirs) in batch_cases(high, low, close).items():
        t_ours, t_theirs = best_times(ours, theirs, args.repeats)
        ratio = t_ours / t_theirs
        batch_rows[name] = {"ours_ms": t_ours * 1e3, "talib_ms": t_theirs * 1e3, "ratio": ratio}
        summary[f"{name}_ratio_vs_talib"] = round(ratio, 3)
        flag = "" if ratio <= RATIO_TARGET else "  > target"
        print(f"{name:<20}{t_ours * 1e3:>10.3f}{t_theirs * 1e3:>10.3f}{ratio:>8.2f}{flag}")

    count = min(args.stream_updates, args.n)
    h, lo, c = high[:count].tolist(), low[:count].tolist(), close[:count].tolist()
    stream_rows: dict[str, float] = {}
    print(f"\nstreaming update, mean of {count:,} updates (ns)")
    for name, (factory, arity) in stream_cases().items():
        time_stream(factory, arity, h[:1000], lo[:1000], c[:1000])  # warm-up
        ns = time_stream(factory, arity, h, lo, c)
        stream_rows[name] = ns
        summary[f"{name}_update_ns"] = round(ns, 1)
        flag = "" if ns <= UPDATE_NS_TARGET else "  > target"
        print(f"{name:<20}{ns:>10.0f}{flag}")

    report = {
        "benchmark": "indicators",
        "python": platform.python_version(),
        "machine": platform.machine(),
        "talib_version": talib.__version__,
        "n": args.n,
        "repeats": args.repeats,
        "stream_updates": count,
        "targets": {"ratio_vs_talib": RATIO_TARGET, "update_ns": UPDATE_NS_TARGET},
        "batch": batch_rows,
        "stream_update_ns": stream_rows,
        "summary": summary,
    }
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwrote {args.out}")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
