"""The simulator's REST API: Lighter's /api/v1 market-data and account paths, the HTTP plumbing
every handler shares, and the simulator's own control paths (/sim/state, /sim/faults).

Transactions (sendTx, sendTxBatch) are in venue.sim.tx_api, the JSON shapes in venue.sim.shapes
and venue.sim.trade_shapes; the app is put together in venue.sim.app. Handlers read the
simulator through the `SimVenue` protocol (venue.sim.venue_protocol).
"""

from __future__ import annotations

from typing import Any

import msgspec
from aiohttp import web

from venue import codes
from venue.sim.auth import AuthRefused
from venue.sim.candle_history import RESOLUTION_MS
from venue.sim.publisher import encode
from venue.sim.shapes import EXTERNAL, account_json, order_book_detail_json, order_book_json, order_json
from venue.sim.venue_protocol import SimVenue

SIM_KEY: web.AppKey[SimVenue] = web.AppKey("sim")


# =============================================================================================
# HTTP plumbing
# =============================================================================================
class BadRequest(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def ok(body: dict[str, Any], status: int = 200) -> web.Response:
    return web.Response(body=encode(body), status=status, content_type="application/json")


def error(code: int, message: str, status: int = 400) -> web.Response:
    return ok({"code": code, "message": message}, status=status)


def int_arg(request: web.Request, name: str, default: int | None = None) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        if default is None:
            raise BadRequest(codes.INVALID_PARAM, f"{codes.message_for(codes.INVALID_PARAM)}: {name} is required")
        return default
    try:
        return int(raw)
    except ValueError:
        raise BadRequest(codes.INVALID_PARAM, f"{codes.message_for(codes.INVALID_PARAM)}: {name}={raw!r}") from None


def _market_arg(sim: SimVenue, request: web.Request, required: bool = True) -> int | None:
    if not required and request.query.get("market_id") in (None, ""):
        return None
    market_id = int_arg(request, "market_id")
    if market_id not in sim.markets:
        raise BadRequest(codes.INVALID_MARKET, f"{codes.message_for(codes.INVALID_MARKET)}: {market_id}")
    return market_id


def authorize(sim: SimVenue, request: web.Request, account_index: int) -> None:
    """A private endpoint: the account's own auth token, as the `authorization` header or the
    `auth` parameter (venue.sim.auth); refused with the token's code otherwise."""
    token = request.headers.get("authorization") or request.query.get("auth")
    try:
        sim.auth.check(token, account_index)
    except AuthRefused as exc:
        raise BadRequest(exc.code, str(exc)) from None


def _cursor_arg(request: web.Request) -> int | None:
    """Pages continue below an index (trade id, order index) the previous page's next_cursor named."""
    raw = request.query.get("cursor")
    if raw in (None, ""):
        return None
    try:
        return int(raw)
    except ValueError:
        raise BadRequest(codes.INVALID_PARAM, f"{codes.message_for(codes.INVALID_PARAM)}: cursor {raw!r}") from None


def _limit_arg(request: web.Request, default: int | None, most: int) -> int:
    limit = int_arg(request, "limit", default)
    if not 1 <= limit <= most:
        raise BadRequest(codes.INVALID_PARAM, f"{codes.message_for(codes.INVALID_PARAM)}: limit must be 1..{most}")
    return limit


@web.middleware
async def middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    sim = request.app[SIM_KEY]
    if request.path.startswith("/api/") and sim.faults.http_429(request.path):
        sim.counters.http_429 += 1
        return error(codes.TOO_MANY_REQUESTS, codes.message_for(codes.TOO_MANY_REQUESTS), status=429)
    try:
        return await handler(request)
    except BadRequest as exc:
        sim.counters.malformed_requests += 1
        return error(exc.code, str(exc))



# =============================================================================================
# handlers: market data
# =============================================================================================
async def order_book_details(request: web.Request) -> web.Response:
    sim = request.app[SIM_KEY]
    market_id = _market_arg(sim, request, required=False)
    specs = [s for m, s in sorted(sim.markets.items()) if market_id is None or m == market_id]
    return ok(
        {
            "code": 200,
            "order_book_details": [order_book_detail_json(sim, s) for s in specs],
            "spot_order_book_details": [],
        }
    )


async def order_books(request: web.Request) -> web.Response:
    sim = request.app[SIM_KEY]
    market_id = _market_arg(sim, request, required=False)
    specs = [s for m, s in sorted(sim.markets.items()) if market_id is None or m == market_id]
    return ok({"code": 200, "order_books": [order_book_json(sim, s) for s in specs]})


async def order_book_orders(request: web.Request) -> web.Response:
    """The merged book as Lighter's SimpleOrder rows, one per price level (best first)."""
    sim = request.app[SIM_KEY]
    market_id = _market_arg(sim, request)
    assert market_id is not None
    limit = int_arg(request, "limit", 100)
    if not 1 <= limit <= 250:
        raise BadRequest(codes.INVALID_PARAM, f"{codes.message_for(codes.INVALID_PARAM)}: limit must be 1..250")
    spec = sim.markets[market_id]
    bids, asks = sim.engine.book(market_id, limit)

    def rows(levels: list[tuple[int, int]]) -> list[dict[str, Any]]:
        return [
            {
                "order_index": 0,  # a price level, not one order: the external book is aggregated
                "order_id": "0",
                "owner_account_index": EXTERNAL,
                "initial_base_amount": spec.format_size(size),
                "remaining_base_amount": spec.format_size(size),
                "price": spec.format_price(price),
                "order_expiry": 0,
                "transaction_time": sim.now_ms * 1000,
            }
            for price, size in levels
        ]

    return ok({"code": 200, "total_asks": len(asks), "asks": rows(asks), "total_bids": len(bids), "bids": rows(bids)})


async def recent_trades(request: web.Request) -> web.Response:
    sim = request.app[SIM_KEY]
    market_id = _market_arg(sim, request)
    assert market_id is not None
    limit = int_arg(request, "limit", 100)
    if not 1 <= limit <= 100:
        raise BadRequest(codes.INVALID_PARAM, f"{codes.message_for(codes.INVALID_PARAM)}: limit must be 1..100")
    trades = sim.recent_trades[market_id]
    newest_first = [trades[-i] for i in range(1, min(limit, len(trades)) + 1)]
    return ok({"code": 200, "trades": newest_first})


def _ms_arg(request: web.Request, name: str) -> int | None:
    if request.query.get(name) in (None, ""):
        return None
    value = int_arg(request, name)
    return value * 1000 if 0 < value < 100_000_000_000 else value  # seconds are accepted too


def _candle_args(sim: SimVenue, request: web.Request) -> tuple[int, str, list[dict[str, Any]]]:
    market_id = _market_arg(sim, request)
    assert market_id is not None
    resolution = request.query.get("resolution", "1m")
    if resolution not in RESOLUTION_MS:
        raise BadRequest(codes.INVALID_PARAM, f"{codes.message_for(codes.INVALID_PARAM)}: resolution {resolution!r}")
    count_back = int_arg(request, "count_back", 500)
    candles = sim.candles[market_id].query(
        resolution, _ms_arg(request, "start_timestamp"), _ms_arg(request, "end_timestamp"), min(max(count_back, 0), 500)
    )
    return market_id, resolution, candles


async def candles(request: web.Request) -> web.Response:
    sim = request.app[SIM_KEY]
    _, resolution, rows = _candle_args(sim, request)
    return ok({"code": 200, "r": resolution, "c": rows})


async def candlesticks(request: web.Request) -> web.Response:
    """The older endpoint and shape (`candlesticks`), for clients written against it."""
    sim = request.app[SIM_KEY]
    _, resolution, rows = _candle_args(sim, request)
    sticks = [
        {
            "timestamp": c["t"],
            "open": c["o"],
            "high": c["h"],
            "low": c["l"],
            "close": c["c"],
            "volume0": c["v"],
            "volume1": c["V"],
            "last_trade_id": c["i"],
        }
        for c in rows
    ]
    return ok({"code": 200, "resolution": resolution, "candlesticks": sticks})



# =============================================================================================
# handlers: accounts
# =============================================================================================
async def next_nonce(request: web.Request) -> web.Response:
    sim = request.app[SIM_KEY]
    account_index = int_arg(request, "account_index")
    api_key_index = int_arg(request, "api_key_index")
    return ok({"code": 200, "nonce": sim.next_nonce(account_index, api_key_index)})


async def account(request: web.Request) -> web.Response:
    sim = request.app[SIM_KEY]
    by = request.query.get("by", "index")
    if by != "index":
        raise BadRequest(codes.INVALID_PARAM, f"{codes.message_for(codes.INVALID_PARAM)}: only by=index is simulated")
    account_index = int_arg(request, "value")
    if account_index < 0:
        raise BadRequest(codes.INVALID_ACCOUNT, f"{codes.message_for(codes.INVALID_ACCOUNT)}: {account_index}")
    return ok({"code": 200, "total": 1, "accounts": [account_json(sim, account_index)], "next_cursor": ""})


async def account_active_orders(request: web.Request) -> web.Response:
    """Open orders of an account (private: its auth token)."""
    sim = request.app[SIM_KEY]
    account_index = int_arg(request, "account_index")
    authorize(sim, request, account_index)
    market_id = _market_arg(sim, request, required=False)
    orders = sorted(sim.engine.active_orders(account_index, market_id), key=lambda o: o.order_index)
    return ok(
        {"code": 200, "orders": [order_json(o, sim.markets[o.market_id], sim.block_height) for o in orders]}
    )


async def account_inactive_orders(request: web.Request) -> web.Response:
    """Ended orders of an account (private), newest order first, `limit` (1..100) a page; the
    `next_cursor` of a page continues below its last order ("" after the last page)."""
    sim = request.app[SIM_KEY]
    account_index = int_arg(request, "account_index")
    authorize(sim, request, account_index)
    market_id = _market_arg(sim, request, required=False)
    limit = _limit_arg(request, None, 100)
    below = _cursor_arg(request)
    orders = sorted(
        (o for o in sim.engine.inactive_orders(account_index, market_id) if below is None or o.order_index < below),
        key=lambda o: o.order_index,
        reverse=True,
    )
    page = orders[:limit]
    return ok(
        {
            "code": 200,
            "next_cursor": str(page[-1].order_index) if len(orders) > limit else "",
            "orders": [order_json(o, sim.markets[o.market_id], sim.block_height) for o in page],
        }
    )


_TRADE_SORTS = ("block_height", "timestamp", "trade_id")


async def trades(request: web.Request) -> web.Response:
    """Lighter's /trades for one account (private: its auth token), from the engine's whole
    history of the account (its max_trades_per_account). Trade ids, block heights and timestamps
    rise together in the simulator, so every `sort_by` gives the same order; `sort_dir` desc
    (the default) or asc; `limit` 1..100 a page, `next_cursor` continuing it ("" after the last
    page). Without account_index the market's recent trades are listed (public). Other filters
    are not simulated."""
    sim = request.app[SIM_KEY]
    sort_by = request.query.get("sort_by", "")
    if sort_by not in _TRADE_SORTS:
        raise BadRequest(codes.INVALID_PARAM, f"{codes.message_for(codes.INVALID_PARAM)}: sort_by must be one of "
                                              f"{', '.join(_TRADE_SORTS)}")
    sort_dir = request.query.get("sort_dir", "desc")
    if sort_dir not in ("asc", "desc"):
        raise BadRequest(codes.INVALID_PARAM, f"{codes.message_for(codes.INVALID_PARAM)}: sort_dir {sort_dir!r}")
    limit = _limit_arg(request, None, 100)
    market_id = _market_arg(sim, request, required=False)
    if request.query.get("account_index") in (None, ""):
        if market_id is None:
            raise BadRequest(codes.INVALID_PARAM, f"{codes.message_for(codes.INVALID_PARAM)}: "
                                                  "account_index or market_id is required")
        rows = sorted(sim.recent_trades[market_id], key=lambda t: t["trade_id"], reverse=sort_dir == "desc")
        return ok({"code": 200, "next_cursor": "", "trades": rows[:limit]})
    account_index = int_arg(request, "account_index")
    authorize(sim, request, account_index)
    cursor = _cursor_arg(request)
    history = sim.engine.account_trades(account_index, market_id)  # oldest first
    if sort_dir == "desc":
        history.reverse()
        if cursor is not None:
            history = [t for t in history if t.trade_id < cursor]
    elif cursor is not None:
        history = [t for t in history if t.trade_id > cursor]
    page = history[:limit]
    return ok(
        {
            "code": 200,
            "next_cursor": str(page[-1].trade_id) if len(history) > limit else "",
            "trades": [sim.shaper.row(t) for t in page],
        }
    )


async def apikeys(request: web.Request) -> web.Response:
    """Any key index is valid; its public key is the one a change-key transaction registered
    (venue.sim.api_keys), else unknown ("")."""
    from venue.sim.api_keys import registry

    sim = request.app[SIM_KEY]
    keys_of = registry(sim)
    account_index = int_arg(request, "account_index")
    api_key_index = int_arg(request, "api_key_index", 255)
    if api_key_index == 255:  # Lighter: 255 lists every key of the account
        indexes = sorted({k for a, k in sim.nonces if a == account_index} | set(keys_of.indexes(account_index)))
    else:
        indexes = [api_key_index]
    keys = [
        {
            "account_index": account_index,
            "api_key_index": k,
            "nonce": sim.next_nonce(account_index, k),
            "public_key": keys_of.public_key(account_index, k),
            "transaction_time": 0,
        }
        for k in indexes
    ]
    return ok({"code": 200, "api_keys": keys})



# =============================================================================================
# simulator control
# =============================================================================================
async def sim_state(request: web.Request) -> web.Response:
    return ok(request.app[SIM_KEY].state())


async def sim_faults_get(request: web.Request) -> web.Response:
    return ok(request.app[SIM_KEY].faults.snapshot())


async def sim_faults_post(request: web.Request) -> web.Response:
    sim = request.app[SIM_KEY]
    try:
        body = await request.json(loads=msgspec.json.decode)
        drop_now = sim.faults.update(body)
    except (msgspec.DecodeError, ValueError) as exc:
        return error(codes.INVALID_PARAM, f"{codes.message_for(codes.INVALID_PARAM)}: {exc}")
    dropped = sim.drop_connections() if drop_now else 0
    return ok({**sim.faults.snapshot(), "dropped_connections": dropped})

