"""How the simulator sequences transactions: nonces, account tiers (speed bumps, rate windows,
fees) and the application of each transaction to the matching engine.

`Sequencing` is a mixin of `venue.sim.server.SimServer` (it reads the server's engine, clock and
counters, and publishes through its `_after_step`); the handlers reach it through
`venue.sim.venue_protocol.SimVenue` (`admit_txs`, `execute_txs`).

Speed bumps (venue.sim.tiers): a transaction received at venue time R takes effect at R + its
tier's delay. Venue time is event time: the last market event's time, plus the wall time since it
times `speed` while the source is live (the venue's own clock between events); with the source
ended it stands at the last event until something moves it. Due transactions are applied, each
at its own effect time, before any market event at or after that time (so a replay meets the
same bumps at any speed), and by a timer when no event comes first: at `speed` s the timer waits
delay / s of wall time, and at speed 0 with the source ended it fires at once. Transactions due at
the same time apply in the order they were received.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections import Counter

import msgspec

from venue import codes
from venue.markets import MarketSpec
from venue.sim.counters import Counters
from venue.sim.engine import MatchingEngine
from venue.sim.faults import Faults
from venue.sim.tiers import AccountTiers, TierName
from venue.sim.txinfo import (
    CANCEL_ALL_ABORT,
    CANCEL_ALL_SCHEDULED,
    CancelAllOrdersTx,
    CancelOrderTx,
    CreateOrderTx,
    ModifyOrderTx,
    Tx,
)
from venue.sim.types import OrderRequest, OrderType, SimTrade, TimeInForce


class Applied(msgspec.Struct, frozen=True):
    """A sequenced transaction's outcome and the venue time it took effect at."""

    code: int
    message: str
    effective_ms: int


class _Pending(msgspec.Struct):
    effective_ms: int
    seq: int
    tx: Tx
    wall_ms: int
    received_ns: int
    done: asyncio.Future[Applied]

    def __lt__(self, other: _Pending) -> bool:
        return (self.effective_ms, self.seq) < (other.effective_ms, other.seq)


class Sequencing:
    # provided by the server
    engine: MatchingEngine
    markets: dict[int, MarketSpec]
    counters: Counters
    faults: Faults
    now_ms: int
    block_height: int
    speed: float
    source_done: asyncio.Event
    initial_nonce: int

    def _init_sequencing(self, tiers: AccountTiers) -> None:
        self.tiers = tiers
        self.nonces: dict[tuple[int, int], int] = {}
        self._scheduled_cancels: dict[int, int] = {}  # account -> event ms of a scheduled cancel-all
        self._pending: list[_Pending] = []  # heap: transactions waiting for their speed bump
        self._pending_seq = itertools.count()
        self._bump_timer: asyncio.TimerHandle | None = None
        self._fees_set: set[int] = set()  # accounts whose tier fees the engine has
        self._clock_wall_s = time.monotonic()  # when now_ms last moved

    def _after_step(self, markets: set[int], trades: list[SimTrade], external: list[dict[str, object]]) -> None:
        raise NotImplementedError

    # --- the venue clock ---------------------------------------------------------------------
    def _set_now(self, ts_ms: int) -> None:
        if ts_ms > self.now_ms:
            self.now_ms = ts_ms
        self._clock_wall_s = time.monotonic()

    def venue_clock_ms(self) -> int:
        """Event time now: the last event's time, plus wall time x speed while the source is live."""
        if self.speed <= 0 or self.source_done.is_set():
            return self.now_ms
        return self.now_ms + int((time.monotonic() - self._clock_wall_s) * self.speed * 1000)

    # --- nonces ------------------------------------------------------------------------------
    def next_nonce(self, account_index: int, api_key_index: int) -> int:
        return self.nonces.get((account_index, api_key_index), self.initial_nonce)

    def consume_nonce(self, account_index: int, api_key_index: int) -> None:
        key = (account_index, api_key_index)
        self.nonces[key] = self.nonces.get(key, self.initial_nonce) + 1

    def to_event_ms(self, client_ms: int, wall_ms: int) -> int:
        """A client's wall-clock timestamp (expiry, scheduled time) on the simulator's event clock."""
        if abs(client_ms - wall_ms) <= abs(client_ms - self.now_ms):
            return self.now_ms + (client_ms - wall_ms)
        return client_ms

    # --- tiers -------------------------------------------------------------------------------
    def tier_of(self, account_index: int) -> TierName:
        return self.tiers.tier(account_index).name

    def admit_txs(self, txs: list[Tx]) -> bool:
        """The rate gate: every account of these transactions has room for them this minute."""
        return self.tiers.admit(Counter(tx.account_index for tx in txs), self.venue_clock_ms())

    def _tier_fees(self, account_index: int) -> None:
        if account_index in self._fees_set:
            return
        self._fees_set.add(account_index)
        tier = self.tiers.tier(account_index)
        if tier.maker_fee is not None and tier.taker_fee is not None:
            self.engine.set_account_fees(account_index, tier.maker_fee, tier.taker_fee)

    def _takes(self, tx: Tx) -> bool:
        """Whether the transaction may trade on arrival (a taker's bump) rather than rest."""
        if isinstance(tx, CreateOrderTx):
            if tx.type == OrderType.MARKET or tx.time_in_force == TimeInForce.IOC:
                return True
            if tx.time_in_force == TimeInForce.POST_ONLY:
                return False
            return self._crosses(tx.market_index, bool(tx.is_ask), tx.price)
        if isinstance(tx, ModifyOrderTx):
            order = self.engine.order(tx.index)
            if order is None or order.account_index != tx.account_index:
                order = self.engine.order_by_client_index(tx.account_index, tx.index)
            if order is None or order.time_in_force == TimeInForce.POST_ONLY:
                return False
            return self._crosses(order.market_id, order.is_ask, tx.price)
        return False  # cancels

    def _crosses(self, market_id: int, is_ask: bool, price: int) -> bool:
        if market_id not in self.markets:
            return False
        bids, asks = self.engine.book(market_id, 1)
        if is_ask:
            return bool(bids) and price <= bids[0][0]
        return bool(asks) and price >= asks[0][0]

    # --- execution ---------------------------------------------------------------------------
    async def execute_txs(self, txs: list[Tx], wall_ms: int, received_ns: int) -> list[Applied]:
        """Apply transactions whose nonces were spent, each after its tier's speed bump."""
        receipt = self.venue_clock_ms()
        self._release_due(receipt)
        loop = asyncio.get_running_loop()
        waiting: list[asyncio.Future[Applied]] = []
        for tx in txs:
            self._tier_fees(tx.account_index)
            tier = self.tiers.tier(tx.account_index)
            delay = 0
            if tier.maker_delay_ms or tier.taker_delay_ms:
                delay = self.tiers.delay_ms(tx.account_index, self._takes(tx))
            done: asyncio.Future[Applied] = loop.create_future()
            if delay == 0:  # due before anything waiting (that is due after the receipt)
                code, message = self.apply_tx(tx, wall_ms, received_ns)
                done.set_result(Applied(code, message, self.now_ms))
            else:
                self.counters.delayed_txs += delay > 0
                heapq.heappush(self._pending, _Pending(effective_ms=receipt + delay, seq=next(self._pending_seq),
                                                       tx=tx, wall_ms=wall_ms, received_ns=received_ns, done=done))
            waiting.append(done)
        self._arm_bump_timer()
        return list(await asyncio.gather(*waiting))

    def _release_due(self, up_to_ms: int) -> None:
        """Apply every waiting transaction due at or before up_to_ms, each at its own time."""
        while self._pending and self._pending[0].effective_ms <= up_to_ms:
            pending = heapq.heappop(self._pending)
            self._set_now(pending.effective_ms)
            code, message = self.apply_tx(pending.tx, pending.wall_ms, pending.received_ns)
            if not pending.done.done():
                pending.done.set_result(Applied(code, message, self.now_ms))

    def _arm_bump_timer(self) -> None:
        if self._bump_timer is not None:
            self._bump_timer.cancel()
            self._bump_timer = None
        if not self._pending:
            return
        if self.speed > 0:
            wait_s = max(0.0, (self._pending[0].effective_ms - self.venue_clock_ms()) / 1000 / self.speed)
        elif self.source_done.is_set():
            wait_s = 0.0
        else:
            return  # at speed 0 the source's events bring the clock to it
        self._bump_timer = asyncio.get_running_loop().call_later(wait_s, self._on_bump_timer)

    def _on_bump_timer(self) -> None:
        self._bump_timer = None
        if self._pending:
            self._release_due(max(self._pending[0].effective_ms, self.venue_clock_ms()))
        self._arm_bump_timer()

    def _drop_pending(self) -> None:
        if self._bump_timer is not None:
            self._bump_timer.cancel()
            self._bump_timer = None
        for pending in self._pending:
            if not pending.done.done():
                pending.done.cancel()
        self._pending = []

    # --- one transaction ---------------------------------------------------------------------
    def apply_tx(self, tx: Tx, wall_ms: int, received_ns: int | None = None) -> tuple[int, str]:
        """Apply one parsed transaction whose nonce was accepted; returns (code, message).
        received_ns (when its request reached the venue) is for subclasses that audit arrivals."""
        self.counters.txs += 1
        self.block_height += 1
        if isinstance(tx, CreateOrderTx):
            return self._create_order(tx, wall_ms)
        if isinstance(tx, CancelOrderTx):
            return self._cancel_order(tx)
        if isinstance(tx, ModifyOrderTx):
            return self._modify_order(tx)
        return self._cancel_all(tx, wall_ms)

    def _create_order(self, tx: CreateOrderTx, wall_ms: int) -> tuple[int, str]:
        injected = self.faults.order_reject_code()
        if injected is not None:
            self.counters.rejects += 1
            self.counters.injected_rejects += 1
            return injected, codes.message_for(injected)
        expiry = 0
        is_resting = tx.type == OrderType.LIMIT and tx.time_in_force != TimeInForce.IOC
        if is_resting and tx.order_expiry > 0:
            expiry = self.to_event_ms(tx.order_expiry, wall_ms)
            if expiry <= self.now_ms:
                self.counters.rejects += 1
                return codes.ORDER_EXPIRED, f"{codes.message_for(codes.ORDER_EXPIRED)}: expiry is not in the future"
        request = OrderRequest(
            account_index=tx.account_index,
            market_id=tx.market_index,
            client_order_index=tx.client_order_index,
            base_amount=tx.base_amount,
            price=tx.price,
            is_ask=bool(tx.is_ask),
            order_type=OrderType(tx.type),
            time_in_force=TimeInForce(tx.time_in_force),
            reduce_only=bool(tx.reduce_only),
            order_expiry_ms=expiry,
            nonce=tx.nonce,
            api_key_index=tx.api_key_index,
        )
        result = self.engine.submit(request, self.now_ms)
        if result.code != codes.OK:
            self.counters.rejects += 1
            return result.code, result.message or codes.message_for(result.code)
        self.counters.orders += 1
        self._after_step({tx.market_index}, result.trades, [])
        return codes.OK, codes.message_for(codes.OK)

    def _cancel_order(self, tx: CancelOrderTx) -> tuple[int, str]:
        if tx.market_index not in self.markets:
            self.counters.rejects += 1
            return codes.INVALID_MARKET, f"{codes.message_for(codes.INVALID_MARKET)}: {tx.market_index}"
        code, _order = self.engine.cancel(tx.account_index, tx.market_index, tx.index, self.now_ms)
        if code != codes.OK:
            self.counters.rejects += 1
            return code, f"{codes.message_for(code)}: index {tx.index}"
        self.counters.cancels += 1
        self._after_step({tx.market_index}, [], [])
        return codes.OK, codes.message_for(codes.OK)

    def _modify_order(self, tx: ModifyOrderTx) -> tuple[int, str]:
        if tx.market_index not in self.markets:
            self.counters.rejects += 1
            return codes.INVALID_MARKET, f"{codes.message_for(codes.INVALID_MARKET)}: {tx.market_index}"
        result = self.engine.modify(tx.account_index, tx.index, tx.price, tx.base_amount, self.now_ms,
                                    market_id=tx.market_index)  # fmt: skip
        if result.code != codes.OK:
            self.counters.rejects += 1
            return result.code, f"{result.message or codes.message_for(result.code)}: index {tx.index}"
        self.counters.modifies += 1
        self._after_step({tx.market_index}, result.trades, [])
        return codes.OK, codes.message_for(codes.OK)

    def _cancel_all(self, tx: CancelAllOrdersTx, wall_ms: int) -> tuple[int, str]:
        market = tx.market_index
        if market is not None and market not in self.markets:
            self.counters.rejects += 1
            return codes.INVALID_MARKET, f"{codes.message_for(codes.INVALID_MARKET)}: {market}"
        if tx.time_in_force == CANCEL_ALL_SCHEDULED:
            self._scheduled_cancels[tx.account_index] = self.to_event_ms(tx.time, wall_ms)
            return codes.OK, "cancel-all scheduled"
        if tx.time_in_force == CANCEL_ALL_ABORT:
            self._scheduled_cancels.pop(tx.account_index, None)
            return codes.OK, "scheduled cancel-all aborted"
        canceled = self.engine.cancel_all(tx.account_index, self.now_ms, market)
        self.counters.cancels += len(canceled)
        self._after_step({o.market_id for o in canceled}, [], [])
        return codes.OK, f"{len(canceled)} orders canceled"

    def scheduled_cancel_time(self, account_index: int) -> int:
        """Event ms of the account's scheduled cancel-all, 0 if none."""
        return self._scheduled_cancels.get(account_index, 0)

    def _run_scheduled_cancels(self) -> set[int]:
        due = [a for a, at in self._scheduled_cancels.items() if at <= self.now_ms]
        touched: set[int] = set()
        for account in due:
            del self._scheduled_cancels[account]
            canceled = self.engine.cancel_all(account, self.now_ms)
            self.counters.cancels += len(canceled)
            touched.update(o.market_id for o in canceled)
        return touched
