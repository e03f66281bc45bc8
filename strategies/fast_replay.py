"""The research replay, fast: same trades as strategies.replay, mids the strategy cannot act on skipped.

API (for sweeps; H6's research.sweep calls it):

    fast_replay(kind, source, *, preset="default", params=None, start_ms=None, end_ms=None,
                fee_bps=0.0, sample_ms=1000, spread_bps=1.0, levels=5, level_size=1000.0,
                market=SOL_DEFAULT) -> strategies.replay.ReplayResult

    kind:    "rsi_bb" | "renko_ao" | "breakout"
    source:  a candles file path (str | Path), a venue.sim.sources.Candles, or a MidPath made by
             `mid_path(candles_or_path, start_ms=..., end_ms=...)` (build it once and pass it to
             every trial of a sweep: it is the expensive, shared part)
    params:  parameter overrides on top of the preset ({"stop_loss_bps": 7.0, ...}); a bad name
             or value raises ValueError
    start_ms/end_ms: event-time bounds (ms, open time of the minute, start inclusive, end
             exclusive) applied to a path or Candles source; None = all of it
    returns: the ReplayResult of strategies.replay (trades: list[TradeRecord], each with
             pnl_quote net of fees, fees, side, entry/exit price and time, exit_reason, ...;
             minutes, mids, actions, fills, engine checks, seconds, params, and `state`, the
             strategy's snapshot() at the end);
             `strategies.replay_report.summarize(result)` gives the summary dict (trades,
             pnl_quote net of fees, win_rate, max_drawdown_quote, by_exit_reason, ...).

How: the strategy is the same pure class the actors run. After each mid it is fed, it is asked
first for a `candle_run` (strategies.quiet_replay): with every candle of the path known in
advance (strategies.candle_tape), the first candle close that may make it act and a price band
per candle; the numba scan (candle_tape.scan_run) jumps to the first mid leaving it, and
`absorb_run` hands the skipped mids and closes over in one call (indicators in bulk). Failing
that, its `quiet_band()` (strategies.base): a price band and a time within the open candle
within which no mid can make it act or change anything but running aggregates (candle
high/low/close/volume, MFE/MAE marks, mid history); the skipped span goes to `absorb_quiet`.
The mid after a skip is fed as usual. Orders go through the simulator's MatchingEngine exactly
as in strategies.replay; its book is fed before each order only (nothing rests between mids:
the strategies send IOC market orders, and a resting order stops the replay with an error
rather than skipping past its trigger; the replay's engine has no funding rate, so the hours it
settles at the next order instead of the next mid move nothing).

Speed (scripts/bench_replay.py): what remains is the strategy's work where it acts (rsi_bb
stops at about two mids a trade: the close that enters, the mid that exits) and every order
through the engine, so rsi_bb, which closes a trade about every 4 minutes, is the slowest.
"""

from __future__ import annotations

import contextlib
import gc
import math
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import numpy as np

from strategies.base import QuietSpan
from strategies.candle_tape import scan_band, scan_run
from strategies.mid_path import MidPath, scan_quiet
from strategies.registry import DEFAULT_PRESET, build, params_dict
from strategies.replay import ACCOUNT, DEFAULT_SAMPLE_MS, ReplayResult, _Driver, load_candles
from strategies.replay_args import ReplayInputError, check_market_options
from venue.markets import SOL_DEFAULT, MarketSpec
from venue.sim.sources import Candles

__all__ = ["MidPath", "fast_replay", "mid_path", "prepare"]


def _window(candles: Candles, start_ms: int | None, end_ms: int | None) -> Candles:
    t = candles.open_time_ms
    keep = np.ones(len(t), dtype=bool)
    if start_ms is not None:
        keep &= t >= start_ms
    if end_ms is not None:
        keep &= t < end_ms
    if keep.all():
        return candles
    return Candles(
        open_time_ms=t[keep],
        open=candles.open[keep],
        high=candles.high[keep],
        low=candles.low[keep],
        close=candles.close[keep],
        volume=candles.volume[keep],
        malformed=candles.malformed,
    )


def mid_path(
    source: str | Path | Candles,
    *,
    start_ms: int | None = None,
    end_ms: int | None = None,
    sample_ms: int = DEFAULT_SAMPLE_MS,
    market: MarketSpec = SOL_DEFAULT,
) -> MidPath:
    """The replay's mids for the minutes start_ms <= open < end_ms of a file or Candles."""
    candles = load_candles(source) if isinstance(source, (str, Path)) else source
    candles = _window(candles, start_ms, end_ms)
    if len(candles) == 0:
        raise ReplayInputError("no candle to replay")
    return MidPath.from_candles(candles, sample_ms, market.price_scale)


def _path_window(path: MidPath, start_ms: int | None, end_ms: int | None) -> MidPath:
    if start_ms is None and end_ms is None:
        return path
    steps = 60_000 // path.sample_ms
    minute_open = path.times[::steps]
    lo = 0 if start_ms is None else int(np.searchsorted(minute_open, start_ms, "left"))
    hi = len(minute_open) if end_ms is None else int(np.searchsorted(minute_open, end_ms, "left"))
    if hi <= lo:
        raise ReplayInputError("no candle to replay")
    a, b = lo * steps, hi * steps
    return MidPath(
        times=path.times[a:b],
        mids=path.mids[a:b],
        sizes=path.sizes[a:b],
        times_list=path.times_list[a:b],
        mids_list=path.mids_list[a:b],
        sizes_list=path.sizes_list[a:b],
        sample_ms=path.sample_ms,
        price_scale=path.price_scale,
        minutes=hi - lo,
        span=(int(minute_open[lo]), int(minute_open[hi - 1]) + 60_000),
        malformed=path.malformed,
    )


def fast_replay(
    kind: str,
    source: str | Path | Candles | MidPath,
    *,
    preset: str = DEFAULT_PRESET,
    params: dict[str, Any] | None = None,
    start_ms: int | None = None,
    end_ms: int | None = None,
    fee_bps: float = 0.0,
    sample_ms: int = DEFAULT_SAMPLE_MS,
    spread_bps: float = 1.0,
    levels: int = 5,
    level_size: float = 1_000.0,
    market: MarketSpec = SOL_DEFAULT,
) -> ReplayResult:
    """strategies.replay.replay_candles's result, trade for trade; see the module docstring."""
    check_market_options(sample_ms, fee_bps, spread_bps)
    if isinstance(source, MidPath):
        if source.sample_ms != sample_ms or source.price_scale != market.price_scale:
            raise ReplayInputError("the MidPath was built with another sample_ms or market")
        path = _path_window(source, start_ms, end_ms)
    else:
        path = mid_path(source, start_ms=start_ms, end_ms=end_ms, sample_ms=sample_ms, market=market)
    market = msgspec.structs.replace(market, taker_fee=fee_bps / 1e4, maker_fee=fee_bps / 1e4)
    strategy = build(kind, f"replay-{kind}", market, preset=preset, overrides=params, account_index=ACCOUNT)
    driver = _Driver(strategy, market, spread_bps=spread_bps, levels=levels, level_size=level_size)
    began = time.perf_counter()
    with _cycle_collector_paused():
        _run(strategy, driver, path)
    position = driver.engine.account(ACCOUNT).positions.get(market.market_id)
    status = strategy.status()
    return ReplayResult(
        strategy=kind,
        preset=preset,
        trades=driver.trades + strategy.closed_trades(),
        minutes=path.minutes,
        mids=len(path.mids_list),
        actions=driver.actions,
        fills=driver.fills,
        engine_trades=len(driver.engine.account_trades(ACCOUNT)),
        rejections=driver.rejections,
        unfilled=driver.unfilled,
        engine_realized_gross=position.realized_pnl if position is not None else 0.0,
        engine_fees=position.fees_paid if position is not None else 0.0,
        open_position=status["position"],
        span=path.span,
        malformed=path.malformed,
        seconds=time.perf_counter() - began,
        params=params_dict(strategy.params),
        state=strategy.snapshot(),
    )


def prepare(path: MidPath, kind: str, *, preset: str = DEFAULT_PRESET, params: dict[str, Any] | None = None,
            market: MarketSpec = SOL_DEFAULT) -> None:
    """Compute now what a replay of this strategy over `path` builds on first use and keeps on the
    path for every later replay (a sweep's trials share them): the running aggregates and the
    candle tapes of its intervals."""
    strategy = build(kind, f"replay-{kind}", market, preset=preset, overrides=params, account_index=ACCOUNT)
    intervals = {strategy.candle_interval_ms, _shortest_interval_ms(strategy)}
    intervals.add(int(getattr(strategy.params, "volatility_interval_ms", strategy.candle_interval_ms)))
    for interval in intervals:
        path.buckets(interval)
        if getattr(strategy, "runs_across_candles", False):
            path.tape(interval)


def _run(strategy: Any, driver: _Driver, path: MidPath) -> None:
    """Per mid as strategies.replay (book, on_mid, orders, trade print), skipping quiet spans.

    A span to the end of the current interval (of the strategy's shortest candles) is taken from
    the path's running aggregates when they stay inside the band and no position needs the
    span's own extremes; otherwise the numba scan finds where it ends."""
    times, mids, sizes = path.times, path.mids, path.sizes
    tl, ml, sl = path.times_list, path.mids_list, path.sizes_list
    n = len(ml)
    quiet = path.buckets(_shortest_interval_ms(strategy))
    next_start, run_high, run_low = quiet.next_start, quiet.high, quiet.low
    run_volume = path.buckets(strategy.candle_interval_ms).volume
    on_mid, on_trade, quiet_band, absorb = strategy.on_mid, strategy.on_trade, strategy.quiet_band, strategy.absorb_quiet
    candle_run, absorb_run = strategy.candle_run, strategy.absorb_run
    candle_of = path.tape(strategy.candle_interval_ms).candle_of
    feed_book, execute, engine = driver.feed_book, driver.execute, driver.engine
    i = 0
    while i < n:
        ts, mid = tl[i], ml[i]
        actions = on_mid(ts, mid)
        if actions:
            feed_book(mid, ts)
            execute(actions, mid, ts)
            if engine.active_orders(ACCOUNT):
                raise RuntimeError("an order rests in the engine: the fast replay cannot skip mids past it")
        size = sl[i]
        i += 1
        if i < n and (run := candle_run(path, i)) is not None:
            # this mid's trade is in the tape's candles and the path's running volumes
            if isinstance(run.lo, np.ndarray):
                j, high, low = scan_run(times, mids, candle_of, i, run.stop, run.base, run.lo, run.hi, run.until_ms)
            else:
                j, high, low = scan_band(times, mids, i, run.stop, float(run.lo), float(run.hi), run.until_ms)
            if j > i:
                absorb_run(path, i, j, high, low)
                i = j
                continue
        band = quiet_band() if i < n else None  # a trade changes the candle's volume only
        if band is None:
            if size > 0.0:
                on_trade(ts, mid, size)
            continue
        lo, hi, until_ms, volume, marks = band
        stop = next_start[i - 1]  # the first mid of the next interval: the band ends there at the latest
        last = stop - 1
        if last >= i and tl[last] < until_ms:
            if marks:  # a position marks the span's own extremes
                span = ml[i:stop]
                high, low = max(span), min(span)
            else:  # the interval's running extremes hold the span's (and the mids fed before it)
                high, low = run_high[last], run_low[last]
            if lo < low and high < hi:
                # run_volume[last] holds this mid's trade and the span's, added in order
                absorb(QuietSpan(tl, ml, i, stop, high, low, run_volume[last]))
                i = stop
                continue
        if size > 0.0:
            on_trade(ts, mid, size)
            volume += size  # as the candle just added it
        # the span ends inside the interval: a short walk (numba's call costs more than these few mids)
        j = i
        high, low = -math.inf, math.inf
        while j < stop:
            m = ml[j]
            if tl[j] >= until_ms or m <= lo or m >= hi:
                break
            if m > high:
                high = m
            if m < low:
                low = m
            if sl[j] > 0.0:
                volume += sl[j]
            j += 1
        if j == stop and j < n and tl[j] < until_ms:  # a band past the interval (not one of ours)
            j, high2, low2, volume = scan_quiet(times, mids, sizes, j, lo, hi, until_ms, volume)
            high, low = max(high, high2), min(low, low2)
        if j > i:
            absorb(QuietSpan(tl, ml, i, j, high, low, volume))
            i = j


@contextlib.contextmanager
def _cycle_collector_paused() -> Iterator[None]:
    """The replay allocates orders, fills and trades by the ten thousand and keeps many (the
    engine's history): CPython's cycle collector ran over them again and again, about a tenth
    of the replay's time, for cycles it does not make. Reference counting still frees everything;
    the collector runs again afterwards (it is left off if it was off)."""
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()


def _shortest_interval_ms(strategy: Any) -> int:
    volatility_ms = getattr(strategy.params, "volatility_interval_ms", strategy.candle_interval_ms)
    return int(min(strategy.candle_interval_ms, volatility_ms))
