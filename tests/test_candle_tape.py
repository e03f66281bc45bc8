"""strategies.candle_tape: a path's candles known in advance, and the fast replay's runs across
candle closes that use them (strategies.quiet_replay).

The tape must be the candles CandleBuilder closes when fed the same mids and trades one by one,
the flat candles of empty intervals included; a run must leave a strategy in the very state the
event-by-event replay leaves it in, also over a file with missing minutes and with volatility
candles of another interval."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from indicators.candles import Candle, CandleBuilder
from strategies.candle_tape import CandleTape, scan_run
from strategies.fast_replay import fast_replay, mid_path
from strategies.replay import load_candles, replay_candles
from tests.test_fast_replay import _comparable, _days
from venue.sim.sources import Candles


@pytest.fixture(scope="module")
def month(sol_candles_path: Path) -> Candles:
    return load_candles(sol_candles_path)


def _with_gaps(candles: Candles, drop: list[slice]) -> Candles:
    keep = np.ones(len(candles), dtype=bool)
    for s in drop:
        keep[s] = False
    return Candles(open_time_ms=candles.open_time_ms[keep], open=candles.open[keep], high=candles.high[keep],
                   low=candles.low[keep], close=candles.close[keep], volume=candles.volume[keep], malformed=0)


@pytest.mark.parametrize("interval_ms", [15_000, 60_000, 900_000])
def test_the_tape_is_what_the_candle_builder_closes(month: Candles, interval_ms: int) -> None:
    # missing minutes: one, then a whole hour (empty intervals of every size)
    window = _with_gaps(_days(month, 4, 1), [slice(100, 101), slice(600, 660)])
    path = mid_path(window)
    tape = path.tape(interval_ms)
    builder = CandleBuilder(interval_ms)
    closed: list[Candle] = []
    closes_at: list[int] = []
    for i, (ts, mid, size) in enumerate(zip(path.times_list, path.mids_list, path.sizes_list, strict=True)):
        now = builder.on_mid(ts, mid)
        closed += now
        closes_at += [i] * len(now)
        if size > 0:
            builder.on_trade(ts, mid, size)
        assert tape.open_ms[tape.candle_of[i]] == ts - ts % interval_ms
    current = builder.current
    assert current is not None
    every = [*closed, current]
    assert len(tape) == len(every) > 1440 * 60_000 // interval_ms - 61 * 60_000 // interval_ms
    got = [Candle(int(tape.open_ms[k]), float(tape.open[k]), float(tape.high[k]), float(tape.low[k]),
                  float(tape.close[k]), float(tape.volume[k])) for k in range(len(tape))]
    assert got == every
    assert tape.closes_at.tolist() == [*closes_at, len(path.mids_list)]
    flat = [c for c in every if c.volume == 0.0 and c.open == c.high == c.low == c.close]
    assert len(flat) >= 60 * 60_000 // interval_ms - 1  # the hour's empty intervals are there


def test_resume_is_the_builders_own_state(month: Candles) -> None:
    path = mid_path(_days(month, 2, 1))
    tape, buckets = path.tape(15_000), path.buckets(15_000)
    one_by_one, resumed = CandleBuilder(15_000), CandleBuilder(15_000)
    resumed.on_mid(path.times_list[0], path.mids_list[0])
    for i in range(200):
        one_by_one.on_mid(path.times_list[i], path.mids_list[i])
        if path.sizes_list[i] > 0:
            one_by_one.on_trade(path.times_list[i], path.mids_list[i], path.sizes_list[i])
    k = int(tape.candle_of[199])
    resumed.resume(int(tape.open_ms[k]), float(tape.open[k]), buckets.high[199], buckets.low[199],
                   path.mids_list[199], buckets.volume[199])
    assert resumed.to_state() == one_by_one.to_state()
    with pytest.raises(ValueError, match="resume needs"):
        CandleBuilder(15_000).resume(0, 1.0, 1.0, 1.0, 1.0, 0.0)


def test_scan_run_stops_at_the_band_of_each_candle() -> None:
    times = np.arange(8, dtype=np.int64) * 1000
    mids = np.array([10.0, 11.0, 11.0, 11.2, 11.4, 11.6, 12.5, 10.0])
    candle_of = np.array([0, 0, 1, 1, 2, 2, 3, 3], dtype=np.int64)
    lo, hi = np.full(4, 9.0), np.array([11.0, 12.0, 11.5, 13.0])
    # mid 5 (11.6) is inside candle 1's band but not candle 2's, where it lives
    assert scan_run(times, mids, candle_of, 2, 8, 0, lo, hi, 10**9) == (5, 11.4, 11.0)
    assert scan_run(times, mids, candle_of, 2, 4, 0, lo, hi, 10**9) == (4, 11.2, 11.0)  # the stop
    assert scan_run(times, mids, candle_of, 2, 8, 0, lo, hi, 3000)[0] == 3  # the time
    assert scan_run(times, mids, candle_of, 0, 8, 0, lo, hi, 10**9)[0] == 1  # on candle 0's edge: out


@pytest.mark.timeout(300)
@pytest.mark.parametrize(
    ("kind", "overrides", "gaps"),
    [
        ("rsi_bb", None, [slice(300, 301), slice(700, 745)]),
        # volatility candles of their own
        ("rsi_bb", {"volatility_interval_ms": 60_000, "candle_interval_s": 30}, [slice(300, 301), slice(700, 745)]),
        ("renko_ao", None, [slice(300, 301), slice(700, 745)]),
        # the ATR on the volatility candles: 45 flat minutes shrink its bricks to nothing (they restart)
        ("renko_ao", {"atr_interval_s": 15}, [slice(300, 301), slice(700, 745)]),
    ],
)
def test_runs_across_missing_minutes_match_event_by_event(
    month: Candles, kind: str, overrides: dict[str, int] | None, gaps: list[slice]
) -> None:
    window = _with_gaps(_days(month, 20, 1), gaps)
    slow = replay_candles(kind, window, overrides=overrides)
    fast = fast_replay(kind, window, params=overrides)
    assert len(slow.trades) > 0
    assert _comparable(fast) == _comparable(slow)


def test_a_tape_needs_a_mid() -> None:
    empty = np.empty(0)
    with pytest.raises(ValueError, match="at least one mid"):
        CandleTape.from_path(empty.astype(np.int64), empty, empty, 15_000)
