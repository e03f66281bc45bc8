"""Venue result codes shared by the simulator and the order client.

Lighter answers `sendTx` with `{"code": 200, ...}` on acceptance and a code in the 2xxxx range
otherwise (20xxx request validation, 21xxx transaction processing). 21104 (invalid nonce) and
21701 (invalid base amount) are Lighter's own; the others below are the simulator's choices in
the same ranges, named so that a rejection always carries a code and a reason.
"""

OK = 200

INVALID_TX_TYPE = 20001
INVALID_TX_INFO = 20002
INVALID_PARAM = 20003
TOO_MANY_REQUESTS = 23000  # also sent as HTTP 429
# auth tokens of private endpoints and channels (the simulator's choices, in the request range)
AUTH_MISSING = 20010
AUTH_MALFORMED = 20011
AUTH_WRONG_ACCOUNT = 20012
AUTH_EXPIRED = 20013
AUTH_CODES = frozenset({AUTH_MISSING, AUTH_MALFORMED, AUTH_WRONG_ACCOUNT, AUTH_EXPIRED})

INVALID_NONCE = 21104
INVALID_BATCH_NONCES = 21105
INVALID_ACCOUNT = 21100
INVALID_MARKET = 21600
INVALID_BASE_AMOUNT = 21701
INVALID_PRICE = 21702
NOTIONAL_TOO_SMALL = 21703
ORDER_NOT_FOUND = 21710
POST_ONLY_WOULD_CROSS = 21720
REDUCE_ONLY_WOULD_INCREASE = 21721
NO_LIQUIDITY = 21722  # a market or IOC order that found nothing within its worst price
INSUFFICIENT_MARGIN = 21730
ORDER_EXPIRED = 21740
INJECTED_FAULT = 29999  # default code of the simulator's reject-orders fault knob

MESSAGES: dict[int, str] = {
    OK: "ok",
    INVALID_TX_TYPE: "invalid tx type",
    INVALID_TX_INFO: "invalid tx info",
    INVALID_PARAM: "invalid param",
    TOO_MANY_REQUESTS: "too many requests",
    AUTH_MISSING: "auth token required",
    AUTH_MALFORMED: "invalid auth token",
    AUTH_WRONG_ACCOUNT: "auth token is for another account",
    AUTH_EXPIRED: "auth token expired",
    INVALID_NONCE: "invalid nonce",
    INVALID_BATCH_NONCES: "batch nonces must be consecutive",
    INVALID_ACCOUNT: "invalid account index",
    INVALID_MARKET: "invalid market index",
    INVALID_BASE_AMOUNT: "invalid base amount",
    INVALID_PRICE: "invalid price",
    NOTIONAL_TOO_SMALL: "order notional below the market minimum",
    ORDER_NOT_FOUND: "order not found",
    POST_ONLY_WOULD_CROSS: "post-only order would cross the book",
    REDUCE_ONLY_WOULD_INCREASE: "reduce-only order would increase the position",
    NO_LIQUIDITY: "no liquidity within the worst price",
    INSUFFICIENT_MARGIN: "not enough margin",
    ORDER_EXPIRED: "order expired",
    INJECTED_FAULT: "rejected by the simulator's fault injection",
}


def message_for(code: int) -> str:
    return MESSAGES.get(code, f"error {code}")
