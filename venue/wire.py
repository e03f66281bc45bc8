"""Lighter's websocket and REST messages as msgspec Structs, and the typed events built from them.

The wire types mirror the venue's JSON field for field (see ../shared/data/lighter/*.json):
numbers the venue sends as strings ("2325.00") stay strings here and become floats only in the
typed events at the bottom of this module. Unknown extra fields are ignored; lists or maps the
venue sends as null (or leaves out) decode as empty.

Decoding is two msgspec passes and no Python dict walking: a tiny header struct ({"type",
"channel"}) picks the message struct, whose decoder is built once at import. Replies name
channels with a colon (`order_book:0`) although subscriptions use a slash (`order_book/0`).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, ClassVar

import msgspec
from msgspec.structs import force_setattr

from venue.markets import MarketSpec, market_from_details

if TYPE_CHECKING:
    NullList = list
    NullDict = dict
else:

    class NullList:
        """`NullList[T]` is `list[T]` to type checkers and `list[T] | None` to msgspec, so that a
        JSON null decodes; the owning struct's __post_init__ turns the None into []."""

        def __class_getitem__(cls, item: Any) -> Any:
            return list[item] | None

    class NullDict:
        """`NullDict[K, V]`: as NullList, for maps (null becomes {})."""

        def __class_getitem__(cls, item: Any) -> Any:
            return dict[item] | None


class _Wire(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """Base of all wire structs: immutable, and untracked by the GC (they hold no cycles)."""


class _WithNulls(_Wire, frozen=True, kw_only=True):
    """A wire struct with NullList/NullDict fields, named in _lists and _dicts."""

    _lists: ClassVar[tuple[str, ...]] = ()
    _dicts: ClassVar[tuple[str, ...]] = ()

    def __post_init__(self) -> None:
        for name in self._lists:
            if getattr(self, name) is None:
                force_setattr(self, name, [])
        for name in self._dicts:
            if getattr(self, name) is None:
                force_setattr(self, name, {})


# =============================================================================================
# Shared pieces
# =============================================================================================


class PriceLevel(_Wire, frozen=True, kw_only=True):
    """One book level (or a ticker side); size "0" in a delta removes the level."""

    price: str
    size: str


class WireTrade(_Wire, frozen=True, kw_only=True):
    """A trade, as in the `trade` channel, `account_all*` trades and `recentTrades`."""

    trade_id: int
    trade_id_str: str = ""
    tx_hash: str = ""
    type: str = "trade"
    market_id: int
    size: str
    price: str
    usd_amount: str = ""
    ask_id: int = 0
    ask_id_str: str = ""
    bid_id: int = 0
    bid_id_str: str = ""
    ask_client_id: int = 0
    ask_client_id_str: str = ""
    bid_client_id: int = 0
    bid_client_id_str: str = ""
    ask_account_id: int
    bid_account_id: int
    is_maker_ask: bool
    block_height: int = 0
    timestamp: int  # ms
    taker_fee: int | float | None = None
    maker_fee: int | float | None = None
    transaction_time: int = 0  # us
    # recentTrades only
    taker_position_size_before: str | None = None
    taker_entry_quote_before: str | None = None
    taker_initial_margin_fraction_before: int | None = None
    maker_position_size_before: str | None = None
    maker_entry_quote_before: str | None = None
    maker_initial_margin_fraction_before: int | None = None


class WirePosition(_Wire, frozen=True, kw_only=True):
    """A position; `position` is unsigned and `sign` is 1 (long) or -1 (short)."""

    market_id: int
    symbol: str = ""
    initial_margin_fraction: str = "0"
    open_order_count: int = 0
    pending_order_count: int = 0
    position_tied_order_count: int = 0
    sign: int = 1
    position: str
    avg_entry_price: str = "0"
    position_value: str = "0"
    unrealized_pnl: str = "0"
    realized_pnl: str = "0"
    liquidation_price: str = "0"
    total_funding_paid_out: str | None = None
    margin_mode: int = 0
    allocated_margin: str = "0"
    total_discount: str | None = None


class WirePositionFunding(_Wire, frozen=True, kw_only=True):
    """One hourly funding payment of a position (`account_all` funding_histories, `positionFunding`);
    `change` is the account's collateral change (< 0 paid), `rate` a signed percentage."""

    timestamp: int  # s
    market_id: int
    funding_id: int = 0
    change: str
    rate: str = "0"
    position_size: str = "0"
    position_side: str = "long"
    discount: str = "0"


class WireOrder(_Wire, frozen=True, kw_only=True):
    """An order, as in `account_orders`/`account_all` and `accountActiveOrders`."""

    order_index: int
    client_order_index: int = 0
    order_id: str = ""
    client_order_id: str = ""
    market_index: int
    owner_account_index: int
    initial_base_amount: str
    price: str
    nonce: int = 0
    remaining_base_amount: str
    is_ask: bool
    base_size: int = 0
    base_price: int = 0
    filled_base_amount: str = "0"
    filled_quote_amount: str = "0"
    side: str = ""
    type: str = "limit"
    time_in_force: str = ""
    reduce_only: bool = False
    trigger_price: str = "0"
    order_expiry: int = 0
    status: str
    trigger_status: str = ""
    trigger_time: int = 0
    parent_order_index: int = 0
    parent_order_id: str = ""
    to_trigger_order_id_0: str = ""
    to_trigger_order_id_1: str = ""
    to_cancel_order_id_0: str = ""
    integrator_fee_collector_index: str = ""
    integrator_taker_fee: str = ""
    integrator_maker_fee: str = ""
    block_height: int = 0
    timestamp: int = 0  # ms
    created_at: int = 0
    updated_at: int = 0
    transaction_time: int = 0


class WireAsset(_Wire, frozen=True, kw_only=True):
    symbol: str
    asset_id: int
    balance: str
    locked_balance: str = "0"
    margin_mode: str = ""
    margin_balance: str | None = None


class Candle(_Wire, frozen=True, kw_only=True):
    ts_ms: int = msgspec.field(name="t")
    open: float = msgspec.field(name="o")
    high: float = msgspec.field(name="h")
    low: float = msgspec.field(name="l")
    close: float = msgspec.field(name="c")
    base_volume: float = msgspec.field(name="v")
    quote_volume: float = msgspec.field(name="V")
    last_trade_id: int = msgspec.field(default=0, name="i")


class MarketStats(_Wire, frozen=True, kw_only=True):
    symbol: str = ""
    market_id: int
    index_price: str = ""
    mark_price: str = ""
    mid_price: str = ""
    open_interest: str = ""
    open_interest_limit: str = ""
    funding_clamp_small: str = ""
    funding_clamp_big: str = ""
    last_trade_price: str = ""
    current_funding_rate: str = ""
    funding_rate: str = ""
    funding_timestamp: int = 0
    base_interest_rate: str | None = None
    daily_base_token_volume: float = 0.0
    daily_quote_token_volume: float = 0.0
    daily_price_low: float = 0.0
    daily_price_high: float = 0.0
    daily_price_change: float = 0.0


class SpotMarketStats(_Wire, frozen=True, kw_only=True):
    symbol: str = ""
    market_id: int
    index_price: str = ""
    mid_price: str = ""
    last_trade_price: str = ""
    daily_base_token_volume: float = 0.0
    daily_quote_token_volume: float = 0.0
    daily_price_low: float = 0.0
    daily_price_high: float = 0.0
    daily_price_change: float = 0.0


# =============================================================================================
# Websocket messages
# =============================================================================================


class _WsMsg(_WithNulls, frozen=True, kw_only=True):
    type: str = ""
    channel: str = ""

    @property
    def is_snapshot(self) -> bool:
        """True for the `subscribed/...` reply that opens a subscription."""
        return self.type.startswith("subscribed/")


class OrderBookState(_WithNulls, frozen=True, kw_only=True):
    _lists = ("asks", "bids")
    code: int = 0
    asks: NullList[PriceLevel] = []
    bids: NullList[PriceLevel] = []
    offset: int = 0
    nonce: int = 0
    last_updated_at: int = 0  # us
    begin_nonce: int = 0


class OrderBookMsg(_WsMsg, frozen=True, kw_only=True):
    """`subscribed/order_book` (the whole book) or `update/order_book` (changed levels)."""

    offset: int | None = None
    order_book: OrderBookState
    timestamp: int = 0  # ms
    last_updated_at: int = 0  # us

    @property
    def book_offset(self) -> int:
        return self.offset if self.offset is not None else self.order_book.offset


class TradeMsg(_WsMsg, frozen=True, kw_only=True):
    _lists = ("trades", "liquidation_trades")
    trades: NullList[WireTrade] = []
    liquidation_trades: NullList[WireTrade] = []
    nonce: int = 0
    timestamp: int = 0


class AccountAllMsg(_WsMsg, frozen=True, kw_only=True):
    """`account_all/{a}`: positions and orders and trades keyed by market id."""

    _dicts = ("positions", "orders", "trades", "funding_histories")
    account: int | None = None
    positions: NullDict[int, WirePosition] = {}
    orders: NullDict[int, list[WireOrder]] = {}
    trades: NullDict[int, list[WireTrade]] = {}
    # rows checked one by one (account_update_from_wire): a funding row of an unexpected shape is
    # dropped and counted, not the fills and orders beside it
    funding_histories: NullDict[int, Any] = {}
    shares: Any = None
    timestamp: int = 0


class AccountAllPositionsMsg(_WsMsg, frozen=True, kw_only=True):
    _dicts = ("positions",)
    positions: NullDict[int, WirePosition] = {}
    shares: Any = None
    last_funding_round: Any = None
    last_funding_discount: Any = None
    timestamp: int = 0


class AccountAllTradesMsg(_WsMsg, frozen=True, kw_only=True):
    _dicts = ("trades",)
    trades: NullDict[int, list[WireTrade]] = {}
    timestamp: int = 0


class AccountOrdersMsg(_WsMsg, frozen=True, kw_only=True):
    _dicts = ("orders",)
    account: int | None = None
    nonce: int = 0
    orders: NullDict[int, list[WireOrder]] = {}
    timestamp: int = 0


class AccountAllAssetsMsg(_WsMsg, frozen=True, kw_only=True):
    _dicts = ("assets",)
    assets: NullDict[int, WireAsset] = {}
    timestamp: int = 0


class AccountStats(_Wire, frozen=True, kw_only=True):
    available_balance: str = "0"
    buying_power: str = "0"
    collateral: str = "0"
    leverage: str = "0"
    margin_usage: str = "0"
    portfolio_value: str = "0"


class UserStats(AccountStats, frozen=True, kw_only=True):
    account_trading_mode: int = 0
    cross_stats: AccountStats | None = None
    total_stats: AccountStats | None = None


class UserStatsMsg(_WsMsg, frozen=True, kw_only=True):
    stats: UserStats
    timestamp: int = 0


class Ticker(_Wire, frozen=True, kw_only=True):
    symbol: str = msgspec.field(default="", name="s")
    ask: PriceLevel = msgspec.field(name="a")
    bid: PriceLevel = msgspec.field(name="b")
    last_updated_at: int = 0


class TickerMsg(_WsMsg, frozen=True, kw_only=True):
    ticker: Ticker
    nonce: int = 0
    last_updated_at: int = 0
    timestamp: int = 0


class CandleMsg(_WsMsg, frozen=True, kw_only=True):
    _lists = ("candles",)
    candles: NullList[Candle] = []
    timestamp: int = 0


class MarketStatsMsg(_WsMsg, frozen=True, kw_only=True):
    """`market_stats:{m}`: one market's stats."""

    market_stats: MarketStats
    timestamp: int = 0


class MarketStatsAllMsg(_WsMsg, frozen=True, kw_only=True):
    """`market_stats:all`: stats keyed by market id."""

    _dicts = ("market_stats",)
    market_stats: NullDict[int, MarketStats] = {}
    timestamp: int = 0


class SpotMarketStatsMsg(_WsMsg, frozen=True, kw_only=True):
    spot_market_stats: SpotMarketStats
    timestamp: int = 0


class SpotMarketStatsAllMsg(_WsMsg, frozen=True, kw_only=True):
    _dicts = ("spot_market_stats",)
    spot_market_stats: NullDict[int, SpotMarketStats] = {}
    timestamp: int = 0


class HeightMsg(_WsMsg, frozen=True, kw_only=True):
    height: int
    timestamp: int = 0


class ConnectedMsg(_WsMsg, frozen=True, kw_only=True):
    session_id: str = ""


class PingMsg(_WsMsg, frozen=True, kw_only=True):
    pass


class PongMsg(_WsMsg, frozen=True, kw_only=True):
    pass


class UnknownMsg(_WsMsg, frozen=True, kw_only=True):
    """Any message whose type we do not model (errors, `unsubscribed`, new channels)."""

    data: dict[str, Any] = {}


WsMessage = (
    OrderBookMsg
    | TradeMsg
    | AccountAllMsg
    | AccountAllPositionsMsg
    | AccountAllTradesMsg
    | AccountOrdersMsg
    | AccountAllAssetsMsg
    | UserStatsMsg
    | TickerMsg
    | CandleMsg
    | MarketStatsMsg
    | MarketStatsAllMsg
    | SpotMarketStatsMsg
    | SpotMarketStatsAllMsg
    | HeightMsg
    | ConnectedMsg
    | PingMsg
    | PongMsg
    | UnknownMsg
)


class _Header(msgspec.Struct, gc=False):
    type: str = ""
    channel: str = ""


_HEADER_DECODER = msgspec.json.Decoder(_Header)
_DICT_DECODER = msgspec.json.Decoder(dict[str, Any])


def _both(name: str, struct: type) -> dict[str, msgspec.json.Decoder[Any]]:
    decoder: msgspec.json.Decoder[Any] = msgspec.json.Decoder(struct)
    return {f"subscribed/{name}": decoder, f"update/{name}": decoder}


_WS_DECODERS: dict[str, msgspec.json.Decoder[Any]] = {
    **_both("order_book", OrderBookMsg),
    **_both("trade", TradeMsg),
    **_both("account_all", AccountAllMsg),
    **_both("account_all_positions", AccountAllPositionsMsg),
    **_both("account_all_trades", AccountAllTradesMsg),
    **_both("account_orders", AccountOrdersMsg),
    **_both("account_all_orders", AccountOrdersMsg),
    **_both("account_all_assets", AccountAllAssetsMsg),
    **_both("user_stats", UserStatsMsg),
    **_both("ticker", TickerMsg),
    **_both("candle", CandleMsg),
    **_both("height", HeightMsg),
    "connected": msgspec.json.Decoder(ConnectedMsg),
    "ping": msgspec.json.Decoder(PingMsg),
    "pong": msgspec.json.Decoder(PongMsg),
}
# the same type carries one market or all of them, told apart only by the channel
_STATS_DECODERS: dict[str, tuple[msgspec.json.Decoder[Any], msgspec.json.Decoder[Any]]] = {
    **{
        t: (msgspec.json.Decoder(MarketStatsMsg), msgspec.json.Decoder(MarketStatsAllMsg))
        for t in ("subscribed/market_stats", "update/market_stats")
    },
    **{
        t: (msgspec.json.Decoder(SpotMarketStatsMsg), msgspec.json.Decoder(SpotMarketStatsAllMsg))
        for t in ("subscribed/spot_market_stats", "update/spot_market_stats")
    },
}


def decode_ws(raw: bytes | str) -> WsMessage:
    """One websocket frame to its message struct.

    Raises msgspec.DecodeError for invalid JSON or a non-object, and msgspec.ValidationError
    (a DecodeError) for a known type with a wrong shape. Unknown types give UnknownMsg.
    """
    header = _HEADER_DECODER.decode(raw)
    decoder = _WS_DECODERS.get(header.type)
    if decoder is not None:
        msg: WsMessage = decoder.decode(raw)
        return msg
    pair = _STATS_DECODERS.get(header.type)
    if pair is not None:
        stats: WsMessage = pair[1].decode(raw) if header.channel.endswith(":all") else pair[0].decode(raw)
        return stats
    return UnknownMsg(type=header.type, channel=header.channel, data=_DICT_DECODER.decode(raw))


def channel_id(channel: str) -> int:
    """The trailing integer of a channel: `order_book:2` -> 2, `account_all/7` -> 7.

    Raises ValueError when there is none (`height`, `market_stats:all`).
    """
    cut = max(channel.rfind(":"), channel.rfind("/"))
    return int(channel[cut + 1 :])


_ENCODER = msgspec.json.Encoder()


def subscribe_frame(channel: str, auth: str | None = None) -> bytes:
    """`{"type":"subscribe","channel":"order_book/2"}`, with "auth" for private channels."""
    payload: dict[str, str] = {"type": "subscribe", "channel": channel}
    if auth is not None:
        payload["auth"] = auth
    return _ENCODER.encode(payload)


def unsubscribe_frame(channel: str) -> bytes:
    return _ENCODER.encode({"type": "unsubscribe", "channel": channel})


PING_FRAME = b'{"type":"ping"}'
PONG_FRAME = b'{"type":"pong"}'


# =============================================================================================
# REST responses
# =============================================================================================


class _Rest(_WithNulls, frozen=True, kw_only=True):
    code: int = 200
    message: str | None = None


class MarketConfig(_Wire, frozen=True, kw_only=True):
    market_margin_mode: int = 0
    insurance_fund_account_index: int = 0
    liquidation_mode: int = 0
    force_reduce_only: bool = False
    trading_hours: str = ""
    funding_fee_discounts_enabled: bool = False
    hidden: bool = False
    rfq_enabled: bool = False


class OrderBookInfo(_Wire, frozen=True, kw_only=True):
    """An `orderBooks` entry (and the first fields of an `orderBookDetails` entry)."""

    symbol: str
    market_id: int
    market_type: str = "perp"
    base_asset_id: int = 0
    quote_asset_id: int = 0
    status: str = "active"
    taker_fee: str = "0"  # percent strings: "0.0200" is 2 bps
    is_taker_fee_enabled: bool = True
    maker_fee: str = "0"
    is_maker_fee_enabled: bool = True
    liquidation_fee: str = "0"
    min_base_amount: str
    min_quote_amount: str
    order_quote_limit: str = ""
    supported_size_decimals: int
    supported_price_decimals: int
    supported_quote_decimals: int = 6

    def to_market_spec(self) -> MarketSpec:
        """This entry as a venue.markets.MarketSpec (decimals, minimums and fees)."""
        return market_from_details(msgspec.structs.asdict(self))


class OrderBookDetail(OrderBookInfo, frozen=True, kw_only=True):
    size_decimals: int | None = None
    price_decimals: int | None = None
    quote_multiplier: int = 1
    default_initial_margin_fraction: int = 0
    min_initial_margin_fraction: int = 0
    maintenance_margin_fraction: int = 0
    closeout_margin_fraction: int = 0
    last_trade_price: float = 0.0
    daily_trades_count: int = 0
    daily_base_token_volume: float = 0.0
    daily_quote_token_volume: float = 0.0
    daily_price_low: float = 0.0
    daily_price_high: float = 0.0
    daily_price_change: float = 0.0
    open_interest: float = 0.0
    daily_chart: dict[str, Any] = {}
    market_config: MarketConfig | None = None
    strategy_index: int = 0


class OrderBookDetailsResponse(_Rest, frozen=True, kw_only=True):
    _lists = ("order_book_details", "spot_order_book_details")
    order_book_details: NullList[OrderBookDetail] = []
    spot_order_book_details: NullList[dict[str, Any]] = []


class OrderBooksResponse(_Rest, frozen=True, kw_only=True):
    _lists = ("order_books",)
    order_books: NullList[OrderBookInfo] = []


class BookOrder(_Wire, frozen=True, kw_only=True):
    """A resting order as `orderBookOrders` lists it."""

    order_index: int
    order_id: str = ""
    owner_account_index: int
    initial_base_amount: str
    remaining_base_amount: str
    price: str
    order_expiry: int = 0
    transaction_time: int = 0


class OrderBookOrdersResponse(_Rest, frozen=True, kw_only=True):
    _lists = ("asks", "bids")
    total_asks: int = 0
    asks: NullList[BookOrder] = []
    total_bids: int = 0
    bids: NullList[BookOrder] = []


class RecentTradesResponse(_Rest, frozen=True, kw_only=True):
    _lists = ("trades",)
    trades: NullList[WireTrade] = []
    next_cursor: str | None = None


class CandlesResponse(_Rest, frozen=True, kw_only=True):
    _lists = ("candles",)
    resolution: str = msgspec.field(default="", name="r")
    candles: NullList[Candle] = msgspec.field(default_factory=list, name="c")


class NextNonceResponse(_Rest, frozen=True, kw_only=True):
    nonce: int


class DetailedAccount(_WithNulls, frozen=True, kw_only=True):
    _lists = (
        "positions",
        "assets",
        "shares",
        "pending_unlocks",
        "approved_integrators",
        "can_rfq_market_ids",
    )
    code: int = 0
    account_type: int = 0
    index: int
    l1_address: str = ""
    cancel_all_time: int = 0
    total_order_count: int = 0
    total_isolated_order_count: int = 0
    pending_order_count: int = 0
    available_balance: str = "0"
    status: int = 0
    collateral: str = "0"
    transaction_time: int = 0
    account_trading_mode: int = 0
    account_index: int
    name: str = ""
    description: str = ""
    can_invite: bool = False
    referral_points_percentage: str = ""
    can_rfq: bool = False
    can_rfq_market_ids: NullList[int] = []
    created_at: int = 0
    metadata: dict[str, Any] | None = None
    positions: NullList[WirePosition] = []
    assets: NullList[WireAsset] = []
    total_asset_value: str = "0"
    cross_asset_value: str = "0"
    cross_initial_margin_requirement: str = "0"
    cross_maintenance_margin_requirement: str = "0"
    shares: NullList[Any] = []
    pending_unlocks: NullList[Any] = []
    approved_integrators: NullList[Any] = []


class AccountResponse(_Rest, frozen=True, kw_only=True):
    _lists = ("accounts",)
    total: int = 0
    accounts: NullList[DetailedAccount] = []


class OrdersResponse(_Rest, frozen=True, kw_only=True):
    """`accountActiveOrders` / `accountInactiveOrders`."""

    _lists = ("orders",)
    next_cursor: str | None = None
    orders: NullList[WireOrder] = []


class OrderBookDepthResponse(_Rest, frozen=True, kw_only=True):
    _lists = ("asks", "bids")
    asks: NullList[PriceLevel] = []
    bids: NullList[PriceLevel] = []
    offset: int = 0
    nonce: int = 0


class Funding(_Wire, frozen=True, kw_only=True):
    timestamp: int  # s
    value: str
    rate: str
    direction: str


class FundingsResponse(_Rest, frozen=True, kw_only=True):
    _lists = ("fundings",)
    resolution: str = ""
    fundings: NullList[Funding] = []


class PositionFundingsResponse(_Rest, frozen=True, kw_only=True):
    """`positionFunding`: an account's funding payments, newest first."""

    _lists = ("position_fundings",)
    position_fundings: NullList[WirePositionFunding] = []
    next_cursor: str | None = None


_REST_TYPES: dict[str, type] = {
    "orderBookDetails": OrderBookDetailsResponse,
    "orderBooks": OrderBooksResponse,
    "orderBookOrders": OrderBookOrdersResponse,
    "recentTrades": RecentTradesResponse,
    "trades": RecentTradesResponse,
    "candles": CandlesResponse,
    "nextNonce": NextNonceResponse,
    "account": AccountResponse,
    "accountActiveOrders": OrdersResponse,
    "accountInactiveOrders": OrdersResponse,
    "orders": OrdersResponse,
    "orderBookDepth": OrderBookDepthResponse,
    "fundings": FundingsResponse,
    "positionFunding": PositionFundingsResponse,
}
_REST_DECODERS: dict[str, msgspec.json.Decoder[Any]] = {
    name: msgspec.json.Decoder(struct) for name, struct in _REST_TYPES.items()
}
REST_ENDPOINTS = frozenset(_REST_DECODERS)


def decode_rest(name: str, raw: bytes | str) -> Any:
    """A REST response body by endpoint name (`orderBookDetails`, `recentTrades`, ...).

    Raises KeyError for an unknown endpoint and msgspec.DecodeError/ValidationError for a body
    that does not match.
    """
    try:
        decoder = _REST_DECODERS[name]
    except KeyError:
        raise KeyError(f"no decoder for REST endpoint {name!r}; known: {sorted(REST_ENDPOINTS)}") from None
    return decoder.decode(raw)


# =============================================================================================
# Typed events (floats, flattened) that the websocket client emits
# =============================================================================================


def finite(text: str) -> float:
    """A venue number string to a finite float; ValueError for anything else."""
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"non-finite number {text!r}")
    return value


def _positive(text: str) -> float:
    value = float(text)
    if not (0.0 < value < math.inf):
        raise ValueError(f"expected a positive finite number, got {text!r}")
    return value


class Trade(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    trade_id: int
    market_id: int
    price: float
    size: float
    ts_ms: int
    is_maker_ask: bool  # True: the resting order was the ask, so the taker bought
    ask_account_id: int
    bid_account_id: int
    ask_client_id: int
    bid_client_id: int
    ask_id: int
    bid_id: int
    tx_hash: str = ""
    kind: str = "trade"  # Lighter's trade "type": "trade", "liquidation", ...
    taker_fee: float | None = None
    maker_fee: float | None = None

    @property
    def taker_is_buyer(self) -> bool:
        return self.is_maker_ask


def trade_from_wire(w: WireTrade) -> Trade:
    """Raises ValueError for a non-positive or non-finite price or size."""
    return Trade(
        trade_id=w.trade_id,
        market_id=w.market_id,
        price=_positive(w.price),
        size=_positive(w.size),
        ts_ms=w.timestamp,
        is_maker_ask=w.is_maker_ask,
        ask_account_id=w.ask_account_id,
        bid_account_id=w.bid_account_id,
        ask_client_id=w.ask_client_id,
        bid_client_id=w.bid_client_id,
        ask_id=w.ask_id,
        bid_id=w.bid_id,
        tx_hash=w.tx_hash,
        kind=w.type,
        taker_fee=None if w.taker_fee is None else float(w.taker_fee),
        maker_fee=None if w.maker_fee is None else float(w.maker_fee),
    )


class AccountPosition(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    market_id: int
    symbol: str
    size: float  # signed: > 0 long, < 0 short
    avg_entry_price: float
    position_value: float
    unrealized_pnl: float
    realized_pnl: float
    liquidation_price: float
    allocated_margin: float
    open_order_count: int
    margin_mode: int
    total_funding_paid_out: float = 0.0  # funding over the position's life: > 0 paid


def position_from_wire(w: WirePosition) -> AccountPosition:
    magnitude = abs(finite(w.position))
    return AccountPosition(
        market_id=w.market_id,
        symbol=w.symbol,
        size=-magnitude if w.sign < 0 else magnitude,
        avg_entry_price=finite(w.avg_entry_price),
        position_value=finite(w.position_value),
        unrealized_pnl=finite(w.unrealized_pnl),
        realized_pnl=finite(w.realized_pnl),
        liquidation_price=finite(w.liquidation_price),
        allocated_margin=finite(w.allocated_margin),
        open_order_count=w.open_order_count,
        margin_mode=w.margin_mode,
        total_funding_paid_out=0.0 if w.total_funding_paid_out is None else finite(w.total_funding_paid_out),
    )


class PositionFunding(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """One hourly funding payment: (account, market_id, ts_ms) identifies it."""

    market_id: int
    ts_ms: int  # the hour it settles
    funding_id: int
    change: float  # the account's collateral change: < 0 paid
    rate: float  # per hour as a fraction (the venue's percentage / 100); > 0: longs pay
    position_size: float  # signed: > 0 long


def funding_from_wire(w: WirePositionFunding) -> PositionFunding:
    magnitude = abs(finite(w.position_size))
    return PositionFunding(
        market_id=w.market_id,
        ts_ms=w.timestamp * 1000,
        funding_id=w.funding_id,
        change=finite(w.change),
        rate=finite(w.rate) / 100.0,
        position_size=-magnitude if w.position_side == "short" else magnitude,
    )


class AccountOrder(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    order_index: int
    client_order_index: int
    market_id: int
    account_index: int
    is_ask: bool
    price: float
    initial_size: float
    remaining_size: float
    filled_size: float
    filled_quote: float
    status: str  # Lighter's status string: "open", "filled", "canceled", ...
    order_type: str
    time_in_force: str
    reduce_only: bool
    trigger_price: float
    order_expiry_ms: int
    nonce: int
    ts_ms: int
    updated_at_ms: int


def order_from_wire(w: WireOrder) -> AccountOrder:
    return AccountOrder(
        order_index=w.order_index,
        client_order_index=w.client_order_index,
        market_id=w.market_index,
        account_index=w.owner_account_index,
        is_ask=w.is_ask,
        price=finite(w.price),
        initial_size=finite(w.initial_base_amount),
        remaining_size=finite(w.remaining_base_amount),
        filled_size=finite(w.filled_base_amount),
        filled_quote=finite(w.filled_quote_amount),
        status=w.status,
        order_type=w.type,
        time_in_force=w.time_in_force,
        reduce_only=w.reduce_only,
        trigger_price=finite(w.trigger_price),
        order_expiry_ms=w.order_expiry,
        nonce=w.nonce,
        ts_ms=w.timestamp,
        updated_at_ms=w.updated_at,
    )


class _Event(msgspec.Struct, frozen=True, kw_only=True, tag=True):
    """Base of the client's events; tagged by class name so they can share one union."""


class BookUpdated(_Event, frozen=True, kw_only=True):
    market_id: int
    ts_ms: int  # venue time of the message
    offset: int
    best_bid: float | None
    best_ask: float | None
    bids: list[tuple[float, float]]  # (price, size), best first, up to the client's depth
    asks: list[tuple[float, float]]
    is_snapshot: bool


class TradesReceived(_Event, frozen=True, kw_only=True):
    market_id: int
    trades: list[Trade]
    is_snapshot: bool  # the recent trades sent on subscribing (may repeat earlier ones)


class AccountUpdated(_Event, frozen=True, kw_only=True):
    account_index: int
    ts_ms: int
    is_snapshot: bool
    positions: list[AccountPosition]
    orders: list[AccountOrder]
    trades: list[Trade]
    fundings: list[PositionFunding] = []
    malformed_fundings: int = 0  # funding rows dropped: not of Lighter's shape


class Stale(_Event, frozen=True, kw_only=True):
    market_id: int
    silent_for_s: float


class Fresh(_Event, frozen=True, kw_only=True):
    market_id: int


class Connected(_Event, frozen=True, kw_only=True):
    url: str
    connection: int  # 1 for the first connection, 2 after the first reconnect, ...


class Disconnected(_Event, frozen=True, kw_only=True):
    reason: str


WsEvent = BookUpdated | TradesReceived | AccountUpdated | Stale | Fresh | Connected | Disconnected


def account_update_from_wire(msg: AccountAllMsg, account_index: int) -> AccountUpdated:
    """Flatten an account_all message (maps keyed by market) into typed lists.

    Raises ValueError for a non-finite number anywhere in it.
    """
    fundings: list[PositionFunding] = []
    malformed = 0
    for _, rows in sorted(msg.funding_histories.items()):
        for row in rows if isinstance(rows, list) else [rows]:
            try:
                fundings.append(funding_from_wire(msgspec.convert(row, WirePositionFunding)))
            except (msgspec.ValidationError, ValueError, TypeError):
                malformed += 1
    return AccountUpdated(
        account_index=account_index,
        ts_ms=msg.timestamp,
        is_snapshot=msg.is_snapshot,
        positions=[position_from_wire(p) for _, p in sorted(msg.positions.items())],
        orders=[order_from_wire(o) for _, orders in sorted(msg.orders.items()) for o in orders],
        trades=[trade_from_wire(t) for _, trades in sorted(msg.trades.items()) for t in trades],
        fundings=fundings,
        malformed_fundings=malformed,
    )
