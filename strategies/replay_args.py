"""The research replay's input checked: --from/--to against the candles' own range, and the flags.

    data = data_range(candles)                       # [first open, last open + 1 minute), ms
    start_ms = parse_bound("--from", text, data)     # None when the flag is absent
    candles = select_minutes(candles, start_ms, end_ms, data)

Every problem is a ReplayInputError with one line naming the flag, and for a time the data's actual
range, so a range outside the file is an error (exit status 2) rather than a replay of no minutes.
A --from must fall inside the data and a --to after its first minute and no later than its end:
a date the file does not hold is taken as a mistake (a wrong file, a wrong year), not clipped.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from venue.sim.sources import Candles

MINUTE_MS = 60_000
MAX_SPREAD_BPS = 1_000.0  # a book 10% wide is no market; wider, the deeper bid levels go below 0
MAX_FEE_BPS = 1_000.0
TIME_HELP = "a UTC date or time such as 2025-05-06 or 2025-05-06T12:00"


class ReplayInputError(ValueError):
    """A bad flag or range; the message is the one line the command prints."""


@dataclass(frozen=True, slots=True)
class DataRange:
    """The minutes a candles file holds: open times start_ms <= t < end_ms (end = last open + 1 min)."""

    start_ms: int
    end_ms: int

    def __str__(self) -> str:
        return f"the data covers {minute_text(self.start_ms)} -> {minute_text(self.end_ms)} UTC"


def minute_text(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M")


def data_range(candles: Candles, path: str | Path) -> DataRange:
    if len(candles) == 0:
        raise ReplayInputError(
            f"--candles {path}: no valid candle in the file ({candles.malformed} malformed rows)"
        )
    return DataRange(int(candles.open_time_ms[0]), int(candles.open_time_ms[-1]) + MINUTE_MS)


def parse_bound(flag: str, text: str | None, data: DataRange) -> int | None:
    """An ISO date/time (naive means UTC) -> ms since the epoch; None when the flag was not given."""
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ReplayInputError(f"bad {flag} {text!r}: expected {TIME_HELP} ({data})") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def ms_of(moment: datetime | None) -> int | None:
    if moment is None:
        return None
    return int((moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp() * 1000)


def select_minutes(candles: Candles, start_ms: int | None, end_ms: int | None, data: DataRange) -> Candles:
    """The minutes with start_ms <= open < end_ms; ReplayInputError for a bound outside the data."""
    if start_ms is not None and not data.start_ms <= start_ms < data.end_ms:
        raise ReplayInputError(f"--from {minute_text(start_ms)} is outside the data ({data})")
    if end_ms is not None and not data.start_ms < end_ms <= data.end_ms:
        raise ReplayInputError(f"--to {minute_text(end_ms)} is outside the data ({data})")
    if start_ms is not None and end_ms is not None and start_ms >= end_ms:
        raise ReplayInputError(
            f"--from {minute_text(start_ms)} is not before --to {minute_text(end_ms)} ({data})"
        )
    times = candles.open_time_ms
    lo = 0 if start_ms is None else int(np.searchsorted(times, start_ms, side="left"))
    hi = len(times) if end_ms is None else int(np.searchsorted(times, end_ms, side="left"))
    if lo >= hi:  # inside the data's span but in a gap of the file
        first = minute_text(start_ms if start_ms is not None else data.start_ms)
        last = minute_text(end_ms if end_ms is not None else data.end_ms)
        raise ReplayInputError(f"no candle from {first} to {last} (a gap in the file; {data})")
    return replace(
        candles,
        open_time_ms=times[lo:hi],
        open=candles.open[lo:hi],
        high=candles.high[lo:hi],
        low=candles.low[lo:hi],
        close=candles.close[lo:hi],
        volume=candles.volume[lo:hi],
    )


def check_bps(flag: str, value: float, maximum: float) -> float:
    if not math.isfinite(value) or not 0.0 <= value <= maximum:
        raise ReplayInputError(f"bad {flag} {value:g}: expected 0 to {maximum:g} bps")
    return value


def check_sample_ms(value: int) -> int:
    if value <= 0 or MINUTE_MS % value or MINUTE_MS // value < 4:
        raise ReplayInputError(
            f"bad --sample-ms {value}: it must divide a minute (60000 ms) into at least 4 equal steps "
            "(e.g. 250, 1000, 15000)"
        )
    return value


def check_market_options(sample_ms: int, fee_bps: float, spread_bps: float) -> None:
    check_sample_ms(sample_ms)
    check_bps("--fee-bps", fee_bps, MAX_FEE_BPS)
    check_bps("--spread-bps", spread_bps, MAX_SPREAD_BPS)


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """--set NAME=JSON items -> {name: value}; the strategy's params check names and types."""
    overrides: dict[str, Any] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise ReplayInputError(f"bad --set {item!r}: expected NAME=JSON (e.g. rsi_period=14)")
        try:
            overrides[name.strip()] = json.loads(value)
        except ValueError:
            raise ReplayInputError(
                f'bad --set {item!r}: the value is not JSON (numbers as 14 or 2.5, text as "...", true/false)'
            ) from None
    return overrides


def check_directional_flags(args: Any) -> None:
    """A directional replay reads --candles only; the quoting replay's own flags are refused."""
    if args.candles is None:
        raise ReplayInputError(f"{args.strategy} needs --candles PATH")
    for flag, given in (("--recording", args.recording is not None), ("--synthetic", args.synthetic is not None),
                        ("--market", args.market is not None), ("--tier", args.tier is not None),
                        ("--seed", args.seed is not None)):
        if given:
            raise ReplayInputError(f"bad {flag}: {args.strategy} replays --candles only (it is for market_maker)")


def check_output(path: Path | None) -> Path | None:
    """--out must be a file in an existing directory: checked before a replay of minutes, not after."""
    if path is None:
        return None
    if path.is_dir():
        raise ReplayInputError(f"bad --out {path}: it is a directory")
    if not path.parent.is_dir():
        raise ReplayInputError(f"bad --out {path}: no directory {path.parent}")
    return path
