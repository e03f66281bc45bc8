"""Data types of the simulator: what market sources emit and what the matching engine keeps.

Everything the engine handles is in the venue's integer units (prices scaled by the market's
price decimals, sizes by its size decimals) and event time in milliseconds, so that a replay at
any speed makes the same decisions. Market sources speak floats; the server quantises them.
"""

from __future__ import annotations

from enum import IntEnum

import msgspec

# ---------------------------------------------------------------------------------------------
# Market sources (floats, event time in ns)
# ---------------------------------------------------------------------------------------------


class SourceBook(msgspec.Struct, frozen=True, kw_only=True):
    """The full external book (top N levels a side) at ts_ns; bids best first, asks best first."""

    ts_ns: int
    bids: list[tuple[float, float]]  # (price, size)
    asks: list[tuple[float, float]]


class SourceTrade(msgspec.Struct, frozen=True, kw_only=True):
    """A trade printed in the external market; taker_is_buyer is the aggressor's side."""

    ts_ns: int
    price: float
    size: float
    taker_is_buyer: bool


SourceEvent = SourceBook | SourceTrade


# ---------------------------------------------------------------------------------------------
# Orders (Lighter's own enumerations, as in lighter.SignerClient)
# ---------------------------------------------------------------------------------------------


class OrderType(IntEnum):
    LIMIT = 0
    MARKET = 1


class TimeInForce(IntEnum):
    IOC = 0
    GTT = 1  # good till time
    POST_ONLY = 2


class OrderStatus:
    """Lighter's order status strings."""

    OPEN = "open"
    FILLED = "filled"
    CANCELED = "canceled"
    CANCELED_POST_ONLY = "canceled-post-only"
    CANCELED_REDUCE_ONLY = "canceled-reduce-only"
    CANCELED_EXPIRED = "canceled-expired"
    CANCELED_NOT_ENOUGH_LIQUIDITY = "canceled-not-enough-liquidity"
    CANCELED_IOC = "canceled"  # the unfilled rest of an IOC order

    TERMINAL = frozenset(
        {
            FILLED,
            CANCELED,
            CANCELED_POST_ONLY,
            CANCELED_REDUCE_ONLY,
            CANCELED_EXPIRED,
            CANCELED_NOT_ENOUGH_LIQUIDITY,
        }
    )


class OrderRequest(msgspec.Struct, frozen=True, kw_only=True):
    """A create-order transaction (tx type 14) as the engine receives it."""

    account_index: int
    market_id: int
    client_order_index: int
    base_amount: int
    price: int  # the limit price, or a market order's worst acceptable price
    is_ask: bool
    order_type: OrderType = OrderType.LIMIT
    time_in_force: TimeInForce = TimeInForce.GTT
    reduce_only: bool = False
    order_expiry_ms: int = 0  # 0: none (IOC and market orders); GTT orders expire at this time
    nonce: int = 0
    api_key_index: int = 0


class SimOrder(msgspec.Struct, kw_only=True):
    """An order inside the engine (mutable: remaining/filled/status change as it trades)."""

    order_index: int
    client_order_index: int
    account_index: int
    market_id: int
    is_ask: bool
    price: int
    initial_base_amount: int
    remaining_base_amount: int
    filled_base_amount: int = 0
    filled_quote: float = 0.0  # sum of price*size in quote currency (floats)
    order_type: OrderType = OrderType.LIMIT
    time_in_force: TimeInForce = TimeInForce.GTT
    reduce_only: bool = False
    order_expiry_ms: int = 0
    status: str = OrderStatus.OPEN
    nonce: int = 0
    created_at_ms: int = 0
    updated_at_ms: int = 0
    # external size ahead of it at its price while it rests (venue.sim.queue; -1: not yet seen)
    queue_ahead: int = 0


class SimTrade(msgspec.Struct, frozen=True, kw_only=True):
    """One fill involving at least one simulator account (the other side may be external).

    account ids are -1 for the external market. Fees are in quote currency (floats), each side's
    own: taker_fee is paid by the taker, maker_fee by the maker.
    """

    trade_id: int
    market_id: int
    price: int
    size: int
    ts_ms: int
    tx_hash: str
    ask_id: int  # order_index of the ask side, -1 if external
    bid_id: int
    ask_client_id: int
    bid_client_id: int
    ask_account_id: int
    bid_account_id: int
    is_maker_ask: bool
    taker_fee: float
    maker_fee: float


class Position(msgspec.Struct, kw_only=True):
    """A signed position of one account in one market."""

    market_id: int
    size: int = 0  # signed base units: > 0 long, < 0 short
    avg_entry_price: float = 0.0  # in quote per 1 base unit of the asset (a float price)
    realized_pnl: float = 0.0  # net of nothing: fees are tracked separately in fees_paid
    fees_paid: float = 0.0
    total_funding_paid_out: float = 0.0  # hourly funding, summed over its life: > 0 paid (venue.sim.funding)


class Account(msgspec.Struct, kw_only=True):
    account_index: int
    collateral: float  # quote; realized PnL, fees and funding move it
    positions: dict[int, Position] = msgspec.field(default_factory=dict)


class SubmitResult(msgspec.Struct, kw_only=True):
    """What the engine says to a create order: accepted (with its order and any fills) or not."""

    code: int  # venue.codes.OK or a rejection code
    message: str = ""
    order: SimOrder | None = None
    trades: list[SimTrade] = msgspec.field(default_factory=list)
