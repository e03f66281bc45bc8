"""The router's book-keeping of orders, kept out of the actor: what it knows of each order and the
gate every new order passes just before it leaves.

- `RouterOrder`: one order the router journaled (or reloaded at restart) and its state:
  pending (journaled, not sent) -> sent | unknown (sent, fate not heard) -> open -> done.
- `SendGate`: what the order client awaits after signing and before the POST. It waits for the
  order's durable journal write, then makes the last checks: the approval's deadline
  (risk.approval) and the router's shutdown. A refusal raises `NotSent`; the order client then
  sends nothing, and the router reports the order rejected (journaled, never sent).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator
from typing import Any

from actors.common import NS_PER_MS, wall_ns
from messages.orders import Fill, OrderCanceled, OrderCommand, OrderExpired, OrderFilled, OrderPartiallyFilled
from risk.approval import STALE_APPROVAL, approval_refusal

ROUTER_SHUT_DOWN = 40004  # OrderRejected.code: journaled while the router shut down, never sent


class RouterOrder:
    __slots__ = ("strategy", "account", "market", "coi", "side", "size", "is_exit", "filled", "order_index",
                 "state", "origin_ns", "sent_ns", "resolved")

    def __init__(self, strategy: str, account: int, market: int, coi: int, side: str, size: float,
                 is_exit: bool, filled: float = 0.0, state: str = "pending", origin_ns: int = 0) -> None:
        self.strategy = strategy
        self.account = account
        self.market = market
        self.coi = coi
        self.side = side
        self.size = size
        self.is_exit = is_exit
        self.filled = filled
        self.order_index: int | None = None
        self.state = state  # pending | sent | unknown | open | done
        self.origin_ns = origin_ns
        self.sent_ns = 0
        self.resolved = True  # False for orders reloaded at restart until the venue settled them

    @property
    def done(self) -> bool:
        return self.state == "done"


SIZE_EPS = 1e-9


def fill_event(order: RouterOrder, trade: Any, seq: int) -> OrderFilled | OrderPartiallyFilled:
    """The event of one venue trade (wire.Trade) against the order, which it updates (filled size,
    the venue's order index). Event time: the trade's; the fee from the trade's maker/taker fee (ppm)."""
    ours_is_ask = trade.ask_account_id == order.account
    if order.order_index is None:
        order.order_index = trade.ask_id if ours_is_ask else trade.bid_id
    is_maker = trade.is_maker_ask == ours_is_ask
    fee_ppm = (trade.maker_fee if is_maker else trade.taker_fee) or 0.0
    order.filled += trade.size
    remaining = max(0.0, order.size - order.filled) if order.size else 0.0
    cls = OrderFilled if order.size > 0 and remaining <= SIZE_EPS else OrderPartiallyFilled
    return cls(strategy=order.strategy, account_index=order.account, market_id=trade.market_id,
               client_order_index=order.coi, side="sell" if ours_is_ask else "buy",
               fill=Fill(trade_id=trade.trade_id, price=trade.price, size=trade.size,
                         fee=trade.price * trade.size * fee_ppm / 1e6, is_maker=is_maker),
               filled_total=order.filled, remaining=remaining, ts_event=trade.ts_ms * NS_PER_MS, seq=seq)


def ended_event(order: RouterOrder, status: str, updated_at_ms: int, seq: int) -> OrderCanceled | OrderExpired:
    """The event of a venue status "canceled-..." (expired ones: OrderExpired), at the venue's update
    time (the wall clock when it has none)."""
    ts_event = updated_at_ms * NS_PER_MS or wall_ns()
    if "expired" in status:
        return OrderExpired(strategy=order.strategy, account_index=order.account, market_id=order.market,
                            client_order_index=order.coi, ts_event=ts_event, seq=seq)
    return OrderCanceled(strategy=order.strategy, account_index=order.account, market_id=order.market,
                         client_order_index=order.coi, reason=status, ts_event=ts_event, seq=seq)


def coi_of(account: int, trade: Any) -> int:
    """The account's client order index in a trade (-1 when the account is on neither side)."""
    if trade.ask_account_id == account:
        return int(trade.ask_client_id)
    return int(trade.bid_client_id) if trade.bid_account_id == account else -1


class NotSent(Exception):
    """The send gate refused the order: nothing left the process. code/reason go in OrderRejected."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


class SendGate:
    """Awaited by the order client once the order is signed: the journal's write first, then the
    deadline and shutdown checks at the last moment before the POST. Awaitable more than once
    (a re-send after a refusal before anything left checks again); never awaited, it does nothing."""

    def __init__(self, journal: Awaitable[Any], command: OrderCommand, closing: Callable[[], bool],
                 clock: Callable[[], int] = wall_ns) -> None:
        self.journal = journal
        self.command = command
        self.closing = closing
        self.clock = clock

    def __await__(self) -> Generator[Any, None, None]:
        return self._check().__await__()

    async def _check(self) -> None:
        await self.journal
        if self.closing():
            raise NotSent(ROUTER_SHUT_DOWN, "never sent: the router shut down before sending it")
        refusal = approval_refusal(self.command, self.clock())
        if refusal is not None:
            raise NotSent(STALE_APPROVAL, refusal)
