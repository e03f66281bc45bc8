"""Parsing the lighter-sdk's signed transactions (the `tx_info` JSON of sendTx) for the simulator.

The SDK's signer emits PascalCase JSON, for example a create order (tx type 14):
  {"AccountIndex":100,"ApiKeyIndex":3,"MarketIndex":2,"ClientOrderIndex":7,"BaseAmount":1000,
   "Price":150000,"IsAsk":0,"Type":0,"TimeInForce":1,"ReduceOnly":0,"TriggerPrice":0,
   "OrderExpiry":1797658930597,"ExpiredAt":1795240329597,"Nonce":5,"Sig":"...","L2TxAttributes":null}
a cancel (15) carries "MarketIndex" and "Index", a cancel-all (16) "TimeInForce" and "Time" and,
when limited to one market, "L2TxAttributes": {"5": market_index}, a modify (17, as
`SignerClient.sign_modify_order` signs it) "MarketIndex", "Index", "BaseAmount", "Price" and
"TriggerPrice". "Index" of a cancel or a modify is the venue's order index, or a client order
index when below 2**48. A modify's "BaseAmount" is the order's new remaining size. Signatures are not verified:
the simulator trusts the account index the transaction names (it is a paper venue).
"""

from __future__ import annotations

from typing import Any

import msgspec

from venue import codes

TX_TYPE_CREATE_ORDER = 14
TX_TYPE_CANCEL_ORDER = 15
TX_TYPE_CANCEL_ALL_ORDERS = 16
TX_TYPE_MODIFY_ORDER = 17

# the key of the market index inside a cancel-all's L2TxAttributes (lighter-sdk 1.1.8)
L2_ATTRIBUTE_MARKET_INDEX = "5"

# Lighter: order indexes are allocated from 2**48 upward, client order indexes stay below it
CLIENT_ORDER_INDEX_LIMIT = 2**48

CANCEL_ALL_IMMEDIATE = 0
CANCEL_ALL_SCHEDULED = 1
CANCEL_ALL_ABORT = 2


class TxInfoError(ValueError):
    """A transaction the simulator cannot parse: carries the venue code to answer with."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


class _Tx(msgspec.Struct, rename="pascal", kw_only=True, frozen=True):
    account_index: int
    api_key_index: int
    nonce: int
    expired_at: int = 0
    l2_tx_attributes: dict[str, Any] | None = msgspec.field(default=None, name="L2TxAttributes")


class CreateOrderTx(_Tx, frozen=True, kw_only=True):
    market_index: int
    client_order_index: int
    base_amount: int
    price: int
    is_ask: int
    type: int
    time_in_force: int
    reduce_only: int = 0
    trigger_price: int = 0
    order_expiry: int = 0


class CancelOrderTx(_Tx, frozen=True, kw_only=True):
    market_index: int
    index: int


class CancelAllOrdersTx(_Tx, frozen=True, kw_only=True):
    time_in_force: int
    time: int = 0

    @property
    def market_index(self) -> int | None:
        """The one market to cancel in, or None for every market."""
        if not self.l2_tx_attributes:
            return None
        market = self.l2_tx_attributes.get(L2_ATTRIBUTE_MARKET_INDEX)
        return market if isinstance(market, int) and not isinstance(market, bool) else None


class ModifyOrderTx(_Tx, frozen=True, kw_only=True):
    market_index: int
    index: int
    base_amount: int  # the new remaining size
    price: int
    trigger_price: int = 0


Tx = CreateOrderTx | CancelOrderTx | CancelAllOrdersTx | ModifyOrderTx

_TYPES: dict[int, type[CreateOrderTx] | type[CancelOrderTx] | type[CancelAllOrdersTx] | type[ModifyOrderTx]] = {
    TX_TYPE_CREATE_ORDER: CreateOrderTx,
    TX_TYPE_CANCEL_ORDER: CancelOrderTx,
    TX_TYPE_CANCEL_ALL_ORDERS: CancelAllOrdersTx,
    TX_TYPE_MODIFY_ORDER: ModifyOrderTx,
}

_DECODERS = {tx_type: msgspec.json.Decoder(cls) for tx_type, cls in _TYPES.items()}


def supported_tx_types() -> frozenset[int]:
    return frozenset(_TYPES)


def parse_tx(tx_type: int, tx_info: str | bytes) -> Tx:
    """The typed transaction, or TxInfoError(INVALID_TX_TYPE | INVALID_TX_INFO)."""
    decoder = _DECODERS.get(tx_type)
    if decoder is None:
        raise TxInfoError(codes.INVALID_TX_TYPE, f"tx type {tx_type} is not supported by the simulator")
    try:
        tx = decoder.decode(tx_info)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise TxInfoError(codes.INVALID_TX_INFO, f"tx type {tx_type}: {exc}") from None
    if tx.account_index < 0 or tx.api_key_index < 0 or tx.nonce < 0:
        raise TxInfoError(codes.INVALID_TX_INFO, "account index, api key index and nonce must be >= 0")
    if isinstance(tx, CreateOrderTx):
        if tx.is_ask not in (0, 1) or tx.reduce_only not in (0, 1):
            raise TxInfoError(codes.INVALID_TX_INFO, "IsAsk and ReduceOnly must be 0 or 1")
        if tx.type not in (0, 1):
            raise TxInfoError(
                codes.INVALID_TX_INFO, f"order type {tx.type} is not supported (limit 0, market 1)"
            )
        if tx.time_in_force not in (0, 1, 2):
            raise TxInfoError(codes.INVALID_TX_INFO, f"time in force {tx.time_in_force} is not 0, 1 or 2")
    if isinstance(tx, (CancelOrderTx, ModifyOrderTx)) and tx.index < 0:
        raise TxInfoError(codes.INVALID_TX_INFO, f"Index must be >= 0, got {tx.index}")
    if isinstance(tx, CancelAllOrdersTx) and tx.time_in_force not in (0, 1, 2):
        raise TxInfoError(
            codes.INVALID_TX_INFO, f"cancel-all time in force {tx.time_in_force} is not 0, 1 or 2"
        )
    return tx


def parse_tx_type(raw: object) -> int:
    """A form field's tx_type ("14") as an int, or TxInfoError(INVALID_TX_TYPE)."""
    try:
        if isinstance(raw, bool):
            raise ValueError(raw)
        return int(str(raw).strip()) if not isinstance(raw, int) else raw
    except ValueError:
        raise TxInfoError(codes.INVALID_TX_TYPE, f"tx_type {raw!r} is not an integer") from None
