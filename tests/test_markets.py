"""Market metadata: exact float <-> integer units and the pre-send minimum checks."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from venue.markets import (
    SOL_DEFAULT,
    MarketSpec,
    OrderRefused,
    Rounding,
    fee_to_venue_string,
    markets_from_details,
)

SOL = SOL_DEFAULT


def test_sizes_and_prices_scale_exactly() -> None:
    assert SOL.size_to_int(0.1) == 100  # 0.1 * 1000 is 100.00000000000001 in floats
    assert SOL.size_to_int(0.3) == 300
    assert SOL.size_to_int(1.005) == 1005
    assert SOL.price_to_int(150.125) == 150125
    assert SOL.price_to_int(0.001) == 1
    assert SOL.size_from_int(50) == 0.05
    assert SOL.price_from_int(150125) == 150.125


def test_rounding_modes_never_make_an_order_more_aggressive() -> None:
    assert SOL.price_to_int(150.1234, Rounding.DOWN) == 150123  # a buy limit
    assert SOL.price_to_int(150.1234, Rounding.UP) == 150124  # a sell limit
    assert SOL.price_to_int(150.1235, Rounding.NEAREST) == 150124  # half-even
    assert SOL.price_to_int(150.1245, Rounding.NEAREST) == 150124
    assert SOL.size_to_int(0.0999) == 99  # sizes round down by default
    assert SOL.price_to_int(-1.0005, Rounding.DOWN) == -1001


@given(st.integers(min_value=0, max_value=2**40))
def test_units_round_trip(units: int) -> None:
    assert SOL.size_to_int(SOL.size_from_int(units)) == units
    assert SOL.price_to_int(SOL.price_from_int(units)) == units


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, "1.0", None, [1.0], {"size": 1.0}, True])
def test_non_finite_values_are_refused(bad: object) -> None:
    SOL.size_to_int(1.0)  # a cached 1.0 must not answer for True
    with pytest.raises(OrderRefused, match="finite"):
        SOL.size_to_int(bad)  # type: ignore[arg-type]


def test_check_order_refuses_below_minimums_with_a_reason() -> None:
    SOL.check_order(SOL.size_to_int(0.1), SOL.price_to_int(150.0))  # 15 USDC: fine
    with pytest.raises(OrderRefused, match="below the minimum base amount 0.050"):
        SOL.check_order(SOL.size_to_int(0.049), SOL.price_to_int(500.0))
    with pytest.raises(OrderRefused, match=r"notional 9\.000000 is below the minimum quote amount"):
        SOL.check_order(SOL.size_to_int(0.06), SOL.price_to_int(150.0))
    with pytest.raises(OrderRefused, match="size must be positive"):
        SOL.check_order(0, 150000)
    with pytest.raises(OrderRefused, match="32 bits"):
        SOL.check_order(100, 2**32)


def test_format_uses_the_venue_string_form() -> None:
    assert SOL.format_size(50) == "0.050"
    assert SOL.format_price(150125) == "150.125"
    assert SOL.format_size(-1500) == "-1.500"
    assert MarketSpec(market_id=9, symbol="X", size_decimals=0, price_decimals=0,
                      min_base_amount=1, min_quote_amount=1).format_size(7) == "7"


def test_order_book_details_fixture_loads(lighter_fixtures_dir) -> None:
    payload = json.loads((lighter_fixtures_dir / "http_order_book_details.json").read_text())
    markets = markets_from_details(payload)
    eth = markets[0]
    assert (eth.symbol, eth.size_decimals, eth.price_decimals) == ("ETH", 4, 2)
    assert eth.min_base_amount == 0.005 and eth.min_quote_amount == 10.0
    assert eth.maker_fee == 0.0 and eth.taker_fee == 0.0
    also = markets_from_details(json.loads((lighter_fixtures_dir / "http_order_books.json").read_text()))
    assert also[0].size_decimals == 4


def test_fees_are_percent_strings_at_the_venue() -> None:
    spec = markets_from_details(
        {"code": 200, "order_book_details": [{
            "market_id": 2, "symbol": "SOL", "size_decimals": 3, "price_decimals": 3,
            "min_base_amount": "0.050", "min_quote_amount": "10.000000",
            "maker_fee": "0.0200", "taker_fee": "0.0400"}]}
    )[2]
    assert spec.maker_fee == pytest.approx(0.0002)
    assert spec.taker_fee == pytest.approx(0.0004)
    assert fee_to_venue_string(spec.taker_fee) == "0.0400"


def test_malformed_details_name_the_problem() -> None:
    with pytest.raises(ValueError, match="malformed"):
        markets_from_details({"code": 200, "order_book_details": [{"symbol": "SOL"}]})
    with pytest.raises(ValueError, match="code 500"):
        markets_from_details({"code": 500, "message": "boom"})
