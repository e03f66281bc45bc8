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
from strategies.candle_tape import CandleTape, scan_band, scan_run
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
    # one band for all
    assert scan_band(times, mids, 2, 8, 9.0, 11.5, 10**9) == (5, 11.4, 11.0)
    assert scan_band(times, mids, 2, 8, 9.0, 13.0, 10**9) == (8, 12.5, 10.0)
    assert scan_band(times, mids, 2, 8, 9.0, 13.0, 4000) == (4, 11.2, 11.0)


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


def _second_day_later(candles: Candles, days: float) -> Candles:
    t = candles.open_time_ms.copy()
    t[1440:] += int(days * 86_400_000)
    return Candles(open_time_ms=t, open=candles.open, high=candles.high, low=candles.low, close=candles.close,
                   volume=candles.volume, malformed=0)


@pytest.mark.timeout(300)
@pytest.mark.parametrize(
    ("kind", "days", "overrides"),
    [
        ("rsi_bb", 8.0, None),  # beyond a week the candles restart instead of filling it: no run crosses it
        ("renko_ao", 8.0, None),
        # 6.5 days of 5-s candles: more empty candles than a builder fills (it raised on every mid)
        ("rsi_bb", 6.5, {"candle_interval_s": 5}),
    ],
)
def test_a_long_silence_restarts_the_candles_alike(
    month: Candles, kind: str, days: float, overrides: dict[str, int] | None
) -> None:
    window = _second_day_later(_days(month, 3, 2), days)
    slow = replay_candles(kind, window, overrides=overrides)
    fast = fast_replay(kind, window, params=overrides)
    assert len(slow.trades) > 0
    # the second day's candles alone: the silence was not filled
    assert slow.state["candles_seen"] < 2 * 86_400_000 // fast.state["candles"]["interval_ms"]
    assert _comparable(fast) == _comparable(slow)


@pytest.mark.timeout(120)
def test_rsi_bb_close_rules_list_every_close_its_streaming_checks_fire_on(month: Candles) -> None:
    """close_rules (batch kernels over the tape) against the strategy's own `_side_checks` and
    trend reversal on its streaming indicators, at every close of a day, for parameter sets far
    from the defaults: a close the stream would enter or reverse on is never left out (the
    fast replay would skip it), and on clean data the lists are exactly those closes."""
    import random

    from strategies.registry import build
    from strategies.rsi_bb import RsiBbStrategy, close_rules
    from venue.markets import SOL_DEFAULT

    rng = random.Random(7)
    path = mid_path(_days(month, 11, 1))
    for _ in range(3):
        interval_s = rng.choice([5, 15, 30, 60])
        params = dict(candle_interval_s=interval_s, rsi_period=rng.randint(2, 30), bb_period=rng.randint(2, 40),
                      bb_std=rng.uniform(0.5, 3.5), ema_fast=rng.randint(2, 15), ema_slow=rng.randint(5, 40),
                      volume_window=rng.randint(1, 40), rsi_momentum_strength=rng.uniform(0, 20),
                      bb_position_threshold=rng.uniform(0, 0.5), trend_confirmation_bps=rng.uniform(-2, 5),
                      volatility_min_bps=rng.uniform(0, 3), volatility_max_bps=rng.uniform(10, 40),
                      volatility_interval_ms=rng.choice([interval_s * 1000, 7000, 60_000]),
                      reversal_rsi=rng.uniform(30, 70))
        s = build("rsi_bb", "t", SOL_DEFAULT, overrides=params)
        assert isinstance(s, RsiBbStrategy)
        tape = path.tape(s.candle_interval_ms)
        open_one = len(tape) - 1  # the last candle never closes
        entries, long_exits, short_exits = (set(a.tolist()) - {open_one} for a in close_rules(s.params, path, tape))
        fired: set[int] = set()
        reversals: list[set[int]] = [set(), set()]
        for ts, mid, size in zip(path.times_list, path.mids_list, path.sizes_list, strict=True):
            closed = s._candles.on_mid(ts, mid)  # the candles and indicators as on_mid updates them
            for candle in closed:
                s._apply_candle(candle)
            if s._vol_candles is not None:
                for candle in s._vol_candles.on_mid(ts, mid):
                    s._vol.update(candle.close)
            if size > 0:
                s._candles.on_trade(ts, mid, size)
            if not closed:
                continue
            k = s._candles_seen - 1
            rsi, f, vol = s._rsi.value, s.features(), s._vol.value
            if rsi is not None:
                if rsi < s.params.reversal_rsi:
                    reversals[0].add(k)
                if rsi > s.params.reversal_rsi:
                    reversals[1].add(k)
            if f is not None and vol is not None and (all(s._side_checks("buy", f, vol))
                                                      or all(s._side_checks("sell", f, vol))):
                fired.add(k)
        assert fired and fired == entries, params
        assert reversals == [long_exits, short_exits], params


def test_a_tape_needs_a_mid() -> None:
    empty = np.empty(0)
    with pytest.raises(ValueError, match="at least one mid"):
        CandleTape.from_path(empty.astype(np.int64), empty, empty, 15_000)
