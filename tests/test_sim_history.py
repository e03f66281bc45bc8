"""The paper venue's past: candles from before its start, served as Lighter serves past candles.

- the synthetic past is the market the same generator makes from that earlier start (the same
  candles, trade ids included, and the same live events after it), deterministic per seed;
- a candle file's past is its head, and playback starts right after it; a file too short is refused;
- through the real REST client the simulator serves the past continuous with the live candles;
- a strategy actor's warm-up from the venue (the actor's own code, without Ray) makes breakout and
  renko_ao ready at once.
"""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from actors.common import ActorContext
from actors.strategy import StrategyActor
from strategies.registry import build
from tests.ray_fixtures import settings_data, strategy_entry
from venue.markets import SOL_DEFAULT
from venue.rest import LighterRest
from venue.sim.candle_history import CandleHistory
from venue.sim.server import EXTERNAL_TRADE_ID_START, SimServer
from venue.sim.sources import CandleSource, SyntheticSource

pytestmark = pytest.mark.timeout(60)

START_NS = SyntheticSource().start_ts_ns
START_MS = START_NS // 1_000_000
MINUTE = 60_000
FAR_MS = 4_102_444_800_000


def same_candles(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> None:
    assert [c["t"] for c in a] == [c["t"] for c in b]
    for x, y in zip(a, b, strict=True):
        assert x["i"] == y["i"], (x, y)
        for key in ("o", "h", "l", "c", "v", "V"):
            assert x[key] == pytest.approx(y[key], rel=1e-12, abs=1e-6), (key, x, y)


def test_synthetic_past_is_what_the_generator_makes_from_the_earlier_start() -> None:
    minutes = 20
    straight = SyntheticSource(seed=5, start_ts_ns=START_NS - minutes * MINUTE * 1_000_000, book_interval_ms=500)
    venue = SimServer(source=[], speed=0)  # not started: its candles are built by apply_event as live
    events = straight.events()
    live: list[Any] = []
    for event in events:
        if event.ts_ns >= START_NS:
            live.append(event)
            break
        venue.apply_event(venue.market_id, event)
    live += itertools.islice(events, 3000)

    source = SyntheticSource(seed=5, book_interval_ms=500)  # fewer books: a faster test, the same rules
    past = source.take_history(minutes * MINUTE)
    loaded = CandleHistory()
    loaded.load_past(past, EXTERNAL_TRADE_ID_START)
    assert past.start_ms[0] == START_MS - minutes * MINUTE and past.end_ms == START_MS - MINUTE
    for resolution in ("1m", "5m", "15m", "1h"):
        same_candles(loaded.query(resolution), venue.candles[venue.market_id].query(resolution))
    # and the market goes on from there exactly as the straight run did
    assert list(itertools.islice(source.events(), len(live))) == live


def test_synthetic_past_is_deterministic_per_seed() -> None:
    a, b = SyntheticSource(seed=3).take_history(30 * MINUTE), SyntheticSource(seed=3).take_history(30 * MINUTE)
    other = SyntheticSource(seed=4).take_history(30 * MINUTE)
    assert len(a) == 30 and a.trade_count > 1000
    for name in ("start_ms", "mid", "trade", "volume", "trades", "last_trade"):
        assert np.array_equal(getattr(a, name), getattr(b, name), equal_nan=True), name
    assert not np.array_equal(a.trade, other.trade, equal_nan=True)
    # a part of a chunk is rounded up to the whole chunk: the past ends at the start all the same
    partial = SyntheticSource(seed=3).take_history(3 * MINUTE)
    assert len(partial) == SyntheticSource.CHUNK_MINUTES and partial.end_ms == START_MS - MINUTE


def test_candle_file_past_is_its_head_and_playback_starts_after_it(sol_candles_path: Path) -> None:
    source = CandleSource(sol_candles_path)
    file = source.candles
    past = source.take_history(2 * 3_600_000)
    assert len(past) == 120
    assert np.array_equal(past.start_ms, file.open_time_ms[:120])
    assert np.allclose(past.trade[:, 1], file.high[:120]) and np.allclose(past.trade[:, 2], file.low[:120])
    assert np.allclose(past.volume, file.volume[:120], atol=0.001)
    first = next(iter(source.events()))
    assert first.ts_ns == int(file.open_time_ms[120]) * 1_000_000

    span_h = len(file) / 60
    with pytest.raises(ValueError, match="leave nothing to play"):
        CandleSource(sol_candles_path).take_history(round(span_h * 3_600_000))


async def test_the_venue_serves_its_past_through_the_rest_client_continuous_with_live() -> None:
    async with SimServer("synthetic", speed=1, seed=9, history_hours=2) as sim:
        async with LighterRest(sim.url) as rest:
            served = await rest.candles(sim.market_id, "1m", 0, FAR_MS, 500)
            for _ in range(100):  # until the live minute has a trade (4 a second on average)
                if served[-1].last_trade_id:
                    break
                await asyncio.sleep(0.05)
                served = await rest.candles(sim.market_id, "1m", 0, FAR_MS, 500)
            fifteen = await rest.candles(sim.market_id, "15m", 0, FAR_MS, 500)
            older = await rest.candles(sim.market_id, "1m", 0, START_MS - 30 * MINUTE - 1, 10)
    times = [c.ts_ms for c in served]
    assert times[0] == START_MS - 120 * MINUTE
    assert times == list(range(times[0], times[-1] + 1, MINUTE)), "a gap or an overlap"
    assert times[-1] == START_MS  # the live minute follows the past's last one
    ids = [c.last_trade_id for c in served]
    assert ids == sorted(ids) and ids[-1] > ids[-2]  # live trade ids run on after the past's

    past = SyntheticSource(seed=9).take_history(120 * MINUTE)
    expected = CandleHistory()
    expected.load_past(past, EXTERNAL_TRADE_ID_START)
    want = expected.query("1m")
    assert len(want) == 120
    for got, exp in zip(served[:-1], want, strict=True):
        assert (got.ts_ms, got.open, got.high, got.low, got.close) == (exp["t"], exp["o"], exp["h"], exp["l"], exp["c"])
        assert got.last_trade_id == exp["i"]
    # the 15-minute candle the start falls in holds both the past's minutes and the live one
    assert fifteen[-1].ts_ms == START_MS - START_MS % (15 * MINUTE) < START_MS
    assert fifteen[-1].ts_ms in [c["t"] for c in expected.query("15m")]
    # count_back is the newest that many in the window, oldest first (as Lighter answers)
    assert [c.ts_ms for c in older] == [START_MS - (30 + 10 - k) * MINUTE for k in range(10)]


async def test_the_venue_serves_a_candle_files_head_as_its_past(sol_candles_path: Path) -> None:
    file_start = int(CandleSource(sol_candles_path).candles.open_time_ms[0])
    async with SimServer(f"candles:{sol_candles_path}", speed=1, history_hours=1) as sim:
        async with LighterRest(sim.url) as rest:
            served = await rest.candles(sim.market_id, "1m", 0, FAR_MS, 500)
    times = [c.ts_ms for c in served]
    assert times == [file_start + k * MINUTE for k in range(61)]


@pytest.mark.parametrize("kind", ["breakout", "renko_ao"])
async def test_a_strategy_actor_is_ready_to_trade_right_after_start_on_the_paper_venue(kind: str, tmp_path: Path) -> None:
    data = settings_data(tmp_path, strategies=[strategy_entry(kind, 2001, kind=kind, params={})])
    actor = StrategyActor(ActorContext(name=f"strategy:{kind}", settings=data))
    actor.strategy = build(kind, kind, SOL_DEFAULT, account_index=2001)
    actor.interval_s = actor.strategy.candle_interval_ms // 1000
    assert actor.strategy.warmup_needed() > 0
    sim_cfg = actor.settings.venue.sim
    assert sim_cfg.history_hours == 14.0  # the default
    async with SimServer("synthetic", speed=1, seed=sim_cfg.seed, history_hours=sim_cfg.history_hours) as sim:
        actor.rest = LighterRest(sim.url)
        try:
            await actor._warm_up_from_venue()
        finally:
            await actor.rest.close()
    assert actor.errors == 0, actor.last_error
    assert actor.strategy.warmup_needed() == 0


async def test_a_warm_up_longer_than_one_read_pages_back(tmp_path: Path) -> None:
    kind, longer = "renko_ao", {"warmup_candles": 700}  # Lighter answers 500 candles a read at most
    data = settings_data(tmp_path, strategies=[strategy_entry("long", 2001, kind=kind, params=longer)])
    actor = StrategyActor(ActorContext(name="strategy:long", settings=data))
    actor.strategy = build(kind, "long", SOL_DEFAULT, overrides=longer, account_index=2001)
    actor.interval_s = 60
    async with SimServer("synthetic", speed=1, seed=7, history_hours=14) as sim:
        actor.rest = LighterRest(sim.url)
        try:
            await actor._warm_up_from_venue()
        finally:
            await actor.rest.close()
    assert actor.errors == 0, actor.last_error
    assert actor.strategy.snapshot()["candles_seen"] == 700


@pytest.mark.parametrize("raw", ["-1", "nan", "inf", "745", "two"])
def test_a_bad_history_length_is_refused_by_the_cli_and_the_settings(raw: str, tmp_path: Path) -> None:
    from pydantic import ValidationError

    from config.settings import AppSettings
    from venue.sim.__main__ import parse_args

    with pytest.raises(SystemExit) as exit_info:
        parse_args(["--history-hours", raw])
    assert exit_info.value.code == 2
    data = settings_data(tmp_path)
    data["venue"]["sim"]["history_hours"] = raw
    with pytest.raises(ValidationError, match="history_hours"):
        AppSettings.model_validate(data)
    assert parse_args(["--history-hours", "2.5"]).history_hours == 2.5


@pytest.mark.parametrize("hours", [-1.0, float("nan"), float("inf")])
def test_the_server_refuses_a_history_that_is_not_a_length(hours: float) -> None:
    with pytest.raises(ValueError, match="history_hours"):
        SimServer(history_hours=hours)
