"""The paper venue: a local Lighter-compatible server (REST + websocket) around the matching engine.

    async with SimServer(source="synthetic", speed=1.0, port=0) as sim:
        client = lighter.SignerClient(sim.url, account_index, {key_index: private_key})

A background task pulls market-source events and applies them in event time: at `speed` 1 as the
events' own timestamps say, at `speed` k k times faster, at `speed` 0 as fast as the websocket
clients take the updates. Floats from the source are quantised to the market's integer units and
fed to the engine; every step (a source event or a transaction) then publishes what changed: the
merged book as a delta, trades, and account updates of the accounts it touched. "Now" for every
REST handler is the current event time, so a replay at 1000x behaves as at 1x. When a file source
ends the server keeps serving with the book frozen. A live source (a mirror of a Lighter market,
venue.sim.live_sources and lighter_mirror) is not paced: it emits as its upstream moves, in the
upstream's event time, at speed 1.

History: with `history_hours` > 0 the candles endpoints serve the market's past from before the
start, as Lighter serves past candles, so that a strategy warms up at once. A source that can
(`take_history`: synthetic, candles) hands over its past as candles, which go straight into the
candle history on the start-up thread, not through the engine or the publisher; its live events
then begin where the past ends. The synthetic source generates its past by the same process
from the same seed, ending at its start time; the candle replay's past is the file's first
`history_hours` (live playback starts right after it; a file no longer than that is refused).
A Binance recording has no past (it lasts minutes, and its book is rebuilt from its snapshot on):
its candles start with it.

Expiry times: the SDK signs OrderExpiry (and a scheduled cancel-all's Time) in wall-clock ms. The
simulator keeps the intended duration: expiry_event_ms = now_event_ms + (OrderExpiry - wall_ms at
receipt). A value nearer the current event time than the wall clock is taken as already being in
event time (a client that replays in event time signs event-time expiries).
"""

from __future__ import annotations

import asyncio
import heapq
import ipaddress
import itertools
import math
import time
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import msgspec
from aiohttp import web
from loguru import logger

from venue.markets import SOL_DEFAULT, MarketSpec
from venue.sim.app import build_app
from venue.sim.auth import AuthGate
from venue.sim.candle_history import CandleHistory
from venue.sim.counters import Counters
from venue.sim.engine import MatchingEngine
from venue.sim.faults import FaultConfig, Faults
from venue.sim.funding import FundingRates, FundingRecord
from venue.sim.live_sources import LiveSources, resolve_live
from venue.sim.market_channels import MarketChannels
from venue.sim.publisher import BookFeed, Publisher, encode
from venue.sim.sequencing import Sequencing
from venue.sim.shapes import account_update_message
from venue.sim.tiers import AccountTiers
from venue.sim.trade_shapes import TradeShaper, external_trade_json
from venue.sim.types import SimOrder, SimTrade, SourceBook, SourceEvent, SourceTrade

NS_PER_MS = 1_000_000
EXTERNAL_TRADE_ID_START = 10**15  # external prints get ids far above the engine's own trade ids
RECENT_TRADES_KEPT = 1_000
ACCOUNT_TRADES_KEPT = 500
PRIME_EVENT_LIMIT = 100_000  # events read at start-up looking for each market's first book
MAX_SPEED_BATCH_S = 0.005  # at speed 0, yield to the loop at least this often


SourceLike = Any  # "synthetic" | "candles:PATH" | "binance:PATH" | MarketSource | Iterable[SourceEvent]


def check_loopback(host: str) -> str:
    """The host to bind, or ValueError: the simulator only ever listens on the loopback interface."""
    if host == "localhost":
        return "127.0.0.1"
    try:
        if ipaddress.ip_address(host).is_loopback:
            return host
    except ValueError:
        pass
    raise ValueError(f"refusing to bind {host!r}: the simulator binds only to a loopback address (127.0.0.1)")


class SimServer(Sequencing):
    """The simulator: engine + market source + REST/websocket server + fault knobs."""

    def __init__(
        self,
        source: SourceLike = "synthetic",
        *,
        speed: float = 1.0,
        seed: int = 1,
        host: str = "127.0.0.1",
        port: int = 0,
        markets: Iterable[MarketSpec] | None = None,
        market_id: int | None = None,
        sources: Mapping[int, SourceLike] | None = None,
        collateral: float = 10_000.0,
        maker_fee: float | None = None,
        taker_fee: float | None = None,
        max_leverage: float = 10.0,
        fill_at_touch: bool = False,
        initial_nonce: int = 0,
        faults: FaultConfig | None = None,
        book_depth: int = 50,
        ping_interval_s: float = 30.0,
        idle_timeout_s: float = 120.0,
        max_client_queue: int = 50_000,
        stall_timeout_s: float = 10.0,
        trade_id_start: int | None = None,
        history_hours: float = 0.0,
        default_tier: str = "paper",
        account_tiers: Mapping[int, str] | None = None,
        funding_rate_per_hour: float = 0.0,
        funding_rates: Mapping[int, float] | None = None,
    ) -> None:
        if not (isinstance(speed, (int, float)) and math.isfinite(speed) and speed >= 0):
            raise ValueError(f"speed must be a finite number >= 0 (0 = as fast as possible), got {speed!r}")
        if not (isinstance(history_hours, (int, float)) and math.isfinite(history_hours) and history_hours >= 0):
            raise ValueError(f"history_hours must be a finite number >= 0 (0 = no past), got {history_hours!r}")
        self.history_ms = round(history_hours * 3_600_000)
        self.host = check_loopback(host)
        self.requested_port = port
        self.port: int | None = None
        self.speed = float(speed)
        self.seed = seed
        self.max_leverage = max_leverage
        self.initial_nonce = initial_nonce
        self.book_depth = book_depth
        self.ping_interval_s = ping_interval_s
        self.idle_timeout_s = idle_timeout_s

        specs = list(markets) if markets is not None else [SOL_DEFAULT]
        if maker_fee is not None or taker_fee is not None:
            specs = [
                msgspec.structs.replace(
                    s,
                    maker_fee=s.maker_fee if maker_fee is None else maker_fee,
                    taker_fee=s.taker_fee if taker_fee is None else taker_fee,
                )
                for s in specs
            ]
        self.markets: dict[int, MarketSpec] = {s.market_id: s for s in specs}
        if not self.markets:
            raise ValueError("the simulator needs at least one market")
        primary = market_id if market_id is not None else specs[0].market_id
        if primary not in self.markets:
            raise ValueError(f"market {primary} has no MarketSpec (markets: {sorted(self.markets)})")
        self.market_id = primary
        self._source_specs: dict[int, SourceLike] = {primary: source}
        for mid, src in (sources or {}).items():
            if mid not in self.markets:
                raise ValueError(f"source for market {mid}, which has no MarketSpec")
            self._source_specs[mid] = src

        self.engine = MatchingEngine(
            self.markets,
            default_collateral=collateral,
            max_leverage=max_leverage,
            fill_at_touch=fill_at_touch,
            # a venue never reuses a trade id, and storage keeps fills unique on it: a simulator
            # started again (restarted by its supervisor) counts on from the clock, not from 1
            trade_id_start=time.time_ns() // 1_000 if trade_id_start is None else trade_id_start,
            funding_rates=FundingRates(funding_rate_per_hour, funding_rates),  # ValueError: out of range
        )
        self.faults = Faults(faults, seed=seed)
        self.publisher = Publisher(
            max_queue=max_client_queue,
            soft_queue=max(1, min(2_000, max_client_queue // 4)),
            stall_timeout_s=stall_timeout_s,
        )
        self.books = {m: BookFeed(spec, depth=book_depth) for m, spec in self.markets.items()}
        self.candles = {m: CandleHistory() for m in self.markets}
        self.recent_trades: dict[int, deque[dict[str, Any]]] = {
            m: deque(maxlen=RECENT_TRADES_KEPT) for m in self.markets
        }
        self.account_trade_log: dict[int, deque[dict[str, Any]]] = {}
        self.shaper = TradeShaper(self.markets, max_leverage=max_leverage)
        self.auth = AuthGate()  # private endpoints and channels need a token (venue.sim.auth)
        self.counters = Counters()
        self.market_channels = MarketChannels(self)
        self.live_sources = LiveSources({})  # resolved at start
        self.now_ms = int(time.time() * 1000)  # replaced by the first event's time
        self.block_height = 0
        self.source_done = asyncio.Event()
        self._external_trade_ids = itertools.count(EXTERNAL_TRADE_ID_START)
        self._events: Iterator[tuple[int, SourceEvent]] | None = None
        self._last_ts_ns: dict[int, int] = {}
        self._runner: web.AppRunner | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._started = False
        self._init_sequencing(AccountTiers(default_tier, account_tiers))  # ValueError: an unknown tier

    # =========================================================================================
    # lifecycle
    # =========================================================================================
    @property
    def url(self) -> str:
        if self.port is None:
            raise RuntimeError("the simulator is not started")
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://", 1) + "/stream"

    async def __aenter__(self) -> SimServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        if self._started:
            return
        self.source_done = asyncio.Event()
        # live sources (a mirror of a Lighter market) emit as events happen; the rest are paced here
        self.live_sources = LiveSources(resolve_live(self._source_specs))
        self.live_sources.check_speed(self.speed)
        # reading a file source takes a while (a month of candles: 0.5 s of CPU, far more on a busy
        # machine): off the event loop, which meanwhile answers whoever asks (a supervisor's
        # heartbeat). A bad source spec raises ValueError here.
        self._events = await asyncio.to_thread(self._merged_events)
        self._prime()
        # ValueError: a spec differs from upstream's; their past, if any, is loaded before their first event
        await self.live_sources.start(self.markets, self.apply_event, history_ms=self.history_ms,
                                      load_history=self._load_history)
        runner = web.AppRunner(self.build_web_app(), access_log=None, handle_signals=False)
        await runner.setup()
        try:
            await web.TCPSite(runner, self.host, self.requested_port, reuse_address=True).start()
        except OSError:
            await runner.cleanup()
            await self.live_sources.stop()
            raise
        self._runner = runner
        self.port = int(runner.addresses[0][1])
        self._started = True
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._housekeeping(), name="sim-housekeeping")]
        if len(self.live_sources.sources) < len(self._source_specs):  # live sources pace themselves
            self._tasks.append(loop.create_task(self._pace(), name="sim-pace"))
        logger.info("venue simulator listening on {} (speed {}, markets {})", self.url, self.speed, sorted(self.markets))

    async def stop(self) -> None:
        if not self._started:
            return
        self._started = False
        await self.live_sources.stop()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except asyncio.CancelledError:
                pass
            except Exception:  # noqa: BLE001 - a crashed background task was already logged
                pass
        self._tasks = []
        self._drop_pending()
        self.publisher.drop_all("shutdown")
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # =========================================================================================
    # market source and pacing
    # =========================================================================================
    def _resolve_source(self, market_id: int, spec: SourceLike) -> Iterator[SourceEvent]:
        market = self.markets[market_id]
        if isinstance(spec, str):
            from venue.sim.sources import make_source  # the file readers load numpy; only when used

            spec = make_source(spec, seed=self.seed, tick=market.tick, lot=market.lot)
        if self.history_ms > 0:
            self._load_history(market_id, spec)
        events = getattr(spec, "events", None)
        if callable(events):
            return iter(events())
        return iter(spec)

    def _load_history(self, market_id: int, source: Any) -> None:
        """The source's past into the market's candle history, its trades numbered before the live ones."""
        take = getattr(source, "take_history", None)
        if take is None:
            logger.info("market {}: the {} source has no past; its candles start with it", market_id,
                        type(source).__name__)
            return
        bars = take(self.history_ms)
        base = next(self._external_trade_ids)
        self.candles[market_id].load_past(bars, base)
        self._external_trade_ids = itertools.count(base + bars.trade_count)
        if len(bars):
            logger.info("market {}: {} minutes of past candles, {} to {} (event ms)", market_id, len(bars),
                        int(bars.start_ms[0]), int(bars.start_ms[-1]) + 60_000)

    def _merged_events(self) -> Iterator[tuple[int, SourceEvent]]:
        def tagged(market_id: int, events: Iterator[SourceEvent]) -> Iterator[tuple[int, SourceEvent]]:
            for event in events:
                yield market_id, event

        streams = [tagged(m, self._resolve_source(m, spec)) for m, spec in self._source_specs.items()
                   if m not in self.live_sources.sources]
        if len(streams) == 1:
            return streams[0]
        return heapq.merge(*streams, key=lambda pair: pair[1].ts_ns)

    def _prime(self) -> None:
        """Apply events until every market with a source has a book, before serving anything."""
        assert self._events is not None
        waiting = set(self._source_specs) - set(self.live_sources.sources)
        for _ in range(PRIME_EVENT_LIMIT):
            if not waiting:
                return
            try:
                market_id, event = next(self._events)
            except StopIteration:
                self._finish_source("ended during start-up")
                return
            except Exception as exc:  # noqa: BLE001 - a broken source must not stop the venue
                self._finish_source(f"failed during start-up: {exc!r}")
                return
            self.apply_event(market_id, event)
            if isinstance(event, SourceBook):
                waiting.discard(market_id)

    def _finish_source(self, why: str) -> None:
        if not self.source_done.is_set():
            logger.info("market source {}; serving on with the book frozen at event time {}", why, self.now_ms)
            self.source_done.set()
        self._events = iter(())

    async def _pace(self) -> None:
        loop = asyncio.get_running_loop()
        # event time continues from the books applied at start-up, in step with the wall clock
        primed = max(self._last_ts_ns.values(), default=None)
        anchor_wall: float | None = None if primed is None else loop.time()
        anchor_ns = primed or 0
        events = self._events
        assert events is not None
        last_yield = loop.time()
        while True:
            try:
                market_id, event = next(events)
            except StopIteration:
                self._finish_source("ended")
                return
            except Exception as exc:  # noqa: BLE001
                logger.exception("market source failed")
                self._finish_source(f"failed: {exc!r}")
                return
            if not isinstance(getattr(event, "ts_ns", None), int):
                self.counters.source_malformed += 1
                continue
            if self.speed > 0:
                if anchor_wall is None:
                    anchor_wall, anchor_ns = loop.time(), event.ts_ns
                due = anchor_wall + (event.ts_ns - anchor_ns) / 1e9 / self.speed
                delay = due - loop.time()
                if delay > 0.0005:
                    await asyncio.sleep(delay)  # event-time pacing: wait for this event's moment
                    last_yield = loop.time()
                elif loop.time() - last_yield > MAX_SPEED_BATCH_S:
                    await asyncio.sleep(0)  # behind schedule: catch up, but let clients be served
                    last_yield = loop.time()
            elif loop.time() - last_yield > MAX_SPEED_BATCH_S:
                self.publisher.kick()
                await asyncio.sleep(0)
                if self.publisher.max_backlog() > self.publisher.soft_queue:
                    await self.publisher.wait_drained(timeout_s=self.publisher.stall_timeout_s)
                last_yield = loop.time()
            self.apply_event(market_id, event)

    async def inject(self, *events: SourceEvent, market_id: int | None = None) -> None:
        """Apply market events now, exactly as if the source had produced them (for scripted tests)."""
        for event in events:
            self.apply_event(self.market_id if market_id is None else market_id, event)

    def apply_event(self, market_id: int, event: SourceEvent) -> None:
        """One source event: quantise, feed the engine, publish what changed."""
        spec = self.markets[market_id]
        ts_ns = getattr(event, "ts_ns", None)
        if not isinstance(ts_ns, int) or ts_ns < self._last_ts_ns.get(market_id, 0):
            self.counters.source_malformed += 1  # event time never goes back
            return
        self._last_ts_ns[market_id] = ts_ns
        ts_ms = ts_ns // NS_PER_MS
        self.counters.source_events += 1
        self._advance_clock(ts_ms)
        external: list[dict[str, Any]] = []
        if isinstance(event, SourceBook):
            bids = self._quantize_levels(spec, event.bids)
            asks = self._quantize_levels(spec, event.asks)
            trades = self.engine.on_book(market_id, bids, asks, self.now_ms)
            mid = self.engine.mid(market_id)
            if mid is not None:
                self.candles[market_id].on_mid(self.now_ms, mid)
        elif isinstance(event, SourceTrade):
            try:
                price = _to_units(event.price, spec.price_scale)
                size = _to_units(event.size, spec.size_scale)
            except (TypeError, ValueError):
                price = size = 0
            if price <= 0 or size <= 0:
                self.counters.source_malformed += 1
                return
            trade_id = next(self._external_trade_ids)
            external.append(
                external_trade_json(
                    spec, trade_id, price, size, bool(event.taker_is_buyer), self.now_ms, self.block_height
                )
            )
            trades = self.engine.on_trade(market_id, price, size, bool(event.taker_is_buyer), self.now_ms)
        else:
            self.counters.source_malformed += 1
            return
        self._after_step({market_id}, trades, external)

    def _quantize_levels(self, spec: MarketSpec, levels: list[tuple[float, float]]) -> list[tuple[int, int]]:
        price_scale, size_scale = spec.price_scale, spec.size_scale
        out: list[tuple[int, int]] = []
        bad = 0
        for level in levels:
            try:
                price, size = level
                p = _to_units(price, price_scale)
                s = _to_units(size, size_scale)
            except (TypeError, ValueError):
                bad += 1
                continue
            if p > 0 and s > 0:
                out.append((p, s))
            else:
                bad += 1
        if bad:
            self.counters.source_malformed += bad
        return out

    def _advance_clock(self, ts_ms: int) -> None:
        if self._pending:
            self._release_due(ts_ms)  # transactions whose speed bump ends first take effect first
        if self.counters.source_events == 1:
            self.now_ms = ts_ms
        self._set_now(ts_ms)
        self.block_height += 1

    # =========================================================================================
    # publishing what a step changed
    # =========================================================================================
    def _after_step(self, markets: set[int], trades: list[SimTrade], external: list[dict[str, Any]]) -> None:
        if self._scheduled_cancels:
            markets |= self._run_scheduled_cancels()
        self.counters.expired += len(self.engine.expire(self.now_ms))
        order_updates = self.engine.take_order_updates()
        frozen = self.faults.config.freeze_feed

        shaped: list[dict[str, Any]] = []
        touched_positions: set[tuple[int, int]] = set()
        if trades:
            self.counters.fills += len(trades)
            for trade in trades:
                row = self.shaper.sim_trade(trade, self.block_height)
                shaped.append(row)
                self.candles[trade.market_id].on_trade(
                    self.now_ms, float(row["price"]), float(row["size"]), trade.trade_id
                )
                for account in (trade.ask_account_id, trade.bid_account_id):
                    if account >= 0:
                        touched_positions.add((account, trade.market_id))
                        log = self.account_trade_log.get(account)
                        if log is None:
                            log = self.account_trade_log[account] = deque(maxlen=ACCOUNT_TRADES_KEPT)
                        log.append(row)
            self.shaper.resync(self.engine, touched_positions)
        for row in external:
            self.candles[row["market_id"]].on_trade(
                self.now_ms, float(row["price"]), float(row["size"]), row["trade_id"]
            )

        # market data: trades then the book, per market
        for order in order_updates:
            markets.add(order.market_id)
        by_market: dict[int, list[dict[str, Any]]] = {}
        for row in itertools.chain(external, shaped):
            by_market.setdefault(row["market_id"], []).append(row)
        for market_id, rows in by_market.items():
            self.recent_trades[market_id].extend(rows)
            if not frozen:
                self._publish_trades(market_id, rows)
        if not frozen:
            for market_id in markets:
                self._publish_book(market_id)
            self.market_channels.publish(markets | by_market.keys())  # ticker, market_stats, candle

        fundings = self.engine.funding.take_new()  # hours of funding this step's event time passed
        if order_updates or touched_positions or fundings:
            self._publish_accounts(order_updates, shaped, touched_positions, fundings)

    def _publish_book(self, market_id: int) -> None:
        feed = self.books[market_id]
        bids, asks = self.engine.book(market_id, self.book_depth)
        # a requested skip waits for an update somebody receives, so that it is observable
        skip = self.faults.pending_offset_skips > 0 and self.publisher.has_subscribers(feed.channel)
        data = feed.update(bids, asks, self.now_ms, skip_offset=skip)
        if data is not None:
            if skip:
                self.faults.take_offset_skip()
            self.counters.book_updates += 1
            self.publisher.publish(feed.channel, data)

    def _publish_trades(self, market_id: int, rows: list[dict[str, Any]]) -> None:
        channel = f"trade:{market_id}"
        if not self.publisher.has_subscribers(channel):
            return
        self.counters.trade_messages += 1
        self.publisher.publish(
            channel,
            encode(
                {
                    "channel": channel,
                    "liquidation_trades": [],
                    "nonce": self.block_height,
                    "trades": rows,
                    "timestamp": self.now_ms,
                    "type": "update/trade",
                }
            ),
        )

    def _publish_accounts(
        self, orders: list[SimOrder], trades: list[dict[str, Any]], positions: set[tuple[int, int]],
        fundings: list[FundingRecord] | None = None,
    ) -> None:
        fundings = fundings or []
        accounts: set[int] = {o.account_index for o in orders} | {a for a, _ in positions}
        accounts |= {f.account_index for f in fundings}
        for account in accounts:
            channel = f"account_all:{account}"
            if not self.publisher.has_subscribers(channel):
                continue
            mine = [t for t in trades if account in (t["ask_account_id"], t["bid_account_id"])]
            message = account_update_message(
                self,
                account,
                orders=[o for o in orders if o.account_index == account],
                trades=mine,
                position_markets={m for a, m in positions if a == account},
                fundings=[f for f in fundings if f.account_index == account],
            )
            self.publisher.publish(channel, encode(message))

    # =========================================================================================
    # background housekeeping: app-level pings, idle and stalled clients, connection-drop faults
    # =========================================================================================
    async def _housekeeping(self) -> None:
        loop = asyncio.get_running_loop()
        ping = encode({"type": "ping"})
        last_ping = last_tick = loop.time()
        while True:
            await asyncio.sleep(min(1.0, self.ping_interval_s, self.idle_timeout_s / 2))
            now = loop.time()
            elapsed, last_tick = now - last_tick, now
            publisher = self.publisher
            publisher.kick()
            publisher.check_stalls(now)
            for client in list(publisher.clients.values()):
                if now - client.last_rx_s >= self.idle_timeout_s:
                    publisher.close_idle(client)
                elif self.faults.drop_connection(elapsed):
                    publisher.drop(client, "fault")
            if now - last_ping >= self.ping_interval_s:
                last_ping = now
                for client in list(publisher.clients.values()):
                    publisher.send(client, ping)

    def build_web_app(self) -> web.Application:
        """The aiohttp application (a subclass may add control paths of its own)."""
        return build_app(self)

    def drop_connections(self) -> int:
        """The drop-connections-now fault: cut every websocket at once (after revoking every auth
        token when the expire-tokens fault asked for it, so no client resubscribes with an old one)."""
        if self.faults.take_token_expiry():
            self.auth.revoke_all()
        return self.publisher.drop_all("fault")

    def state(self) -> dict[str, Any]:
        publisher = self.publisher
        return {
            "event_time_ms": self.now_ms,
            "speed": self.speed,
            "source_done": self.source_done.is_set(),
            "markets": sorted(self.markets),
            "offsets": {str(m): feed.offset for m, feed in self.books.items()},
            "counters": {
                **msgspec.structs.asdict(self.counters),
                "ws_clients": len(publisher.clients),
                "ws_connected_total": publisher.connected_total,
                "ws_dropped_slow": publisher.dropped_slow,
                "ws_dropped_fault": publisher.dropped_fault,
                "ws_closed_idle": publisher.closed_idle,
                "ws_messages_queued": publisher.messages_queued,
            },
            "faults": self.faults.snapshot(),
            "live_sources": self.live_sources.stats(),
        }


def _to_units(value: float, scale: int) -> int:
    """A source float to integer venue units, nearest (fast path: the hot loop of every book)."""
    scaled = value * scale
    if not math.isfinite(scaled):
        raise ValueError(value)
    return int(scaled + 0.5) if scaled >= 0 else -int(-scaled + 0.5)
