"""Market sources of the venue simulator: pure generators of external market events.

A source yields SourceBook (the full external book, top N levels a side) and SourceTrade events
in nondecreasing event time (ts_ns), starting with a SourceBook. Sources know nothing of sockets,
asyncio or the wall clock: pacing a replay by a speed factor is the server's job, so a replay at
1000x makes the same events as at 1x.

  synthetic      SyntheticSource: an infinite SOL-like market, deterministic per seed (default)
  candles:PATH   CandleSource: 1-minute candles (gzip CSV) walked along an intra-minute path
  binance:PATH   BinanceRecordingSource: a raw Binance futures websocket recording
  lighter:WS_URL LighterMirror: the same market of a live Lighter websocket (wss://.../stream), in
                 real time: a live source (venue.sim.live_sources), not a generator; the
                 simulator's market must carry the upstream's spec (lighter_mirror.upstream_markets)
  lighter-recording:PATH[#MARKET]   LighterRecordingSource: a `lighter-trader record` file (one market:
                 #MARKET, else the first one whose book it holds)

Synthetic and candles also have `take_history(duration_ms) -> past_candles.Bars`: the market's
past as 1-minute bars, after which events() starts where the past ends (the server serves it
from its candles endpoints; see server.py). The recording has none.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from venue.sim.binance_source import BinanceRecordingSource
from venue.sim.candle_source import Candles, CandleSource, intraminute_path, read_candles
from venue.sim.lighter_mirror import LighterMirror
from venue.sim.lighter_recording import LighterRecordingSource
from venue.sim.synthetic import SyntheticSource
from venue.sim.types import SourceEvent

__all__ = [
    "BinanceRecordingSource",
    "CandleSource",
    "Candles",
    "LighterMirror",
    "LighterRecordingSource",
    "MarketSource",
    "SyntheticSource",
    "intraminute_path",
    "make_source",
    "read_candles",
]

SPEC_HELP = 'expected "synthetic", "candles:PATH", "binance:PATH" or "lighter-recording:PATH[#MARKET]"'


class MarketSource(Protocol):
    def events(self) -> Iterator[SourceEvent]:
        """Nondecreasing ts_ns; the first event is a SourceBook; synthetic is infinite, files end."""
        ...


def make_source(
    spec: str, *, seed: int = 1, tick: float = 0.001, lot: float = 0.001, market_id: int = 2
) -> MarketSource | LighterMirror:
    """The source a spec names; a bad spec or a missing file raises ValueError with one clear line.
    market_id: the market a live mirror follows (the simulator market it drives)."""
    if not isinstance(spec, str):
        raise ValueError(f"market source spec must be a string, got {spec!r}; {SPEC_HELP}")
    kind, sep, rest = spec.strip().partition(":")
    kind = kind.strip().lower()
    if kind == "synthetic" and not sep:
        return SyntheticSource(seed=seed, tick=tick, lot=lot)
    if kind == "lighter-recording" and sep:
        return _lighter_recording(spec, rest.strip())
    if kind == "lighter" and sep:
        if not rest.strip():
            raise ValueError(f"market source {spec!r} has no websocket URL; {SPEC_HELP}")
        return LighterMirror(rest.strip(), market_id)
    if kind in ("candles", "binance") and sep:
        path = Path(rest.strip()).expanduser()
        if not rest.strip():
            raise ValueError(f"market source {spec!r} has no file path; {SPEC_HELP}")
        if not path.is_file():
            raise ValueError(f"market source file not found: {path}")
        if kind == "candles":
            return CandleSource(path, tick=tick, lot=lot, seed=seed)
        return BinanceRecordingSource(path)
    raise ValueError(f"unknown market source {spec!r}; {SPEC_HELP}")


def _lighter_recording(spec: str, rest: str) -> LighterRecordingSource:
    """`PATH` or `PATH#MARKET` (a market id after the last #)."""
    path_text, hash_sep, market_text = rest.rpartition("#")
    market_id: int | None = None
    if hash_sep and market_text.strip().isdigit():
        market_id = int(market_text)
    else:
        path_text = rest
    if not path_text.strip():
        raise ValueError(f"market source {spec!r} has no file path; {SPEC_HELP}")
    path = Path(path_text.strip()).expanduser()
    if not path.is_file():
        raise ValueError(f"market source file not found: {path}")
    return LighterRecordingSource(path, market_id=market_id)
