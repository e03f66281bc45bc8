"""The `router` actor: one OrderClient per account; journals every order durably before sending it,
and turns the venue's account updates into order events.

Commands (`on_command(OrderCommand, origin_ns)`, from risk only):
- an order is journaled with `persistence.write_durable` BEFORE it is sent (it is signed while the
  write commits: the order client posts only once the write returned, its `gate`); a command
  whose (account, client_order_index) this router already handled, or that was journaled before
  this incarnation started, is a duplicate and is never sent again (DESIGN invariant 2);
- a send refused before anything left the process (`sent=False`, e.g. connection refused) is
  retried a few times with the SAME client_order_index; a send of unknown fate (timeout, 5xx) is
  not repeated: the account stream or a check of the venue's active orders settles it;
- cancels use the venue's order index when known (else the client order index); cancel-all
  cancels every open order of the account.

Events: an `account_all/{a}` subscription per account (LighterWsClient) delivers the venue's
order and trade updates, processed in arrival order by one task: trades first (each fill is
written durably, deduplicated by (account, trade_id); a duplicate is dropped), then order
statuses (canceled / expired end an order). Every event goes to risk, to the owning strategy
(`strategy:<name>.on_order_event`) and to persistence (fills durably, the rest batched).
`OrderAccepted` comes from the venue's answer to the transaction (over the websocket, `jsonapi/sendtx`,
while it is connected and `venue.tx_over_websocket` is on; else REST sendTx).

Restart: before sending anything the router reloads the journaled keys and the open orders from
storage and reconciles them with the venue: an open order still active at the venue is tracked
again; one that is not is settled from its fills and otherwise reported as canceled ("not at the
venue after restart"), so its strategy may decide again. Never re-sent: a decision made before a
crash is stale. Fills: besides the account stream's snapshot (its last 50), the router pages the
account's `trades` back, newest first, until a page holds only fills it stored or is older than
the newest fill it stored; every fill found that it had not stored is stored and delivered, once
(the same path as a streamed fill, deduplicated by (account, trade_id)). The same walk runs after
every re-subscription (a snapshot after the first: the connection dropped, or the token was
renewed), stopping at a page with nothing missed, so a disconnection loses no fill either.

Approval deadline (risk.approval): an entry is sent only while risk's approval is younger than
the command's max_age_ms (`risk.approval_ttl_ms`), checked by the send gate
(actors.router_orders.SendGate) after the journal write and just before the POST; a stale one
is reported OrderRejected(code 40003) and stays journaled, never sent. Exits and cancels are
never refused for age.

Shutdown: new orders are refused at the gate (OrderRejected 40004, "never sent"), the sends in
flight are waited for (their answers settle them), then open orders are canceled if asked; an
order whose answer never came stays open in storage for the next start to settle with the venue.

Auth tokens: private REST calls (active orders, trades, funding) and the account subscriptions
carry the account's token, made here with its signer (venue.auth_tokens: `venue.auth_token_lifetime_s`,
renewed at 80% of its life); the websocket client resubscribes with a fresh one before the old
one expires, and at once when the venue ends a subscription. Tokens never leave this process:
actors without keys ask `venue_active_orders` and `venue_position_fundings` here.

Keys: only this actor holds API keys, in memory (actors.router_keys): from the supervisor's secret
hand-off (actors.secret_handoff: the LT_API_KEY_* values, never in any Ray process's environment,
handed to this worker only, again at every restart) or the strategy's key_file; in paper mode, an
account without a key gets a throwaway key from lighter.create_api_key() (the simulator does not
verify signatures). Keys never travel through Ray and never appear in logs.

Latency: `origin_ns` is when the feed received the market event behind the order; the router
records origin -> the moment the signed order is sent (histogram lt_tick_to_order_ms, and
`latencies()` for benchmarks).

Event time (DESIGN invariant 6): a fill carries the venue's trade time, and a cancel or expiry
the venue's update time, which strategies and risk read as event time. The events this router
makes up itself (accepted, rejected, canceled after a restart or an unknown fate) carry the wall
clock: a record stamp (storage's updated_ts), which no clock reads. The live venue's request
limit is counted on the wall clock because the exchange counts it so.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
from collections import deque
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import msgspec

from actors.coalesce import Coalescer
from actors.common import (
    START_RETRY_S,
    ActorContext,
    ActorShell,
    BoundedSet,
    Outbox,
    SeqCounter,
    wall_ns,
)
from actors.funding_relay import FundingRelay
from actors.router_keys import router_keys
from actors.router_orders import NotSent, RouterOrder, SendGate, coi_of, ended_event, fill_event
from messages.codec import ANY, COMMANDS, ORDER_EVENTS, journal_record
from messages.orders import (
    CancelAllIntent,
    CancelIntent,
    ModifyIntent,
    OrderAccepted,
    OrderCanceled,
    OrderCommand,
    OrderEventMessage,
    OrderExpired,
    OrderFilled,
    OrderIntent,
    OrderModified,
    OrderRejected,
)
from risk.approval import STALE_APPROVAL
from storage.loaders import StoredOrder

ROUTER_ERROR = 40001  # OrderRejected.code when the router could not send an order
NOT_ROUTABLE = 40002  # no client for the account
T = TypeVar("T")
SEND_RETRIES = 3
FILL_RETRY_S = 2.0  # a fill whose durable write failed is put through the consumer again this often
UNKNOWN_FATE_CHECK_S = 3.0
SNAPSHOT_WAIT_S = 10.0
SHUTDOWN_SETTLE_S = 12.0  # a send in flight at shutdown: its answer (the REST timeout is 10 s)
TRADES_PAGE = 100  # Lighter's largest page of account trades
SIZE_EPS = 1e-9


class RouterActor(ActorShell):
    MAX_TASK_RETRIES = -1
    LANE_METHODS = frozenset({"on_command"})

    def __init__(self, ctx: ActorContext) -> None:
        super().__init__(ctx)
        self.accounts: dict[int, Any] = {}
        for s in self.settings.enabled_strategies:
            self.accounts.setdefault(s.account_index, s)
        self.clients: dict[int, Any] = {}
        # one signing thread for every account: strategies that order on the same tick would
        # otherwise sign on as many threads at once, taking both cores from the journal's commit
        # (measured with 4 strategies: tick-to-order p50 / p99 7.25 / 11.0 -> 6.35 / 8.9 ms)
        self.sign_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lighter-sign")
        self.rest: Any = None
        self.ws: Any = None
        self.tokens: dict[int, Any] = {}  # account -> venue.auth_tokens.AuthTokens
        self.newest_fill: dict[int, int] = {}  # account -> the newest trade id stored at start
        self.orders: dict[tuple[int, int], RouterOrder] = {}
        self.known: set[tuple[int, int]] = set()
        self.seen_fills = BoundedSet(1_000_000)
        self.unstored_fills: dict[tuple[int, int], Any] = {}  # (account, trade id) -> wire.Trade, write failed
        self.fill_retry: asyncio.Future[None] | None = None
        self.event_seq = SeqCounter()
        self.events: asyncio.Queue[Any] = asyncio.Queue()
        self.snapshots: dict[int, asyncio.Event] = {a: asyncio.Event() for a in self.accounts}
        self.outbox = Outbox(self.sender, "persistence", "write_durable_many")
        self.latencies_ms: deque[float] = deque(maxlen=100_000)
        self.latencies_recorded = 0  # ever appended to latencies_ms (it keeps the last 100 000)
        # stage timings of recent orders (ms): origin -> command received; received -> journaled;
        # sending -> signed and journaled (the transaction leaves); sending -> the venue's answer
        self.stage_ms: dict[str, deque[float]] = {k: deque(maxlen=10_000) for k in ("receive", "journal", "sign", "send")}
        self.origins: dict[tuple[int, int], tuple[int, int]] = {}  # order -> (origin ns, intent ts_event)
        # accepted modifies, for benchmarks: (account, coi, nonce, origin ns, intent ts_event, received ns,
        # sent ns, answered ns, reason); the nonce names the transaction at the venue
        self.modifies: deque[tuple[int, int, int, int, int, int, int, int, str]] = deque(maxlen=100_000)
        self._origin_order: deque[tuple[int, int]] = deque()
        self.counts: dict[str, int] = {"sent": 0, "accepted": 0, "rejected": 0, "fills": 0, "canceled": 0,
                                       "duplicates": 0, "retries": 0, "unknown_fate": 0, "cancel_sent": 0,
                                       "fills_stored_before": 0, "modify_sent": 0, "fills_recovered": 0,
                                       "trade_pages": 0, "resubscriptions": 0, "stale_approvals": 0,
                                       "never_sent_at_shutdown": 0}
        self.consumer: asyncio.Task[None] | None = None
        self.modify_batcher: Coalescer[tuple[int, int, float, float, bool], Any] = Coalescer(
            self._send_modify, self._send_modifies)
        self.last_event_lag_ms = 0.0
        self.funding = FundingRelay(self.sender, self.settings.enabled_strategies)  # hourly funding -> storage, risk
        self.closing = False  # shutdown began: orders not yet sent never will be
        self.recovering: dict[int, asyncio.Lock] = {a: asyncio.Lock() for a in self.accounts}

    # --- start-up ------------------------------------------------------------------------------
    async def _start(self) -> None:
        from venue.auth_tokens import AuthTokens
        from venue.order_client import OrderClient
        from venue.ratelimit import RateLimiter
        from venue.rest import LighterRest
        from venue.ws_client import LighterWsClient

        url = self.settings.venue.url
        self.rest = LighterRest(url)
        specs = await self.retrying("market details", self.rest.order_book_details, timeout_s=START_RETRY_S)
        markets = {m: specs[m] for m in self.settings.markets if m in specs}
        keys = await router_keys(self.accounts, self.settings, self.ctx.secrets_socket, self.log)
        for account, (strategy, key) in keys.items():
            rate = None if self.settings.mode == "paper" else RateLimiter(self.settings.risk.order_rate_per_min, 60.0)
            self.clients[account] = await OrderClient.create(
                url, account, strategy.api_key_index, key, markets, rate_limit=rate, sign_pool=self.sign_pool,
                ws_url=self.settings.venue.ws_url if self.settings.venue.tx_over_websocket else None,
            )
            del key
            self.tokens[account] = AuthTokens(self.clients[account].auth_token,
                                              self.settings.venue.auth_token_lifetime_s)
        # the first order of each account must not pay for the nonce fetch, the connection and
        # the signing thread's start (tens of ms): done now, best effort (the first order redoes
        # what failed)
        warmed = await asyncio.gather(*(c.warm_up() for c in self.clients.values()), return_exceptions=True)
        for account, outcome in zip(self.clients, warmed, strict=True):
            if isinstance(outcome, Exception):
                self.log.warning("order client of account {} not warmed up: {}", account, type(outcome).__name__)
        self.sender.open_lanes("persistence", "risk", *(s.actor_name for s in self.settings.enabled_strategies))
        accounts = sorted(self.accounts)
        self.known = {tuple(k) for k in await self.sender.call("persistence", "known_orders", accounts, 0,
                                                                timeout_s=60.0)}  # type: ignore[misc]
        for key in await self.sender.call("persistence", "fill_ids", accounts, 0, timeout_s=60.0):
            self.seen_fills.add(tuple(key))
            self.newest_fill[key[0]] = max(self.newest_fill.get(key[0], key[1]), key[1])
        reloaded = await self._reload_open_orders(accounts)
        self.consumer = asyncio.ensure_future(self._consume())
        self.ws = LighterWsClient(self.settings.venue.ws_url, markets=(), on_event=self._on_ws,
                                  accounts={a: functools.partial(self._auth, a) for a in accounts},
                                  on_auth_refused=lambda a: self.tokens[a].refused())
        await self.ws.start()
        waits = [asyncio.wait_for(self.snapshots[a].wait(), timeout=SNAPSHOT_WAIT_S) for a in accounts]
        results = await asyncio.gather(*waits, return_exceptions=True)
        for account, result in zip(accounts, results, strict=True):
            if isinstance(result, Exception):
                self.note_error(f"no account snapshot for {account} within {SNAPSHOT_WAIT_S:g} s")
        for account in accounts:
            await self.retrying(f"fills of {account}", functools.partial(self._recover_fills, account),
                                timeout_s=START_RETRY_S)
        await self._settle_reloaded()
        self.sender.send("risk", "resync")  # fills this router stored but could not deliver before a crash
        self.log.info("routing for accounts {} ({} open orders reloaded)", accounts, reloaded)

    def _auth(self, account: int) -> str:
        """The account's current auth token (a new one once 80% of the last one's life passed)."""
        return str(self.tokens[account].current())

    async def _private(self, account: int, call: Callable[[str], Awaitable[T]]) -> T:
        """A private REST call with the account's current token; a token the venue refuses is
        replaced before the next call (a retry asks this again, so it presents the new one)."""
        from venue.codes import AUTH_CODES
        from venue.rest import VenueError

        try:
            return await call(self._auth(account))
        except VenueError as exc:
            if exc.code in AUTH_CODES:
                self.tokens[account].refused()
            raise

    async def _recover_fills(self, account: int, since_start: bool = True) -> int:
        """Fills of the account's orders this router never stored (it was down, or the stream
        missed them), paged out of the venue's trades (venue.fill_recovery); they go through the
        consumer, in trade order, like streamed ones. Returns how many. since_start=False (after a
        re-subscription): the walk stops at a page with nothing missed, not at the newest fill
        stored at start (newer ones may have been missed since)."""
        from venue.fill_recovery import missed_fills

        async with self.recovering[account]:  # one walk at a time: the next sees what this one stored
            missed, pages = await missed_fills(
                lambda cursor: self._private(account, lambda auth: self.rest.account_trades(
                    account, auth, limit=TRADES_PAGE, cursor=cursor)),
                stored=lambda t: (account, t.trade_id) in self.seen_fills,
                ours=lambda t: self._order_for(account, coi_of(account, t)) is not None,
                newest_stored=self.newest_fill.get(account) if since_start else None)
            await self._deliver_recovered(account, missed, pages)
        return len(missed)

    async def _recover_after_resubscription(self, account: int) -> None:
        """The account stream came back (a reconnection, a renewed token): its snapshot carries
        only the last 50 fills, so what happened while it was away is paged out of the venue."""
        self.counts["resubscriptions"] += 1
        try:
            await self.retrying(f"fills of {account} after re-subscription",
                                functools.partial(self._recover_fills, account, since_start=False))
        except Exception as exc:  # the venue stayed away: the next re-subscription or start looks again
            self.note_error(f"fills of {account} not recovered after re-subscription: {type(exc).__name__}: {exc}")

    async def _deliver_recovered(self, account: int, missed: list[Any], pages: int) -> None:
        from venue.wire import AccountUpdated

        self.counts["trade_pages"] += pages
        if missed:
            self.log.info("account {}: {} fills not stored before, recovered from the venue", account, len(missed))
            self.counts["fills_recovered"] += len(missed)
            done = asyncio.Event()
            update = AccountUpdated(account_index=account, ts_ms=0, is_snapshot=False, positions=[], orders=[],
                                    trades=missed)
            self.events.put_nowait((wall_ns(), update))
            self.events.put_nowait((wall_ns(), done))
            await done.wait()

    async def _reload_open_orders(self, accounts: list[int]) -> int:
        rows = await self.sender.call("persistence", "open_orders", accounts, timeout_s=60.0)
        stored = [msgspec.msgpack.decode(r, type=StoredOrder) for r in rows]
        active: dict[int, dict[int, Any]] = {}
        for account in accounts:
            active[account] = {}
            for market in self.settings.markets:
                orders = await self.retrying(f"active orders of {account}", functools.partial(
                    self._private, account, functools.partial(self.rest.active_orders, account, market)),
                    timeout_s=START_RETRY_S)
                for o in orders:
                    active[account][o.client_order_index] = o
        for row in stored:
            order = RouterOrder(row.strategy, row.account_index, row.market_id, row.client_order_index, row.side,
                           row.size, row.is_exit, filled=row.filled_size)
            venue = active.get(row.account_index, {}).get(row.client_order_index)
            if venue is not None:
                order.state, order.order_index = "open", venue.order_index
            else:
                order.state, order.resolved = "unknown", False
            self.orders[(row.account_index, row.client_order_index)] = order
        return len(stored)

    async def _settle_reloaded(self) -> None:
        """Orders reloaded at start that neither the venue's active orders nor its snapshot settled."""
        for order in list(self.orders.values()):
            if order.resolved or order.done:
                continue
            order.resolved = True
            if order.filled + SIZE_EPS >= order.size:
                order.state = "done"
                continue
            self.log.warning("order {} of {} is not at the venue after restart: reported canceled",
                             order.coi, order.strategy)
            await self._finish(order, OrderCanceled(
                strategy=order.strategy, account_index=order.account, market_id=order.market,
                client_order_index=order.coi, reason="not at the venue after restart",
                ts_event=wall_ns(), seq=self.event_seq.next()))

    # --- commands ------------------------------------------------------------------------------
    async def on_command(self, data: bytes, origin_ns: int = 0) -> str:
        await self.ready()
        command: OrderCommand = COMMANDS.decode(data)
        intent = command.intent
        if isinstance(intent, OrderIntent):
            return await self._place(command, intent, origin_ns)
        if isinstance(intent, ModifyIntent):
            return await self._modify(command, intent, origin_ns)
        if isinstance(intent, CancelIntent):
            return await self._cancel(command, intent)
        return await self._cancel_all(command, intent)

    async def _place(self, command: OrderCommand, intent: OrderIntent, origin_ns: int) -> str:
        received_ns = wall_ns()
        if origin_ns:
            self.stage_ms["receive"].append((received_ns - origin_ns) / 1e6)
        key = (intent.account_index, intent.client_order_index)
        if key in self.orders or key in self.known:
            self.counts["duplicates"] += 1
            return "duplicate"
        order = RouterOrder(intent.strategy, intent.account_index, intent.market_id, intent.client_order_index,
                       intent.side, intent.size, intent.is_exit, origin_ns=origin_ns)
        self.orders[key] = order
        if origin_ns:
            self.origins[key] = (origin_ns, intent.ts_event)
            self._origin_order.append(key)
            if len(self._origin_order) > 100_000:
                self.origins.pop(self._origin_order.popleft(), None)
        client = self.clients.get(intent.account_index)
        if client is None:
            await self._finish(order, self._rejected(order, NOT_ROUTABLE, "no order client for the account",
                                                     "router"))
            return "rejected"
        # journaled durably BEFORE sending: the write leaves now (before signing starts), the order
        # client signs meanwhile and sends only once the write committed (its gate). False =
        # already journaled, which can only be this very command (a retry of this call after
        # persistence restarted): keys journaled before this incarnation are in self.known and
        # never reach this line
        journal = self.sender.call_now("persistence", "write_durable", COMMANDS.encode(command), timeout_s=60.0)
        journal.add_done_callback(lambda _f: self.stage_ms["journal"].append((wall_ns() - received_ns) / 1e6))
        return await self._send(order, intent, client, journal, SendGate(journal, command, lambda: self.closing))

    async def _send(self, order: RouterOrder, intent: OrderIntent, client: Any, journal: asyncio.Future[None],
                    gate: SendGate) -> str:
        """Sent once the gate passed (journaled; approval not expired; not shutting down)."""
        try:
            return await self._send_gated(order, intent, client, journal, gate)
        except NotSent as refusal:  # journaled, never sent: the order ends here
            await journal
            self.counts["stale_approvals" if refusal.code == STALE_APPROVAL else "never_sent_at_shutdown"] += 1
            self.log.warning("order {} of {} not sent: {}", order.coi, order.strategy, refusal.reason)
            await self._finish(order, self._rejected(order, refusal.code, refusal.reason, "router"))
            return "rejected"
        except Exception as exc:
            if not (journal.done() and not journal.cancelled() and journal.exception() is not None):
                raise
            # not journaled (a storage fault, persistence gone), so never sent: it ends here, told to
            # risk and the strategy; storage has no row of it to update
            self.counts["not_journaled"] = self.counts.get("not_journaled", 0) + 1
            self.log.error("order {} of {} not sent: its journal write failed ({})", order.coi, order.strategy,
                           type(exc).__name__)
            order.state = "done"
            self._deliver(self._rejected(order, ROUTER_ERROR, f"never sent: not journaled ({type(exc).__name__})",
                                         "router"), persist=False)
            return "rejected"

    async def _send_gated(self, order: RouterOrder, intent: OrderIntent, client: Any, journal: asyncio.Future[None],
                          gate: SendGate) -> str:
        from venue.order_client import NETWORK_ERROR, TxAccepted

        is_ask = intent.side == "sell"
        outcome: Any = None
        for attempt in range(SEND_RETRIES + 1):
            sent_ns = wall_ns()
            if attempt == 0 and order.origin_ns:
                latency = (sent_ns - order.origin_ns) / 1e6
                self.latencies_ms.append(latency)
                self.latencies_recorded += 1
                self.metrics.tick_to_order_ms.observe(latency)
            order.sent_ns = sent_ns
            if intent.kind == "market":
                assert intent.worst_price is not None
                outcome = await client.market_order(intent.market_id, is_ask, intent.size, intent.worst_price,
                                                    reduce_only=intent.reduce_only,
                                                    client_order_index=intent.client_order_index, gate=gate)
            else:
                assert intent.price is not None
                outcome = await client.limit_order(intent.market_id, is_ask, intent.size, intent.price,
                                                   tif=intent.tif, reduce_only=intent.reduce_only,
                                                   client_order_index=intent.client_order_index,
                                                   expiry_ms=intent.expiry_ms, gate=gate)
            if attempt == 0:
                self.stage_ms["send"].append((wall_ns() - sent_ns) / 1e6)
                if isinstance(outcome, TxAccepted):  # nonce and signature, up to the send
                    self.stage_ms["sign"].append((outcome.ts_sent_ns - sent_ns) / 1e6)
            if isinstance(outcome, TxAccepted) or outcome.sent or outcome.code != NETWORK_ERROR:
                break
            self.counts["retries"] += 1  # nothing left this process: safe to send again, same index
            await asyncio.sleep(0.2 * (attempt + 1))  # back-off before re-sending to an unreachable venue
        await journal  # a refusal before signing did not wait for it: the command is stored first
        self.counts["sent"] += 1
        self.metrics.orders.inc(1, tags=self.metrics.tags(order.strategy))
        if isinstance(outcome, TxAccepted):
            if order.state == "pending":
                order.state = "sent"
            self.counts["accepted"] += 1
            event = OrderAccepted(strategy=order.strategy, account_index=order.account, market_id=order.market,
                                  client_order_index=order.coi, tx_hash=outcome.tx_hash,
                                  order_index=order.order_index, ts_event=wall_ns(), seq=self.event_seq.next())
            self._deliver(event)
            return "accepted"
        if outcome.sent and outcome.code == NETWORK_ERROR:
            self.counts["unknown_fate"] += 1
            order.state = "unknown"
            self.log.warning("order {} of {}: fate unknown ({}); checking the venue", order.coi, order.strategy,
                             outcome.reason)
            asyncio.ensure_future(self._check_unknown(order))
            return "unknown"
        source = "venue" if outcome.sent else "router"
        await self._finish(order, self._rejected(order, outcome.code, outcome.reason, source))
        return "rejected"

    async def _check_unknown(self, order: RouterOrder) -> None:
        await asyncio.sleep(UNKNOWN_FATE_CHECK_S)  # give the account stream time to report the order
        if order.done or order.state != "unknown":
            return
        try:
            active = await self._private(order.account, functools.partial(
                self.rest.active_orders, order.account, order.market))
        except Exception as exc:
            self.note_error(f"checking order {order.coi}: {type(exc).__name__}")
            asyncio.ensure_future(self._check_unknown(order))
            return
        match = next((o for o in active if o.client_order_index == order.coi), None)
        if match is not None:
            order.state, order.order_index = "open", match.order_index
        elif not order.done:
            await self._finish(order, OrderCanceled(
                strategy=order.strategy, account_index=order.account, market_id=order.market,
                client_order_index=order.coi, reason="fate unknown: not at the venue",
                ts_event=wall_ns(), seq=self.event_seq.next()))

    def _rejected(self, order: RouterOrder, code: int, reason: str, source: str) -> OrderRejected:
        self.counts["rejected"] += 1
        self.metrics.rejects.inc(1, tags=self.metrics.tags(order.strategy))
        return OrderRejected(strategy=order.strategy, account_index=order.account, market_id=order.market,
                             client_order_index=order.coi, code=code, reason=reason,
                             source=source, ts_event=wall_ns(), seq=self.event_seq.next())  # type: ignore[arg-type]

    async def _modify(self, command: OrderCommand, intent: ModifyIntent, origin_ns: int = 0) -> str:
        """New price and remaining size for an open order. Journaled (not durably: a modify sent twice
        asks for the same terms twice) before it is sent; the venue's answer goes to the strategy as
        OrderModified, or OrderRejected(op="modify"), after which the order rests as it was."""
        from venue.codes import ORDER_NOT_FOUND
        from venue.order_client import TxAccepted

        client = self.clients.get(intent.account_index)
        order = self.orders.get((intent.account_index, intent.client_order_index))
        if client is None or order is None or order.done:
            self._deliver(self._refused_op(intent, "modify", ORDER_NOT_FOUND, "no open order to modify", "router"))
            return "rejected"
        received_ns = wall_ns()
        self.outbox.put(ANY.encode(journal_record(command, actor=self.name, seq=command.seq, ts_init=received_ns)))
        index = order.order_index if order.order_index is not None else intent.client_order_index
        # the other side's modify, decided on the same tick, goes in the same sendTxBatch
        outcome = await self.modify_batcher.submit(intent.account_index, (intent.market_id, index, intent.price,
                                                                          intent.size, intent.side == "sell"))
        self.counts["modify_sent"] += 1
        if isinstance(outcome, TxAccepted):
            self.modifies.append((order.account, order.coi, outcome.nonce, origin_ns, intent.ts_event, received_ns,
                                  outcome.ts_sent_ns, wall_ns(), intent.reason))
            order.size = order.filled + intent.size  # fills count against the order's new total
            self._deliver(OrderModified(strategy=order.strategy, account_index=order.account, market_id=order.market,
                                        client_order_index=order.coi, price=intent.price, remaining=intent.size,
                                        tx_hash=outcome.tx_hash, ts_event=wall_ns(), seq=self.event_seq.next()))
            return "accepted"
        self._deliver(self._refused_op(intent, "modify", outcome.code, outcome.reason,
                                       "venue" if outcome.sent else "router"))
        return "rejected"

    async def _send_modify(self, account: Any, modify: tuple[int, int, float, float, bool]) -> Any:
        market_id, index, price, size, is_ask = modify
        return await self.clients[account].modify(market_id, index, price, size, is_ask=is_ask)

    async def _send_modifies(self, account: Any, modifies: list[tuple[int, int, float, float, bool]]) -> list[Any]:
        client = self.clients[account]
        ops = [client.modify_op(market_id, index, price, size, is_ask=is_ask)
               for market_id, index, price, size, is_ask in modifies]
        return list(await client.send_batch(ops))

    def _refused_op(self, intent: ModifyIntent | CancelIntent, op: str, code: int, reason: str,
                    source: str) -> OrderRejected:
        """A refused modify or cancel: the order itself is untouched (op tells the strategy so)."""
        return OrderRejected(strategy=intent.strategy, account_index=intent.account_index, market_id=intent.market_id,
                             client_order_index=intent.client_order_index, code=code, reason=reason,
                             source=source, op=op, ts_event=wall_ns(), seq=self.event_seq.next())  # type: ignore[arg-type]

    async def _cancel(self, command: OrderCommand, intent: CancelIntent) -> str:
        from venue.order_client import TxRejected

        client = self.clients.get(intent.account_index)
        if client is None:
            return "rejected"
        self.outbox.put(ANY.encode(command))
        order = self.orders.get((intent.account_index, intent.client_order_index))
        index = order.order_index if order is not None and order.order_index is not None else intent.client_order_index
        outcome = await client.cancel(intent.market_id, index)
        self.counts["cancel_sent"] += 1
        if isinstance(outcome, TxRejected) and outcome.sent:
            # the venue refused it (the order is gone, filled or never was): say so, so that the
            # strategy does not wait for a cancel confirmation that will never come
            self._deliver(self._refused_op(intent, "cancel", outcome.code, outcome.reason, "venue"), persist=False)
        return type(outcome).__name__

    async def _cancel_all(self, command: OrderCommand, intent: CancelAllIntent) -> str:
        client = self.clients.get(intent.account_index)
        if client is None:
            return "rejected"
        self.outbox.put(ANY.encode(command))
        outcome = await client.cancel_all()
        self.counts["cancel_sent"] += 1
        return type(outcome).__name__

    # --- venue events --------------------------------------------------------------------------
    def _on_ws(self, event: Any) -> None:
        from venue.wire import AccountUpdated

        if isinstance(event, AccountUpdated):
            self.events.put_nowait((wall_ns(), event))

    async def _consume(self) -> None:
        while True:
            received_ns, update = await self.events.get()
            if isinstance(update, asyncio.Event):  # everything queued before it is processed
                update.set()
                continue
            try:
                await self._on_account(update)
            except Exception as exc:  # one bad update must not stop the stream
                self.note_error(f"account update: {type(exc).__name__}: {exc}")
            self.last_event_lag_ms = (wall_ns() - received_ns) / 1e6

    async def _on_account(self, update: Any) -> None:
        account = update.account_index
        for trade in sorted(update.trades, key=lambda t: t.trade_id):
            await self._on_trade(account, trade)
        for venue_order in update.orders:
            await self._on_order(account, venue_order)
        await self.funding.on_update(update)
        if update.is_snapshot:
            event = self.snapshots.get(account)
            if event is not None and event.is_set():  # not the first: the stream was away
                asyncio.ensure_future(self._recover_after_resubscription(account))
            elif event is not None:
                event.set()

    def _order_for(self, account: int, coi: int) -> RouterOrder | None:
        order = self.orders.get((account, coi))
        if order is None and (account, coi) in self.known:
            strategy = self.accounts.get(account)
            if strategy is not None:  # journaled by an earlier incarnation and since forgotten
                order = RouterOrder(strategy.name, account, strategy.market_id, coi, "buy", 0.0, False, state="done")
        return order

    async def _on_trade(self, account: int, trade: Any) -> None:
        coi = coi_of(account, trade)
        if coi < 0 or (account, trade.trade_id) in self.seen_fills:
            return
        order = self._order_for(account, coi)
        if order is None:
            self.log.warning("fill {} on account {} for unknown order {}: left to risk's reconciliation",
                             trade.trade_id, account, coi)
            self.seen_fills.add((account, trade.trade_id))
            return
        before = (order.filled, order.order_index)
        event = fill_event(order, trade, self.event_seq.next())
        final = isinstance(event, OrderFilled)
        data = ORDER_EVENTS.encode(event)
        try:
            stored = await self.sender.call("persistence", "write_durable", data, timeout_s=60.0)
        except Exception as exc:
            # not stored (a storage fault, persistence restarting): the order is left as it was and
            # the fill comes round again until it is stored, so it is never counted twice nor lost
            order.filled, order.order_index = before
            self._retry_fill(account, trade, exc)
            return
        self.unstored_fills.pop((account, trade.trade_id), None)
        self.seen_fills.add((account, trade.trade_id))
        if not stored:
            # already stored, yet not by a call whose answer reached us (those are in seen_fills):
            # our own write, retried after persistence died with it committed and unanswered. It
            # was never delivered, so it is now; risk and the strategy dedupe on the trade id
            self.counts["fills_stored_before"] += 1
        self.counts["fills"] += 1
        self.metrics.fills.inc(1, tags=self.metrics.tags(order.strategy))
        if final:
            order.state = "done"
        self._deliver(event, persist=False)

    def _retry_fill(self, account: int, trade: Any, exc: Exception) -> None:
        if (account, trade.trade_id) not in self.unstored_fills:
            self.counts["fills_unstored"] = self.counts.get("fills_unstored", 0) + 1
            self.log.error("fill {} of account {} not stored ({}): tried again every {:g} s", trade.trade_id,
                           account, type(exc).__name__, FILL_RETRY_S)
        self.unstored_fills[(account, trade.trade_id)] = trade
        if self.fill_retry is None or self.fill_retry.done():
            self.fill_retry = asyncio.ensure_future(self._retry_unstored_fills())

    async def _retry_unstored_fills(self) -> None:
        """Put the fills whose write failed through the consumer again, until every one is stored."""
        from venue.wire import AccountUpdated

        while self.unstored_fills:
            await asyncio.sleep(FILL_RETRY_S)
            by_account: dict[int, list[Any]] = {}
            for (account, _trade_id), trade in sorted(self.unstored_fills.items()):
                by_account.setdefault(account, []).append(trade)
            done = asyncio.Event()
            for account, trades in by_account.items():
                self.events.put_nowait((wall_ns(), AccountUpdated(
                    account_index=account, ts_ms=0, is_snapshot=False, positions=[], orders=[], trades=trades)))
            self.events.put_nowait((wall_ns(), done))
            await done.wait()

    async def _on_order(self, account: int, venue_order: Any) -> None:
        order = self.orders.get((account, venue_order.client_order_index))
        if order is None or order.done:
            return
        if venue_order.order_index:
            order.order_index = venue_order.order_index
        status = venue_order.status
        if status == "open":
            order.state = "open"
            order.resolved = True
            return
        order.resolved = True
        if status == "filled":
            order.state = "done"
            if order.filled + SIZE_EPS < order.size:
                self.log.warning("order {} filled at the venue but only {:g} of {:g} seen in fills",
                                 order.coi, order.filled, order.size)
            return
        if status.startswith("canceled"):
            await self._finish(order, ended_event(order, status, venue_order.updated_at_ms, self.event_seq.next()))

    async def _finish(self, order: RouterOrder, event: OrderEventMessage) -> None:
        order.state = "done"
        if isinstance(event, OrderCanceled | OrderExpired):
            self.counts["canceled"] += 1
        self._deliver(event)

    def _deliver(self, event: OrderEventMessage, persist: bool = True) -> None:
        data = ORDER_EVENTS.encode(event)
        if persist:
            self.outbox.put(data)
        self.sender.send("risk", "on_order_event", data)
        self.sender.send(f"strategy:{event.strategy}", "on_order_event", data)

    # --- shutdown and queries ------------------------------------------------------------------
    async def shutdown(self, cancel_orders: bool = True) -> dict[str, Any]:
        """Settle every order in flight, cancel every open order (when asked), flush the journal,
        close the clients. An order journaled but not sent is never sent now: its send gate refuses
        it (reported rejected, "never sent"); one being sent is waited for, up to SHUTDOWN_SETTLE_S
        (the venue's answer says accepted or rejected); one whose answer does not come stays open
        in storage, for the next start to settle with the venue."""
        await self.ready()
        self.closing = True
        loop = asyncio.get_running_loop()
        deadline = loop.time() + SHUTDOWN_SETTLE_S
        while any(o.state == "pending" for o in self.orders.values()) and loop.time() < deadline:
            await asyncio.sleep(0.02)  # each pending send ends at its gate or with the venue's answer
        unsettled = [o.coi for o in self.orders.values() if o.state in ("pending", "unknown")]
        if unsettled:  # open in storage: the next start reloads them and asks the venue
            self.log.warning("shutdown: {} orders sent, fate unknown; settled with the venue at the next start: {}",
                             len(unsettled), unsettled[:10])
        results: dict[str, Any] = {}
        if cancel_orders:  # after the sends in flight ended: an order placed meanwhile is canceled too
            for account, client in self.clients.items():
                outcome = await client.cancel_all()
                results[str(account)] = type(outcome).__name__
        await self.outbox.flush()
        await self.sender.drain()
        if self.ws is not None:
            await self.ws.stop()
        for client in self.clients.values():
            await client.close()
        self.clients = {}
        self.sign_pool.shutdown(wait=False)
        return results

    async def flush(self) -> None:
        """Every order event queued for storage committed."""
        await self.ready()
        await self.outbox.flush()

    async def latencies(self) -> list[float]:
        """Origin (feed receipt of the market event) -> send, in ms, per order sent."""
        return list(self.latencies_ms)

    async def latencies_since(self, seen: int) -> tuple[int, list[float]]:
        """(how many latencies this router has recorded, those recorded after the first `seen` that
        it still keeps), for a reader that gathers them batch by batch; all it keeps when `seen`
        is beyond its count (it restarted since)."""
        recorded, kept = self.latencies_recorded, len(self.latencies_ms)
        new = recorded - seen if 0 <= seen <= recorded else kept
        return recorded, list(itertools.islice(self.latencies_ms, max(0, kept - new), kept))

    async def stage_timings(self) -> dict[str, list[float]]:
        """Recent orders' stages in ms: receive (origin -> command here), journal (durable write),
        send (sign + the transaction's round trip)."""
        return {k: list(v) for k, v in self.stage_ms.items()}

    async def order_origins(self) -> list[tuple[int, int, int, int]]:
        """(account, client_order_index, origin ns, intent ts_event ns) of the recent orders."""
        return [(a, c, origin, ts) for (a, c), (origin, ts) in self.origins.items()]

    async def modify_origins(self) -> list[tuple[int, int, int, int, int, int, int, int, str]]:
        """The recent accepted modifies: (account, client_order_index, nonce, origin ns (feed receipt of
        the market event behind it; 0 when an order event caused it), intent ts_event ns, received
        here ns, sent ns, answered ns, the intent's reason)."""
        return list(self.modifies)

    async def open_orders(self) -> dict[str, int]:
        """Open (not ended) orders per strategy, as far as this router knows."""
        await self.ready()
        out: dict[str, int] = {}
        for order in self.orders.values():
            if not order.done:
                out[order.strategy] = out.get(order.strategy, 0) + 1
        return out

    def lag_ms(self) -> float:
        return self.last_event_lag_ms

    async def venue_active_orders(self, account: int, market: int) -> list[bytes]:
        """The account's open orders at the venue (msgpack wire.AccountOrder), for actors that hold
        no keys: the private endpoint needs the account's token, which only this actor can make."""
        await self.ready()
        rows = await self._private(account, functools.partial(self.rest.active_orders, account, market))
        return [msgspec.msgpack.encode(o) for o in rows]

    async def venue_position_fundings(self, account: int, limit: int = 100) -> list[bytes]:
        """The account's newest funding payments at the venue (msgpack wire.PositionFunding, newest
        first), for risk's reconciliation: Lighter's positionFunding is private (the account's token)."""
        await self.ready()
        rows = await self._private(account, lambda auth: self.rest.position_fundings(account, limit, auth=auth))
        return [msgspec.msgpack.encode(f) for f in rows]

    def stats(self) -> dict[str, float]:
        out = {k: float(v) for k, v in self.counts.items()}
        out["closing"] = 1.0 if self.closing else 0.0
        tokens = sum(t.made for t in self.tokens.values())
        out["auth_tokens_made"] = float(tokens)
        if self.ws is not None:
            out["account_renewals"] = float(self.ws.stats.auth_renewals)
            out["account_subscriptions_ended"] = float(self.ws.stats.subscriptions_ended)
        out["open"] = float(sum(1 for o in self.orders.values() if not o.done))
        out["queue"] = float(self.events.qsize())
        out["modify_batches"] = float(self.modify_batcher.batches)
        out["modifies_batched"] = float(self.modify_batcher.batched_items)
        return out
