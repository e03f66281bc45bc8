"""`python -m strategies.replay --strategy market_maker ...`: the maker's replay from the command line.

The market source is one of --recording PATH (a Binance L2 recording, venue.sim.binance_source),
--candles PATH (1-minute candles, walked every --sample-ms; --from/--to as for the directional
replay) or --synthetic HOURS (the simulator's synthetic market, --seed). The market is --market
(sol, or btc for the shared BTC recording; default btc for a recording, else sol) with the maker
sizes that suit it (strategies.replay_maker_markets); --set NAME=JSON overrides any parameter on
top. Every flag is checked before an event is replayed; a bad one is one line, exit status 2.
"""

from __future__ import annotations

import argparse
import zlib
from collections.abc import Iterator
from pathlib import Path

from strategies.registry import make_params
from strategies.replay_args import (
    ReplayInputError,
    check_sample_ms,
    data_range,
    parse_bound,
    parse_overrides,
    select_minutes,
)
from strategies.replay_maker import REPLAY_TIERS, MakerReplayResult, replay_maker
from strategies.replay_maker_markets import market_named
from venue.markets import MarketSpec
from venue.sim.binance_source import BinanceRecordingSource
from venue.sim.candle_source import CandleSource
from venue.sim.synthetic import NS_PER_MS, SyntheticSource
from venue.sim.types import SourceEvent

MAX_SYNTHETIC_HOURS = 24 * 31


def _synthetic(source: SyntheticSource, hours: float) -> Iterator[SourceEvent]:
    end_ns = source.start_ts_ns + int(hours * 3_600_000) * NS_PER_MS
    for event in source.events():
        if event.ts_ns > end_ns:
            return
        yield event


def _candles(args: argparse.Namespace, market: MarketSpec, seed: int) -> CandleSource:
    path: Path = args.candles
    if not path.is_file():
        raise ReplayInputError(f"--candles {path}: no such file")
    try:
        source = CandleSource(path, tick_ms=check_sample_ms(args.sample_ms), tick=market.tick, lot=market.lot,
                              spread_bps=args.spread_bps, seed=seed)
    except (OSError, EOFError, zlib.error) as exc:
        raise ReplayInputError(f"--candles {path}: cannot read it ({exc})") from None
    data = data_range(source.candles, path)
    start, end = parse_bound("--from", args.start, data), parse_bound("--to", args.end, data)
    source.candles = select_minutes(source.candles, start, end, data)
    return source


def run(args: argparse.Namespace) -> MakerReplayResult:
    """The replay the flags ask for; ReplayInputError (a ValueError) for a bad flag."""
    chosen = [flag for flag, value in (("--recording", args.recording), ("--candles", args.candles),
                                       ("--synthetic", args.synthetic)) if value is not None]
    if len(chosen) != 1:
        raise ReplayInputError(f"{args.strategy} needs exactly one of --recording PATH, --candles PATH, "
                               f"--synthetic HOURS (got {', '.join(chosen) or 'none'})")
    if args.fee_bps:
        raise ReplayInputError("bad --fee-bps: a maker replay's fees are its --tier's")
    if args.out is not None:
        raise ReplayInputError("bad --out: a maker replay has no trade list; use --json")
    tier, seed = args.tier or "standard", 1 if args.seed is None else args.seed
    if tier not in REPLAY_TIERS:
        raise ReplayInputError(f"bad --tier {tier!r}: expected one of {', '.join(REPLAY_TIERS)}")
    market, profile = market_named(args.market or ("btc" if args.recording is not None else "sol"))
    overrides = {**profile, **parse_overrides(args.set)}
    make_params(args.strategy, args.preset)  # a bad --preset says so itself
    try:
        make_params(args.strategy, args.preset, overrides)
    except ValueError as exc:
        raise ReplayInputError(f"bad --set: {exc}") from None
    events: Iterator[SourceEvent]
    if args.recording is not None:
        if not Path(args.recording).is_file():
            raise ReplayInputError(f"--recording {args.recording}: no such file")
        recording = BinanceRecordingSource(args.recording)
        events, label = recording.events(), f"recording {Path(args.recording).name}"
    elif args.candles is not None:
        candles = _candles(args, market, seed)
        events, label = candles.events(), f"candles {Path(args.candles).name} every {args.sample_ms} ms"
    else:
        hours = args.synthetic
        if not 0 < hours <= MAX_SYNTHETIC_HOURS:
            raise ReplayInputError(f"bad --synthetic {hours:g}: expected hours in (0, {MAX_SYNTHETIC_HOURS}]")
        synthetic = SyntheticSource(seed=seed, tick=market.tick, lot=market.lot)
        events, label = _synthetic(synthetic, hours), f"synthetic seed {seed}, {hours:g} h"
    try:
        result = replay_maker(events, market, tier=tier, kind=args.strategy, preset=args.preset,
                              overrides=overrides, source=label)
    except (OSError, EOFError, zlib.error) as exc:
        raise ReplayInputError(f"cannot read the market source ({exc})") from None
    if args.recording is not None:
        result.source_counters = {"malformed": recording.malformed, "gaps": recording.gaps}
    elif args.candles is not None:
        result.source_counters = {"malformed_rows": candles.malformed}
    return result
