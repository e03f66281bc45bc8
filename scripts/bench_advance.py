"""Benchmark: per-call cost of indicators.advance against a Python loop of `update` calls.

    .venv/bin/python scripts/bench_advance.py [--repeats 7]

For each indicator (periods as the strategies' defaults: 20, 9, 14, 20, (20, 2), 20, ATR 14) and
each chunk size (10 and 10,000 values of a seeded random walk), times advance() on a ready
indicator and the same values fed to `update` one by one; each side keeps its best mean of
--repeats rounds. A round advances through the series chunk by chunk, so the windows change as
in the replay. Prints a table and, last, one JSON object: <indicator>_<size>_advance_us and
<indicator>_<size>_loop_us (microseconds per call of `size` values).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from indicators import stream
from indicators.advance import advance, advance_atr

SIZES = (10, 10_000)
CALLS = {10: 2_000, 10_000: 20}


def factories() -> dict[str, Callable[[], Any]]:
    return {"sma": lambda: stream.SMA(20), "ema": lambda: stream.EMA(9), "rsi": lambda: stream.RSI(14),
            "variance": lambda: stream.RollingVariance(20), "bollinger": lambda: stream.Bollinger(20, 2.0),
            "std_bps": lambda: stream.RollingStdBps(20), "atr": lambda: stream.ATR(14)}


def per_call_us(make: Callable[[], Any], chunks: list[tuple[np.ndarray, ...]], use_advance: bool,
                repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        indicator = make()
        warm = chunks[0]
        for row in zip(*(c.tolist() for c in warm), strict=True):  # ready before timing
            indicator.update(*row)
        is_atr = isinstance(indicator, stream.ATR)
        start = time.perf_counter()
        if use_advance:
            if is_atr:
                for high, low, close in chunks:
                    advance_atr(indicator, high, low, close)
            else:
                for (x,) in chunks:
                    advance(indicator, x)
        else:
            for chunk in chunks:
                for row in zip(*(c.tolist() for c in chunk), strict=True):
                    indicator.update(*row)
        best = min(best, (time.perf_counter() - start) / len(chunks))
    return best * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    rng = np.random.default_rng(7)
    results: dict[str, float] = {}
    print(f"{'indicator':<10} {'size':>6} {'advance us':>11} {'loop us':>10} {'speedup':>8}")
    for name, make in factories().items():
        for size in SIZES:
            calls = CALLS[size]
            close = 150.0 * np.exp(np.cumsum(rng.normal(0.0, 1e-3, size * calls)))
            high, low = close * 1.0005, close * 0.9995
            columns = (high, low, close) if name == "atr" else (close,)
            chunks = [tuple(c[i:i + size] for c in columns) for i in range(0, size * calls, size)]
            make()  # nothing to compile; the first advance below loads numba's cache
            per_call_us(make, chunks[:2], True, 1)
            ours = per_call_us(make, chunks, True, args.repeats)
            loop = per_call_us(make, chunks, False, max(1, args.repeats // 3))
            results[f"{name}_{size}_advance_us"] = round(ours, 3)
            results[f"{name}_{size}_loop_us"] = round(loop, 3)
            print(f"{name:<10} {size:>6} {ours:>11.2f} {loop:>10.1f} {loop / ours:>7.1f}x")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
