"""Live market sources of the simulator: markets that happen in wall-clock time (a mirror of a
live Lighter market, venue.sim.lighter_mirror) rather than generators the server paces.

A live source has `is_live = True` and:
  async check_market(spec) -> MarketSpec   the upstream's spec; ValueError if the simulator's differs
  async fetch_history(ms), take_history(ms) optional: the market's past, loaded before it starts
  async start(emit)                        begins calling emit(SourceEvent) as events happen
  async stop()
  stats() -> dict                          counters for /sim/state

`LiveSources` is the server's side of them: at start it checks each market's spec, starts the
sources, each emitting straight into the server's `apply_event` for its market (no queue, no
pacing: the upstream's clock is the pace; event time is the upstream's), and waits a bounded time
for every market's first book, so that the venue opens with a book where the upstream has one.
Live sources run in real time: the server's speed must be 1 with them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any

from loguru import logger

from venue.markets import MarketSpec
from venue.sim.types import SourceBook, SourceEvent

FIRST_BOOK_TIMEOUT_S = 15.0
LIVE_KINDS = frozenset({"lighter"})  # make_source kinds that are live


def is_live(source: Any) -> bool:
    return getattr(source, "is_live", False) is True


def resolve_live(specs: Mapping[int, Any]) -> dict[int, Any]:
    """The live sources among a server's source specs (market -> spec): live objects, and
    "lighter:WS_URL" strings as a mirror of that market. ValueError for a bad live spec."""
    out: dict[int, Any] = {}
    for market_id, spec in specs.items():
        if isinstance(spec, str) and spec.partition(":")[0].strip().lower() in LIVE_KINDS:
            from venue.sim.sources import make_source

            spec = make_source(spec, market_id=market_id)
        if is_live(spec):
            out[market_id] = spec
    return out


class LiveSources:
    def __init__(self, sources: Mapping[int, Any]) -> None:
        self.sources: dict[int, Any] = {m: s for m, s in sources.items() if is_live(s)}
        self._first_book = {m: asyncio.Event() for m in self.sources}
        self._started: list[Any] = []

    def __bool__(self) -> bool:
        return bool(self.sources)

    def check_speed(self, speed: float) -> None:
        if self.sources and speed != 1.0:
            raise ValueError(f"a live market source runs in real time: speed must be 1, got {speed:g}")

    async def start(
        self,
        markets: Mapping[int, MarketSpec],
        apply_event: Callable[[int, SourceEvent], None],
        first_book_timeout_s: float = FIRST_BOOK_TIMEOUT_S,
        *,
        history_ms: int = 0,
        load_history: Callable[[int, Any], None] | None = None,
    ) -> None:
        """Check the specs, load each market's past (a source with fetch_history, when history_ms
        > 0: load_history(market, source) takes it, before any live event), start every source,
        wait (bounded) for their first books. ValueError (one line) when a spec differs or the
        upstream cannot be read."""
        for market_id, source in self.sources.items():
            await source.check_market(markets[market_id])
            if history_ms > 0 and load_history is not None and hasattr(source, "fetch_history"):
                await source.fetch_history(history_ms)
                load_history(market_id, source)
        for market_id, source in self.sources.items():
            await source.start(self._emitter(market_id, apply_event))
            self._started.append(source)
        waits = [asyncio.wait_for(e.wait(), first_book_timeout_s) for e in self._first_book.values()]
        results = await asyncio.gather(*waits, return_exceptions=True)
        for market_id, result in zip(self._first_book, results, strict=True):
            if isinstance(result, BaseException):
                logger.warning("market {}: no book from {!r} within {:g} s; serving on, the source keeps trying",
                               market_id, self.sources[market_id], first_book_timeout_s)

    def _emitter(self, market_id: int, apply_event: Callable[[int, SourceEvent], None]) -> Callable[[SourceEvent], None]:
        first = self._first_book[market_id]

        def emit(event: SourceEvent) -> None:
            apply_event(market_id, event)
            if not first.is_set() and isinstance(event, SourceBook) and (event.bids or event.asks):
                first.set()

        return emit

    async def stop(self) -> None:
        started, self._started = self._started, []
        for source in started:
            try:
                await source.stop()
            except Exception as exc:  # noqa: BLE001 - stopping the rest matters more
                logger.warning("stopping {!r}: {}: {}", source, type(exc).__name__, exc)

    def stats(self) -> dict[str, Any]:
        return {str(m): s.stats() for m, s in self.sources.items()}
