"""The `risk` actor: a thin shell around the pure `risk.checks.RiskEngine`.

Inputs
    on_batch(MarketBatch)        from the feed: book tops (mids), stale/fresh, event time, feed liveness
    on_intent(Intent, origin_ns) from strategies: every order and cancel passes the engine's checks
    on_order_event(OrderEvent)   from the router: fills net the positions; terminal events close orders
    on_trade_closed(TradeRecord) from strategies: the circuit breakers
    on_funding(FundingPayment)   from the router: hourly funding into the positions' PnL, once per hour
    control(Halt|Resume|Flatten) from the operator/supervisor: the kill switch (persisted durably)
Outputs
    approved intents -> OrderCommand to the router (`on_command`, with the origin time for latency),
                     stamped approved_ns + max_age_ms (`risk.approval_ttl_ms`): the router sends an
                     entry within that time of its approval or never (risk.approval)
    refusals -> OrderRejected(source="risk", code=RISK_CODES[...]) to the strategy and the journal
    positions (PositionSnapshot), breakers (BreakerState) and kill-switch commands -> persistence

Fail closed (DESIGN invariant 4): entries are refused while the feed has sent nothing for
`feed_silence_s` (option; default min(1 s, feed.stale_after_s): the feed sends a keepalive batch
every 0.25 s), while a market is stale or has no book, and for an account not reconciled with the
venue since this actor started. Exits are always allowed (the engine's rules).

Reconciliation (invariant 1): the venue's `account` endpoint is the truth for positions. An account
is reconciled at start and every `risk.reconcile_interval_s`, but only when it is quiet: no order
approved here that has not ended, and no open order in storage. Quiet means every fill of the
account's orders is both in the venue's position and in storage; the stored fill ids join the
fill dedupe set first, so a fill event still on its way from the router cannot be counted twice.
An approval during the venue round trip voids that attempt (retried shortly). A mismatch is
logged (warning) and corrected to the venue, never silently ignored. Funding is compared too: each
position's funding against the venue's total_funding_paid_out; a difference is first looked up in
the venue's funding history (`positionFunding`, private at Lighter: read through the router's
`venue_position_fundings`, the only holder of keys; a payment still on its way from the router is
applied from there, by its (account, market, hour) key, and stored), and what is left after a
fresh look at the account is a funding mismatch (warning, counted; nothing adopted blindly) - except
at the first check after a start that could read the history (the router may not be up at the
first reconciliation: the funding check waits for a later one), where it is funding from before our records: kept
apart from our PnL (risk.positions.note_funding_before), like the positions' start adjustments.

Event time (DESIGN invariant 6): every rule here runs on `risk.event_clock.EventClock`, which
only the ts_event of book tops and trades moves. A FeedStatus (stamped before any data may have
come) and a kill-switch command (its issuer's wall clock) never do. The order-rate windows, the
breakers' UTC day and the ts_event of latest-state rows all read it; wall time serves only the
feed's liveness, the reconciliation period, the forgetting of orders in flight, latency figures
and the pacing of log lines. Refusals that repeat are logged once per 10 s
(`risk.refusal_digest`).

Start-up calls to the venue (market details, accounts, the first reconciliation) are retried
with back-off (ActorShell.retrying; after a 429 from 0.5 s up to 8 s, venue.backoff) for up to
START_RETRY_S, so a rate-limited or briefly absent venue delays the start instead of killing it.

Restart: breakers and the kill switch come back from storage (a restart clears neither; storage keeps
the newest command per scope, replayed in the order issued, so Halt(all) then Resume(one) leaves
that one running), positions from storage and then the venue (the first reconciliation after a
start adopts the venue's figures without calling it a mismatch: storage may trail the venue by the
fills of a crash). A trip is
written durably at once; other breaker and position updates go through the durable outbox (20 ms).
When the router restarts it asks `resync()`: stored fills never delivered here are applied. Calls in flight are retried by Ray (MAX_TASK_RETRIES = -1): an
intent is deduplicated on (account, client_order_index) and the router journals each order once,
so a retried intent can never make a second order; fills dedupe on (account, trade_id).
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict, deque
from datetime import UTC, datetime
from functools import partial
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
from messages.codec import (
    ANY,
    COMMANDS,
    CONTROL,
    FUNDING,
    INTENTS,
    MARKET,
    ORDER_EVENTS,
    STATE,
    journal_record,
)
from messages.control import Flatten, Halt, Resume
from messages.funding import FundingPayment
from messages.market import BookTop, FeedStatus, MarketBatch, Trade
from messages.orders import (
    CancelAllIntent,
    CancelIntent,
    ModifyIntent,
    OrderCanceled,
    OrderCommand,
    OrderExpired,
    OrderFilled,
    OrderIntent,
    OrderPartiallyFilled,
    OrderRejected,
)
from messages.state import BreakerState, PositionSnapshot, TradeRecord
from risk.breakers import MS_PER_DAY, BreakerLimits, CircuitBreaker
from risk.checks import FLATTENING, RUNNING, Decision, RiskEngine, RiskLimits, StrategyLimits
from risk.event_clock import EventClock
from risk.positions import PositionBook
from risk.refusal_digest import RefusalDigest, RefusalLine
from venue.tiers import tier_named
from venue.wire import PositionFunding

RISK_CODES: dict[str, int] = {
    "unknown_strategy": 30001,
    "wrong_account": 30002,
    "unknown_market": 30003,
    "halted": 30004,
    "feed_stale": 30005,
    "breaker": 30006,
    "size": 30007,
    "not_an_exit": 30008,
    "min_size": 30009,
    "price": 30010,
    "post_only_cross": 30011,
    "slippage": 30012,
    "price_band": 30013,
    "net_exposure": 30014,
    "rate_limit": 30015,
    "feed_down": 30016,
    "not_reconciled": 30017,
}
INFLIGHT_FORGET_S = 30.0  # an approved order not heard of for this long is left to storage's view
FUNDINGS_TIMEOUT_S = 15.0  # the router's read of the account's funding history


def breaker_to_message(breaker: CircuitBreaker, ts_event: int, seq: int) -> BreakerState:
    day = "" if breaker.day < 0 else datetime.fromtimestamp(breaker.day * 86_400, UTC).strftime("%Y-%m-%d")
    return BreakerState(
        strategy=breaker.strategy,
        tripped=breaker.tripped,
        reason=breaker.tripped_reason or "",
        since_ts=None if breaker.tripped_since_ms is None else breaker.tripped_since_ms * NS_PER_MS,
        daily_loss=0.0 - breaker.daily_pnl,  # not -0.0 for a fresh day
        day=day,
        consecutive_losses=breaker.consecutive_losses,
        peak_equity=breaker.peak_equity,
        equity=breaker.equity,
        ts_event=ts_event,
        seq=seq,
    )


def breaker_from_message(state: BreakerState, limits: BreakerLimits) -> CircuitBreaker:
    day = -1
    if state.day:
        day = int(datetime.strptime(state.day, "%Y-%m-%d").replace(tzinfo=UTC).timestamp() * 1000) // MS_PER_DAY
    return CircuitBreaker.from_state({
        "strategy": state.strategy,
        "limits": msgspec.to_builtins(limits),
        "equity": state.equity,
        "peak_equity": state.peak_equity,
        "day": day,
        "day_start_equity": state.equity + state.daily_loss,
        "daily_pnl": 0.0 - state.daily_loss,  # a stored 0 (or -0.0) is a fresh day's 0.0, never -0.0
        "consecutive_losses": state.consecutive_losses,
        "tripped_reason": state.reason if state.tripped else None,
        "tripped_since_ms": None if state.since_ts is None else state.since_ts // NS_PER_MS,
    })


class RiskActor(ActorShell):
    MAX_TASK_RETRIES = -1
    LANE_METHODS = frozenset({"on_batch", "on_intent", "on_order_event", "on_trade_closed"})

    def __init__(self, ctx: ActorContext) -> None:
        super().__init__(ctx)
        self.strategies = {s.name: s for s in self.settings.enabled_strategies}
        self.accounts = sorted({s.account_index for s in self.strategies.values()})
        risk = self.settings.risk
        self.limits = RiskLimits(
            max_net_notional=risk.max_net_notional,
            price_band_bps=risk.price_band_bps,
            max_slippage_bps=risk.max_slippage_bps,
            order_rate_per_min=risk.order_rate_per_min,
            cancel_rate_per_min=risk.cancel_rate_per_min,
        )
        self.breaker_limits = _breaker_limits(risk.breakers)
        self.feed_silence_s = float(self.options.get("feed_silence_s", min(1.0, self.settings.feed.stale_after_s)))
        self.engine: RiskEngine | None = None
        self.rest: Any = None
        self.cmd_seq = SeqCounter()
        self.msg_seq = SeqCounter()
        self.batches = SeqTracker(self.name)
        self.seen_intents = BoundedSet()
        self.seen_fills = BoundedSet(1_000_000)
        self.seen_trades = BoundedSet()
        self.inflight: dict[int, dict[int, float]] = defaultdict(dict)  # account -> coi -> approved at
        self.approvals: dict[int, int] = defaultdict(int)
        self.reconciled_at: dict[int, float] = {}
        self.funding_checked: set[int] = set()  # accounts whose funding was compared with the venue's
        self.mismatches = 0  # found by the periodic reconciliation: our netting was wrong
        self.start_adjustments = 0  # found by the first one after a start: storage trailed the venue
        self.reconciles = 0
        self.funding_mismatches = 0  # left after the venue's funding history was applied
        self.funding_recovered = 0  # payments taken from the venue's history, not the router
        self.last_batch_mono: float | None = None
        self.last_batch_lag_ms = 0.0
        self.clock = EventClock()
        self.refusal_log = RefusalDigest()
        self.events_in = 0
        self._events_reported = 0
        self.flatten_seq = int(time.time() * 1000) & 0xFFFFFFFF
        self.counts: dict[str, int] = defaultdict(int)
        self.intent_lag_ms: deque[float] = deque(maxlen=10_000)  # origin -> intent here (benchmarks)
        self.journal = Outbox(self.sender, "persistence", "write_durable_many")
        self.reconcile_task: asyncio.Task[None] | None = None
        # storage keeps the newest row per key by ts_event: ours only ever move forward
        self.position_ts = 0
        self.breaker_ts: dict[str, int] = defaultdict(int)

    # --- start-up ------------------------------------------------------------------------------
    async def _start(self) -> None:
        from venue.rest import LighterRest

        self.sender.open_lanes("router", "persistence")
        self.rest = LighterRest(self.settings.venue.url)
        specs = await self.retrying("market details", self.rest.order_book_details, timeout_s=START_RETRY_S)
        missing = [m for m in self.settings.markets if m not in specs]
        if missing:
            raise ValueError(f"the venue does not list markets {missing}")
        limits: dict[str, StrategyLimits] = {}
        for s in self.strategies.values():
            info = await self.retrying(f"account {s.account_index}", partial(self.rest.account, s.account_index),
                                       timeout_s=START_RETRY_S)
            equity = info.total_asset_value or info.collateral
            limits[s.name] = StrategyLimits(account_index=s.account_index, market_id=s.market_id,
                                            size_max=s.size_max, equity=equity,
                                            breakers=None if s.breakers is None else _breaker_limits(s.breakers),
                                            tx_per_minute=tier_named(self.settings.account_tier(s.account_index))
                                            .tx_per_minute)
        self.engine = RiskEngine(limits, {m: specs[m] for m in self.settings.markets}, self.limits,
                                 self.breaker_limits)
        await self._restore()
        for account in self.accounts:  # the venue may answer 429 or fail for a while: not a reason to die
            await self.retrying(f"reconciliation of {account}", partial(self._reconcile, account),
                                timeout_s=START_RETRY_S)
        self._resume_flatten()
        self.reconcile_task = asyncio.ensure_future(self._reconcile_loop())

    async def _restore(self) -> None:
        engine = self._engine()
        state = await self.sender.call("persistence", "risk_state", timeout_s=30.0)
        for data in state["breakers"]:
            stored = STATE.decode(data)
            if isinstance(stored, BreakerState) and stored.strategy in engine.breakers:
                engine.breakers[stored.strategy] = breaker_from_message(stored, engine.breakers[stored.strategy].limits)
                self.breaker_ts[stored.strategy] = stored.ts_event
                if stored.tripped:
                    self.log.warning("breaker of {} is tripped ({}): restored", stored.strategy, stored.reason)
        self._restore_kill_switch([ANY.decode(data) for data in state["kill_switch"]])
        positions = []
        for data in state["positions"]:
            p = STATE.decode(data)
            if isinstance(p, PositionSnapshot):
                self.position_ts = max(self.position_ts, p.ts_event)
                positions.append({"account_index": p.account_index, "market_id": p.market_id, "size": p.size,
                                  "avg_entry": p.avg_entry, "realized_pnl": p.realized_pnl, "fees": 0.0})
        engine.positions = PositionBook.from_state({"positions": positions})
        for data in state.get("funding", []):
            payment = FUNDING.decode(data)
            engine.positions.on_funding(payment.account_index, payment.market_id, payment.ts_event, payment.change)

    def _restore_kill_switch(self, commands: list[Any]) -> None:
        """Storage keeps the newest command per scope; replayed in the order they were issued, a
        Halt(all) followed by a Resume of one strategy leaves that one running and the rest halted.
        A restored Resume leaves the breakers as stored: they were written after it."""
        engine = self._engine()
        kept = sorted((c for c in commands if isinstance(c, (Halt, Resume, Flatten))),
                      key=lambda c: (c.ts_event, c.seq))
        for command in kept:
            if isinstance(command, Resume):
                names = list(self.strategies) if command.scope == "all" else \
                    [command.scope] if command.scope in self.strategies else []
                for name in names:
                    engine.mode[name] = RUNNING
                    engine.halt_reason.pop(name, None)
                continue
            names = engine.halt(command.scope, command.reason)
            if isinstance(command, Flatten):
                for name in names:
                    engine.mode[name] = FLATTENING
        for name, mode in engine.mode.items():
            if mode != RUNNING:
                self.log.warning("kill switch restored: {} {} ({})", name, mode, engine.halt_reason.get(name, ""))

    def _engine(self) -> RiskEngine:
        if self.engine is None:
            raise RuntimeError("risk engine not started")
        return self.engine

    # --- reconciliation ------------------------------------------------------------------------
    def _busy(self, account: int) -> bool:
        now = time.monotonic()
        orders = self.inflight[account]
        for coi in [c for c, at in orders.items() if now - at > INFLIGHT_FORGET_S]:
            del orders[coi]
        return bool(orders)

    async def _reconcile(self, account: int) -> bool:
        """Adopt the venue's positions for the account if it is quiet; False when not done now."""
        epoch = self.approvals[account]
        if self._busy(account):
            return False
        if await self.sender.call("persistence", "open_orders", [account], timeout_s=30.0):
            return False
        ids = await self.sender.call("persistence", "fill_ids", [account], 0, timeout_s=30.0)
        info = await self.rest.account(account)
        if self.approvals[account] != epoch or self._busy(account):
            return False
        for account_index, trade_id in ids:
            self.seen_fills.add((account_index, trade_id))
        engine = self._engine()
        venue = {p.market_id: (p.size, p.avg_entry_price) for p in info.positions}
        first = account not in self.reconciled_at
        for mismatch in engine.reconcile(account, venue):
            if first:  # storage may trail the venue by the fills of a crash: adopted, not a netting error
                self.start_adjustments += 1
                self.log.info("account {} market {}: stored position {:+g}, venue {:+g}; adopted the venue's",
                              mismatch.account_index, mismatch.market_id, mismatch.ours, mismatch.venue)
                continue
            self.mismatches += 1
            self.log.warning("position mismatch on account {} market {}: ours {:+g}, venue {:+g}; adopted the venue's",
                             mismatch.account_index, mismatch.market_id, mismatch.ours, mismatch.venue)
        await self._reconcile_funding(account, info)
        self.reconciles += 1
        self.reconciled_at[account] = time.monotonic()
        for market_id in self.settings.markets:
            self._persist_position(account, market_id, source="venue")
        return True

    async def _reconcile_funding(self, account: int, info: Any) -> None:
        """Compare the account's funding with the venue's; take what we lack from its history. The
        first check after a start that could read the history settles what is older than our records."""
        positions = self._engine().positions
        first = account not in self.funding_checked
        for _ in range(2):
            if not positions.funding_mismatches(account, _paid_out(info)):
                self.funding_checked.add(account)
                return
            try:  # private at Lighter: through the router, which holds the account's key and makes its token
                rows = await self.sender.call("router", "venue_position_fundings", account, timeout_s=FUNDINGS_TIMEOUT_S)
                history = [msgspec.msgpack.decode(r, type=PositionFunding) for r in rows]
            except Exception as exc:  # the router (not started yet?) or the venue is away: the next one looks
                self.log.info("funding history of account {} not read ({}): funding checked later", account,
                              type(exc).__name__)
                return
            for entry in reversed(history):  # oldest first
                if not positions.funding_seen(account, entry.market_id, entry.ts_ms * NS_PER_MS):
                    self.funding_recovered += 1
                    self._apply_funding(self._funding_payment(account, entry), store=True)
            if not positions.funding_mismatches(account, _paid_out(info)):
                return
            # ours may hold a payment the venue made after `info` was read: look again
            info = await self.rest.account(account)
        self.funding_checked.add(account)
        if first:  # funding from before our records that the history did not explain
            for before in positions.note_funding_before(account, _paid_out(info)):
                self.start_adjustments += 1
                self.log.info("account {} market {}: funding {:+.6f} at the venue before our records; "
                              "kept apart", before.account_index, before.market_id, before.venue - before.ours)
            return
        for mismatch in positions.funding_mismatches(account, _paid_out(info)):
            self.funding_mismatches += 1
            self.log.warning("funding mismatch on account {} market {}: ours {:+.6f}, venue {:+.6f}",
                             mismatch.account_index, mismatch.market_id, mismatch.ours, mismatch.venue)

    def _funding_payment(self, account: int, entry: Any) -> FundingPayment:
        owner = next((s.name for s in self.strategies.values()
                      if s.account_index == account and s.market_id == entry.market_id), "")
        return FundingPayment(account_index=account, market_id=entry.market_id, strategy=owner,
                              funding_id=entry.funding_id, change=entry.change, rate=entry.rate,
                              position_size=entry.position_size, ts_event=entry.ts_ms * NS_PER_MS,
                              seq=self.msg_seq.next())

    async def _reconcile_loop(self) -> None:
        interval = self.settings.risk.reconcile_interval_s
        while True:
            due = [a for a in self.accounts
                   if a not in self.reconciled_at or time.monotonic() - self.reconciled_at[a] >= interval]
            for account in due:
                try:
                    await self._reconcile(account)
                except Exception as exc:  # the venue or persistence is away: next round
                    self.note_error(f"reconcile of account {account} failed: {type(exc).__name__}: {exc}")
            pending = [a for a in self.accounts if a not in self.reconciled_at]
            await asyncio.sleep(0.5 if pending else min(interval, 1.0))  # a period, not a wait for a condition

    def _resume_flatten(self) -> None:
        engine = self._engine()
        names = [n for n, mode in engine.mode.items() if mode == FLATTENING]
        for name in names:
            self._issue_flatten(name, engine.halt_reason.get(name, "flatten (restored)"))

    async def resync(self) -> int:
        """Apply the stored fills this actor never received (the router calls this when it
        restarts: events it stored just before dying may not have been delivered). Returns how many."""
        await self.ready()
        ids = await self.sender.call("persistence", "fill_ids", self.accounts, 0, timeout_s=60.0)
        missing = {tuple(key) for key in ids if tuple(key) not in self.seen_fills}
        if not missing:
            return 0
        rows = await self.sender.call("persistence", "fills", None, 0, timeout_s=60.0)
        applied = 0
        for row in rows:
            event = ORDER_EVENTS.decode(row)
            if isinstance(event, (OrderPartiallyFilled, OrderFilled)) \
                    and (event.account_index, event.fill.trade_id) in missing:
                await self.on_order_event(row)
                applied += 1
        self.log.warning("applied {} stored fills that were never delivered", applied)
        return applied

    # --- market data ---------------------------------------------------------------------------
    async def on_batch(self, data: bytes) -> None:
        await self.ready()
        batch: MarketBatch = MARKET.decode(data)  # type: ignore[assignment]
        if self.batches.observe("feed", batch.seq) == "duplicate":
            return
        engine = self._engine()
        self.last_batch_mono = time.monotonic()
        self.last_batch_lag_ms = (wall_ns() - batch.ts_init) / 1e6
        moved = False
        for event in batch.events:
            if isinstance(event, BookTop):
                engine.on_book_top(event.market_id, event.bid, event.ask)
                moved |= self.clock.on_market_data(event.ts_event)
            elif isinstance(event, Trade):
                moved |= self.clock.on_market_data(event.ts_event)
            elif isinstance(event, FeedStatus):  # health only: its ts_event is no market time
                engine.on_feed_status(event.market_id, event.stale)
        self.events_in += len(batch.events)
        if moved:
            self._daily_loss_cleared(engine.on_time(self.clock.now_ms))

    @property
    def event_time_ns(self) -> int:
        """The newest market event time seen (0 before any market data)."""
        return self.clock.now_ns

    def feed_alive(self) -> bool:
        return self.last_batch_mono is not None and time.monotonic() - self.last_batch_mono <= self.feed_silence_s

    # --- intents -------------------------------------------------------------------------------
    async def on_intent(self, data: bytes, origin_ns: int = 0) -> str:
        """Check one intent; returns "approved", "duplicate" or the refusal code."""
        await self.ready()
        if origin_ns:
            self.intent_lag_ms.append((wall_ns() - origin_ns) / 1e6)
        intent = INTENTS.decode(data)
        engine = self._engine()
        if isinstance(intent, OrderIntent):
            if not self.seen_intents.add((intent.account_index, intent.client_order_index)):
                return "duplicate"
            at_ns = self.clock.for_intent(intent.ts_event)  # event time: replays behave as live
            decision = self._fail_closed(intent) or engine.check(intent, at_ns / 1e9)
            if not decision.approved:
                self._refuse(intent, decision, at_ns)
                return decision.code
            self.inflight[intent.account_index][intent.client_order_index] = time.monotonic()
            self.approvals[intent.account_index] += 1
            self.counts["approved"] += 1
            self.metrics.orders.inc(1, tags=self.metrics.tags(intent.strategy))
            self._command(intent, origin_ns)
            return "approved"
        if isinstance(intent, ModifyIntent):
            # one order modified many times: each modify is its own (the strategy's seq tells them apart)
            if not self.seen_intents.add((intent.account_index, intent.client_order_index, intent.seq)):
                return "duplicate"
            at_ns = self.clock.for_intent(intent.ts_event)
            decision = self._fail_closed(intent.as_order()) or engine.check(intent.as_order(), at_ns / 1e9)
            if not decision.approved:
                self._refuse(intent, decision, at_ns)
                return decision.code
            self.counts["approved"] += 1
            self._command(intent, origin_ns)
            return "approved"
        at_ns = self.clock.for_intent(intent.ts_event)
        decision = engine.check_cancel(intent.strategy, intent.account_index, at_ns / 1e9)
        if not decision.approved:
            if isinstance(intent, CancelIntent):
                self._refuse(intent, decision, at_ns)
            else:
                self.counts["refused"] += 1
                self._log_refusals(self.refusal_log.note(intent.account_index, f"cancel-all {decision.code}",
                                                         decision.reason, time.monotonic()))
            return decision.code
        self._command(intent, origin_ns)
        return "approved"

    def _fail_closed(self, intent: OrderIntent) -> Decision | None:
        if intent.is_exit or intent.reduce_only:
            return None
        if not self.feed_alive():
            return Decision(approved=False, code="feed_down",
                            reason=f"no market data from the feed for over {self.feed_silence_s:g} s: entries refused")
        own = self.strategies.get(intent.strategy)
        if own is not None and own.account_index == intent.account_index \
                and intent.account_index not in self.reconciled_at:
            return Decision(approved=False, code="not_reconciled",
                            reason=f"account {intent.account_index} is not reconciled with the venue yet")
        return None

    def _command(self, intent: OrderIntent | ModifyIntent | CancelIntent | CancelAllIntent, origin_ns: int) -> None:
        # a record stamp, no clock: storage keeps it as the order's sent_at, nothing measures
        # event time by it; the wall clock says when risk approved it
        # approved_ns/max_age_ms: the router sends an entry within approval_ttl_ms of now, or never
        # (risk.approval); a timeout, so on the wall clock
        now = wall_ns()
        command = OrderCommand(intent=intent, ts_event=now, seq=self.cmd_seq.next(), approved_ns=now,
                               max_age_ms=self.settings.risk.approval_ttl_ms)
        if self.peers.get("router") is None:
            self.note_error("no router: command dropped")
            return
        ref = self.sender.invoke("router", "on_command", COMMANDS.encode(command), origin_ns)
        if isinstance(intent, OrderIntent):
            asyncio.ensure_future(self._command_result(intent, ref))

    async def _command_result(self, intent: OrderIntent, ref: Any) -> None:
        """A command the router already had (a retried intent after this actor restarted) brings no
        events: it is not in flight on our account."""
        try:
            result = await ref
        except Exception as exc:
            self.note_error(f"router refused a command: {type(exc).__name__}: {exc}")
            result = "failed"
        if result in ("duplicate", "failed"):
            self.inflight[intent.account_index].pop(intent.client_order_index, None)

    def _refuse(self, intent: OrderIntent | ModifyIntent | CancelIntent, decision: Decision, at_ns: int) -> None:
        """at_ns: the event time the intent was judged at, which the refusal carries (so the
        journal shows the refusal where the rules saw it)."""
        self.counts["refused"] += 1
        self.counts[f"refused.{decision.code}"] += 1
        self.metrics.rejects.inc(1, tags=self.metrics.tags(intent.strategy))
        self._log_refusals(self.refusal_log.note(intent.account_index, decision.code, decision.reason,
                                                 time.monotonic()))
        market_id = intent.market_id
        event = OrderRejected(
            strategy=intent.strategy, account_index=intent.account_index, market_id=market_id,
            client_order_index=intent.client_order_index, code=RISK_CODES.get(decision.code, 30000),
            reason=f"{decision.code}: {decision.reason}", source="risk", ts_event=at_ns, seq=self.msg_seq.next(),
            op="place" if isinstance(intent, OrderIntent) else "modify" if isinstance(intent, ModifyIntent) else "cancel",
        )
        data = ORDER_EVENTS.encode(event)
        self.sender.send(f"strategy:{intent.strategy}", "on_order_event", data)
        self.journal.put(ANY.encode(journal_record(event, actor=self.name, seq=event.seq, ts_init=wall_ns())))

    def _log_refusals(self, lines: list[RefusalLine]) -> None:
        for line in lines:
            self.log.warning(line.describe())

    # --- order events --------------------------------------------------------------------------
    async def on_order_event(self, data: bytes) -> None:
        await self.ready()
        event = ORDER_EVENTS.decode(data)
        engine = self._engine()
        if isinstance(event, (OrderPartiallyFilled, OrderFilled)):
            fill = event.fill
            if self.seen_fills.add((event.account_index, fill.trade_id)):
                engine.on_fill(event.account_index, event.market_id, event.side, fill.price, fill.size, fill.fee,
                               fill.trade_id)
                self.counts["fills"] += 1
                self.metrics.fills.inc(1, tags=self.metrics.tags(event.strategy))
                self._persist_position(event.account_index, event.market_id, source="fills")
            if isinstance(event, OrderFilled):
                self.inflight[event.account_index].pop(event.client_order_index, None)
        elif isinstance(event, (OrderCanceled, OrderExpired)) or (isinstance(event, OrderRejected) and event.op == "place"):
            self.inflight[event.account_index].pop(event.client_order_index, None)

    async def on_funding(self, data: bytes) -> bool:
        """One hourly funding payment (FUNDING-encoded, stored by the router); False: seen before."""
        await self.ready()
        return self._apply_funding(FUNDING.decode(data), store=False)

    def _apply_funding(self, payment: FundingPayment, store: bool) -> bool:
        if not self._engine().positions.on_funding(payment.account_index, payment.market_id, payment.ts_event,
                                                   payment.change):
            return False
        self.counts["funding"] += 1
        if store:  # recovered here from the venue's history: nobody else stored it
            self.journal.put(FUNDING.encode(payment))
        return True

    def _persist_position(self, account: int, market_id: int, source: str) -> None:
        pos = self._engine().positions.get(account, market_id)
        snapshot = PositionSnapshot(
            account_index=account, market_id=market_id, size=pos.size, avg_entry=pos.avg_entry,
            realized_pnl=pos.realized_pnl - pos.fees, source=source,  # type: ignore[arg-type]
            ts_event=self._forward("position", self.event_time_ns), seq=self.msg_seq.next(),
        )
        self.journal.put(STATE.encode(snapshot))

    def _forward(self, key: str, ts: int) -> int:
        """A ts_event for a latest-state row that is never older than the last one written."""
        last = self.position_ts if key == "position" else self.breaker_ts[key]
        ts = max(ts, last + 1)
        if key == "position":
            self.position_ts = ts
        else:
            self.breaker_ts[key] = ts
        return ts

    # --- trades and breakers -------------------------------------------------------------------
    async def on_trade_closed(self, data: bytes) -> str | None:
        await self.ready()
        trade = STATE.decode(data)
        if not isinstance(trade, TradeRecord):
            return None
        if not self.seen_trades.add((trade.strategy, trade.entry_ts, trade.exit_ts)):
            return None
        engine = self._engine()
        breaker = engine.breakers.get(trade.strategy)
        if breaker is None:
            return None
        daily_trip = breaker.tripped_reason == CircuitBreaker.DAILY_LOSS
        tripped = engine.on_trade_closed(trade.strategy, trade.pnl_quote, trade.ts_event // NS_PER_MS)
        if daily_trip and not breaker.tripped:  # the trade's own event time rolled the day
            self._daily_loss_cleared([trade.strategy], persist=False)
        state = breaker_to_message(engine.breakers[trade.strategy], self._forward(trade.strategy, trade.ts_event),
                                   self.msg_seq.next())
        if tripped:
            await self.sender.call("persistence", "write_durable", STATE.encode(state), timeout_s=30.0)
            self.log.warning("circuit breaker of {} tripped: {}", trade.strategy, engine.breakers[trade.strategy].describe())
            # a control message, like an operator's: stamped with the wall clock, and no clock
            # of risk's or the strategy's reads it
            halt = Halt(reason=f"circuit breaker: {tripped}", scope=trade.strategy, issued_by="risk",
                        ts_event=wall_ns(), seq=self.msg_seq.next())
            self.sender.send(f"strategy:{trade.strategy}", "on_control", CONTROL.encode(halt))
        else:
            self.journal.put(STATE.encode(state))
        return tripped

    def _daily_loss_cleared(self, names: list[str], persist: bool = True) -> None:
        """A new UTC day of event time cleared these strategies' daily-loss trips: stored, and the
        strategy told (its trip halted it) unless it is halted for another reason as well."""
        engine = self._engine()
        for name in names:
            self.log.info("circuit breaker of {}: the daily loss reset with the UTC day of event time", name)
            if persist:
                state = breaker_to_message(engine.breakers[name], self._forward(name, self.event_time_ns),
                                           self.msg_seq.next())
                self.journal.put(STATE.encode(state))
            if engine.mode[name] == RUNNING:
                resume = Resume(reason="daily loss reset: a new UTC day", scope=name, issued_by="risk",
                                ts_event=wall_ns(), seq=self.msg_seq.next())  # control: wall clock, as Halt
                self.sender.send(f"strategy:{name}", "on_control", CONTROL.encode(resume))

    # --- the kill switch -----------------------------------------------------------------------
    async def control(self, data: bytes, persist: bool = True) -> list[str]:
        """Halt, Resume or Flatten (CONTROL-encoded); persisted durably before it takes effect
        for the strategies. Returns the strategies it applied to. persist=False: the supervisor's
        flatten on exit, which the next start must not restore as a kill switch."""
        await self.ready()
        command = CONTROL.decode(data)  # its ts_event is the issuer's wall clock: never risk's clock
        engine = self._engine()
        if not isinstance(command, (Halt, Resume, Flatten)):
            raise ValueError(f"not a kill-switch command: {type(command).__name__}")
        if persist:
            await self.sender.call("persistence", "write_durable", ANY.encode(command), timeout_s=30.0)
        if isinstance(command, Halt):
            names = engine.halt(command.scope, command.reason)
        elif isinstance(command, Resume):
            names = engine.resume(command.scope)
            for name in names:
                state = breaker_to_message(engine.breakers[name], self._forward(name, self.event_time_ns),
                                           self.msg_seq.next())
                await self.sender.call("persistence", "write_durable", STATE.encode(state), timeout_s=30.0)
        else:
            names = engine.halt(command.scope, command.reason)
            for name in names:
                self._issue_flatten(name, command.reason)
        self.log.warning("{} {} by {}: {} ({})", type(command).__name__.lower(), command.scope, command.issued_by,
                         ", ".join(names) or "no strategy", command.reason)
        for name in names:
            self.sender.send(f"strategy:{name}", "on_control", CONTROL.encode(command))
        return names

    def _issue_flatten(self, name: str, reason: str) -> None:
        engine = self._engine()
        closes = engine.flatten(name, reason)
        own = self.strategies[name]
        # risk's own intents happen at its event time; before any market data there is none, and
        # the wall clock stands in: these go straight to the router, no rule or clock reads them
        at_ns = self.event_time_ns or wall_ns()
        self._command(CancelAllIntent(strategy=name, account_index=own.account_index, market_id=own.market_id,
                                      reason=f"flatten: {reason}", ts_event=at_ns, seq=self.msg_seq.next()), 0)
        for close in closes:
            self.flatten_seq = (self.flatten_seq + 1) & 0xFFFFFFFF
            intent = OrderIntent(
                strategy=name, account_index=close["account_index"], market_id=close["market_id"],
                client_order_index=client_order_index_for(f"{name}/flatten", self.flatten_seq),
                side=close["side"], size=close["size"], kind="market", tif="ioc", reason="flatten",
                worst_price=close["worst_price"], reduce_only=True, is_exit=True,
                ts_event=at_ns, seq=self.msg_seq.next(),
            )
            self.inflight[intent.account_index][intent.client_order_index] = time.monotonic()
            self.approvals[intent.account_index] += 1
            self._command(intent, 0)

    async def intent_lags(self) -> list[float]:
        """Recent intents: from the feed's receipt of the market event behind them to here (ms)."""
        return list(self.intent_lag_ms)

    async def flush(self) -> None:
        """Everything queued for storage (positions, breakers, refusals) committed."""
        await self.ready()
        await self.journal.flush()

    # --- queries -------------------------------------------------------------------------------
    async def position(self, account_index: int, market_id: int) -> dict[str, Any]:
        """The netted position (venue-reconciled) of one account and market."""
        await self.ready()
        pos = self._engine().positions.get(account_index, market_id)
        return {"size": pos.size, "avg_entry": pos.avg_entry, "reconciled": account_index in self.reconciled_at,
                "realized_pnl": pos.net_pnl, "funding": pos.funding}

    async def entries_allowed(self, name: str) -> bool:
        """Whether the strategy may enter now (running, breaker clear): a strategy takes this at
        start-up rather than trusting its snapshot, which may predate the last control sent to it."""
        await self.ready()
        engine = self._engine()
        return engine.mode.get(name) == RUNNING and name in engine.breakers and not engine.breakers[name].tripped

    async def status(self) -> dict[str, Any]:
        await self.ready()
        engine = self._engine()
        strategies = {}
        for name, s in self.strategies.items():
            pos = engine.positions.get(s.account_index, s.market_id)
            strategies[name] = {
                "account_index": s.account_index, "mode": engine.mode[name],
                "halt_reason": engine.halt_reason.get(name, ""), "breaker": engine.breakers[name].describe(),
                "breaker_tripped": engine.breakers[name].tripped, "position": pos.size,
                "avg_entry": pos.avg_entry, "realized_pnl": pos.net_pnl, "funding": pos.funding,
            }
        marks = {m: mid for m in self.settings.markets if (mid := engine.mid(m)) is not None}
        return {
            "strategies": strategies,
            "net_notional": engine.positions.net_notional(marks),
            "feed_alive": self.feed_alive(),
            "event_time_ns": self.event_time_ns,
            "reconciled": sorted(self.reconciled_at),
            "mismatches": self.mismatches,
            "start_adjustments": self.start_adjustments,
            "funding_mismatches": self.funding_mismatches,
            "funding_recovered": self.funding_recovered,
            "inflight": sum(1 for account in self.accounts if self._busy(account)
                            for _ in self.inflight[account]),
            "counts": dict(self.counts),
        }

    def flush_metrics(self) -> None:
        if self.events_in > self._events_reported:  # Ray's Counter.inc refuses 0
            self.metrics.events.inc(self.events_in - self._events_reported)
            self._events_reported = self.events_in
        self._log_refusals(self.refusal_log.due(time.monotonic()))  # counts of refusals that stopped

    def lag_ms(self) -> float:
        return self.last_batch_lag_ms

    def stats(self) -> dict[str, float]:
        return {
            "approved": float(self.counts["approved"]),
            "refused": float(self.counts["refused"]),
            "fills": float(self.counts["fills"]),
            "reconciles": float(self.reconciles),
            "mismatches": float(self.mismatches),
            "feed_alive": 1.0 if self.feed_alive() else 0.0,
            "halted": float(sum(1 for m in (self.engine.mode.values() if self.engine else []) if m != RUNNING)),
        }


def _paid_out(info: Any) -> dict[int, float]:
    """{market_id: total_funding_paid_out} of the venue's account answer."""
    return {p.market_id: p.total_funding_paid_out for p in info.positions}


def _breaker_limits(config: Any) -> BreakerLimits:
    return BreakerLimits(daily_loss_pct=config.daily_loss_pct, max_consecutive_losses=config.max_consecutive_losses,
                         max_drawdown_pct=config.max_drawdown_pct)
