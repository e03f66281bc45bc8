"""OrderClient's modify and batches (real lighter-sdk signing) against the paper venue.

A frozen book (bids 149.900, asks 150.100) and post-only bids below it: what the venue holds is
read from its engine and its REST accountActiveOrders. Batches go over REST sendTxBatch and over
the websocket's jsonapi/sendtxbatch (the transaction socket), with the same outcomes.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import lighter
import pytest

from tests.sim_tokens import paper_token
from venue import codes
from venue.markets import SOL_DEFAULT
from venue.order_client import MAX_BATCH_TXS, TX_MODIFY_ORDER, OrderClient, TxAccepted, TxRejected
from venue.sim.server import SimServer
from venue.sim.txinfo import TX_TYPE_MODIFY_ORDER
from venue.sim.types import SourceBook

T0_NS = 1_700_000_000_000_000_000
ACCOUNT = 7_001
KEY = 2
SOL = 2
TIMEOUT = 10.0
BOOK = SourceBook(ts_ns=T0_NS, bids=[(149.9, 10.0), (149.8, 20.0)], asks=[(150.1, 10.0), (150.2, 20.0)])


@pytest.fixture
async def sim() -> AsyncIterator[SimServer]:
    async with SimServer(source=[BOOK], speed=0) as server:
        await asyncio.wait_for(server.source_done.wait(), TIMEOUT)
        yield server


@pytest.fixture(params=["rest", "websocket"])
async def client(request: Any, sim: SimServer) -> AsyncIterator[OrderClient]:
    private_key, _public, error = lighter.create_api_key()
    assert error is None
    ws_url = sim.ws_url if request.param == "websocket" else None
    client = await OrderClient.create(sim.url, ACCOUNT, KEY, private_key, {SOL: SOL_DEFAULT}, rate_limit=None,
                                      ws_url=ws_url)
    if ws_url is not None:
        assert await client._tx_socket.wait_up(TIMEOUT)  # type: ignore[union-attr]
    yield client
    await client.close()


async def place_bid(client: OrderClient, coi: int, size: float, price: float) -> None:
    outcome = await client.limit_order(SOL, False, size, price, tif="post_only", client_order_index=coi)
    assert isinstance(outcome, TxAccepted), outcome


async def rest_open_orders(sim: SimServer) -> dict[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as http, http.get(
        f"{sim.url}/api/v1/accountActiveOrders", params={"account_index": ACCOUNT, "market_id": SOL},
        headers={"authorization": paper_token(ACCOUNT, KEY)},
    ) as resp:
        body = await resp.json()
    return {o["client_order_index"]: o for o in body["orders"]}


async def test_sdk_signs_modify_as_tx_17_and_the_venue_parses_it() -> None:
    private_key, _public, error = lighter.create_api_key()
    assert error is None
    signer = lighter.SignerClient("http://127.0.0.1:1", ACCOUNT, {KEY: private_key})
    try:
        tx_type, tx_info, _hash, error = signer.sign_modify_order(SOL, 11, 500, 149_500, nonce=4, api_key_index=KEY)
    finally:
        await signer.close()
    assert error is None and tx_type == TX_TYPE_MODIFY_ORDER == TX_MODIFY_ORDER and isinstance(tx_info, str)
    from venue.sim.txinfo import ModifyOrderTx, parse_tx

    tx = parse_tx(TX_TYPE_MODIFY_ORDER, tx_info)
    assert isinstance(tx, ModifyOrderTx)
    assert (tx.account_index, tx.market_index, tx.index, tx.base_amount, tx.price, tx.nonce) == (
        ACCOUNT, SOL, 11, 500, 149_500, 4)


async def test_modify_moves_a_resting_order(sim: SimServer, client: OrderClient) -> None:
    await place_bid(client, 11, 1.0, 149.0)
    outcome = await client.modify_order(SOL, 11, 149.5, 0.4, is_ask=False)
    assert isinstance(outcome, TxAccepted) and outcome.tx_type == TX_MODIFY_ORDER and outcome.client_order_index == 11
    order = sim.engine.order_by_client_index(ACCOUNT, 11)
    assert order is not None and (order.price, order.remaining_base_amount) == (149_500, 400)
    seen = (await rest_open_orders(sim))[11]
    assert (seen["price"], seen["remaining_base_amount"]) == ("149.500", "0.400")
    assert sim.counters.modifies == 1


async def test_modify_by_the_venues_order_index(sim: SimServer, client: OrderClient) -> None:
    await place_bid(client, 12, 1.0, 149.0)
    order = sim.engine.order_by_client_index(ACCOUNT, 12)
    assert order is not None and order.order_index >= 2**48
    outcome = await client.modify(SOL, order.order_index, 149.2, 1.0, is_ask=False)
    assert isinstance(outcome, TxAccepted)
    assert order.price == 149_200


async def test_modify_of_an_unknown_order_is_a_typed_rejection(sim: SimServer, client: OrderClient) -> None:
    outcome = await client.modify_order(SOL, 999, 149.5, 1.0)
    assert isinstance(outcome, TxRejected)
    assert (outcome.code, outcome.sent, outcome.tx_type) == (codes.ORDER_NOT_FOUND, True, TX_MODIFY_ORDER)
    # the nonce was spent at the venue and counted so: the next order goes through
    await place_bid(client, 13, 1.0, 149.0)


async def test_modify_refusals_before_signing(client: OrderClient) -> None:
    out_of_range = await client.modify_order(SOL, 2**48, 149.5, 1.0)
    tiny = await client.modify_order(SOL, 5, 149.5, 0.0)
    for outcome in (out_of_range, tiny):
        assert isinstance(outcome, TxRejected) and not outcome.sent and outcome.tx_type == TX_MODIFY_ORDER


async def test_a_batch_of_two_modifies_lands_both(sim: SimServer, client: OrderClient) -> None:
    await place_bid(client, 21, 1.0, 149.0)
    await place_bid(client, 22, 1.0, 148.0)
    outcomes = await client.send_batch([
        client.modify_op(SOL, 21, 149.4, 0.5, is_ask=False),
        client.modify_op(SOL, 22, 148.6, 0.7, is_ask=False),
    ])
    assert [type(o) for o in outcomes] == [TxAccepted, TxAccepted]
    assert [o.client_order_index for o in outcomes] == [21, 22]
    assert all(isinstance(o, TxAccepted) and len(o.tx_hash) == 80 for o in outcomes)
    seen = await rest_open_orders(sim)
    assert (seen[21]["price"], seen[21]["remaining_base_amount"]) == ("149.400", "0.500")
    assert (seen[22]["price"], seen[22]["remaining_base_amount"]) == ("148.600", "0.700")
    # two orders and one batch: over the transaction socket when the client has one
    assert sim.counters.ws_txs == (3 if client._tx_socket is not None else 0)


async def test_a_batch_reports_each_transaction_and_cancel_plus_place(sim: SimServer, client: OrderClient) -> None:
    await place_bid(client, 31, 1.0, 149.0)
    outcomes = await client.send_batch([
        client.cancel_op(SOL, 31),
        client.limit_op(SOL, False, 1.0, 149.3, tif="post_only", client_order_index=32),
        client.modify_op(SOL, 999, 149.0, 1.0),  # unknown: refused by the engine, the others stand
        client.limit_op(SOL, False, 0.0, 149.3, client_order_index=33),  # refused before signing
    ])
    assert isinstance(outcomes[0], TxAccepted) and isinstance(outcomes[1], TxAccepted)
    assert isinstance(outcomes[2], TxRejected) and outcomes[2].code == codes.ORDER_NOT_FOUND and outcomes[2].sent
    assert isinstance(outcomes[3], TxRejected) and not outcomes[3].sent
    assert set(await rest_open_orders(sim)) == {32}
    # three nonces went out and were spent: the next order is accepted
    await place_bid(client, 34, 1.0, 148.0)


async def test_a_batch_of_16_is_refused(sim: SimServer, client: OrderClient) -> None:
    ops: list[Any] = [client.limit_op(SOL, False, 1.0, 140.0 + i * 0.1, tif="post_only", client_order_index=100 + i)
                      for i in range(MAX_BATCH_TXS + 1)]  # fmt: skip
    outcomes = await client.send_batch(ops)
    assert len(outcomes) == 16
    assert all(isinstance(o, TxRejected) and not o.sent and o.code == codes.INVALID_PARAM for o in outcomes)
    assert sim.counters.txs == 0
    assert len(await client.send_batch(ops[:15])) == 15
    assert len(sim.engine.active_orders(ACCOUNT)) == 15


async def test_the_venue_refuses_16_transactions_in_one_sendTxBatch(sim: SimServer) -> None:
    private_key, _public, error = lighter.create_api_key()
    assert error is None
    signer = lighter.SignerClient(sim.url, ACCOUNT, {KEY: private_key})
    try:
        loop = asyncio.get_running_loop()
        signed = [await loop.run_in_executor(None, functools.partial(
            signer.sign_create_order, SOL, 200 + n, 1000, 140_000, False, 0, 2, False, 0, -1, nonce=n,
            api_key_index=KEY)) for n in range(16)]  # fmt: skip
    finally:
        await signer.close()
    import json

    form = {"tx_types": json.dumps([s[0] for s in signed]), "tx_infos": json.dumps([s[1] for s in signed])}
    async with aiohttp.ClientSession() as http, http.post(f"{sim.url}/api/v1/sendTxBatch", data=form) as resp:
        assert resp.status == 400
        body = await resp.json()
    assert body["code"] == codes.INVALID_TX_INFO and "at most 15" in body["message"]
    assert sim.next_nonce(ACCOUNT, KEY) == 0 and not sim.engine.active_orders(ACCOUNT)
    form = {"tx_types": json.dumps([s[0] for s in signed[:15]]), "tx_infos": json.dumps([s[1] for s in signed[:15]])}
    async with aiohttp.ClientSession() as http, http.post(f"{sim.url}/api/v1/sendTxBatch", data=form) as resp:
        assert resp.status == 200
        body = await resp.json()
    assert [r["code"] for r in body["results"]] == [200] * 15 and len(body["tx_hash"]) == 15
