"""The simulator's aiohttp application: Lighter's REST paths, the websocket and the control paths."""

from __future__ import annotations

from aiohttp import web

from venue.sim import funding_api, rest_api, tx_api, ws_api
from venue.sim.venue_protocol import SimVenue


def build_app(sim: SimVenue) -> web.Application:
    app = web.Application(middlewares=[rest_api.middleware])
    app[rest_api.SIM_KEY] = sim
    get = [
        ("/api/v1/orderBookDetails", rest_api.order_book_details),
        ("/api/v1/orderBooks", rest_api.order_books),
        ("/api/v1/orderBookOrders", rest_api.order_book_orders),
        ("/api/v1/recentTrades", rest_api.recent_trades),
        ("/api/v1/candles", rest_api.candles),
        ("/api/v1/candlesticks", rest_api.candlesticks),
        ("/api/v1/nextNonce", rest_api.next_nonce),
        ("/api/v1/account", rest_api.account),
        ("/api/v1/accountActiveOrders", rest_api.account_active_orders),
        ("/api/v1/accountInactiveOrders", rest_api.account_inactive_orders),
        ("/api/v1/trades", rest_api.trades),
        ("/api/v1/apikeys", rest_api.apikeys),
        ("/api/v1/positionFunding", funding_api.position_funding),
        ("/api/v1/fundings", funding_api.fundings),
        ("/sim/state", rest_api.sim_state),
        ("/sim/faults", rest_api.sim_faults_get),
        ("/stream", ws_api.stream),
    ]
    for path, handler in get:
        app.router.add_get(path, handler)
    app.router.add_post("/api/v1/sendTx", tx_api.send_tx)
    app.router.add_post("/api/v1/sendTxBatch", tx_api.send_tx_batch)
    app.router.add_post("/sim/faults", rest_api.sim_faults_post)
    return app
