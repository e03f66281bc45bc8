"""The `feed` actor: owns the venue's market-data websocket and publishes MarketBatches.

Subscribers are fixed by the configuration: `risk` and every enabled strategy's actor (the
option `subscribers` replaces the list, for tests and benchmarks). So a restarted feed knows its
subscribers at once, and a restarted subscriber simply receives the next batch.

Per subscriber a pump task sends `on_batch(MARKET-encoded MarketBatch)`:
- at most every `feed.batch_interval_ms` (an event after a quiet spell goes out at once); risk,
  which needs mids for its checks and the feed's liveness rather than every tick, at most every
  25 ms (option `intervals_ms` sets any subscriber's);
- with one call in flight per subscriber (Ray warns beyond 5,000 pending calls, and each call
  costs about 1 ms of CPU on this machine): while a subscriber lags, its events accumulate and
  are conflated (only the latest book top per market survives; trades, candles and status
  changes never drop);
- an empty batch after `keepalive_s` (option, default 0.25 s) of silence, so that the risk
  actor can tell a quiet market from a dead feed (it fails closed on a silent feed);
- a batch whose call failed (the subscriber died with it in flight) is put back in front.

Each event gets a per-market seq; `MarketBatch.market_seqs` names the last one a batch covers,
conflated events included. Seqs start at the wall clock in us, so they keep increasing across
restarts of the feed. Book tops come from the client's L2 book (best bid/ask and sizes); trades
from `trade/{m}` updates (the recent trades sent on subscribing are skipped: they repeat); stale
and fresh transitions become FeedStatus events.

Event time (DESIGN invariant 6): only book tops and trades carry the venue's time. A FeedStatus
is stamped with the newest of those seen so far, 0 before any (a market's first "fresh" comes
before its first data): never the wall clock, which would be later than every event of a replay
and could move a receiver's clock past all of them. A batch's ts_event is the newest market
event time it covers (statuses aside), or the newest seen before it when it holds none.
"""

from __future__ import annotations

import asyncio
from typing import Any

from actors.common import NS_PER_MS, ActorContext, ActorShell, SeqCounter, wall_ns
from messages.codec import MARKET
from messages.market import BookTop, FeedStatus, MarketBatch, MarketEventType, Trade, conflate
from venue.wire import BookUpdated, Connected, Disconnected, Fresh, Stale, TradesReceived, WsEvent

MAX_PENDING = 200_000  # per subscriber; beyond it the oldest events are dropped (and counted)
RISK_INTERVAL_MS = 25.0  # risk needs mids for its price checks and the feed's liveness, not every tick


def market_time_ns(events: list[MarketEventType]) -> int:
    """The newest venue time among the events; 0 when none carries one (statuses only)."""
    return max((e.ts_event for e in events if not isinstance(e, FeedStatus)), default=0)


class _Subscriber:
    def __init__(self, name: str, interval_s: float) -> None:
        self.name = name
        self.interval_s = interval_s
        self.pending: list[MarketEventType] = []
        self.wake = asyncio.Event()
        self.inflight = 0
        self.seq = SeqCounter()
        self.last_send = 0.0
        self.batches = 0
        self.events = 0
        self.conflated = 0
        self.failures = 0
        self.dropped = 0
        self.oldest_pending_ns = 0
        self.task: asyncio.Task[None] | None = None


class FeedActor(ActorShell):
    MAX_TASK_RETRIES = 0

    def __init__(self, ctx: ActorContext) -> None:
        super().__init__(ctx)
        feed = self.settings.feed
        names = self.options.get("subscribers")
        if names is None:
            names = ["risk", *[s.actor_name for s in self.settings.enabled_strategies]]
        self.interval_s = feed.batch_interval_ms / 1000.0
        intervals = dict(self.options.get("intervals_ms", {}))
        intervals.setdefault("risk", max(feed.batch_interval_ms, RISK_INTERVAL_MS))
        self.subscribers = {name: _Subscriber(name, intervals.get(name, feed.batch_interval_ms) / 1000.0)
                            for name in names}
        self.keepalive_s = float(self.options.get("keepalive_s", 0.25))
        self.conflate_tops = feed.conflate_book_tops
        self.market_seq = {m: SeqCounter() for m in self.settings.markets}
        self.last_ts_event = 0
        self.events_in = 0
        self._events_reported = 0
        self.malformed = 0
        self.client: Any = None
        self.first_batch_ns: int | None = None

    @property
    def strict_offsets(self) -> bool:
        """Whether a forward offset jump is a gap: on the paper venue, not on Lighter (see venue/book.py)."""
        configured = self.settings.feed.strict_offsets
        return self.settings.mode == "paper" if configured is None else configured

    async def _start(self) -> None:
        from venue.ws_client import LighterWsClient

        self.client = LighterWsClient(
            self.settings.venue.ws_url,
            markets=self.settings.markets,
            on_event=self._on_ws,
            stale_after_s=self.settings.feed.stale_after_s,
            depth=1,
            strict_offsets=self.strict_offsets,
        )
        self.sender.open_lanes(*self.subscribers)
        await self.client.start()
        for sub in self.subscribers.values():
            sub.task = asyncio.ensure_future(self._pump(sub))

    # --- venue events -> market events ---------------------------------------------------------
    def _on_ws(self, event: WsEvent) -> None:
        now = wall_ns()
        out: list[MarketEventType] = []
        if isinstance(event, BookUpdated):
            if event.best_bid is None or event.best_ask is None or not event.bids or not event.asks:
                return
            out.append(BookTop(
                market_id=event.market_id, ts_event=event.ts_ms * NS_PER_MS, ts_init=now,
                seq=self.market_seq[event.market_id].next(), bid=event.best_bid, bid_size=event.bids[0][1],
                ask=event.best_ask, ask_size=event.asks[0][1],
            ))
        elif isinstance(event, TradesReceived):
            if event.is_snapshot:
                return
            for trade in event.trades:
                out.append(Trade(
                    market_id=event.market_id, ts_event=trade.ts_ms * NS_PER_MS, ts_init=now,
                    seq=self.market_seq[event.market_id].next(), trade_id=trade.trade_id, price=trade.price,
                    size=trade.size, taker_is_buyer=trade.taker_is_buyer,
                ))
        elif isinstance(event, (Stale, Fresh)):
            stale = isinstance(event, Stale)
            out.append(FeedStatus(
                market_id=event.market_id, ts_event=self.last_ts_event, ts_init=now, seq=self.market_seq[event.market_id].next(),
                stale=stale, silent_for_s=event.silent_for_s if isinstance(event, Stale) else 0.0,
                reason="no market data" if stale else "",
            ))
            self.log.log("WARNING" if stale else "INFO", "market {} {}", event.market_id,
                         "stale" if stale else "fresh")
        elif isinstance(event, Connected):
            self.log.info("market data connected (connection {})", event.connection)
            return
        elif isinstance(event, Disconnected):
            self.log.warning("market data disconnected: {}", event.reason)
            return
        if not out:
            return
        self.events_in += len(out)
        self.last_ts_event = max(self.last_ts_event, market_time_ns(out))
        for sub in self.subscribers.values():
            if not sub.pending:
                sub.oldest_pending_ns = now
            sub.pending.extend(out)
            if len(sub.pending) > MAX_PENDING:
                drop = len(sub.pending) - MAX_PENDING
                if sub.dropped // 10_000 != (sub.dropped + drop) // 10_000 or not sub.dropped:
                    self.note_error(f"subscriber {sub.name} is not consuming: oldest events dropped "
                                    f"({sub.dropped + drop} so far)")
                sub.dropped += drop
                del sub.pending[:drop]
            sub.wake.set()

    # --- the pump per subscriber -------------------------------------------------------------
    async def _pump(self, sub: _Subscriber) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                if not sub.pending:
                    sub.wake.clear()
                    try:
                        await asyncio.wait_for(sub.wake.wait(), timeout=self.keepalive_s)
                    except TimeoutError:
                        pass  # nothing to send: a keepalive batch goes out below
                delay = sub.last_send + sub.interval_s - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)  # the batching window of feed.batch_interval_ms
                sent = self._send(sub, loop.time())
                if sent is None:
                    if self.conflate_tops:
                        sub.pending = conflate(sub.pending)  # bounded by the trades while it is away
                    await asyncio.sleep(0.05)  # the subscriber does not exist yet: look again soon
                    continue
                ref, events = sent
                # one batch in flight per subscriber: what arrives meanwhile is conflated into the
                # next one (awaited here rather than in a task per call: Ray calls are dear here)
                try:
                    await ref
                except Exception as exc:  # the subscriber died with the batch in flight: send it again
                    sub.failures += 1
                    if events:
                        sub.pending[:0] = events
                    if sub.failures % 100 == 1:
                        self.log.warning("batch to {} failed ({}); requeued", sub.name, type(exc).__name__)
                finally:
                    sub.inflight -= 1
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # never let one subscriber's pump die
                self.note_error(f"pump {sub.name}: {type(exc).__name__}: {exc}")
                await asyncio.sleep(0.1)  # back-off after an unexpected error

    def _send(self, sub: _Subscriber, now_s: float) -> tuple[Any, list[MarketEventType]] | None:
        if self.peers.get(sub.name) is None:
            return None  # not created yet; its events wait (conflated) in pending
        events = sub.pending
        sub.pending = []
        if self.conflate_tops and len(events) > 1:
            before = len(events)
            events = conflate(events)
            sub.conflated += before - len(events)
        market_seqs: dict[int, int] = {}
        for event in events:
            market_seqs[event.market_id] = event.seq
        now = wall_ns()
        batch = MarketBatch(
            ts_event=market_time_ns(events) or self.last_ts_event,
            seq=sub.seq.next(), ts_init=now, events=events, market_seqs=market_seqs,
        )
        sub.last_send = now_s
        sub.inflight += 1
        sub.batches += 1
        sub.events += len(events)
        if self.first_batch_ns is None and events:
            self.first_batch_ns = now
        return self.sender.invoke(sub.name, "on_batch", MARKET.encode(batch)), events

    # --- control and liveness ------------------------------------------------------------------
    async def stop(self) -> None:
        for sub in self.subscribers.values():
            if sub.task is not None:
                sub.task.cancel()
        if self.client is not None:
            await self.client.stop()

    async def book_top(self, market_id: int) -> tuple[float, float] | None:
        await self.ready()
        book = self.client.book(market_id)
        bids, asks = book.top_bids(1), book.top_asks(1)
        return (bids[0][0], asks[0][0]) if bids and asks else None

    def flush_metrics(self) -> None:
        if self.events_in > self._events_reported:  # Ray's Counter.inc refuses 0
            self.metrics.events.inc(self.events_in - self._events_reported)
            self._events_reported = self.events_in

    def lag_ms(self) -> float:
        now = wall_ns()
        worst = 0.0
        for sub in self.subscribers.values():
            if sub.pending:
                worst = max(worst, (now - sub.oldest_pending_ns) / 1e6)
        return worst

    def stats(self) -> dict[str, float]:
        out: dict[str, float] = {
            "events_in": float(self.events_in),
            "first_batch_ms": float((self.first_batch_ns or 0) // NS_PER_MS),
            "stale_markets": float(sum(1 for m in self.settings.markets
                                       if self.client is not None and self.client.is_stale(m))),
        }
        for sub in self.subscribers.values():
            out[f"{sub.name}.batches"] = float(sub.batches)
            out[f"{sub.name}.events"] = float(sub.events)
            out[f"{sub.name}.conflated"] = float(sub.conflated)
            out[f"{sub.name}.pending"] = float(len(sub.pending))
            out[f"{sub.name}.dropped"] = float(sub.dropped)
        return out

    async def subscriber_stats(self) -> dict[str, dict[str, float]]:
        return {
            sub.name: {"batches": sub.batches, "events": sub.events, "conflated": sub.conflated,
                       "pending": len(sub.pending), "inflight": sub.inflight, "failures": sub.failures,
                       "dropped": sub.dropped}
            for sub in self.subscribers.values()
        }
