"""Hourly funding in the simulator: the pure maths (venue.sim.funding), the engine settling it on
event time, and the paper venue showing it as Lighter does (account REST, account_all's
funding_histories, positionFunding, fundings), parsed by lighter-sdk's models and by venue.wire.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import lighter.models as sdk
import pytest

from tests.sim_tokens import paper_token
from venue import codes
from venue.markets import MarketSpec
from venue.sim.engine import MatchingEngine
from venue.sim.funding import HOUR_MS, FundingLedger, FundingRates, HourClock, funding_change
from venue.sim.server import SimServer
from venue.sim.shapes import account_snapshot_message
from venue.sim.types import Account, OrderRequest, OrderType, Position, SourceBook, TimeInForce
from venue.wire import account_update_from_wire, decode_ws

M = 2
SPEC = MarketSpec(market_id=M, symbol="SOL", size_decimals=3, price_decimals=3, min_base_amount=0.05,
                  min_quote_amount=10.0)
H0 = 1_700_002_800_000  # a whole hour of event time (ms)
assert H0 % HOUR_MS == 0
RATE = 0.0001  # 0.01% an hour
MS = 1_000_000


# ---------------------------------------------------------------------------------------------
# the maths
# ---------------------------------------------------------------------------------------------
def test_positive_rate_longs_pay_shorts_receive_rounded_to_micro_usdc() -> None:
    assert funding_change(2.0, 150.0, RATE) == pytest.approx(-0.03, abs=1e-12)
    assert funding_change(-2.0, 150.0, RATE) == pytest.approx(0.03, abs=1e-12)
    assert funding_change(2.0, 150.0, -RATE) == pytest.approx(0.03, abs=1e-12)
    assert funding_change(0.001, 123.456789, 0.0000125) == -0.000002  # a long pays 1.543e-6 -> 2e-6
    assert str(funding_change(0.0, 150.0, RATE)) == "0.0"  # never -0.0


def test_hour_clock_pays_each_whole_hour_once_however_time_jumps() -> None:
    clock = HourClock()
    assert clock.crossed(H0 - 10) == []  # the first time only starts the clock
    assert clock.crossed(H0 - 1) == []
    assert clock.crossed(H0) == [H0]  # exactly on the hour
    assert clock.crossed(H0) == []
    assert clock.crossed(H0 + 5) == []
    assert clock.crossed(H0 + 3 * HOUR_MS + 7) == [H0 + HOUR_MS, H0 + 2 * HOUR_MS, H0 + 3 * HOUR_MS]
    assert clock.crossed(H0) == []  # an older time crosses nothing, and pays nothing again
    assert clock.crossed(H0 + 4 * HOUR_MS - 1) == []
    assert clock.crossed(H0 + 4 * HOUR_MS) == [H0 + 4 * HOUR_MS]


def _account(index: int, size_units: int, entry: float = 150.0) -> Account:
    account = Account(account_index=index, collateral=1000.0)
    if size_units:
        account.positions[M] = Position(market_id=M, size=size_units, avg_entry_price=entry)
    return account


def test_ledger_moves_collateral_and_paid_out_of_open_positions_only() -> None:
    ledger = FundingLedger(FundingRates(RATE))
    long, short, flat = _account(1, 2000), _account(2, -1000), _account(3, 0)
    flat.positions[M] = Position(market_id=M)  # traded before, flat now
    accounts = [long, short, flat]
    ledger.settle(H0 - 1, accounts, {M: SPEC}, lambda m: 160.0)
    paid = ledger.settle(H0 + 2 * HOUR_MS + 1, accounts, {M: SPEC}, lambda m: 160.0)
    assert [(r.account_index, r.ts_ms) for r in paid] == [(1, H0), (2, H0), (1, H0 + HOUR_MS), (2, H0 + HOUR_MS),
                                                          (1, H0 + 2 * HOUR_MS), (2, H0 + 2 * HOUR_MS)]
    assert long.collateral == pytest.approx(1000.0 - 3 * 2.0 * 160.0 * RATE, abs=1e-9)
    assert long.positions[M].total_funding_paid_out == pytest.approx(3 * 0.032, abs=1e-12)
    assert short.collateral == pytest.approx(1000.0 + 3 * 0.016, abs=1e-9)
    assert short.positions[M].total_funding_paid_out == pytest.approx(-3 * 0.016, abs=1e-12)
    assert flat.collateral == 1000.0 and flat.positions[M].total_funding_paid_out == 0.0
    assert [r.position_size for r in paid[:2]] == [2.0, -1.0]
    assert ledger.take_new() == paid and ledger.take_new() == []
    assert [r.funding_id for r in ledger.history(1)] == [1, 3, 5]
    assert [e.ts_ms for e in ledger.market_history(M)] == [H0, H0 + HOUR_MS, H0 + 2 * HOUR_MS]


def test_mark_falls_back_to_entry_and_zero_rate_pays_nothing() -> None:
    long = _account(1, 1000, entry=100.0)
    ledger = FundingLedger(FundingRates(0.0, {M: RATE}))
    ledger.settle(H0 - 1, [long], {M: SPEC}, lambda m: None)
    (record,) = ledger.settle(H0, [long], {M: SPEC}, lambda m: None)
    assert (record.mark_price, record.change, record.rate) == (100.0, -0.01, RATE)
    off = FundingLedger(FundingRates(0.0))
    off.settle(H0 - 1, [long], {M: SPEC}, lambda m: 100.0)
    assert off.settle(H0 + 5 * HOUR_MS, [long], {M: SPEC}, lambda m: 100.0) == []
    with pytest.raises(ValueError, match="funding rate"):
        FundingRates(0.5)


# ---------------------------------------------------------------------------------------------
# the engine: settled on the event time of every entry point, before the event acts
# ---------------------------------------------------------------------------------------------
def _book(engine: MatchingEngine, ts_ms: int, bid: float = 149.9, ask: float = 150.1) -> None:
    engine.on_book(M, [(round(bid * 1000), 50_000)], [(round(ask * 1000), 50_000)], ts_ms)


def test_engine_pays_funding_on_the_position_held_at_the_hour() -> None:
    engine = MatchingEngine({M: SPEC}, default_collateral=1000.0, funding_rates=FundingRates(RATE))
    _book(engine, H0 - 1000)
    buy = OrderRequest(account_index=1, market_id=M, client_order_index=1, base_amount=2000, price=151_000,
                       is_ask=False, order_type=OrderType.MARKET, time_in_force=TimeInForce.IOC)
    assert engine.submit(buy, H0 - 500).trades  # long 2 at 150.1
    collateral = engine.account(1).collateral
    # a sell that arrives after the hour: the hour is settled first, on the long position
    sell = OrderRequest(account_index=1, market_id=M, client_order_index=2, base_amount=2000, price=149_000,
                        is_ask=True, order_type=OrderType.MARKET, time_in_force=TimeInForce.IOC)
    assert engine.submit(sell, H0 + 10).trades
    (record,) = engine.funding.take_new()
    assert (record.ts_ms, record.position_size, record.mark_price) == (H0, 2.0, 150.0)
    assert record.change == pytest.approx(-0.03, abs=1e-12)
    position = engine.account(1).positions[M]
    assert position.size == 0 and position.total_funding_paid_out == pytest.approx(0.03, abs=1e-12)
    realized = (149.9 - 150.1) * 2.0
    assert engine.account(1).collateral == pytest.approx(collateral + realized - 0.03, abs=1e-9)
    _book(engine, H0 + 5 * HOUR_MS)  # flat now: later hours pay nothing
    assert engine.funding.take_new() == []
    assert position.total_funding_paid_out == pytest.approx(0.03, abs=1e-12)


# ---------------------------------------------------------------------------------------------
# the paper venue: what it shows, as Lighter shows it
# ---------------------------------------------------------------------------------------------
BOOK = SourceBook(ts_ns=(H0 - 60_000) * MS, bids=[(149.9, 10.0)], asks=[(150.1, 10.0)])


@pytest.fixture
async def sim() -> Any:
    server = SimServer(source=[BOOK], speed=0, funding_rate_per_hour=RATE, markets=[SPEC])
    async with server:
        await asyncio.wait_for(server.source_done.wait(), 5.0)
        yield server


async def _get(http: aiohttp.ClientSession, url: str, auth: str | None = None) -> dict[str, Any]:
    async with http.get(url, headers={"authorization": auth} if auth else None) as resp:
        assert resp.status == 200, await resp.text()
        body: dict[str, Any] = json.loads(await resp.text())
        return body


async def test_paper_venue_shows_funding_in_positions_histories_and_endpoints(sim: SimServer) -> None:
    short = OrderRequest(account_index=5, market_id=M, client_order_index=1, base_amount=3000, price=149_000,
                         is_ask=True, order_type=OrderType.MARKET, time_in_force=TimeInForce.IOC)
    assert sim.engine.submit(short, sim.now_ms).trades  # short 3 at 149.9
    published: list[dict[str, Any]] = []  # what the server publishes on account_all:5
    sim.publisher.has_subscribers = lambda channel: True  # type: ignore[method-assign]

    def publish(channel: str, data: bytes) -> int:
        if channel == "account_all:5":
            published.append(json.loads(data))
        return 1

    sim.publisher.publish = publish  # type: ignore[method-assign]
    await sim.inject(SourceBook(ts_ns=(H0 + 2 * HOUR_MS + 1) * MS, bids=[(149.9, 10.0)], asks=[(150.1, 10.0)]))
    change = funding_change(-3.0, 150.0, RATE)  # the mid at each hour: 150.0
    assert change == pytest.approx(0.045, abs=1e-12)

    # the account_all update of that step: funding_histories per market, the position's total
    (update,) = published
    rows = update["funding_histories"][str(M)]
    hours = [H0, H0 + HOUR_MS, H0 + 2 * HOUR_MS]  # the first event (H0 - 60 s) started the clock
    assert [r["timestamp"] for r in rows] == [h // 1000 for h in hours]
    for row in rows:
        model = sdk.PositionFunding.model_validate(row, strict=True)
        assert (model.change, model.position_side, model.position_size, model.rate) == \
            ("0.045000", "short", "3.000", "0.01000000")
    assert update["positions"][str(M)]["total_funding_paid_out"] == "-0.135000"
    typed = account_update_from_wire(decode_ws(json.dumps(update)), 5)  # type: ignore[arg-type]
    assert [(f.market_id, f.ts_ms, f.change, f.position_size) for f in typed.fundings] == \
        [(M, h, 0.045, -3.0) for h in hours]
    assert typed.fundings[0].rate == pytest.approx(RATE)
    assert typed.positions[0].total_funding_paid_out == -0.135
    snapshot = account_snapshot_message(sim, 5)
    assert snapshot["funding_histories"] == update["funding_histories"]

    async with aiohttp.ClientSession() as http:
        account = await _get(http, f"{sim.url}/api/v1/account?by=index&value=5")
        sdk.DetailedAccounts.model_validate(account, strict=True)
        (position,) = account["accounts"][0]["positions"]
        assert position["total_funding_paid_out"] == "-0.135000"
        # nothing closed yet and no fees: the collateral moved by funding alone
        assert float(account["accounts"][0]["collateral"]) == pytest.approx(10_000.0 + 3 * change, abs=1e-9)
        # private, as on Lighter: refused without the account's own token
        async with http.get(f"{sim.url}/api/v1/positionFunding?account_index=5&limit=1") as resp:
            assert json.loads(await resp.text())["code"] == codes.AUTH_MISSING
        async with http.get(f"{sim.url}/api/v1/positionFunding?account_index=5&limit=1",
                            headers={"authorization": paper_token(6)}) as resp:
            assert json.loads(await resp.text())["code"] == codes.AUTH_WRONG_ACCOUNT
        history = await _get(http, f"{sim.url}/api/v1/positionFunding?account_index=5&limit=1", paper_token(5))
        sdk.PositionFundings.model_validate(history, strict=True)
        assert [r["timestamp"] for r in history["position_fundings"]] == [(H0 + 2 * HOUR_MS) // 1000]
        cursor = history["next_cursor"]
        rest = await _get(http, f"{sim.url}/api/v1/positionFunding?account_index=5&limit=10&cursor={cursor}",
                          paper_token(5))
        assert [r["timestamp"] for r in rest["position_fundings"]] == [h // 1000 for h in reversed(hours[:2])]
        assert rest["next_cursor"] is None
        fundings = await _get(http, f"{sim.url}/api/v1/fundings?market_id={M}&resolution=1h")
        sdk.Fundings.model_validate(fundings, strict=True)
        assert [(f["rate"], f["direction"], f["value"]) for f in fundings["fundings"]] == \
            [("0.01000000", "long", "0.01500000")] * 3
