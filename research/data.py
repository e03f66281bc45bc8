"""The candles a sweep searches over, checked: sorted, one row a minute, no gap.

    candles = load_sweep_candles(path)     # ResearchInputError (one line) when unfit

A walk-forward window is a span of time: a file with rows out of order or a missing minute would
make a "7-day" window hold something else, so both are refused (the replay itself drops such rows;
a search must not silently learn on them). Malformed rows are counted and dropped by the reader;
the minute they leave empty is then a gap, named with its place in the file.
"""

from __future__ import annotations

import csv
import gzip
import io
import zlib
from pathlib import Path

import numpy as np

from research.errors import ResearchInputError
from strategies.replay_args import minute_text
from venue.sim.candle_source import Candles, read_candles

MINUTE_MS = 60_000


def _text(path: Path) -> io.TextIOBase:
    with open(path, "rb") as probe:
        gzipped = probe.read(2) == b"\x1f\x8b"
    if gzipped:
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", errors="replace", newline="")
    return open(path, encoding="utf-8", errors="replace", newline="")  # noqa: SIM115 (returned)


def check_sorted(path: Path) -> None:
    """Rows strictly increasing in open time (rows whose time does not parse are the reader's)."""
    previous: int | None = None
    with _text(path) as text:
        rows = csv.reader(text)
        next(rows, None)  # the header: read_candles checks it
        for line, row in enumerate(rows, start=2):
            if not row:
                continue
            try:
                t = int(row[0])
            except ValueError:
                continue
            if previous is not None and t <= previous:
                raise ResearchInputError(
                    f"--data {path}: rows not sorted by time: line {line} opens at {minute_text(t)}, "
                    f"not after the line before it ({minute_text(previous)})"
                )
            previous = t


def check_no_gap(candles: Candles, path: Path) -> None:
    steps = np.diff(candles.open_time_ms)
    bad = np.flatnonzero(steps != MINUTE_MS)
    if len(bad):
        i = int(bad[0])
        before, after = int(candles.open_time_ms[i]), int(candles.open_time_ms[i + 1])
        missing = (after - before) // MINUTE_MS - 1
        dropped = f"; {candles.malformed} malformed rows were dropped" if candles.malformed else ""
        raise ResearchInputError(
            f"--data {path}: gap in the candles: {missing} minute(s) missing between {minute_text(before)} "
            f"and {minute_text(after)} UTC ({len(bad)} gap(s) in all{dropped})"
        )


def load_sweep_candles(path: str | Path) -> Candles:
    path = Path(path)
    if not path.is_file():
        raise ResearchInputError(f"--data {path}: no such file")
    try:
        check_sorted(path)
        candles = read_candles(path)
    except (OSError, EOFError, zlib.error) as exc:
        raise ResearchInputError(f"--data {path}: cannot read it ({exc})") from None
    except ValueError as exc:  # the wrong header
        raise ResearchInputError(f"--data {exc}") from None
    if len(candles) == 0:
        raise ResearchInputError(f"--data {path}: no valid candle ({candles.malformed} malformed rows)")
    check_no_gap(candles, path)
    return candles


def window(candles: Candles, start_ms: int, end_ms: int) -> Candles:
    """The minutes start_ms <= open < end_ms (views, no copy)."""
    times = candles.open_time_ms
    lo = int(np.searchsorted(times, start_ms, side="left"))
    hi = int(np.searchsorted(times, end_ms, side="left"))
    return Candles(
        open_time_ms=times[lo:hi],
        open=candles.open[lo:hi],
        high=candles.high[lo:hi],
        low=candles.low[lo:hi],
        close=candles.close[lo:hi],
        volume=candles.volume[lo:hi],
    )
