"""Orders: intents (strategy -> risk), commands (risk -> router) and order events (router -> all).

Flow: a strategy emits an `OrderIntent` (or `ModifyIntent` / `CancelIntent` / `CancelAllIntent`); the risk actor
checks it and wraps the approved intent in an `OrderCommand` carrying risk's own seq and approval
time; the router persists the command (durably) **before** sending it, then reports what the venue
did as order events, which go to risk (netting), the strategy and persistence.

Identity: an order is (account_index, client_order_index). The strategy derives the
client_order_index deterministically; a retried send reuses it, so the venue and the `orders`
table see one order. Sizes and prices are floats in base and quote units; fees are in quote,
positive when paid.

Invariants are checked on construction and on decoding (a violation raises ValueError, or
msgspec.ValidationError when decoding), so a malformed intent never reaches the router.
"""

from __future__ import annotations

import math
from typing import Literal

import msgspec

from messages.base import Message, Side

OrderKind = Literal["limit", "market"]
TimeInForce = Literal["gtt", "post_only", "ioc"]
RejectSource = Literal["venue", "risk", "router"]


def _positive(name: str, value: float | None) -> None:
    if value is None or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")


# ---------------------------------------------------------------------------------------------
# Intents (strategy -> risk)
# ---------------------------------------------------------------------------------------------


class OrderIntent(Message, frozen=True, kw_only=True, tag="order_intent"):
    """A request to place one order.

    kind "limit" needs `price`; kind "market" has no price, needs `worst_price` (the limit of
    acceptable slippage the venue enforces) and is always tif "ioc". `is_exit` marks an order that
    reduces or closes a position: exits are allowed while halted or after a breaker tripped.
    `expiry_ms` (event time, ms) applies to "gtt" orders; None lets the router pick its default.
    """

    strategy: str
    account_index: int
    market_id: int
    client_order_index: int
    side: Side
    size: float
    kind: OrderKind
    tif: TimeInForce
    reason: str
    price: float | None = None
    worst_price: float | None = None
    reduce_only: bool = False
    is_exit: bool = False
    expiry_ms: int | None = None

    def __post_init__(self) -> None:
        if self.client_order_index < 0:
            raise ValueError(f"client_order_index must be >= 0, got {self.client_order_index}")
        _positive("size", self.size)
        if self.kind == "limit":
            _positive("price of a limit order", self.price)
            if self.worst_price is not None:
                raise ValueError("worst_price applies to market orders only")
        else:
            if self.price is not None:
                raise ValueError("a market order has no price (use worst_price)")
            _positive("worst_price of a market order", self.worst_price)
            if self.tif != "ioc":
                raise ValueError(f"a market order is immediate-or-cancel, got tif {self.tif!r}")


class CancelIntent(Message, frozen=True, kw_only=True, tag="cancel_intent"):
    strategy: str
    account_index: int
    market_id: int
    client_order_index: int
    reason: str


class ModifyIntent(Message, frozen=True, kw_only=True, tag="modify_intent"):
    """New price and remaining size for a resting limit order of ours (Lighter's modify
    transaction; the order keeps its client_order_index and loses its queue place on a price
    change). side and post_only repeat the order's own, so risk checks it as the order it becomes."""

    strategy: str
    account_index: int
    market_id: int
    client_order_index: int
    side: Side
    price: float
    size: float  # the new remaining size
    reason: str
    post_only: bool = True

    def __post_init__(self) -> None:
        _positive("price", self.price)
        _positive("size", self.size)

    def as_order(self) -> OrderIntent:
        """The order this one becomes, for the checks that judge a new order (band, cross, size)."""
        return OrderIntent(strategy=self.strategy, account_index=self.account_index, market_id=self.market_id,
                           client_order_index=self.client_order_index, side=self.side, size=self.size,
                           kind="limit", tif="post_only" if self.post_only else "gtt", reason=self.reason,
                           price=self.price, ts_event=self.ts_event, seq=self.seq)


class CancelAllIntent(Message, frozen=True, kw_only=True, tag="cancel_all_intent"):
    """Cancel every open order of the account; market_id None means every market."""

    strategy: str
    account_index: int
    reason: str
    market_id: int | None = None


Intent = OrderIntent | ModifyIntent | CancelIntent | CancelAllIntent


# ---------------------------------------------------------------------------------------------
# Commands (risk -> router)
# ---------------------------------------------------------------------------------------------


class OrderCommand(Message, frozen=True, kw_only=True, tag="order_command"):
    """An intent approved by risk. ts_event is the approval time; seq is risk's own counter.

    approved_ns and max_age_ms: the approval's deadline (wall clock: a timeout, not event time).
    The router sends an entry no later than approved_ns + max_age_ms (risk.approval); 0 = none."""

    intent: Intent
    approved_ns: int = 0
    max_age_ms: int = 0

    @property
    def strategy(self) -> str:
        return self.intent.strategy

    @property
    def account_index(self) -> int:
        return self.intent.account_index


# ---------------------------------------------------------------------------------------------
# Order events (router -> risk, strategy, persistence)
# ---------------------------------------------------------------------------------------------


class Fill(msgspec.Struct, frozen=True, kw_only=True):
    """One venue trade against our order. trade_id is the venue's; it makes a fill unique."""

    trade_id: int
    price: float
    size: float
    fee: float
    is_maker: bool


class OrderEvent(Message, frozen=True, kw_only=True):
    """Base of the order events (not itself sent)."""

    strategy: str
    account_index: int
    market_id: int
    client_order_index: int


class OrderAccepted(OrderEvent, frozen=True, kw_only=True, tag="order_accepted"):
    tx_hash: str
    order_index: int | None = None  # the venue's own id, once known


class OrderRejected(OrderEvent, frozen=True, kw_only=True, tag="order_rejected"):
    """code is the venue's result code (venue.codes) or the rejecting actor's own code. op says
    what was refused: a refused place ends the order; a refused modify or cancel leaves it as it
    was (still resting at the venue)."""

    code: int
    reason: str
    source: RejectSource = "venue"
    op: Literal["place", "modify", "cancel"] = "place"


class OrderModified(OrderEvent, frozen=True, kw_only=True, tag="order_modified"):
    """The venue took our modify: the order now rests at price with `remaining` left."""

    price: float
    remaining: float
    tx_hash: str = ""


class OrderPartiallyFilled(OrderEvent, frozen=True, kw_only=True, tag="order_partially_filled"):
    side: Side
    fill: Fill
    filled_total: float  # cumulative filled size of the order, this fill included
    remaining: float


class OrderFilled(OrderEvent, frozen=True, kw_only=True, tag="order_filled"):
    """The fill that completed the order (remaining is 0)."""

    side: Side
    fill: Fill
    filled_total: float
    remaining: float = 0.0


class OrderCanceled(OrderEvent, frozen=True, kw_only=True, tag="order_canceled"):
    reason: str = ""  # the venue's status ("canceled-post-only", ...) or who canceled it


class OrderExpired(OrderEvent, frozen=True, kw_only=True, tag="order_expired"):
    pass


FillEvent = OrderPartiallyFilled | OrderFilled
OrderEventMessage = (
    OrderAccepted | OrderModified | OrderRejected | OrderPartiallyFilled | OrderFilled | OrderCanceled | OrderExpired
)
