"""The real lighter-sdk SignerClient against the paper venue, unchanged but for the URL.

A scripted, frozen book (bids 149.900 x 10 and 149.800 x 20, asks 150.100 x 10 and 150.200 x 20)
makes every fill predictable. Keys are generated at test time and never printed. Orders, fills
and cancels are read back three ways that must agree: the SDK's own REST API classes, the
account_all websocket channel, and the simulator's engine.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import json
from typing import Any

import lighter
import pytest
import websockets

from tests.sim_tokens import paper_token
from venue import codes
from venue.sim.server import SimServer
from venue.sim.types import SourceBook

T0_NS = 1_700_000_000_000_000_000
ACCOUNT = 123_456
KEY = 3
MARKET = 2
TIMEOUT = 10.0

BOOK = SourceBook(ts_ns=T0_NS, bids=[(149.9, 10.0), (149.8, 20.0)], asks=[(150.1, 10.0), (150.2, 20.0)])
Signer = lighter.SignerClient


class AccountStream:
    """An account_all subscriber (the `websockets` client) folding updates into a simple state."""

    def __init__(self, ws_url: str, account: int) -> None:
        self.ws_url = ws_url
        self.account = account
        self.orders: dict[int, dict[str, Any]] = {}  # order_index -> latest order fields
        self.positions: dict[int, dict[str, Any]] = {}
        self.trades: dict[int, dict[str, Any]] = {}
        self.snapshots = 0
        self._changed = asyncio.Event()
        self._subscribed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> AccountStream:
        self._ws = await websockets.connect(self.ws_url)
        await self._ws.send(json.dumps({"type": "subscribe", "channel": f"account_all/{self.account}",
                                        "auth": paper_token(self.account, KEY)}))
        self._task = asyncio.create_task(self._run())
        await asyncio.wait_for(self._subscribed.wait(), TIMEOUT)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        await self._ws.close()

    async def _run(self) -> None:
        async for raw in self._ws:
            message = json.loads(raw)
            kind = message.get("type")
            if kind == "ping":
                await self._ws.send(json.dumps({"type": "pong"}))
            elif kind in ("subscribed/account_all", "update/account_all"):
                assert message["channel"] == f"account_all:{self.account}"
                if kind.startswith("subscribed"):
                    self.snapshots += 1
                    self._subscribed.set()
                for market, position in message["positions"].items():
                    self.positions[int(market)] = position
                for orders in message["orders"].values():
                    for order in orders:
                        self.orders[order["order_index"]] = order
                for trades in message["trades"].values():
                    for trade in trades:
                        self.trades[trade["trade_id"]] = trade
                self._changed.set()

    async def wait_until(self, predicate: Any, what: str) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + TIMEOUT
        while not predicate():
            self._changed.clear()
            remaining = deadline - loop.time()
            assert remaining > 0, f"account stream never showed {what}"
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except TimeoutError:
                pass


def signed_position(position: dict[str, Any]) -> str:
    return ("-" if position["sign"] < 0 and position["position"] != "0.000" else "") + position["position"]


@pytest.fixture
async def venue() -> Any:
    async with SimServer(source=[BOOK], speed=0) as sim:
        await asyncio.wait_for(sim.source_done.wait(), TIMEOUT)
        yield sim


@pytest.fixture
async def client(venue: SimServer) -> Any:
    private_key, _public_key, error = lighter.create_api_key()
    assert error is None
    signer = lighter.SignerClient(venue.url, ACCOUNT, {KEY: private_key})  # inside the running loop
    yield signer
    await signer.close()


async def create(client: Signer, nonce: int, coi: int, size: int, price: int, is_ask: bool, tif: int,
                 order_type: int = Signer.ORDER_TYPE_LIMIT, expiry: int = Signer.DEFAULT_28_DAY_ORDER_EXPIRY) -> Any:
    _tx, response, error = await client.create_order(
        MARKET, coi, size, price, is_ask, order_type, tif, order_expiry=expiry, nonce=nonce, api_key_index=KEY
    )
    assert error is None, error
    return response


async def test_orders_fills_and_cancels_agree_across_rest_websocket_and_engine(venue, client):
    engine = venue.engine
    nonces = itertools.count()
    async with AccountStream(venue.ws_url, ACCOUNT) as stream:
        # post-only bid below the book rests; one that would cross is refused, its nonce used up
        assert (await create(client, next(nonces), 101, 1000, 149_500, False, Signer.ORDER_TIME_IN_FORCE_POST_ONLY)).code == 200
        crossing = await create(client, next(nonces), 102, 1000, 150_100, False, Signer.ORDER_TIME_IN_FORCE_POST_ONLY)
        assert crossing.code == codes.POST_ONLY_WOULD_CROSS

        # a GTT ask above the book, signed on a worker thread (the cheap way) and sent as is
        loop = asyncio.get_running_loop()
        tx_type, tx_info, _hash, error = await loop.run_in_executor(None, functools.partial(
            client.sign_create_order, MARKET, 103, 500, 151_000, 1, Signer.ORDER_TYPE_LIMIT,
            Signer.ORDER_TIME_IN_FORCE_GOOD_TILL_TIME, nonce=next(nonces), api_key_index=KEY))
        assert error is None
        assert (await client.send_tx(tx_type=tx_type, tx_info=tx_info)).code == 200

        # IOC and market buys take the external ask at 150.100
        assert (await create(client, next(nonces), 104, 300, 150_100, False, Signer.ORDER_TIME_IN_FORCE_IMMEDIATE_OR_CANCEL,
                             expiry=Signer.DEFAULT_IOC_EXPIRY)).code == 200
        _tx, market, error = await client.create_market_order(MARKET, 105, 200, 150_200, False, nonce=next(nonces),
                                                              api_key_index=KEY)
        assert error is None and market.code == 200
        # an IOC that finds nothing within its price is still accepted, and ends canceled (Lighter's way)
        assert (await create(client, next(nonces), 106, 300, 149_000, False, Signer.ORDER_TIME_IN_FORCE_IMMEDIATE_OR_CANCEL,
                             expiry=Signer.DEFAULT_IOC_EXPIRY)).code == 200
        assert engine.order_by_client_index(ACCOUNT, 106).status == "canceled-not-enough-liquidity"

        # --- REST through the SDK's own API classes -------------------------------------------
        order_api = lighter.OrderApi(client.api_client)
        auth, error = client.create_auth_token_with_expiry(api_key_index=KEY)
        assert error is None
        active = await order_api.account_active_orders(authorization=auth, account_index=ACCOUNT, market_id=MARKET)
        assert {o.client_order_index for o in active.orders} == {101, 103}
        assert {o.order_index for o in active.orders} == {o.order_index for o in engine.active_orders(ACCOUNT)}
        gtt = next(o for o in active.orders if o.client_order_index == 103)
        assert (gtt.side, gtt.price, gtt.remaining_base_amount, gtt.time_in_force) == ("sell", "151.000", "0.500",
                                                                                      "good-till-time")
        assert gtt.order_expiry > venue.now_ms  # 28 days of event time

        account = (await lighter.AccountApi(client.api_client).account(by="index", value=str(ACCOUNT))).accounts[0]
        [position] = account.positions
        assert (position.position, position.sign, position.avg_entry_price) == ("0.500", 1, "150.100")
        assert position.open_order_count == 2
        assert engine.account(ACCOUNT).positions[MARKET].size == 500

        fills = engine.account_trades(ACCOUNT)
        assert [(t.price, t.size) for t in fills] == [(150_100, 300), (150_100, 200)]
        recent = await order_api.recent_trades(MARKET, 10)
        assert {t.trade_id for t in recent.trades if t.bid_account_id == ACCOUNT} == {t.trade_id for t in fills}

        # --- the websocket saw the same ------------------------------------------------------
        await stream.wait_until(lambda: set(stream.trades) == {t.trade_id for t in fills}, "both fills")
        await stream.wait_until(lambda: signed_position(stream.positions.get(MARKET, {"sign": 1, "position": ""}))
                                == "0.500", "the position")
        await stream.wait_until(lambda: {i for i, o in stream.orders.items() if o["status"] == "open"}
                                == {o.order_index for o in engine.active_orders(ACCOUNT)}, "the open orders")

        # --- cancel one by its order index, then everything ------------------------------------
        post_only = next(o for o in active.orders if o.client_order_index == 101)
        _tx, response, error = await client.cancel_order(MARKET, post_only.order_index, nonce=next(nonces),
                                                         api_key_index=KEY)
        assert error is None and response.code == 200
        _tx, response, error = await client.cancel_all_orders(Signer.CANCEL_ALL_TIF_IMMEDIATE, 0, nonce=next(nonces),
                                                              api_key_index=KEY)
        assert error is None and response.code == 200
        assert not engine.active_orders(ACCOUNT)
        assert not (await order_api.account_active_orders(authorization=auth, account_index=ACCOUNT)).orders

        # every order the stream knows ends in the engine's final status, with the same fills
        def stream_matches_engine() -> bool:
            return all(
                (order["status"], order["filled_base_amount"])
                == (engine.order(index).status, f"{engine.order(index).filled_base_amount / 1000:.3f}")
                for index, order in stream.orders.items()
            ) and {o["client_order_index"] for o in stream.orders.values()} == {101, 103, 104, 105, 106}

        await stream.wait_until(stream_matches_engine, "the final order states")
        assert stream.orders[post_only.order_index]["status"] == "canceled"
        assert stream.snapshots == 1


async def test_wrong_nonce_makes_the_sdk_report_invalid_nonce_and_its_manager_recovers(venue, client):
    assert (await create(client, 0, 1, 1000, 149_000, False, Signer.ORDER_TIME_IN_FORCE_GOOD_TILL_TIME)).code == 200
    _tx, response, error = await client.create_order(
        MARKET, 2, 1000, 149_000, False, Signer.ORDER_TYPE_LIMIT, Signer.ORDER_TIME_IN_FORCE_GOOD_TILL_TIME,
        nonce=7, api_key_index=KEY,
    )
    assert response is None and "invalid nonce" in error

    # without explicit nonces the SDK's own nonce manager asks nextNonce and carries on from there
    _tx, response, error = await client.create_order(
        MARKET, 3, 1000, 148_900, False, Signer.ORDER_TYPE_LIMIT, Signer.ORDER_TIME_IN_FORCE_GOOD_TILL_TIME
    )
    assert error is None and response.code == 200
    assert venue.engine.order_by_client_index(ACCOUNT, 3).nonce == 1
    assert venue.next_nonce(ACCOUNT, KEY) == 2


async def test_reduce_only_and_a_sell_that_closes_the_position(venue, client):
    nonces = itertools.count()
    assert (await create(client, next(nonces), 1, 400, 150_100, False, Signer.ORDER_TIME_IN_FORCE_IMMEDIATE_OR_CANCEL,
                         expiry=Signer.DEFAULT_IOC_EXPIRY)).code == 200
    _tx, response, error = await client.create_market_order(MARKET, 2, 1000, 149_800, True, reduce_only=True,
                                                            nonce=next(nonces), api_key_index=KEY)
    assert error is None and response.code == 200
    position = venue.engine.account(ACCOUNT).positions[MARKET]
    assert position.size == 0  # reduce-only clipped the 1.000 sell to the 0.400 long
    assert position.realized_pnl == pytest.approx((149.9 - 150.1) * 0.4)
    # flat now: another reduce-only order has nothing to reduce
    _tx, refused, error = await client.create_market_order(MARKET, 3, 100, 149_800, True, reduce_only=True,
                                                           nonce=next(nonces), api_key_index=KEY)
    assert error is None and refused.code == codes.REDUCE_ONLY_WOULD_INCREASE
    account = (await lighter.AccountApi(client.api_client).account(by="index", value=str(ACCOUNT))).accounts[0]
    assert float(account.collateral) == pytest.approx(10_000 + (149.9 - 150.1) * 0.4)  # no fees configured
    assert (account.positions[0].position, account.positions[0].realized_pnl) == ("0.000", "-0.080000")
