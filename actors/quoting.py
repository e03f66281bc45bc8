"""`strategy:<name>` for a quoting strategy (the market maker): hosts one `QuotingStrategy`
(strategies/quoting.py) and translates its messages, as actors/strategy.py does for the
directional ones.

In:  on_batch(MarketBatch) from the feed (book tops -> on_book, trades -> on_trade),
     on_order_event from the router and risk (accepted, modified, fills, canceled, rejected: each
     for the client order index the strategy gave the order), on_control(Halt|Resume|Flatten).
Out: OrderIntent / ModifyIntent / CancelIntent to risk, one per Place / Modify / Cancel; the FIFO
     round trips (TradeRecords) to risk (breakers) and persistence; snapshots to persistence.

Naming. The strategy names its orders with indices this actor hands out (`order_ids`), reserved
in durable blocks (actors/strategy_host.py), so a restart never reuses one. A Place whose index lies beyond the reservation (reservations fell
behind) is answered at once as rejected, so the strategy never waits for it.

Event time. Fills carry the venue's trade time; every other order event is handed to the
strategy at the newest market time seen (the router stamps its own answers with the wall clock,
a record stamp that must not reach a strategy's clock).

Restart (also after Ray restarts the actor): the snapshot is restored, the fills stored since are
replayed, the position is checked against the venue's, and the orders resting at the venue on the
account are handed to `on_venue_orders`: the strategy adopts those it knows and cancels the rest,
so no order rests that its owner does not know (DESIGN invariant 7).
"""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec

from actors.common import (
    NS_PER_MS,
    START_RETRY_S,
    ActorContext,
    ActorShell,
    Outbox,
    SeqCounter,
    SeqTracker,
    client_order_index_for,
    wall_ns,
)
from actors.strategy_host import FillMemory, OrderIndices, wait_reconciled
from messages.codec import CONTROL, INTENTS, MARKET, ORDER_EVENTS, STATE
from messages.control import Flatten, Halt, Resume
from messages.market import BookTop, MarketBatch, Trade
from messages.orders import (
    CancelIntent,
    ModifyIntent,
    OrderAccepted,
    OrderCanceled,
    OrderExpired,
    OrderFilled,
    OrderIntent,
    OrderModified,
    OrderPartiallyFilled,
    OrderRejected,
)
from messages.state import ParameterChange, StrategySnapshot, TradeRecord
from strategies.quoting import Cancel, LiveOrder, Modify, Place, QuoteAction
from venue.client_ids import SEQ_MASK

SNAPSHOT_VERSION = 1
SNAPSHOT_EVERY_MS = 5_000  # of event time, besides every fill and every control command
CHECK_INTERVAL_S = 2.0  # stored fills the router could not deliver, and the venue's position
NOT_RESERVED = 40003  # OrderRejected-like code handed to the strategy for a Place beyond the reservation


class QuotingActor(ActorShell):
    MAX_TASK_RETRIES = -1
    LANE_METHODS = frozenset({"on_batch", "on_order_event", "on_control"})

    def __init__(self, ctx: ActorContext) -> None:
        super().__init__(ctx)
        self.strategy_name = ctx.name.removeprefix("strategy:")
        self.cfg = self.settings.strategy(self.strategy_name)
        self.account = self.cfg.account_index
        self.market_id = self.cfg.market_id
        self.strategy: Any = None
        self.indices = OrderIndices(self.strategy_name, lambda: self._write_snapshot(durable=True))
        self.fills_applied = 0
        self.fills = FillMemory()
        self.msg_seq = SeqCounter()
        self.batches = SeqTracker(self.name)
        self.outbox = Outbox(self.sender, "persistence", "write_durable_many")
        self.last_event_ns = 0
        self.snapshot_ts = 0
        self.snapshot_event_ms = 0
        self.events = 0
        self.market_events = 0
        self._events_reported = 0
        self.intents_sent = 0
        self.check_task: asyncio.Task[None] | None = None
        self.adopted_orders = 0
        self.canceled_unknown = 0

    # --- start-up ------------------------------------------------------------------------------
    async def _start(self) -> None:
        from strategies.registry import build_quoting
        from venue.rest import LighterRest

        self.sender.open_lanes("risk", "persistence")
        self.rest = LighterRest(self.settings.venue.url)
        specs = await self.retrying("market details", self.rest.order_book_details, timeout_s=START_RETRY_S)
        market = specs[self.market_id]
        cfg = self.cfg
        self.strategy = build_quoting(cfg.kind, self.strategy_name, market, order_ids=self._next_order_id,
                                      preset=cfg.preset, overrides=dict(cfg.params), account_index=self.account)
        state = await self.sender.call("persistence", "strategy_state", self.strategy_name, self.market_id, 60, 0,
                                       timeout_s=60.0)
        restored = self._restore(state)
        await wait_reconciled(self.sender, self.account, self.market_id)
        # risk holds the kill switch and the breakers: the snapshot may predate its last control
        self.strategy.allow_entries(bool(await self.sender.call("risk", "entries_allowed", self.strategy_name,
                                                                timeout_s=60.0)))
        await self._replay_fills()
        self.indices.recover(await self.sender.call("persistence", "max_client_order_index", self.account,
                                                    timeout_s=60.0))
        await self._adopt_venue_position()
        await self._reconcile_orders()
        params = {k: v for k, v in msgspec.to_builtins(self.strategy.params).items()
                  if isinstance(v, (bool, int, float, str))}
        self.outbox.put(STATE.encode(ParameterChange(strategy=self.strategy_name, preset=cfg.preset, params=params,
                                                     reason="start", ts_event=wall_ns(), seq=self.msg_seq.next())))
        await self._write_snapshot(durable=True)  # also reserves the first block of order indices
        self.check_task = asyncio.ensure_future(self._check_loop())
        self.log.info("{} {} on account {} market {}: {}, {} orders adopted, {} unknown canceled, order seq {}",
                      cfg.kind, cfg.preset, self.account, self.market_id, "restored" if restored else "fresh",
                      self.adopted_orders, self.canceled_unknown, self.indices.next_seq)

    def _restore(self, state: dict[str, Any]) -> bool:
        if state["snapshot"] is None:
            return False
        snapshot = STATE.decode(state["snapshot"])
        assert isinstance(snapshot, StrategySnapshot)
        try:
            envelope = msgspec.json.decode(snapshot.state)
            if envelope.get("v") != SNAPSHOT_VERSION or envelope.get("kind") != "quoting":
                raise ValueError(f"snapshot envelope {envelope.get('v')!r} / {envelope.get('kind')!r}")
            self.strategy.restore(envelope["strategy"])
        except Exception as exc:  # an incompatible snapshot: start fresh, the venue is the truth
            self.note_error(f"snapshot not restored ({type(exc).__name__}: {exc}); starting fresh")
            return False
        self.indices.restore(int(envelope["seq_hi"]))
        self.fills_applied = int(envelope["fills_applied"])
        self.fills.load(envelope.get("recent_fills", []))
        self.snapshot_ts = self.last_event_ns = snapshot.ts_event
        return True

    async def _replay_fills(self) -> None:
        rows = await self.sender.call("persistence", "fills_after", self.strategy_name, self.fills_applied,
                                      timeout_s=60.0)
        replayed = 0
        for row in rows:
            event = ORDER_EVENTS.decode(row)
            if isinstance(event, (OrderPartiallyFilled, OrderFilled)) and self._apply_fill(event):
                replayed += 1
        if replayed:
            self.log.info("replayed {} fills stored after the snapshot", replayed)

    async def _adopt_venue_position(self) -> None:
        """The venue's position is the truth: the strategy takes it when its own differs (fills it
        never heard of, a liquidation, a trade by hand)."""
        info = await self.retrying("account", lambda: self.rest.account(self.account), timeout_s=START_RETRY_S)
        venue = next((p for p in info.positions if p.market_id == self.market_id), None)
        size, entry = (venue.size, venue.avg_entry_price) if venue is not None else (0.0, 0.0)
        ours = self.strategy.inventory
        if abs(ours - size) > 1e-9 and self.strategy.adopt_position(self._now_ms(), size, entry):
            self.note_error(f"inventory corrected to the venue's: strategy {ours:+g}, venue {size:+g} at {entry:g}")

    async def _reconcile_orders(self) -> None:
        """What rests at the venue for us goes to the strategy: adopted if known, else canceled."""
        from venue.wire import AccountOrder

        # through the router: the venue's private endpoint wants the account's token, made only there
        raw = await self.retrying("active orders", lambda: self.sender.call(
            "router", "venue_active_orders", self.account, self.market_id, timeout_s=60.0), timeout_s=START_RETRY_S)
        rows = [msgspec.msgpack.decode(r, type=AccountOrder) for r in raw]
        live = [LiveOrder(coi=o.client_order_index, side="sell" if o.is_ask else "buy", price=o.price,
                          remaining=o.remaining_size) for o in rows]
        actions = self.strategy.on_venue_orders(self._now_ms(), live)
        cancels = {a.coi for a in actions if isinstance(a, Cancel)}
        self.canceled_unknown = len(cancels)
        self.adopted_orders = len([o for o in live if o.coi not in cancels])
        self._act(actions, self.last_event_ns, 0)

    # --- market data ---------------------------------------------------------------------------
    async def on_batch(self, data: bytes) -> None:
        await self.ready()
        batch: MarketBatch = MARKET.decode(data)  # type: ignore[assignment]
        if self.batches.observe("feed", batch.seq) == "duplicate":
            return
        strategy = self.strategy
        for event in batch.events:
            if event.market_id != self.market_id:
                continue
            self.market_events += 1
            if isinstance(event, BookTop):
                self.last_event_ns = max(self.last_event_ns, event.ts_event)
                actions = strategy.on_book(event.ts_event // NS_PER_MS, event.bid, event.bid_size, event.ask,
                                           event.ask_size)
            elif isinstance(event, Trade):
                self.last_event_ns = max(self.last_event_ns, event.ts_event)
                actions = strategy.on_trade(event.ts_event // NS_PER_MS, event.price, event.size,
                                            event.taker_is_buyer)
            else:
                continue
            self._act(actions, event.ts_event, event.ts_init)
        self.events += len(batch.events)
        if self._now_ms() - self.snapshot_event_ms >= SNAPSHOT_EVERY_MS:
            await self._write_snapshot()

    def _now_ms(self) -> int:
        return self.last_event_ns // NS_PER_MS

    # --- actions -> intents --------------------------------------------------------------------
    def _next_order_id(self) -> int:
        """The strategy's next client order index (`order_ids`)."""
        return client_order_index_for(self.strategy_name, self.indices.take())

    def _act(self, actions: list[QuoteAction], ts_event: int, origin_ns: int) -> None:
        queue = list(actions)
        while queue:
            action = queue.pop(0)
            intent = self._intent(action, ts_event)
            if intent is None:  # a Place beyond the reservation: refused here, the strategy hears it
                queue += self.strategy.on_rejected(self._now_ms(), action.coi, NOT_RESERVED,
                                                   "order index not reserved yet")
                continue
            self.intents_sent += 1
            self.metrics.orders.inc(1, tags=self.metrics.tags(self.strategy_name))
            self.sender.send("risk", "on_intent", INTENTS.encode(intent), origin_ns)

    def _intent(self, action: QuoteAction, ts_event: int) -> OrderIntent | ModifyIntent | CancelIntent | None:
        common = dict(strategy=self.strategy_name, account_index=self.account, market_id=self.market_id,
                      client_order_index=action.coi, reason=action.reason, ts_event=ts_event, seq=self.msg_seq.next())
        if isinstance(action, Place):
            if not self.indices.reserved(action.coi & SEQ_MASK):
                return None
            market = action.kind == "market"
            return OrderIntent(side=action.side, size=action.size, kind=action.kind,
                               tif="ioc" if market else action.tif, price=None if market else action.price,
                               worst_price=action.price if market else None, reduce_only=action.reduce_only,
                               is_exit=action.reduce_only, **common)  # type: ignore[arg-type]
        if isinstance(action, Modify):
            # only resting orders are modified, and the maker rests post-only (quotes, passive hedges)
            side = self.strategy.open_orders().get(action.coi, {}).get("side", "buy")
            return ModifyIntent(side=side, price=action.price, size=action.size, post_only=True,
                                **common)  # type: ignore[arg-type]
        return CancelIntent(**common)  # type: ignore[arg-type]

    # --- order events --------------------------------------------------------------------------
    async def on_order_event(self, data: bytes) -> None:
        await self.ready()
        event = ORDER_EVENTS.decode(data)
        strategy = self.strategy
        now = self._now_ms()
        coi = event.client_order_index
        if isinstance(event, (OrderPartiallyFilled, OrderFilled)):
            if not self._apply_fill(event):
                return
            await self._write_snapshot()
            return
        if isinstance(event, (OrderAccepted, OrderModified)):
            actions = strategy.on_accepted(now, coi)
        elif isinstance(event, (OrderCanceled, OrderExpired)):
            actions = strategy.on_canceled(now, coi, getattr(event, "reason", "") or "expired")
        elif isinstance(event, OrderRejected):
            self.metrics.rejects.inc(1, tags=self.metrics.tags(self.strategy_name))
            actions = strategy.on_rejected(now, coi, event.code, f"{event.op} refused by {event.source}: {event.reason}")
        else:
            return
        self._act(actions, self.last_event_ns, 0)

    def _apply_fill(self, event: OrderPartiallyFilled | OrderFilled) -> bool:
        if not self.fills.remember(event.fill.trade_id):
            return False
        self.fills_applied += 1
        fill = event.fill
        ts_ms = max(event.ts_event // NS_PER_MS, self._now_ms())
        actions = self.strategy.on_fill(ts_ms, event.client_order_index, event.side, fill.price, fill.size, fill.fee,
                                        fill.is_maker, event.remaining)
        self.metrics.fills.inc(1, tags=self.metrics.tags(self.strategy_name))
        for trade in self.strategy.closed_trades():
            self._trade_closed(trade)
        self._act(actions, self.last_event_ns, 0)
        return True

    def _trade_closed(self, trade: TradeRecord) -> None:
        data = STATE.encode(trade)
        self.outbox.put(data)
        self.sender.send("risk", "on_trade_closed", data)

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

    # --- the periodic check --------------------------------------------------------------------
    async def _check_loop(self) -> None:
        while True:
            await asyncio.sleep(CHECK_INTERVAL_S)  # a period, not a wait for a condition
            try:
                await self._replay_fills()  # stored by the router, not delivered (it died meanwhile)
            except Exception as exc:  # persistence restarting: next round
                self.note_error(f"catch-up failed: {type(exc).__name__}: {exc}")

    # --- snapshots -----------------------------------------------------------------------------
    async def _write_snapshot(self, durable: bool = False) -> None:
        envelope = {
            "v": SNAPSHOT_VERSION, "kind": "quoting", "strategy": self.strategy.snapshot(),
            "seq_hi": self.indices.bound, "fills_applied": self.fills_applied, "recent_fills": self.fills.recent(),
        }
        self.snapshot_ts = max(self.snapshot_ts + 1, self.last_event_ns)
        self.snapshot_event_ms = self._now_ms()
        snapshot = StrategySnapshot(
            strategy=self.strategy_name, account_index=self.account, market_id=self.market_id,
            state=msgspec.json.encode(envelope), candles_count=0, position_size=self.strategy.inventory,
            entry_price=None, entry_ts=None, ts_event=self.snapshot_ts, seq=self.msg_seq.next(),
        )
        data = STATE.encode(snapshot)
        if durable:
            await self.outbox.flush()
            await self.sender.call("persistence", "write_durable", data, timeout_s=60.0)
        else:
            self.outbox.put(data)

    # --- queries and metrics -------------------------------------------------------------------
    async def status(self) -> dict[str, Any]:
        await self.ready()
        out = dict(self.strategy.status())
        out.update(kind=self.cfg.kind, account_index=self.account, position_size=self.strategy.inventory,
                   open_orders=len(self.strategy.open_orders()), order_seq=self.indices.next_seq,
                   fills_applied=self.fills_applied, events=self.events, telemetry=self.strategy.telemetry())
        return out

    async def open_quotes(self) -> dict[int, dict[str, Any]]:
        await self.ready()
        return dict(self.strategy.open_orders())

    async def flush(self) -> None:
        await self.ready()
        await self._write_snapshot()
        await self.outbox.flush()

    def flush_metrics(self) -> None:
        if self.market_events > self._events_reported:  # Ray's Counter.inc refuses 0
            self.metrics.events.inc(self.market_events - self._events_reported)
            self._events_reported = self.market_events
        if self.strategy is None:
            return
        tags = self.metrics.tags(self.strategy_name)
        for name, value in self.strategy.telemetry().items():
            self.metrics.strategy_gauge.set(float(value), tags={**tags, "gauge": name})
        self.metrics.position.set(self.strategy.inventory, tags=tags)

    def stats(self) -> dict[str, float]:
        if self.strategy is None:
            return {}
        return {"events": float(self.events), "market_events": float(self.market_events),
                "intents": float(self.intents_sent), "fills_applied": float(self.fills_applied),
                "order_seq": float(self.indices.next_seq), "open_orders": float(len(self.strategy.open_orders()))}
