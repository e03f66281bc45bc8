"""`strategy:<name>`: hosts one pure strategy (strategies.registry) and translates its messages.

In:  on_batch(MarketBatch) from the feed (book tops of its market -> mids; trades -> volume),
     on_order_event(OrderEvent) from the router and risk, on_control(Halt|Resume|Flatten) from risk.
Out: OrderIntents to risk (`on_intent`, with the originating market event's receipt time for the
     latency histogram), TradeRecords to risk (breakers) and persistence, closed candles and state
     snapshots to persistence.

Client order indices are `client_order_index_for(name, seq)`, the seq reserved in durable blocks
(actors/strategy_host.py), so a restart continues above every index the previous incarnation
could have used, without a durable write per order.

Snapshots (StrategySnapshot.state, JSON): {"v", "strategy": strategy.snapshot(), "seq_hi",
"fills_applied": how many of this strategy's stored fills the state includes, "recent_fills",
"candles": the candle builder}. One is written on every closed candle and every fill (batched),
and the closed candles go to the candles table.

Start-up (also after Ray restarts the actor): market metadata from the venue; the latest snapshot
is restored (else the stored candles warm the strategy up); the stored fills after
`fills_applied` are replayed in storage order (the router stores a fill durably before delivering
it, so storage holds every fill the strategy may have missed while it was down); the position is
compared with risk's venue-reconciled one (a mismatch is logged as an error); whether entries are
allowed is taken from risk, which holds the kill switch and the breakers (the snapshot may predate
the last control: each control is written durably before it is acknowledged); a strategy still
short of history warms up from the venue's candles endpoint when its interval is one of the
venue's resolutions; a pending order that no longer exists anywhere is released.

Calls in flight when this actor dies are retried by Ray (MAX_TASK_RETRIES = -1): batches dedupe on
their seq, fills on their trade id, order endings on the client order index.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections import deque
from typing import Any

import msgspec

from actors.common import (
    NS_PER_MS,
    START_RETRY_S,
    ActorContext,
    ActorShell,
    BoundedSet,
    Outbox,
    SeqCounter,
    SeqTracker,
    client_order_index_for,
    wall_ns,
)
from actors.strategy_host import FillMemory, OrderIndices, wait_reconciled
from indicators.candles import Candle as IndicatorCandle
from indicators.candles import CandleBuilder
from messages.codec import ANY, CONTROL, INTENTS, MARKET, ORDER_EVENTS, STATE
from messages.control import Flatten, Halt, Resume
from messages.market import BookTop, Candle, MarketBatch, Trade
from messages.orders import (
    OrderCanceled,
    OrderExpired,
    OrderFilled,
    OrderIntent,
    OrderPartiallyFilled,
    OrderRejected,
)
from messages.state import ParameterChange, StrategySnapshot, TradeRecord
from risk.refusal_digest import RefusalDigest
from storage.loaders import StoredOrder
from strategies.position_check import SIZE_EPS, PositionCheck

CATCH_UP_INTERVAL_S = 2.0  # how often stored fills and order endings are compared with what we applied
INTENT_SETTLE_S = 5.0  # an intent without news for this long is looked up in storage
INTENT_LOST_S = 15.0  # ... and one storage never saw is given up (its caller died before journaling)
SNAPSHOT_VERSION = 1
VENUE_CANDLES_PER_READ = 500  # Lighter answers at most this many candles a read (so does the paper venue)
RESOLUTIONS = {60_000: "1m", 300_000: "5m", 900_000: "15m", 1_800_000: "30m", 3_600_000: "1h",
               14_400_000: "4h", 43_200_000: "12h", 86_400_000: "1d"}


class StrategyActor(ActorShell):
    MAX_TASK_RETRIES = -1
    LANE_METHODS = frozenset({"on_batch", "on_order_event", "on_control"})

    def __init__(self, ctx: ActorContext) -> None:
        super().__init__(ctx)
        self.strategy_name = ctx.name.removeprefix("strategy:")
        self.cfg = self.settings.strategy(self.strategy_name)
        self.account = self.cfg.account_index
        self.market_id = self.cfg.market_id
        self.strategy: Any = None
        self.market: Any = None
        self.candles: CandleBuilder | None = None
        self.interval_s = 0
        self.indices = OrderIndices(self.strategy_name, lambda: self._write_snapshot(durable=True))
        self.fills_applied = 0
        self.fills = FillMemory()
        self.done_orders = BoundedSet()
        self.intents: dict[int, OrderIntent] = {}
        self.intent_sent: dict[int, float] = {}  # coi -> monotonic time sent (or reloaded)
        self.catch_up_task: asyncio.Task[None] | None = None
        self.caught_up = 0
        self.msg_seq = SeqCounter()
        self.batches = SeqTracker(self.name)
        self.outbox = Outbox(self.sender, "persistence", "write_durable_many")
        self.snapshot_ts = 0
        self.last_event_ns = 0
        self.last_lag_ms = 0.0
        self.max_lag_ms = 0.0
        self.rejections = RefusalDigest()  # a refusal that lasts is asked again and again: one line per 10 s
        self.decision_lag_ms: deque[float] = deque(maxlen=10_000)  # origin -> intent sent (benchmarks)
        self.events = 0
        self.market_events = 0
        self._events_reported = 0
        self.intents_sent = 0
        self.first_event_ns: int | None = None
        self.position_mismatch: str | None = None  # what start-up found (and corrected), if anything
        self.position_check = PositionCheck()
        self.adopt_at_first_event: tuple[float, float] | None = None  # the venue's (size, entry) to take

    # --- start-up ------------------------------------------------------------------------------
    async def _start(self) -> None:
        from strategies.registry import build
        from venue.rest import LighterRest

        self.sender.open_lanes("risk", "persistence")
        self.rest = LighterRest(self.settings.venue.url)
        specs = await self.retrying("market details", self.rest.order_book_details, timeout_s=START_RETRY_S)
        self.market = specs[self.market_id]
        cfg = self.cfg
        overrides = {"size_min": cfg.size_min, "size_max": cfg.size_max, **cfg.params}
        self.strategy = build(cfg.kind, self.strategy_name, self.market, preset=cfg.preset, overrides=overrides,
                              account_index=self.account)
        interval_ms = self.strategy.candle_interval_ms
        self.interval_s = max(1, interval_ms // 1000)
        self.candles = CandleBuilder(interval_ms)
        state = await self.sender.call("persistence", "strategy_state", self.strategy_name, self.market_id,
                                       self.interval_s, 1000, timeout_s=60.0)
        restored = self._restore(state)
        for row in state["open_orders"]:
            order = msgspec.msgpack.decode(row, type=StoredOrder)
            self.intents[order.client_order_index] = order.to_intent()
            self.intent_sent[order.client_order_index] = time.monotonic()
        await wait_reconciled(self.sender, self.account, self.market_id)
        await self._take_mode_from_risk()
        await self._replay_fills()  # read after risk answered: storage holds all risk had (and maybe more)
        self.indices.recover(await self.sender.call("persistence", "max_client_order_index", self.account,
                                                    timeout_s=60.0))
        if self.strategy.status().get("pending") is not None and not self.intents:
            self.log.warning("the pending order of the snapshot is no longer open anywhere: released")
            self.strategy.on_order_done("canceled")
        await self._check_position()
        await self._warm_up_from_venue()
        params = {k: v for k, v in msgspec.to_builtins(self.strategy.params).items()
                  if isinstance(v, (bool, int, float, str))}
        self.outbox.put(STATE.encode(ParameterChange(strategy=self.strategy_name, preset=cfg.preset, params=params,
                                                     reason="start", ts_event=wall_ns(), seq=self.msg_seq.next())))
        await self._write_snapshot(durable=True)
        self.catch_up_task = asyncio.ensure_future(self._catch_up_loop())
        self.log.info("{} {} on account {} market {}: {}, {} candles short, order seq {}", cfg.kind, cfg.preset,
                      self.account, self.market_id, "restored" if restored else "fresh",
                      self.strategy.warmup_needed(), self.indices.next_seq)

    def _restore(self, state: dict[str, Any]) -> bool:
        strategy = self.strategy
        if state["snapshot"] is not None:
            snapshot = STATE.decode(state["snapshot"])
            assert isinstance(snapshot, StrategySnapshot)
            try:
                envelope = msgspec.json.decode(snapshot.state)
                if envelope.get("v") != SNAPSHOT_VERSION:
                    raise ValueError(f"snapshot envelope version {envelope.get('v')!r}")
                strategy.restore(envelope["strategy"])
                self.indices.restore(int(envelope["seq_hi"]))
                self.fills_applied = int(envelope["fills_applied"])
                self.fills.load(envelope.get("recent_fills", []))
                if envelope.get("candles") is not None:
                    self.candles = CandleBuilder.from_state(envelope["candles"])
                self.snapshot_ts = snapshot.ts_event
                self.last_event_ns = snapshot.ts_event
                return True
            except Exception as exc:  # an incompatible snapshot: fall back to the stored candles
                self.note_error(f"snapshot not restored ({type(exc).__name__}: {exc}); warming up from candles")
                self.strategy = strategy = type(strategy)(self.strategy_name, self.market, strategy.params,
                                                          account_index=self.account)
        candles = [c for c in map(ANY.decode, state["candles"]) if isinstance(c, Candle)]
        if candles:
            self._warm_up(candles, "storage")
        return False

    def _warm_up(self, candles: list[Any], source: str) -> None:
        """Warm up with the longest run of consecutive candles that ends with the newest."""
        interval = self.strategy.candle_interval_ms
        run = [candles[-1]] if candles else []
        for candle in reversed(candles[:-1]):
            if run[0].open_time_ms - candle.open_time_ms != interval:
                break
            run.insert(0, candle)
        plain = [IndicatorCandle(c.open_time_ms, c.open, c.high, c.low, c.close, c.volume) for c in run]
        try:
            self.strategy.warmup(plain)
        except ValueError as exc:
            self.note_error(f"warm-up from {source} failed: {exc}")
            return
        self.log.info("warmed up with {} candles from {}", len(plain), source)

    async def _replay_fills(self) -> None:
        rows = await self.sender.call("persistence", "fills_after", self.strategy_name, self.fills_applied,
                                      timeout_s=60.0)
        for row in rows:
            event = ORDER_EVENTS.decode(row)
            if isinstance(event, (OrderPartiallyFilled, OrderFilled)):
                self._apply_fill(event, replay=True)
        if rows:
            self.log.info("replayed {} fills stored after the snapshot", len(rows))

    async def _take_mode_from_risk(self) -> None:
        """Risk holds the kill switch and the breakers; the snapshot may predate the last control
        risk sent (a Resume that died with the previous incarnation). Controls sent from now on
        wait for the start to end, so they apply after this answer."""
        allowed = bool(await self.sender.call("risk", "entries_allowed", self.strategy_name, timeout_s=60.0))
        if allowed != bool(self.strategy.status().get("entries_allowed", True)):
            self.log.warning("entries {} as risk says (the snapshot said otherwise)",
                             "allowed" if allowed else "halted")
        self.strategy.allow_entries(allowed)

    async def _check_position(self) -> None:
        """The restored position against risk's (venue-reconciled) one. Storage was read after risk
        answered, so risk can only be behind by fills on their way to it: give it a moment."""
        ours = self._position_size()
        deadline = time.monotonic() + 3.0
        while True:
            pos = await wait_reconciled(self.sender, self.account, self.market_id)
            if abs(ours - pos["size"]) <= 1e-9:
                self.position_mismatch = None
                return
            if time.monotonic() > deadline:
                break
            await asyncio.sleep(0.1)  # fills on their way from the router to risk
        self.position_mismatch = f"strategy {ours:+g}, risk {pos['size']:+g}"
        self.note_error(f"position mismatch after start-up: {self.position_mismatch}")
        try:
            await self._adopt_venue_position()
        except Exception as exc:  # the venue is away: the periodic check looks again
            self.note_error(f"venue position not read: {type(exc).__name__}: {exc}")

    async def _check_venue_position(self) -> None:
        """Between restarts: a position the venue changed without a fill of ours (liquidation, a
        trade by hand) is adopted once it has differed from risk's for a while, while quiet
        (strategies.position_check), and the venue itself confirms it."""
        if not self._quiet():
            return  # an order in flight: its fills may be on their way
        pos = await self.sender.call("risk", "position", self.account, self.market_id, timeout_s=30.0)
        if not pos["reconciled"]:
            return
        ours = self._position_size()
        if self.position_check.observe(ours, float(pos["size"]), self.fills_applied, quiet=self._quiet()):
            self.log.warning("position differs from risk's: strategy {:+g}, risk {:+g}; asking the venue",
                             ours, pos["size"])
            if await self._adopt_venue_position():
                await self._write_snapshot()

    def _quiet(self) -> bool:
        """No order of ours in flight, so no fill of ours on its way."""
        return not self.intents and self.strategy.status().get("pending") is None

    async def _adopt_venue_position(self) -> bool:
        """The venue's own account answer (the truth; risk may have missed a fill too) replaces
        the strategy's position when they differ. True when it changed."""
        info = await self.rest.account(self.account)
        venue = next((p for p in info.positions if p.market_id == self.market_id), None)
        size, entry = (venue.size, venue.avg_entry_price) if venue is not None else (0.0, 0.0)
        ours = self._position_size()
        if abs(ours - size) <= SIZE_EPS:
            self.log.info("the venue agrees with the strategy's position {:+g}: risk's reconciliation corrects risk",
                          ours)
            return False
        if not self.last_event_ns:
            # no market time yet (a fresh start): the position is taken at the first market event, so
            # that its time stop and trade record run on event time, never on the wall clock
            self.adopt_at_first_event = (size, entry)
            self.log.warning("the venue holds {:+g} at {:g} (strategy {:+g}): taken at the first market event",
                             size, entry, ours)
            return False
        return self._adopt(self.last_event_ns // NS_PER_MS, size, entry)

    def _adopt(self, ts_ms: int, size: float, entry: float) -> bool:
        ours = self._position_size()
        if not self.strategy.adopt_position(ts_ms, size, entry):
            return False  # an order went out meanwhile: the next check looks again
        self.note_error(f"position corrected to the venue's: strategy {ours:+g}, venue {size:+g} at {entry:g}")
        return True

    async def _warm_up_from_venue(self) -> None:
        """Warm up from the venue's candles (Lighter serves its past; so does the paper venue with
        venue.sim.history_hours). A read answers the newest VENUE_CANDLES_PER_READ in its window,
        so longer warm-ups read pages further back. At least one whole page is read: for renko_ao
        warmup_needed() is an estimate (bricks per minute vary), and a longer run only settles the
        indicators' smoothing further."""
        needed = self.strategy.warmup_needed()
        resolution = RESOLUTIONS.get(self.strategy.candle_interval_ms)
        if needed <= 0 or resolution is None:
            return
        want = max(needed + 1, VENUE_CANDLES_PER_READ)  # + the newest, still open
        rows: dict[int, Any] = {}
        end_ms = 4_102_444_800_000  # 2100: everything up to now
        try:
            while len(rows) < want:
                page = await self.retrying("venue candles", functools.partial(
                    self.rest.candles, self.market_id, resolution, 0, end_ms,
                    min(VENUE_CANDLES_PER_READ, want - len(rows))), timeout_s=30.0)
                older = [c for c in page if c.ts_ms not in rows]
                if not older:
                    break
                rows.update((c.ts_ms, c) for c in older)
                end_ms = min(c.ts_ms for c in older) - 1
        except Exception as exc:
            self.note_error(f"candles endpoint failed: {type(exc).__name__}: {exc}")
            if not rows:
                return
        closed = sorted(rows.values(), key=lambda c: c.ts_ms)[:-1]  # the newest one is still open
        candles = [Candle(market_id=self.market_id, interval_s=self.interval_s, open_time_ms=c.ts_ms, open=c.open,
                          high=c.high, low=c.low, close=c.close, volume=c.base_volume, ts_event=0, ts_init=0, seq=0)
                   for c in closed]
        if candles:
            self._warm_up(candles, "the venue")

    # --- market data ---------------------------------------------------------------------------
    async def on_batch(self, data: bytes) -> None:
        await self.ready()
        batch: MarketBatch = MARKET.decode(data)  # type: ignore[assignment]
        if self.batches.observe("feed", batch.seq) == "duplicate":
            return
        now = wall_ns()
        if self.first_event_ns is None and batch.events:
            self.first_event_ns = now
        oldest = min((e.ts_init for e in batch.events), default=batch.ts_init)
        self.last_lag_ms = (now - oldest) / 1e6  # since the feed received the oldest event of the batch
        if self.last_lag_ms > self.max_lag_ms:
            self.max_lag_ms = self.last_lag_ms
        closed: list[IndicatorCandle] = []
        strategy = self.strategy
        builder = self.candles
        assert builder is not None
        for event in batch.events:
            if event.market_id != self.market_id:
                continue
            self.market_events += 1
            if self.adopt_at_first_event is not None and isinstance(event, (BookTop, Trade)):
                size, entry = self.adopt_at_first_event
                self.adopt_at_first_event = None
                self._adopt(event.ts_event // NS_PER_MS, size, entry)
            if isinstance(event, BookTop):
                ts_ms = event.ts_event // NS_PER_MS
                mid = event.mid
                try:
                    closed += builder.on_mid(ts_ms, mid)
                except ValueError:
                    pass  # a malformed mid: the strategy counts and drops it too
                self.last_event_ns = max(self.last_event_ns, event.ts_event)
                self._act(strategy.on_mid(ts_ms, mid), event.ts_event, event.ts_init)
            elif isinstance(event, Trade):
                ts_ms = event.ts_event // NS_PER_MS
                try:
                    builder.on_trade(ts_ms, event.price, event.size)
                except ValueError:
                    pass
                self._act(strategy.on_trade(ts_ms, event.price, event.size), event.ts_event, event.ts_init)
        self.events += len(batch.events)
        if closed:
            for candle in closed:
                self.outbox.put(MARKET.encode(Candle(
                    strategy=self.strategy_name, market_id=self.market_id, interval_s=self.interval_s,
                    open_time_ms=candle.open_time_ms, open=candle.open, high=candle.high, low=candle.low,
                    close=candle.close, volume=candle.volume,
                    ts_event=(candle.open_time_ms + self.strategy.candle_interval_ms) * NS_PER_MS,
                    ts_init=now, seq=self.msg_seq.next())))
            await self._write_snapshot()

    def _act(self, actions: list[Any], ts_event: int, origin_ns: int) -> None:
        for action in actions:
            if not self.indices.reserved(self.indices.next_seq):
                # cannot happen while reservations keep up (they start half a block early); refuse
                # rather than use an index that is not reserved durably
                self.note_error("order seq reservation behind: action dropped")
                self.strategy.on_order_done("rejected")
                continue
            seq = self.indices.take()
            market = action.kind == "market"
            intent = OrderIntent(
                strategy=self.strategy_name, account_index=self.account, market_id=self.market_id,
                client_order_index=client_order_index_for(self.strategy_name, seq), side=action.side,
                size=action.size, kind=action.kind, tif=action.tif, reason=action.reason,
                price=None if market else action.price, worst_price=action.price if market else None,
                reduce_only=action.reduce_only, is_exit=action.is_exit, ts_event=ts_event, seq=self.msg_seq.next(),
            )
            self.intents[intent.client_order_index] = intent
            self.intent_sent[intent.client_order_index] = time.monotonic()
            if origin_ns:
                self.decision_lag_ms.append((wall_ns() - origin_ns) / 1e6)
            self.intents_sent += 1
            self.metrics.orders.inc(1, tags=self.metrics.tags(self.strategy_name))
            self.sender.send("risk", "on_intent", INTENTS.encode(intent), origin_ns)

    # --- catching up with storage -------------------------------------------------------------
    async def _catch_up_loop(self) -> None:
        while True:
            await asyncio.sleep(CATCH_UP_INTERVAL_S)  # a period, not a wait for a condition
            try:
                await self._catch_up()
                await self._check_venue_position()
            except Exception as exc:  # persistence or risk restarting: next round
                self.note_error(f"catch-up failed: {type(exc).__name__}: {exc}")

    async def _catch_up(self) -> None:
        """Events the router stored but could not deliver (it died right after storing them):
        fills beyond what we applied, and orders that ended, or never reached storage at all."""
        rows = await self.sender.call("persistence", "fills_after", self.strategy_name, self.fills_applied,
                                      timeout_s=60.0)
        applied = 0
        for row in rows:
            event = ORDER_EVENTS.decode(row)
            if isinstance(event, (OrderPartiallyFilled, OrderFilled)) and self._apply_fill(event, replay=True):
                applied += 1
        now = time.monotonic()
        stale = [coi for coi, at in self.intent_sent.items() if coi in self.intents and now - at > INTENT_SETTLE_S]
        statuses = await self.sender.call("persistence", "order_status", self.account, stale,
                                          timeout_s=60.0) if stale else {}
        for coi in stale:
            status = statuses.get(coi)
            if coi not in self.intents:
                continue
            if status in ("canceled", "expired", "rejected"):
                reason = "rejected" if status == "rejected" else "expired" if status == "expired" else "canceled"
            elif status is None and now - self.intent_sent[coi] > INTENT_LOST_S:
                reason = "rejected"
                self.log.warning("intent {} never reached storage: given up", coi)
            else:
                continue
            self.intents.pop(coi, None)
            self.done_orders.add(coi)
            self.strategy.on_order_done(reason)  # type: ignore[arg-type]
            applied += 1
        for coi in [c for c in self.intent_sent if c not in self.intents]:
            del self.intent_sent[coi]
        if applied:
            self.caught_up += applied
            self.log.warning("caught up with {} stored events that were not delivered", applied)
            await self._write_snapshot()

    # --- order events --------------------------------------------------------------------------
    async def on_order_event(self, data: bytes) -> None:
        await self.ready()
        event = ORDER_EVENTS.decode(data)
        if isinstance(event, (OrderPartiallyFilled, OrderFilled)):
            if self._apply_fill(event, replay=False):
                await self._write_snapshot()
        elif isinstance(event, (OrderRejected, OrderCanceled, OrderExpired)):
            if isinstance(event, OrderRejected) and event.op != "place":
                self.log.info("{} of order {} refused by {}: {}", event.op, event.client_order_index, event.source,
                              event.reason)
                return  # the order itself lives on: its own end comes later
            if not self.done_orders.add(event.client_order_index):
                return
            self.intents.pop(event.client_order_index, None)
            reason = "rejected" if isinstance(event, OrderRejected) else \
                "expired" if isinstance(event, OrderExpired) else "canceled"
            code = event.code if isinstance(event, OrderRejected) else 0
            if isinstance(event, OrderRejected):
                for line in self.rejections.note(self.account, f"{event.source} code {event.code}", event.reason,
                                                 time.monotonic()):
                    if line.first:
                        self.log.info("order {} rejected: {}", event.client_order_index, line.describe())
                    else:
                        self.log.info(line.describe())
            self.strategy.on_order_done(reason, code)  # type: ignore[arg-type]
            if self.strategy.snapshot_due():
                await self._write_snapshot()

    def _apply_fill(self, event: OrderPartiallyFilled | OrderFilled, *, replay: bool) -> bool:
        if not self.fills.remember(event.fill.trade_id):
            return False
        self.fills_applied += 1
        intent = self.intents.get(event.client_order_index)
        position = self._position_size()
        is_exit = intent.is_exit if intent is not None else (
            position != 0 and (position > 0) != (event.side == "buy"))
        fill = event.fill
        self.strategy.on_fill(event.ts_event // NS_PER_MS, event.side, fill.price, fill.size, fill.fee, is_exit)
        if isinstance(event, OrderFilled):
            self.intents.pop(event.client_order_index, None)
            self.done_orders.add(event.client_order_index)
        elif event.client_order_index in self.intent_sent:
            self.intent_sent[event.client_order_index] = time.monotonic()  # news of it: wait again
        self.metrics.fills.inc(1, tags=self.metrics.tags(self.strategy_name))
        for trade in self.strategy.closed_trades():
            self._trade_closed(trade)
        status = self.strategy.status()
        self.metrics.realized_pnl.set(status["realized_pnl"], tags=self.metrics.tags(self.strategy_name))
        self.metrics.position.set(self._position_size(), tags=self.metrics.tags(self.strategy_name))
        return True

    def _trade_closed(self, trade: TradeRecord) -> None:
        # strategies count entry/exit times in ms; storage and risk want ns like every timestamp
        if trade.entry_ts < 10**15:
            trade = msgspec.structs.replace(trade, entry_ts=trade.entry_ts * NS_PER_MS,
                                            exit_ts=trade.exit_ts * NS_PER_MS)
        data = STATE.encode(trade)
        self.outbox.put(data)
        self.sender.send("risk", "on_trade_closed", data)
        self.log.info("trade closed: {} {} {:g} @ {:.3f} -> {:.3f}, pnl {:+.4f} ({})", trade.side, self.strategy_name,
                      trade.size, trade.entry_price, trade.exit_price, trade.pnl_quote, trade.exit_reason)

    async def on_control(self, data: bytes) -> None:
        await self.ready()
        command = CONTROL.decode(data)
        if isinstance(command, (Halt, Flatten)):
            self.strategy.allow_entries(False)
        elif isinstance(command, Resume):
            self.strategy.allow_entries(True)
        else:
            return
        self.log.info("{} from {}: {}", type(command).__name__.lower(), command.issued_by, command.reason)
        await self._write_snapshot(durable=True)  # a control acknowledged is a control kept

    # --- snapshots -----------------------------------------------------------------------------
    def _position_size(self) -> float:
        position = self.strategy.status().get("position")
        if not position:
            return 0.0
        return float(position["size"]) * (1.0 if position["side"] == "long" else -1.0)

    async def _write_snapshot(self, durable: bool = False) -> None:
        status = self.strategy.status()
        position = status.get("position") or {}
        envelope = {
            "v": SNAPSHOT_VERSION,
            "strategy": self.strategy.snapshot(),
            "seq_hi": self.indices.bound,
            "fills_applied": self.fills_applied,
            "recent_fills": self.fills.recent(),
            "candles": self.candles.to_state() if self.candles is not None else None,
        }
        self.snapshot_ts = max(self.snapshot_ts + 1, self.last_event_ns)
        snapshot = StrategySnapshot(
            strategy=self.strategy_name, account_index=self.account, market_id=self.market_id,
            state=msgspec.json.encode(envelope), candles_count=int(envelope["strategy"].get("candles_seen", 0)),
            position_size=self._position_size(), entry_price=position.get("entry_price"),
            entry_ts=None if not position else int(position["entry_ts_ms"]) * NS_PER_MS,
            ts_event=self.snapshot_ts, seq=self.msg_seq.next(),
        )
        data = STATE.encode(snapshot)
        if durable:
            await self.outbox.flush()
            await self.sender.call("persistence", "write_durable", data, timeout_s=60.0)
        else:
            self.outbox.put(data)

    # --- queries -------------------------------------------------------------------------------
    async def status(self) -> dict[str, Any]:
        await self.ready()
        out = dict(self.strategy.status())
        out.update(account_index=self.account, position_size=self._position_size(), open_intents=len(self.intents),
                   order_seq=self.indices.next_seq, fills_applied=self.fills_applied, events=self.events,
                   position_mismatch=self.position_mismatch)
        return out

    async def decision_lags(self) -> list[float]:
        """Recent intents: from the feed's receipt of the market event behind them to their send (ms)."""
        return list(self.decision_lag_ms)

    async def reset_max_lag(self) -> float:
        value, self.max_lag_ms = self.max_lag_ms, 0.0
        return value

    async def candles_seen(self) -> int:
        await self.ready()
        return int(self.strategy.snapshot().get("candles_seen", 0))

    async def flush(self) -> None:
        await self.ready()
        await self._write_snapshot()
        await self.outbox.flush()

    def flush_metrics(self) -> None:
        if self.market_events > self._events_reported:  # Ray's Counter.inc refuses 0
            self.metrics.events.inc(self.market_events - self._events_reported)
            self._events_reported = self.market_events
        for line in self.rejections.due(time.monotonic()):  # the count of rejections that stopped
            self.log.info(line.describe())

    def lag_ms(self) -> float:
        return self.last_lag_ms

    def stats(self) -> dict[str, float]:
        if self.strategy is None:
            return {}
        status = self.strategy.status()
        return {
            "events": float(self.events),
            "market_events": float(self.market_events),
            "intents": float(self.intents_sent),
            "fills": float(self.fills_applied),
            "trades": float(status.get("trades", 0)),
            "realized_pnl": float(status.get("realized_pnl", 0.0)),
            "position": self._position_size(),
            "open_intents": float(len(self.intents)),
            "first_event_ms": float((self.first_event_ns or 0) // NS_PER_MS),
            "max_lag_ms": self.max_lag_ms,
        }

