"""A live Lighter market as a market source of the simulator: paper trading on real prices.

    mirror = LighterMirror("wss://mainnet.zklighter.elliot.ai/stream", market_id=2)
    [spec] = await upstream_markets(mirror.ws_url, [2])        # the market as Lighter defines it
    sim = SimServer(mirror, markets=[spec], speed=1.0)          # orders fill in the simulator

The connection is venue.ws_client.LighterWsClient, the system's own Lighter client: it subscribes
to `order_book/{m}` and `trade/{m}`, builds the book from `subscribed/order_book` and the
`update/order_book` diffs (string levels, size "0" removes, offsets checked: a gap resubscribes
for a fresh snapshot), answers and sends pings, reconnects with backoff after any drop, counts and
drops malformed frames, and watches for staleness. This module turns what it reports into the
simulator's SourceEvents: every book change as a SourceBook (the top `depth` levels) and every
new trade as a SourceTrade; the trades sent on subscribing are history and are skipped, and a
trade seen twice (across a reconnect) is applied once.

Event time is the upstream's: a book takes its message's `timestamp`, a trade its own; where one
is missing, the time of receipt. It never goes back (the simulator refuses that): a trade stamped
before the book already applied takes the book's time (counted as `clamped`). A market silent for
`stale_after_s` while the connection is down is stale: its external book is emptied, so that
nothing fills at prices that may be gone, until the upstream's next snapshot. A quiet market on a
live, synchronised connection keeps its book: the upstream would have sent any change.

Past: with the simulator's history_hours, the mirror first reads the upstream's newest 1-minute
candles over that span (REST `candles`), so the market starts with its past as with the other
sources and strategies warm up at once.

Specs: the simulator must quote the market with Lighter's decimals and minimums, so that paper
matches live. `upstream_markets` reads them from the upstream's REST `orderBookDetails` (its
host, http(s) for ws(s)); `check_market` refuses a simulator built with others.

Offsets: our simulator numbers book updates one by one; Lighter mainnet does not (venue.book).
Offsets are checked strictly when the upstream is a loopback address (a local simulator standing
in for Lighter), else only for going back.
"""

from __future__ import annotations

import ipaddress
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import numpy as np
from loguru import logger

from venue.markets import MarketSpec
from venue.rest import LighterRest
from venue.sim.past_candles import MINUTE_MS, Bars
from venue.sim.types import SourceBook, SourceEvent, SourceTrade
from venue.wire import BookUpdated, Candle, Disconnected, Fresh, Stale, TradesReceived, WsEvent

NS_PER_MS = 1_000_000
TRADE_IDS_KEPT = 10_000  # recent upstream trade ids, to apply a trade repeated after a reconnect once
HISTORY_PAGE = 500  # candles per request for the past (the most the simulator's endpoint gives)

Emit = Callable[[SourceEvent], None]


def rest_root(ws_url: str) -> str:
    """The REST host root of a Lighter websocket URL: wss://host/stream -> https://host."""
    parts = urlsplit(ws_url)
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise ValueError(f"the mirror needs a ws:// or wss:// URL, got {ws_url!r}")
    scheme = "https" if parts.scheme == "wss" else "http"
    return urlunsplit((scheme, parts.netloc, "", "", ""))


def is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def upstream_markets(ws_url: str, market_ids: Iterable[int], *, timeout_s: float = 10.0) -> list[MarketSpec]:
    """The upstream's own specs of these markets (orderBookDetails); ValueError with one clear
    line when it cannot be read or lacks a market."""
    root = rest_root(ws_url)
    try:
        async with LighterRest(root, timeout_s=timeout_s) as rest:
            specs = await rest.order_book_details()
    except Exception as exc:  # VenueError (network, status, shape): one line, the URL without secrets
        raise ValueError(f"cannot read the market specs of {root} (orderBookDetails): {exc}") from None
    wanted = list(dict.fromkeys(market_ids))
    missing = [m for m in wanted if m not in specs]
    if missing:
        raise ValueError(f"{root} has no market {missing[0]} (its markets: {sorted(specs)})")
    return [specs[m] for m in wanted]


async def mirrored_markets(source_spec: Any, market_ids: Iterable[int]) -> list[MarketSpec] | None:
    """The upstream's specs when a source spec names a mirror ("lighter:WS_URL"), else None."""
    if not isinstance(source_spec, str):
        return None
    kind, sep, url = source_spec.strip().partition(":")
    if kind.strip().lower() != "lighter" or not sep:
        return None
    return await upstream_markets(url.strip(), market_ids)


def _same_rules(ours: MarketSpec, theirs: MarketSpec) -> bool:
    return (ours.size_decimals, ours.price_decimals, ours.min_base_amount, ours.min_quote_amount) == (
        theirs.size_decimals, theirs.price_decimals, theirs.min_base_amount, theirs.min_quote_amount)


class LighterMirror:
    """One upstream market fed into the simulator as it happens (a live source: see
    venue.sim.live_sources). Not reusable across starts: one mirror per simulator run."""

    is_live = True

    def __init__(
        self,
        ws_url: str,
        market_id: int,
        *,
        depth: int = 50,
        stale_after_s: float = 10.0,
        strict_offsets: bool | None = None,
        **client_options: Any,
    ) -> None:
        rest_root(ws_url)  # ValueError: not a websocket URL
        if depth < 1:
            raise ValueError(f"depth must be >= 1, got {depth}")
        self.ws_url = ws_url
        self.market_id = market_id
        self.depth = depth
        self.stale_after_s = stale_after_s
        self.strict_offsets = is_loopback(ws_url) if strict_offsets is None else strict_offsets
        self.client_options = client_options
        self.client: Any = None  # venue.ws_client.LighterWsClient once started
        self._emit: Emit | None = None
        self._last_ns = 0
        self._seen_ids: set[int] = set()
        self._seen_order: deque[int] = deque()
        self._book_empty = True
        self._history = Bars.empty()
        # what the mirror did (the client's own counters come with them in stats())
        self.books = 0
        self.trades = 0
        self.repeated_trades = 0
        self.snapshot_trades_skipped = 0
        self.clamped = 0
        self.blanked = 0

    def __repr__(self) -> str:
        return f"LighterMirror({_safe(self.ws_url)!r}, {self.market_id})"

    async def check_market(self, spec: MarketSpec) -> MarketSpec:
        """The upstream's spec of the mirrored market; ValueError when the simulator's differs."""
        [theirs] = await upstream_markets(self.ws_url, [self.market_id])
        if not _same_rules(spec, theirs):
            raise ValueError(
                f"market {self.market_id}: the simulator's spec ({_rules(spec)}) differs from the upstream's "
                f"({_rules(theirs)}); build the simulator with lighter_mirror.upstream_markets()")
        return theirs

    async def start(self, emit: Emit) -> None:
        """Connect (in the background) and hand every event to `emit`, in event-time order."""
        from venue.ws_client import LighterWsClient

        if self.client is not None:
            raise RuntimeError("the mirror is already started")
        self._emit = emit
        self.client = LighterWsClient(
            self.ws_url,
            markets=[self.market_id],
            on_event=self.on_event,
            depth=self.depth,
            stale_after_s=self.stale_after_s,
            strict_offsets=self.strict_offsets,
            **self.client_options,
        )
        await self.client.start()
        logger.info("mirroring market {} of {}", self.market_id, _safe(self.ws_url))

    async def stop(self) -> None:
        if self.client is not None:
            await self.client.stop()

    async def fetch_history(self, duration_ms: int) -> None:
        """The upstream's newest 1-minute candles spanning duration_ms, for take_history: a
        mirror starts with the market's past, as the simulator's other sources do, so that the
        strategies warm up at once. Best effort: without them the candles start with the mirror."""
        wanted = -(-duration_ms // MINUTE_MS) + 1
        rows: dict[int, Any] = {}
        end = int(time.time() * 1000) + 86_400_000  # the upstream's clock may not be ours (a replay)
        try:
            async with LighterRest(rest_root(self.ws_url)) as rest:
                while len(rows) < wanted:
                    page = await rest.candles(self.market_id, "1m", 0, end, min(HISTORY_PAGE, wanted - len(rows)))
                    fresh = [c for c in page if c.ts_ms not in rows]
                    if not fresh:
                        break
                    rows.update((c.ts_ms, c) for c in fresh)
                    end = min(c.ts_ms for c in page) - 1
        except Exception as exc:  # noqa: BLE001 - the past is a convenience; the live market is the point
            logger.warning("mirror of market {}: no past candles from {} ({}: {})", self.market_id,
                           _safe(self.ws_url), type(exc).__name__, exc)
            return
        candles = sorted(rows.values(), key=lambda c: c.ts_ms)
        if candles:
            newest = candles[-1].ts_ms
            candles = [c for c in candles if c.ts_ms > newest - duration_ms]
        self._history = bars_from_candles(candles)

    def take_history(self, duration_ms: int) -> Bars:
        """What fetch_history found (the server's history hook; duration_ms was given there)."""
        return self._history

    # --- upstream events -> source events ------------------------------------------------------
    def on_event(self, event: WsEvent) -> None:
        emit = self._emit
        if emit is None:
            return
        if isinstance(event, BookUpdated):
            if event.market_id != self.market_id:
                return
            self.books += 1
            self._book_empty = not (event.bids or event.asks)
            emit(SourceBook(ts_ns=self._event_ns(event.ts_ms), bids=list(event.bids), asks=list(event.asks)))
        elif isinstance(event, TradesReceived):
            if event.market_id != self.market_id:
                return
            if event.is_snapshot:  # the recent past, sent on subscribing: not a print now
                self.snapshot_trades_skipped += len(event.trades)
                return
            for trade in sorted(event.trades, key=lambda t: (t.ts_ms, t.trade_id)):
                if not self._first_sight(trade.trade_id):
                    self.repeated_trades += 1
                    continue
                self.trades += 1
                emit(SourceTrade(ts_ns=self._event_ns(trade.ts_ms), price=trade.price, size=trade.size,
                                 taker_is_buyer=trade.taker_is_buyer))
        elif isinstance(event, Stale) and event.market_id == self.market_id:
            if not (self.client is not None and self.client.connected and self.client.is_synced(self.market_id)):
                self._blank(f"silent for {event.silent_for_s:.1f} s and not connected")
            # else a quiet market on a live connection: its book is still the upstream's
        elif isinstance(event, Disconnected):
            if self.client is not None and self.client.is_stale(self.market_id):
                self._blank("stale, then disconnected")  # no Stale comes again for the same silence
        elif isinstance(event, Fresh):
            pass  # the book or the trade that made it fresh was (or is being) applied

    def _blank(self, why: str) -> None:
        """Empty the external book: the last one may be gone, and nothing must fill against it
        until the upstream's next snapshot (after its reconnection) replaces it."""
        if self._book_empty or self._emit is None:
            return
        self.blanked += 1
        self._book_empty = True
        logger.warning("mirror of market {}: upstream {}; external book emptied", self.market_id, why)
        self._emit(SourceBook(ts_ns=self._last_ns or time.time_ns(), bids=[], asks=[]))

    def _event_ns(self, ts_ms: int) -> int:
        """The upstream's time where it gives one, else receipt; never before the last event."""
        ts_ns = ts_ms * NS_PER_MS if ts_ms > 0 else time.time_ns()
        if ts_ns < self._last_ns:
            self.clamped += 1
            ts_ns = self._last_ns
        self._last_ns = ts_ns
        return ts_ns

    def _first_sight(self, trade_id: int) -> bool:
        if trade_id in self._seen_ids:
            return False
        self._seen_ids.add(trade_id)
        self._seen_order.append(trade_id)
        if len(self._seen_order) > TRADE_IDS_KEPT:
            self._seen_ids.discard(self._seen_order.popleft())
        return True

    # --- observability -----------------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        client = self.client
        out: dict[str, Any] = {
            "upstream": _safe(self.ws_url),
            "market_id": self.market_id,
            "connected": bool(client is not None and client.connected),
            "stale": bool(client is None or client.is_stale(self.market_id)),
            "books": self.books,
            "trades": self.trades,
            "repeated_trades": self.repeated_trades,
            "snapshot_trades_skipped": self.snapshot_trades_skipped,
            "clamped": self.clamped,
            "blanked": self.blanked,
        }
        if client is not None:
            out.update({f"ws_{k}": v for k, v in client.stats.as_dict().items()})
        return out


def bars_from_candles(candles: list[Candle]) -> Bars:
    """Lighter's 1-minute candles (oldest first) as the simulator's past bars: a candle with
    volume is a trades' candle, one without a carried price (as the simulator's own quiet
    candles, taken from the mid). Trade counts and ids are not in candles: none are claimed."""
    n = len(candles)
    ohlc = np.array([[c.open, c.high, c.low, c.close] for c in candles], dtype=np.float64).reshape(n, 4)
    traded = np.array([c.base_volume > 0 for c in candles], dtype=bool)
    nan = np.full((n, 4), np.nan)
    return Bars(
        start_ms=np.array([c.ts_ms for c in candles], dtype=np.int64),
        mid=np.where(traded[:, None], nan, ohlc),
        trade=np.where(traded[:, None], ohlc, nan),
        volume=np.array([c.base_volume for c in candles], dtype=np.float64),
        quote_volume=np.array([c.quote_volume for c in candles], dtype=np.float64),
        trades=np.zeros(n, dtype=np.int64),
        last_trade=np.full(n, -1, dtype=np.int64),
    )


def _rules(spec: MarketSpec) -> str:
    return (f"{spec.symbol}: {spec.price_decimals} price / {spec.size_decimals} size decimals, "
            f"min {spec.min_base_amount:g} base / {spec.min_quote_amount:g} quote")


def _safe(url: str) -> str:
    """The URL without userinfo, query or fragment, in case one carries a credential."""
    parts = urlsplit(url)
    netloc = parts.hostname or ""
    if parts.port:
        netloc = f"{netloc}:{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))
