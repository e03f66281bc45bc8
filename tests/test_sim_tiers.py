"""Account tiers at the paper venue: speed bumps and rate windows in event time, fees per tier.

The venue runs at a speed so low (1e-6) that its wall-clock timer never fires within a test:
event time moves only by the market events the test injects, so "200 ms after receipt" is
exact. Orders are signed by the real SDK through the OrderClient.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import lighter
import pytest

from venue import codes
from venue.markets import SOL_DEFAULT
from venue.order_client import OrderClient, TxAccepted, TxOutcome
from venue.sim.server import SimServer
from venue.sim.tiers import PREMIUM, AccountTiers
from venue.sim.types import SourceBook

T0_NS = 1_700_000_000_000_000_000
T0_MS = T0_NS // 1_000_000
STANDARD_ACCOUNT = 1_000
PREMIUM_ACCOUNT = 1_001
KEY = 0
SOL = 2
TIMEOUT = 10.0
LEVELS: dict[str, Any] = {"bids": [(149.9, 10.0), (149.8, 20.0)], "asks": [(150.1, 10.0), (150.2, 20.0)]}


def book_at(ms: int) -> SourceBook:
    return SourceBook(ts_ns=T0_NS + ms * 1_000_000, **LEVELS)


async def until(condition: Callable[[], bool]) -> None:
    async def poll() -> None:
        while not condition():
            await asyncio.sleep(0.001)

    await asyncio.wait_for(poll(), TIMEOUT)


@pytest.fixture
async def sim() -> AsyncIterator[SimServer]:
    async with SimServer(source=[book_at(0)], speed=1e-6, default_tier="standard",
                         account_tiers={PREMIUM_ACCOUNT: "premium"}) as server:  # fmt: skip
        await asyncio.wait_for(server.source_done.wait(), TIMEOUT)
        yield server


async def make_client(sim: SimServer, account: int) -> OrderClient:
    private_key, _public, error = lighter.create_api_key()
    assert error is None
    return await OrderClient.create(sim.url, account, KEY, private_key, {SOL: SOL_DEFAULT}, rate_limit=None)


@pytest.fixture
async def standard(sim: SimServer) -> AsyncIterator[OrderClient]:
    client = await make_client(sim, STANDARD_ACCOUNT)
    yield client
    await client.close()


@pytest.fixture
async def premium(sim: SimServer) -> AsyncIterator[OrderClient]:
    client = await make_client(sim, PREMIUM_ACCOUNT)
    yield client
    await client.close()


async def bumped(sim: SimServer, send: Awaitable[TxOutcome]) -> asyncio.Task[TxOutcome]:
    """Send, and return once the venue holds the transaction waiting for its bump."""
    before = sim.counters.delayed_txs
    task = asyncio.ensure_future(send)
    await until(lambda: sim.counters.delayed_txs > before or task.done())
    assert not task.done(), task.result()
    return task


async def test_a_post_only_order_of_a_standard_account_rests_200_ms_after_receipt(sim, standard) -> None:
    task = await bumped(sim, standard.limit_order(SOL, False, 1.0, 149.5, tif="post_only", client_order_index=1))
    await sim.inject(book_at(199))
    assert not sim.engine.active_orders(STANDARD_ACCOUNT) and not task.done()
    await sim.inject(book_at(200))
    outcome = await asyncio.wait_for(task, TIMEOUT)
    assert isinstance(outcome, TxAccepted)
    [order] = sim.engine.active_orders(STANDARD_ACCOUNT)
    assert order.created_at_ms == T0_MS + 200  # it took effect at its time, before the event at 200


async def test_a_standard_taker_waits_300_ms(sim, standard) -> None:
    task = await bumped(sim, standard.limit_order(SOL, False, 1.0, 150.1, client_order_index=2))
    await sim.inject(book_at(299))
    assert not sim.engine.account_trades(STANDARD_ACCOUNT)
    await sim.inject(book_at(300))
    assert isinstance(await asyncio.wait_for(task, TIMEOUT), TxAccepted)
    [trade] = sim.engine.account_trades(STANDARD_ACCOUNT)
    assert trade.ts_ms == T0_MS + 300 and trade.taker_fee == 0.0  # standard: no fees


async def test_a_standard_cancel_takes_a_makers_delay(sim, standard) -> None:
    task = await bumped(sim, standard.limit_order(SOL, False, 1.0, 149.5, tif="post_only", client_order_index=3))
    await sim.inject(book_at(200))
    await asyncio.wait_for(task, TIMEOUT)
    task = await bumped(sim, standard.cancel(SOL, 3))
    await sim.inject(book_at(399))
    assert sim.engine.active_orders(STANDARD_ACCOUNT)
    await sim.inject(book_at(400))
    assert isinstance(await asyncio.wait_for(task, TIMEOUT), TxAccepted)
    assert not sim.engine.active_orders(STANDARD_ACCOUNT)


async def test_a_premium_maker_rests_at_once_and_its_taker_waits_150_ms(sim, premium) -> None:
    outcome = await asyncio.wait_for(
        premium.limit_order(SOL, False, 1.0, 149.5, tif="post_only", client_order_index=4), TIMEOUT)
    assert isinstance(outcome, TxAccepted) and len(sim.engine.active_orders(PREMIUM_ACCOUNT)) == 1
    task = await bumped(sim, premium.market_order(SOL, False, 1.0, 150.2, client_order_index=5))
    await sim.inject(book_at(149))
    assert not sim.engine.account_trades(PREMIUM_ACCOUNT)
    await sim.inject(book_at(150))
    assert isinstance(await asyncio.wait_for(task, TIMEOUT), TxAccepted)
    [trade] = sim.engine.account_trades(PREMIUM_ACCOUNT)
    assert trade.ts_ms == T0_MS + 150


async def test_premium_fees_appear_in_the_fills(sim, premium) -> None:
    assert isinstance(await premium.limit_order(SOL, True, 1.0, 150.0, tif="post_only", client_order_index=6),
                      TxAccepted)  # fmt: skip
    task = await bumped(sim, premium.market_order(SOL, False, 1.0, 150.2, client_order_index=7))
    await sim.inject(book_at(150))
    await asyncio.wait_for(task, TIMEOUT)
    [taker] = sim.engine.account_trades(PREMIUM_ACCOUNT)
    assert taker.taker_fee == pytest.approx(PREMIUM.taker_fee * 150.1 * 1.0)  # type: ignore[operator]
    row = sim.account_trade_log[PREMIUM_ACCOUNT][-1]
    assert row["taker_fee"] == 196  # millionths of notional: 1.96 bps
    # a print at our ask: the resting premium maker fills at 0.28 bps
    from venue.sim.types import SourceTrade

    await sim.inject(book_at(200), SourceTrade(ts_ns=T0_NS + 201_000_000, price=150.0, size=50.0,
                                               taker_is_buyer=True))  # fmt: skip
    maker = sim.engine.account_trades(PREMIUM_ACCOUNT)[-1]
    assert maker.ask_client_id == 6
    assert maker.maker_fee == pytest.approx(PREMIUM.maker_fee * 150.0 * 1.0)  # type: ignore[operator]
    assert sim.account_trade_log[PREMIUM_ACCOUNT][-1]["maker_fee"] == 28


async def _post_batch(sim: SimServer, signer: lighter.SignerClient, first_nonce: int, count: int) -> Any:
    """`count` cancels of unknown orders (each counts as a transaction), signed and posted as one batch."""
    signed = [signer.sign_cancel_order(SOL, 10_000 + n, nonce=first_nonce + n, api_key_index=KEY)
              for n in range(count)]  # fmt: skip
    form = {"tx_types": json.dumps([s[0] for s in signed]), "tx_infos": json.dumps([s[1] for s in signed])}
    async with aiohttp.ClientSession() as http, http.post(f"{sim.url}/api/v1/sendTxBatch", data=form) as resp:
        return resp.status, await resp.json()


async def test_the_61st_transaction_in_an_event_time_minute_is_refused_on_standard_not_premium(sim) -> None:
    signers = {}
    for account in (STANDARD_ACCOUNT, PREMIUM_ACCOUNT):
        private_key, _public, error = lighter.create_api_key()
        assert error is None
        signers[account] = lighter.SignerClient(sim.url, account, {KEY: private_key})
    try:
        standard = signers[STANDARD_ACCOUNT]
        waiting = []
        for batch in range(4):  # 60 transactions, all waiting for their 200 ms bump
            waiting.append(asyncio.ensure_future(_post_batch(sim, standard, batch * 15, 15)))
            spent = (batch + 1) * 15
            await until(lambda: sim.next_nonce(STANDARD_ACCOUNT, KEY) == spent)  # noqa: B023 - awaited here
        status, body = await _post_batch(sim, standard, 60, 1)
        assert (status, body["code"]) == (429, codes.TOO_MANY_REQUESTS)
        assert sim.next_nonce(STANDARD_ACCOUNT, KEY) == 60 and sim.counters.rate_limited_txs == 1  # nonce unspent
        await sim.inject(book_at(200))
        for task in waiting:
            status, body = await asyncio.wait_for(task, TIMEOUT)
            assert status == 200 and {r["code"] for r in body["results"]} == {codes.ORDER_NOT_FOUND}
        await sim.inject(book_at(59_999))  # the first 60 are still inside the minute
        assert (await _post_batch(sim, standard, 60, 1))[0] == 429
        await sim.inject(book_at(60_000))  # the minute after they were received: room again
        task = asyncio.ensure_future(_post_batch(sim, standard, 60, 1))
        await until(lambda: sim.next_nonce(STANDARD_ACCOUNT, KEY) == 61)
        await sim.inject(book_at(60_200))
        assert (await asyncio.wait_for(task, TIMEOUT))[0] == 200

        premium = signers[PREMIUM_ACCOUNT]
        for batch in range(5):  # 75 transactions at one event time: a premium account has room
            status, body = await _post_batch(sim, premium, batch * 15, 15)
            assert status == 200, body
    finally:
        for signer in signers.values():
            await signer.close()


def test_tier_windows_and_settings_are_pure_and_checked() -> None:
    tiers = AccountTiers("standard", {5: "premium", 6: "paper"})
    assert tiers.admit({1: 60}, 0) and not tiers.admit({1: 1}, 59_999) and tiers.admit({1: 1}, 60_000)
    assert tiers.admit({1: 59}, 60_000) and not tiers.admit({1: 1, 5: 23_999}, 60_000)  # all or none:
    assert tiers.admit({5: 24_000}, 60_000) and not tiers.admit({5: 1}, 60_000)  # account 5 got nothing
    assert tiers.admit({6: 100_000}, 60_000)
    assert tiers.delay_ms(1, takes=False) == 200 and tiers.delay_ms(1, takes=True) == 300
    assert tiers.delay_ms(5, takes=False) == 0 and tiers.delay_ms(5, takes=True) == 150
    with pytest.raises(ValueError, match="unknown account tier 'gold'"):
        AccountTiers("gold")
    with pytest.raises(ValueError, match="account index"):
        AccountTiers("paper", {-1: "premium"})


def test_settings_and_cli_take_tiers() -> None:
    from pydantic import ValidationError

    from config.settings import SimConfig
    from venue.sim.__main__ import build_server, parse_args

    cfg = SimConfig(default_tier="standard", account_tiers={1001: "premium"})
    assert cfg.account_tiers == {1001: "premium"} and SimConfig().default_tier == "paper"
    for bad in ({"default_tier": "gold"}, {"account_tiers": {1: "gold"}}, {"account_tiers": {-1: "premium"}}):
        with pytest.raises(ValidationError):
            SimConfig(**bad)
    server = build_server(parse_args(["--tier", "standard", "--account-tier", "1001=premium"]))
    assert (server.tier_of(1), server.tier_of(1001)) == ("standard", "premium")
    with pytest.raises(SystemExit) as exit_info:
        parse_args(["--account-tier", "1001:premium"])
    assert exit_info.value.code == 2
