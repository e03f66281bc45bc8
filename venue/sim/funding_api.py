"""The simulator's funding REST endpoints: Lighter's `positionFunding` (an account's payments;
private: the account's auth token, checked as for the other private endpoints) and `fundings` (a
market's hourly rates), from the engine's FundingLedger (shapes: venue.sim.funding_shapes).
"""

from __future__ import annotations

from aiohttp import web

from venue import codes
from venue.sim.funding import HOUR_MS
from venue.sim.funding_shapes import funding_json, position_funding_json
from venue.sim.rest_api import SIM_KEY, BadRequest, authorize, int_arg, ok

MAX_LIMIT = 100


async def position_funding(request: web.Request) -> web.Response:
    """An account's funding payments, newest first (`limit`, `market_id`, `side`, `cursor`: the
    funding_id to continue below). Private, as on Lighter: the account's own auth token."""
    sim = request.app[SIM_KEY]
    account_index = int_arg(request, "account_index")
    authorize(sim, request, account_index)
    market_id = int_arg(request, "market_id", -1)
    limit = int_arg(request, "limit", MAX_LIMIT)
    if not 1 <= limit <= MAX_LIMIT:
        raise BadRequest(codes.INVALID_PARAM, f"{codes.message_for(codes.INVALID_PARAM)}: limit {limit}")
    cursor = int_arg(request, "cursor", 0) if request.query.get("cursor") else 0
    side = request.query.get("side", "all")
    rows = [r for r in reversed(sim.engine.funding.history(account_index, None if market_id < 0 else market_id))
            if (not cursor or r.funding_id < cursor)
            and (side == "all" or (side == "short") == (r.position_size < 0))]
    page = rows[:limit]
    more = len(rows) > limit
    return ok({
        "code": 200,
        "position_fundings": [position_funding_json(r, sim.markets[r.market_id]) for r in page],
        "next_cursor": str(page[-1].funding_id) if more else None,
    })


async def fundings(request: web.Request) -> web.Response:
    """A market's hourly funding between start_timestamp and end_timestamp (s), the newest
    count_back of them, oldest first."""
    sim = request.app[SIM_KEY]
    market_id = int_arg(request, "market_id")
    if market_id not in sim.markets:
        raise BadRequest(codes.INVALID_MARKET, f"{codes.message_for(codes.INVALID_MARKET)}: {market_id}")
    resolution = request.query.get("resolution", "1h")
    if resolution != "1h":
        raise BadRequest(codes.INVALID_PARAM, f"{codes.message_for(codes.INVALID_PARAM)}: resolution {resolution!r}")
    start_s = int_arg(request, "start_timestamp", 0)
    end_s = int_arg(request, "end_timestamp", (sim.now_ms + HOUR_MS) // 1000)
    count = int_arg(request, "count_back", MAX_LIMIT)
    rows = [e for e in sim.engine.funding.market_history(market_id) if start_s <= e.ts_ms // 1000 <= end_s]
    kept = rows[-count:] if count > 0 else []
    return ok({"code": 200, "resolution": "1h", "fundings": [funding_json(e) for e in kept]})
