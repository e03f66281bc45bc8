"""A small async client for Lighter's read-only REST endpoints (mainnet or the local simulator).

Only what the system reads: market metadata, the next nonce, an account's positions and
collateral, its open and ended orders and its fills (private: with the account's auth token,
venue.auth_tokens), recent trades, candles and the resting orders of a book. Bodies are
decoded with venue.wire's REST structs and returned as its typed events (floats) where it has
them: wire.Trade, wire.AccountOrder, wire.AccountPosition, wire.Candle. Every failure is one
typed `VenueError(code, message, http_status)`:

- HTTP 429 -> code 23000 (TOO_MANY_REQUESTS), http_status 429;
- any other non-200 status -> the body's code when it has one, else the status;
- an HTTP-200 body whose `code` is not 200 -> that code (Lighter reports refusals this way);
- a body that does not decode, or carries a malformed number -> code 20003 (INVALID_PARAM);
- network errors and timeouts -> code -1, message = the exception's class name, http_status 0.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import aiohttp
import msgspec

from venue import codes, wire
from venue.markets import MarketSpec, markets_from_details
from venue.wire import AccountPosition

API_PREFIX = "/api/v1"
NETWORK_ERROR = -1
T = TypeVar("T")


class VenueError(Exception):
    def __init__(self, code: int, message: str, http_status: int) -> None:
        super().__init__(f"venue error {code} (HTTP {http_status}): {message}")
        self.code = code
        self.message = message
        self.http_status = http_status

    def __reduce__(self) -> tuple[type[VenueError], tuple[int, str, int]]:
        # Ray pickles an actor's exception to its caller; the default rebuilds it from str(self) alone
        return (VenueError, (self.code, self.message, self.http_status))


class AccountInfo(msgspec.Struct, frozen=True, kw_only=True):
    account_index: int
    collateral: float
    available_balance: float
    total_asset_value: float
    positions: list[AccountPosition]  # signed sizes

    def position(self, market_id: int) -> AccountPosition | None:
        return next((p for p in self.positions if p.market_id == market_id), None)


class RestingOrder(msgspec.Struct, frozen=True, kw_only=True):
    """A resting order as `orderBookOrders` lists it, numbers as floats."""

    order_index: int
    owner_account_index: int
    price: float
    initial_size: float
    remaining_size: float
    order_expiry_ms: int


class BookOrders(msgspec.Struct, frozen=True, kw_only=True):
    asks: list[RestingOrder]  # in the venue's order: best (lowest) first
    bids: list[RestingOrder]  # best (highest) first


class _Status(msgspec.Struct):
    code: int = codes.OK
    message: str | None = None


class LighterRest:
    """Read endpoints. `base_url` is the host root (as for lighter.SignerClient), e.g.
    https://mainnet.zklighter.elliot.ai or the simulator's url; a trailing /api/v1 is tolerated.
    Pass an aiohttp session to share one; otherwise one is opened on first use and closed by close()."""

    def __init__(
        self, base_url: str, session: aiohttp.ClientSession | None = None, *, timeout_s: float = 10.0
    ) -> None:
        root = base_url.rstrip("/")
        if root.endswith(API_PREFIX):
            root = root[: -len(API_PREFIX)]
        self.base_url = root
        self._session = session
        self._owns_session = session is None
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)

    def __repr__(self) -> str:
        return f"LighterRest({self.base_url!r})"

    async def __aenter__(self) -> LighterRest:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._owns_session and self._session is not None:
            await self._session.close()
            self._session = None

    # --- endpoints -------------------------------------------------------------------------
    async def order_book_details(self) -> dict[int, MarketSpec]:
        body = await self._get("/orderBookDetails", {})
        try:
            payload = msgspec.json.decode(body)
            if not isinstance(payload, dict):
                raise ValueError("not a JSON object")
            return markets_from_details(payload)
        except (msgspec.DecodeError, ValueError) as exc:
            raise VenueError(codes.INVALID_PARAM, f"unexpected orderBookDetails answer: {exc}", 200) from None

    async def next_nonce(self, account_index: int, api_key_index: int) -> int:
        params = {"account_index": account_index, "api_key_index": api_key_index}
        reply: wire.NextNonceResponse = await self._get_typed("nextNonce", params)
        return reply.nonce

    async def account(self, account_index: int) -> AccountInfo:
        params = {"by": "index", "value": account_index}
        reply: wire.AccountResponse = await self._get_typed("account", params)
        if not reply.accounts:
            raise VenueError(codes.INVALID_ACCOUNT, f"account {account_index} not found", 200)
        row = reply.accounts[0]
        return _converted(
            lambda: AccountInfo(
                account_index=row.account_index,
                collateral=wire.finite(row.collateral),
                available_balance=wire.finite(row.available_balance),
                total_asset_value=wire.finite(row.total_asset_value),
                positions=[wire.position_from_wire(p) for p in row.positions],
            )
        )

    async def active_orders(
        self, account_index: int, market_id: int, auth: str | None = None
    ) -> list[wire.AccountOrder]:
        # auth: a token from SignerClient.create_auth_token_with_expiry; sent as a header, never logged
        headers = {"authorization": auth} if auth else None
        params = {"account_index": account_index, "market_id": market_id}
        reply: wire.OrdersResponse = await self._get_typed("accountActiveOrders", params, headers)
        return _converted(lambda: [wire.order_from_wire(o) for o in reply.orders])

    async def position_fundings(
        self, account_index: int, limit: int = 100, auth: str | None = None
    ) -> list[wire.PositionFunding]:
        """The account's newest funding payments, newest first (private at Lighter: its auth token)."""
        headers = {"authorization": auth} if auth else None
        params = {"account_index": account_index, "limit": limit}
        reply: wire.PositionFundingsResponse = await self._get_typed("positionFunding", params, headers)
        return _converted(lambda: [wire.funding_from_wire(f) for f in reply.position_fundings])

    async def inactive_orders(
        self, account_index: int, auth: str, *, market_id: int | None = None, limit: int = 100,
        cursor: str | None = None,
    ) -> tuple[list[wire.AccountOrder], str | None]:
        """One page of the account's ended orders, newest first, and the cursor of the next page
        (None after the last). Private: `auth` is the account's token."""
        params: dict[str, Any] = {"account_index": account_index, "limit": limit}
        if market_id is not None:
            params["market_id"] = market_id
        if cursor:
            params["cursor"] = cursor
        reply: wire.OrdersResponse = await self._get_typed("accountInactiveOrders", params, {"authorization": auth})
        return _converted(lambda: [wire.order_from_wire(o) for o in reply.orders]), reply.next_cursor or None

    async def account_trades(
        self, account_index: int, auth: str, *, market_id: int | None = None, limit: int = 100,
        cursor: str | None = None, sort_dir: str = "desc",
    ) -> tuple[list[wire.Trade], str | None]:
        """One page (limit at most 100) of the account's fills, newest first unless sort_dir is
        "asc", and the cursor of the next page (None after the last). Private: `auth` is the
        account's token."""
        params: dict[str, Any] = {"account_index": account_index, "sort_by": "trade_id", "sort_dir": sort_dir,
                                  "limit": limit}
        if market_id is not None:
            params["market_id"] = market_id
        if cursor:
            params["cursor"] = cursor
        reply: wire.RecentTradesResponse = await self._get_typed("trades", params, {"authorization": auth})
        return _converted(lambda: [wire.trade_from_wire(t) for t in reply.trades]), reply.next_cursor or None

    async def recent_trades(self, market_id: int, limit: int = 100) -> list[wire.Trade]:
        params = {"market_id": market_id, "limit": limit}
        reply: wire.RecentTradesResponse = await self._get_typed("recentTrades", params)
        return _converted(lambda: [wire.trade_from_wire(t) for t in reply.trades])

    async def candles(
        self, market_id: int, resolution: str, start_ms: int, end_ms: int, count_back: int
    ) -> list[wire.Candle]:
        params = {
            "market_id": market_id,
            "resolution": resolution,
            "start_timestamp": start_ms,
            "end_timestamp": end_ms,
            "count_back": count_back,
        }
        reply: wire.CandlesResponse = await self._get_typed("candles", params)
        return list(reply.candles)

    async def order_book_orders(self, market_id: int, limit: int = 100) -> BookOrders:
        params = {"market_id": market_id, "limit": limit}
        reply: wire.OrderBookOrdersResponse = await self._get_typed("orderBookOrders", params)
        return _converted(
            lambda: BookOrders(asks=[_resting(o) for o in reply.asks], bids=[_resting(o) for o in reply.bids])
        )

    # --- plumbing --------------------------------------------------------------------------
    async def _get_typed(
        self, endpoint: str, params: dict[str, Any], headers: dict[str, str] | None = None
    ) -> Any:
        body = await self._get(f"/{endpoint}", params, headers)
        try:
            return wire.decode_rest(endpoint, body)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise VenueError(codes.INVALID_PARAM, f"unexpected {endpoint} answer: {exc}", 200) from None

    async def _get(self, path: str, params: dict[str, Any], headers: dict[str, str] | None = None) -> bytes:
        if self._session is None:
            self._session = aiohttp.ClientSession()
            self._owns_session = True
        url = f"{self.base_url}{API_PREFIX}{path}"
        query = {k: str(v) for k, v in params.items()}
        try:
            async with self._session.get(url, params=query, headers=headers, timeout=self._timeout) as resp:
                status, body = resp.status, await resp.read()
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise VenueError(NETWORK_ERROR, type(exc).__name__, 0) from None
        check_status(status, body)
        return body


def check_status(status: int, body: bytes) -> None:
    """Raise VenueError unless this is an HTTP-200 answer with code 200 (or no code at all)."""
    if status == 429:
        raise VenueError(codes.TOO_MANY_REQUESTS, codes.message_for(codes.TOO_MANY_REQUESTS), 429)
    code, message = parse_status(body)
    if status != 200:
        raise VenueError(code if code != codes.OK else status, message or f"HTTP {status}", status)
    if code != codes.OK:
        raise VenueError(code, message or codes.message_for(code), status)


def parse_status(body: bytes) -> tuple[int, str | None]:
    """(code, message) of a Lighter answer; (200, None) when the body carries neither, and
    (200, the text) when it is not JSON (callers look at the HTTP status first)."""
    try:
        head = msgspec.json.decode(body, type=_Status, strict=False)
    except (msgspec.DecodeError, msgspec.ValidationError):
        text = body[:200].decode("utf-8", "replace").strip()
        return codes.OK, text or None
    return head.code, head.message


def _converted(build: Callable[[], T]) -> T:
    """Run a wire-to-typed conversion; a malformed number becomes a VenueError."""
    try:
        return build()
    except ValueError as exc:
        raise VenueError(codes.INVALID_PARAM, f"malformed number in the answer: {exc}", 200) from None


def _resting(o: wire.BookOrder) -> RestingOrder:
    return RestingOrder(
        order_index=o.order_index,
        owner_account_index=o.owner_account_index,
        price=wire.finite(o.price),
        initial_size=wire.finite(o.initial_base_amount),
        remaining_size=wire.finite(o.remaining_base_amount),
        order_expiry_ms=o.order_expiry,
    )
