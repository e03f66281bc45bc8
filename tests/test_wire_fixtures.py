"""Every Lighter fixture decodes into its typed message, losing no field, with spot checks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec
import pytest

from tests.conftest import LIGHTER_FIXTURES
from venue import wire

# REST fixtures by file name prefix -> endpoint name of decode_rest (longest prefix wins)
REST_ENDPOINT_BY_PREFIX = {
    "http_account": "account",
    "http_candles": "candles",
    "http_fundings": "fundings",
    "http_next_nonce": "nextNonce",
    "http_order_book_depth": "orderBookDepth",
    "http_order_book_details": "orderBookDetails",
    "http_order_book_orders": "orderBookOrders",
    "http_order_books": "orderBooks",
    "http_orders": "accountActiveOrders",
    "http_recent_trades": "recentTrades",
}

FIXTURE_NAMES = sorted(p.name for p in LIGHTER_FIXTURES.glob("*.json")) if LIGHTER_FIXTURES.exists() else []


def _endpoint(name: str) -> str:
    matches = [prefix for prefix in REST_ENDPOINT_BY_PREFIX if name.startswith(prefix)]
    assert matches, f"new REST fixture {name}: map it to an endpoint in REST_ENDPOINT_BY_PREFIX"
    return REST_ENDPOINT_BY_PREFIX[max(matches, key=len)]


def _decode(path: Path) -> Any:
    raw = path.read_bytes()
    if path.name.startswith("ws_"):
        return wire.decode_ws(raw)
    assert path.name.startswith("http_"), f"unexpected fixture {path.name}"
    return wire.decode_rest(_endpoint(path.name), raw)


def _covers(original: Any, decoded: Any, where: str = "$") -> None:
    """Every field of the fixture survives decoding with its value (null lists/maps become empty)."""
    if isinstance(original, dict):
        assert isinstance(decoded, dict), f"{where}: object became {type(decoded).__name__}"
        for key, value in original.items():
            assert key in decoded, f"{where}.{key} is not captured by the wire type"
            _covers(value, decoded[key], f"{where}.{key}")
    elif isinstance(original, list):
        assert isinstance(decoded, list) and len(decoded) == len(original), f"{where}: list changed"
        for i, (a, b) in enumerate(zip(original, decoded, strict=True)):
            _covers(a, b, f"{where}[{i}]")
    elif original is None:
        assert decoded in (None, [], {}), f"{where}: null became {decoded!r}"
    else:
        assert decoded == original and type(decoded) is type(original) or (
            isinstance(original, int) and isinstance(decoded, float) and decoded == original
        ), f"{where}: {original!r} became {decoded!r}"


@pytest.mark.parametrize("name", FIXTURE_NAMES or ["<no fixtures>"])
def test_fixture_decodes_typed_and_complete(name: str, lighter_fixtures_dir: Path) -> None:
    path = lighter_fixtures_dir / name
    decoded = _decode(path)
    assert not isinstance(decoded, wire.UnknownMsg), f"{name} decoded to the generic message"
    # re-encoding uses the venue's field names (and string keys), so it compares with the fixture
    _covers(json.loads(path.read_bytes()), json.loads(msgspec.json.encode(decoded)))


def test_every_fixture_is_listed(lighter_fixtures_dir: Path) -> None:
    # the parametrization above was collected from the same directory
    assert sorted(p.name for p in lighter_fixtures_dir.glob("*.json")) == FIXTURE_NAMES
    assert len(FIXTURE_NAMES) >= 38


def _load(dirpath: Path, name: str) -> Any:
    return _decode(dirpath / name)


def test_order_book_values(lighter_fixtures_dir: Path) -> None:
    snap = _load(lighter_fixtures_dir, "ws_order_book_subscribed.json")
    assert isinstance(snap, wire.OrderBookMsg) and snap.is_snapshot
    assert wire.channel_id(snap.channel) == 0 and snap.channel == "order_book:0"
    assert snap.book_offset == 2164
    assert snap.order_book.asks[0] == wire.PriceLevel(price="2325.00", size="99.0000")
    assert snap.order_book.bids[0].size == "0.0200"
    update = _load(lighter_fixtures_dir, "ws_order_book_update.json")
    assert not update.is_snapshot and update.book_offset == 1558300
    assert update.order_book.bids == [] and update.order_book.begin_nonce == 9182389998
    empty = _load(lighter_fixtures_dir, "ws_order_book_subscribed_empty.json")
    assert wire.channel_id(empty.channel) == 39 and empty.order_book.asks == []


def test_trade_values_and_typed_trade(lighter_fixtures_dir: Path) -> None:
    msg = _load(lighter_fixtures_dir, "ws_trade_update.json")
    assert isinstance(msg, wire.TradeMsg) and msg.liquidation_trades == []
    trade = wire.trade_from_wire(msg.trades[0])
    assert trade.price == 2181.83 and trade.size == 0.1336
    assert (trade.trade_id, trade.ts_ms, trade.is_maker_ask) == (16164557907, 1773854156654, False)
    assert (trade.ask_account_id, trade.bid_account_id) == (57890, 317068)
    assert (trade.ask_client_id, trade.bid_client_id) == (363283, 23004521241)
    assert (trade.taker_fee, trade.maker_fee) == (196.0, 28.0)
    assert not trade.taker_is_buyer


def test_account_messages(lighter_fixtures_dir: Path) -> None:
    pos = _load(lighter_fixtures_dir, "ws_account_all_positions_update.json")
    assert isinstance(pos, wire.AccountAllPositionsMsg)
    typed = wire.position_from_wire(pos.positions[0])
    assert (typed.market_id, typed.size, typed.avg_entry_price) == (0, 1.5, 2350.10)
    orders = _load(lighter_fixtures_dir, "ws_account_orders_update.json")
    assert isinstance(orders, wire.AccountOrdersMsg) and orders.account == 1234
    order = wire.order_from_wire(orders.orders[0][0])
    assert (order.client_order_index, order.is_ask, order.price) == (42, True, 2352.74)
    assert (order.remaining_size, order.filled_size, order.status) == (0.003, 0.002, "open")
    trades = _load(lighter_fixtures_dir, "ws_account_all_trades_update.json")
    assert wire.trade_from_wire(trades.trades[0][0]).bid_account_id == 1234
    assets = _load(lighter_fixtures_dir, "ws_account_all_assets_update.json")
    assert assets.assets[3].symbol == "USDC" and assets.assets[3].margin_balance == "40.000000"
    stats = _load(lighter_fixtures_dir, "ws_user_stats_with_position.json")
    assert stats.stats.leverage == "0.41" and stats.stats.cross_stats.collateral == "39.995369"


def test_account_all_message_as_the_simulator_sends_it(lighter_fixtures_dir: Path) -> None:
    """account_all carries positions/orders/trades keyed by market, in the fixtures' shapes."""
    position = json.loads((lighter_fixtures_dir / "ws_account_all_positions_update.json").read_text())
    orders = json.loads((lighter_fixtures_dir / "ws_account_orders_update.json").read_text())
    trades = json.loads((lighter_fixtures_dir / "ws_account_all_trades_update.json").read_text())
    short = dict(position["positions"]["0"], sign=-1, market_id=2)
    raw = json.dumps({
        "type": "update/account_all", "channel": "account_all:1234", "account": 1234,
        "positions": {"0": position["positions"]["0"], "2": short},
        "orders": orders["orders"], "trades": trades["trades"], "funding_histories": {},
        "some_future_field": [1, 2, 3],
    })
    msg = wire.decode_ws(raw)
    assert isinstance(msg, wire.AccountAllMsg) and not msg.is_snapshot
    event = wire.account_update_from_wire(msg, 1234)
    assert [p.size for p in event.positions] == [1.5, -1.5]
    assert [o.order_index for o in event.orders] == [281476929510110]
    assert [t.trade_id for t in event.trades] == [19209006902]
    nulls = wire.decode_ws('{"type":"subscribed/account_all","channel":"account_all:5","positions":null}')
    assert isinstance(nulls, wire.AccountAllMsg) and nulls.positions == {} and nulls.trades == {}


def test_other_ws_messages(lighter_fixtures_dir: Path) -> None:
    ticker = _load(lighter_fixtures_dir, "ws_ticker_update.json")
    assert (ticker.ticker.symbol, ticker.ticker.ask.price, ticker.ticker.bid.size) == ("ETH", "2064.48", "1.0392")
    candle = _load(lighter_fixtures_dir, "ws_candle_update.json").candles[0]
    assert (candle.ts_ms, candle.close, candle.quote_volume) == (1778821440000, 2263.89, 29935.958345999985)
    every = _load(lighter_fixtures_dir, "ws_market_stats_update_all.json")
    assert isinstance(every, wire.MarketStatsAllMsg) and every.market_stats[0].mark_price == "2064.47"
    single = _load(lighter_fixtures_dir, "ws_market_stats_subscribed_single.json")
    assert isinstance(single, wire.MarketStatsMsg) and single.market_stats.base_interest_rate == "0.0100"
    spot = _load(lighter_fixtures_dir, "ws_spot_market_stats_update_all.json")
    assert isinstance(spot, wire.SpotMarketStatsAllMsg) and spot.spot_market_stats[2048].symbol == "USDC"
    assert _load(lighter_fixtures_dir, "ws_height_update.json").height == 227535532


def test_rest_values(lighter_fixtures_dir: Path) -> None:
    details = _load(lighter_fixtures_dir, "http_order_book_details.json")
    eth = details.order_book_details[0]
    assert (eth.size_decimals, eth.price_decimals, eth.min_base_amount) == (4, 2, "0.0050")
    assert eth.market_config is not None and eth.market_config.rfq_enabled
    spec = eth.to_market_spec()
    assert (spec.market_id, spec.size_decimals, spec.min_quote_amount) == (0, 4, 10.0)
    books = _load(lighter_fixtures_dir, "http_order_books.json")
    assert books.order_books[0].supported_price_decimals == 2
    orders = _load(lighter_fixtures_dir, "http_order_book_orders.json")
    assert orders.asks[0].price == "2361.32" and orders.total_bids == 1
    trades = _load(lighter_fixtures_dir, "http_recent_trades_unordered.json")
    assert [t.trade_id for t in trades.trades] == [19211490284, 19211490282, 19211490283]
    assert trades.trades[0].maker_position_size_before == "-76.0266"
    for name in ("http_recent_trades_null.json", "http_recent_trades_missing.json"):
        assert _load(lighter_fixtures_dir, name).trades == []
    assert _load(lighter_fixtures_dir, "http_candles_null.json").candles == []
    candles = _load(lighter_fixtures_dir, "http_candles.json")
    assert candles.resolution == "1m" and candles.candles[1].open == 2361.31
    assert _load(lighter_fixtures_dir, "http_next_nonce.json").nonce == 1234567890
    account = _load(lighter_fixtures_dir, "http_account.json").accounts[0]
    assert account.index == 123456 and account.can_rfq_market_ids == []
    assert account.positions[0].symbol == "BTC" and account.assets[0].asset_id == 3
    active = _load(lighter_fixtures_dir, "http_orders.json")
    assert active.next_cursor == "cursor-1" and active.orders[0].time_in_force == "good-till-time"
    depth_null = _load(lighter_fixtures_dir, "http_order_book_depth_null.json")
    assert depth_null.asks == [] and depth_null.bids == [] and depth_null.offset == 1
    fundings = _load(lighter_fixtures_dir, "http_fundings.json")
    assert [f.direction for f in fundings.fundings] == ["long", "short"]


@pytest.mark.parametrize(
    "raw",
    [b"{not json", b"[1,2]", b'"text"', b'{"type": 7}', b"\xff\xfe",
     b'{"type":"update/order_book","channel":"order_book:2"}',
     b'{"type":"update/order_book","channel":"order_book:2","order_book":{"asks":[{"price":1}]}}',
     b'{"type":"update/trade","channel":"trade:2","trades":[{"trade_id":"x"}]}'],
)
def test_malformed_frames_raise_decode_errors(raw: bytes) -> None:
    with pytest.raises(msgspec.DecodeError):
        wire.decode_ws(raw)


def test_unknown_type_is_generic_and_unknown_fields_ignored() -> None:
    msg = wire.decode_ws(b'{"type":"update/new_channel","channel":"new:1","x":[1]}')
    assert isinstance(msg, wire.UnknownMsg) and msg.data["x"] == [1] and msg.channel == "new:1"
    error = wire.decode_ws(b'{"error":{"code":30003,"message":"Invalid Channel"}}')
    assert isinstance(error, wire.UnknownMsg) and error.type == "" and error.data["error"]["code"] == 30003
    ping = wire.decode_ws('{"type":"ping","extra":true}')
    assert isinstance(ping, wire.PingMsg)


def test_frames_and_channels() -> None:
    assert json.loads(wire.subscribe_frame("order_book/2")) == {"type": "subscribe", "channel": "order_book/2"}
    assert json.loads(wire.subscribe_frame("account_all/7", auth="t")) == {
        "type": "subscribe", "channel": "account_all/7", "auth": "t"}
    assert json.loads(wire.unsubscribe_frame("trade/2"))["type"] == "unsubscribe"
    assert wire.channel_id("account_all/7") == 7 and wire.channel_id("account_orders:0:1234") == 1234
    with pytest.raises(ValueError):
        wire.channel_id("market_stats:all")
    with pytest.raises(KeyError):
        wire.decode_rest("noSuchEndpoint", b"{}")


def test_typed_conversions_reject_non_finite() -> None:
    bad = wire.decode_ws(b'{"type":"update/trade","channel":"trade:2","trades":[{"trade_id":1,"market_id":2,'
                         b'"size":"NaN","price":"150","ask_account_id":1,"bid_account_id":2,'
                         b'"is_maker_ask":true,"timestamp":5}]}')
    assert isinstance(bad, wire.TradeMsg)
    with pytest.raises(ValueError):
        wire.trade_from_wire(bad.trades[0])
