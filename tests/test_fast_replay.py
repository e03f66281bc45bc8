"""The fast replay (strategies.fast_replay) against the event-by-event replay (strategies.replay).

Same trades (every field of every TradeRecord), the same engine figures and the same final
strategy snapshot (candles, indicators, volatility, position marks, mid history) over three
2-day windows of the shared SOL month, for rsi_bb (default, selective, selective with the
trailing stop trading), renko_ao (default, strict) and breakout (default, and 1-minute candles,
which trade: the defaults never do on this data). The mid path arrays are checked against the
simulator's intra-minute path they replace.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import pytest

from strategies.fast_replay import fast_replay, mid_path
from strategies.replay import ReplayResult, load_candles, replay_candles
from venue.markets import SOL_DEFAULT
from venue.sim.sources import Candles, intraminute_path

DAY_MINUTES = 1440

# (first day of the 2-day window, kind, preset, overrides, must trade)
CASES = [
    (0, "rsi_bb", "default", None, True),
    (0, "rsi_bb", "selective", None, False),  # its bb_pos band never meets RSI > 70 here
    (0, "renko_ao", "default", None, True),
    (0, "breakout", "default", None, False),  # never trades at its defaults on this data
    (13, "rsi_bb", "selective", {"bb_position_band": None}, True),  # trailing stops fire
    (13, "renko_ao", "strict", None, True),
    (13, "breakout", "default", {"candle_interval_s": 60}, True),
    (27, "rsi_bb", "default", None, True),
    (27, "renko_ao", "default", None, True),
    (27, "breakout", "default", {"candle_interval_s": 60}, True),
]


@pytest.fixture(scope="module")
def month(sol_candles_path: Path) -> Candles:
    return load_candles(sol_candles_path)


def _days(candles: Candles, first_day: int, days: int) -> Candles:
    a, b = first_day * DAY_MINUTES, (first_day + days) * DAY_MINUTES
    return Candles(
        open_time_ms=candles.open_time_ms[a:b],
        open=candles.open[a:b],
        high=candles.high[a:b],
        low=candles.low[a:b],
        close=candles.close[a:b],
        volume=candles.volume[a:b],
        malformed=0,
    )


def _comparable(result: ReplayResult) -> dict[str, Any]:
    out = {k: v for k, v in vars(result).items() if k not in ("seconds", "trades")}
    out["trades"] = [msgspec.to_builtins(t) for t in result.trades]
    return out


@pytest.mark.timeout(300)
@pytest.mark.parametrize(("first_day", "kind", "preset", "overrides", "must_trade"), CASES)
def test_fast_replay_matches_event_by_event(
    month: Candles, first_day: int, kind: str, preset: str, overrides: dict[str, Any] | None, must_trade: bool
) -> None:
    window = _days(month, first_day, 2)
    slow = replay_candles(kind, window, preset=preset, overrides=overrides)
    fast = fast_replay(kind, window, preset=preset, params=overrides)
    if must_trade:
        assert len(slow.trades) > 0
    assert len(fast.trades) == len(slow.trades)
    assert _comparable(fast) == _comparable(slow)


@pytest.mark.timeout(300)
@pytest.mark.parametrize("kind", ["rsi_bb", "renko_ao"])
def test_fast_replay_matches_with_fees_and_finer_sampling(month: Candles, kind: str) -> None:
    """Fees (PnL, so the losing streak's pauses and sizes) and 240 mids a minute."""
    window = _days(month, 8, 1)
    window = Candles(window.open_time_ms[:480], window.open[:480], window.high[:480], window.low[:480],
                     window.close[:480], window.volume[:480], 0)
    slow = replay_candles(kind, window, fee_bps=2.0, sample_ms=250)
    fast = fast_replay(kind, window, fee_bps=2.0, sample_ms=250)
    assert len(slow.trades) > 0 and slow.mids == 480 * 240
    assert _comparable(fast) == _comparable(slow)


def test_fast_replay_windows_a_shared_path(month: Candles) -> None:
    """start_ms/end_ms cut a shared path like a Candles window does."""
    path = mid_path(_days(month, 5, 2))
    start = int(month.open_time_ms[5 * DAY_MINUTES + 600])
    end = start + 6 * 3600_000
    via_path = fast_replay("renko_ao", path, start_ms=start, end_ms=end)
    via_candles = fast_replay("renko_ao", month, start_ms=start, end_ms=end)
    assert via_path.mids == via_candles.mids == 6 * 60 * 60
    assert via_path.span == via_candles.span == (start, end)
    assert _comparable(via_path) == _comparable(via_candles)


def test_replay_cli_fast_prints_the_same_summary(sol_candles_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from strategies.replay import main

    argv = ["--strategy", "rsi_bb", "--candles", str(sol_candles_path), "--from", "2025-05-20T00:00",
            "--to", "2025-05-20T08:00", "--json"]
    summaries = []
    for extra in ([], ["--fast"]):
        assert main(argv + extra) == 0
        summary = json.loads(capsys.readouterr().out)
        summary.pop("seconds")
        summaries.append(summary)
    assert summaries[0]["trades"] > 0
    assert summaries[0] == summaries[1]
    assert main(["--strategy", "market_maker", "--synthetic", "0.1", "--fast"]) == 2
    assert "bad --fast" in capsys.readouterr().err


def test_mid_path_is_the_intraminute_path(month: Candles) -> None:
    window = _days(month, 20, 1)
    for sample_ms in (1_000, 250, 15_000):
        path = mid_path(window, sample_ms=sample_ms)
        steps = 60_000 // sample_ms
        scale = SOL_DEFAULT.price_scale
        for m in range(len(window)):
            raw = intraminute_path(
                float(window.open[m]), float(window.high[m]), float(window.low[m]), float(window.close[m]), steps
            )
            prices = [round(p * scale) / scale for p in raw]
            moving = [k for k in range(1, steps) if prices[k] != prices[k - 1]] or [steps // 2]
            per_trade = float(window.volume[m]) / len(moving)
            sizes = [per_trade if (k in moving and per_trade > 0) else 0.0 for k in range(steps)]
            sl = slice(m * steps, (m + 1) * steps)
            assert path.mids_list[sl] == prices
            assert path.sizes_list[sl] == sizes
            assert path.times_list[sl] == [int(window.open_time_ms[m]) + k * sample_ms for k in range(steps)]


def test_path_buckets_are_the_candle_builders_running_values(month: Candles) -> None:
    from indicators.candles import CandleBuilder

    path = mid_path(_days(month, 9, 1))
    buckets = path.buckets(60_000)
    builder = CandleBuilder(60_000)
    n = len(path.mids_list)
    for k in range(n):
        builder.on_mid(path.times_list[k], path.mids_list[k])
        if path.sizes_list[k] > 0:
            builder.on_trade(path.times_list[k], path.mids_list[k], path.sizes_list[k])
        current = builder.current
        assert current is not None
        assert (buckets.high[k], buckets.low[k], buckets.volume[k]) == (current.high, current.low, current.volume)
        assert buckets.next_start[k] == min(n, (k // 60 + 1) * 60)
    assert np.array_equal(path.times, np.array(path.times_list))
