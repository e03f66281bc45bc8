"""market_maker state: snapshot round trip through JSON, adopt-or-cancel after a restart, fees in
the FIFO PnL, telemetry and status, and the registry's presets."""

from __future__ import annotations

import itertools
import json

import pytest

from strategies.market_maker import MarketMakerStrategy
from strategies.quoting import Cancel, LiveOrder
from strategies.registry import PRESETS, build, build_quoting, make_params, presets
from tests.mm_harness import T0, Host
from venue.markets import SOL_DEFAULT

pytestmark = pytest.mark.timeout(10)
CALM = 5.8


def _script(h: Host, t: int) -> None:
    """Fills, a trend move and requotes after t."""
    q = h.quotes()
    h.fill(t, q["buy"]["coi"])
    h.run(CALM, 3, 200.0, t + 1_000)
    h.fill(t + 4_000, h.quotes()["buy"]["coi"], size=0.03)
    h.run(CALM, 20, 199.9, t + 5_000, drift_bps_per_s=-0.5)


def test_snapshot_round_trip_through_json_continues_identically() -> None:
    h = Host()
    t = h.warm(CALM)
    h.fill(t, h.quotes()["sell"]["coi"])
    h.run(CALM, 5, 200.0, t + 1_000)
    state = json.loads(json.dumps(h.s.snapshot()))
    twin = Host()
    twin.s.restore(state)
    twin.live = {k: dict(v) for k, v in h.live.items()}  # the venue's side of the same state
    both = []
    for host in (h, twin):
        ids = itertools.count(1000)  # the host hands out the same indices to both
        host.s.order_ids = ids.__next__
        start = len(host.sent)
        _script(host, t + 6_000)
        both.append([a for _, a in host.sent[start:]])
    assert both[0] == both[1] and len(both[0]) > 4
    assert h.s.telemetry() == twin.s.telemetry()
    assert h.s.status() == twin.s.status()
    assert h.s.snapshot() == twin.s.snapshot()


def test_restore_refuses_another_kind_or_version() -> None:
    h = Host()
    state = h.s.snapshot()
    with pytest.raises(ValueError, match="cannot be restored"):
        h.s.restore({**state, "version": 99})


def test_venue_orders_after_restart_adopt_known_cancel_unknown_forget_gone() -> None:
    h = Host()
    t = h.warm(CALM)
    q = h.quotes()
    state = json.loads(json.dumps(h.s.snapshot()))
    fresh = Host()
    fresh.s.restore(state)
    live = [
        LiveOrder(coi=q["buy"]["coi"], side="buy", price=q["buy"]["price"], remaining=0.03),  # known, partly filled
        LiveOrder(coi=777, side="sell", price=201.0, remaining=0.05),  # not ours as far as we know
    ]  # the known ask is gone (filled or cancelled while we were away)
    out = fresh.s.on_venue_orders(t + 1, live)
    assert out == [Cancel(coi=777, reason="unknown_after_restart")]
    orders = fresh.s.open_orders()
    assert orders[q["buy"]["coi"]]["status"] == "live" and orders[q["buy"]["coi"]]["remaining"] == 0.03
    assert q["sell"]["coi"] not in orders  # forgotten
    assert orders[777]["status"] == "canceling"  # kept until the venue confirms: never forgotten early
    fresh.s.on_canceled(t + 2, 777, "canceled")
    assert 777 not in fresh.s.open_orders()
    # without the unknown order nothing is cancelled
    other = Host()
    other.s.restore(state)
    assert other.s.on_venue_orders(t + 1, live[:1]) == []


def test_fees_enter_the_fifo_pnl_reported_or_from_params() -> None:
    def round_trip(over: dict | None, fee: float) -> float:
        h = Host(over=over)
        t = h.warm(CALM)
        h.fill(t, h.quotes()["buy"]["coi"], price=200.0, fee=fee)
        h.fill(t, h.quotes()["sell"]["coi"], price=200.2, fee=fee)
        return h.s.telemetry()["maker_fifo_realized_quote"]

    gross = 0.2 * 0.066
    assert round_trip(None, 0.0) == pytest.approx(gross)
    assert round_trip(None, 0.001) == pytest.approx(gross - 0.002)  # the venue's fees
    # maker_fee 2 bps overrides: 0.0002 x notional per fill
    assert round_trip({"maker_fee": 0.0002}, 0.0) == pytest.approx(gross - 0.0002 * 0.066 * (200.0 + 200.2))


def test_telemetry_and_status_show_inventory_quotes_and_pnl() -> None:
    h = Host()
    t = h.warm(CALM)
    h.fill(t, h.quotes()["buy"]["coi"])
    tel = h.s.telemetry()
    for gauge in ("maker_regime_state", "maker_fifo_realized_quote", "maker_trend_down_guard", "maker_guard_block_active",
                  "maker_pnl_guard_active", "maker_high_vol_clip_active", "hedger_force_aggressive",
                  "hedger_guard_emergency", "inventory", "open_quotes"):
        assert isinstance(tel[gauge], float)
    assert tel["inventory"] == 0.066 and tel["open_quotes"] == 2.0
    st = h.s.status()
    assert st["inventory"] == 0.066 and {o["side"] for o in st["orders"] if o["role"] == "quote"} == {"buy", "sell"}
    assert all({"price", "size", "side"} <= set(o) for o in st["orders"])
    assert json.loads(json.dumps(st)) == st


def test_registry_presets_and_quoting_kinds() -> None:
    assert presets("market_maker") == ["default", "first_guard", "nov10"]
    old = make_params("market_maker", "nov10")
    assert (old.vol_halflife_s, old.low_vol_pause_bps, old.low_vol_resume_bps) == (45.0, 3.0, 4.5)
    assert (old.hedge_trigger_units, old.hedge_guard_clip_mult, old.hedge_guard_cross_bps) == (0.07, 0.50, 8.0)
    new = make_params("market_maker")
    assert (new.vol_halflife_s, new.low_vol_pause_bps, new.hedge_trigger_units) == (35.0, 4.5, 0.05)
    assert make_params("market_maker", overrides={"spread_bps": 14.0}).spread_bps == 14.0
    with pytest.raises(ValueError, match="market_maker params"):
        make_params("market_maker", overrides={"no_such": 1})
    with pytest.raises(ValueError, match="build_quoting"):
        build("market_maker", "mm", SOL_DEFAULT)
    s = build_quoting("market_maker", "mm", SOL_DEFAULT, order_ids=iter(range(5)).__next__, preset="nov10")
    assert isinstance(s, MarketMakerStrategy) and s.params == old
    assert set(PRESETS["rsi_bb"]) == {"default", "selective", "wf_2025_05"}  # the notes' sets and the sweep's
    assert T0 > 0


def test_a_fill_that_closes_inventory_is_a_round_trip_record_net_of_fees() -> None:
    from tests.mm_harness import T0, Host

    h = Host(over={"hedge_enabled": False})
    t = h.warm(5.8)
    quotes = h.quotes()
    h.fill(t, quotes["buy"]["coi"], fee=0.001)  # opens: nothing closed yet
    assert h.s.closed_trades() == []
    h.book(t + 1000, 200.0)
    ask = h.quotes()["sell"]
    h.fill(t + 2000, ask["coi"], fee=0.001)
    [trade] = h.s.closed_trades()
    size = min(quotes["buy"]["size"], ask["size"])
    assert (trade.side, trade.exit_reason, trade.entry_ts) == ("long", "fifo_quote", t * 10**6)
    assert trade.size == pytest.approx(size) and trade.entry_price == quotes["buy"]["price"]
    fees = 0.001 * size / quotes["buy"]["size"] + 0.001 * size / ask["size"]
    gross = (ask["price"] - quotes["buy"]["price"]) * size
    assert trade.pnl_quote == pytest.approx(gross - fees) and trade.fees == pytest.approx(fees)
    assert trade.exit_ts // 10**6 == t + 2000 and h.s.closed_trades() == []  # drained
    assert T0 < t


def test_a_refused_cancel_keeps_the_order_and_asks_again_after_the_backoff_without_looping() -> None:
    from strategies.quoting import Cancel
    from tests.mm_harness import Host
    from venue.codes import ORDER_NOT_FOUND

    h = Host(over={"hedge_enabled": False})
    t = h.warm(5.8)
    bid = h.quotes()["buy"]["coi"]
    h.accept = False  # the venue does not answer: the cancel below stays in flight
    h.s.allow_entries(False)
    h.book(t, 200.0)
    assert bid in [a.coi for a in h.cancels(t)]  # the halt cancels the quotes
    rate_limited = 30002  # risk's rate_limit code: the order still rests at the venue
    assert h.s.on_rejected(t + 10, bid, rate_limited, "cancel refused by risk: rate_limit") == []
    assert bid in h.s.open_orders()  # not forgotten
    for dt in (100, 500, 1000):  # no new cancel before the back-off, whatever the events
        h.book(t + dt, 200.0)
    assert [a for a in h.cancels(t + 100) if isinstance(a, Cancel)] == []
    backoff_ms = int(h.s.params.reject_backoff_s * 1000)
    h.book(t + 10 + backoff_ms, 200.0)
    assert [a.coi for a in h.cancels(t + 10 + backoff_ms)] == [bid]
    h.s.on_rejected(t + backoff_ms + 20, bid, ORDER_NOT_FOUND, "cancel refused by venue: order not found")
    assert bid not in h.s.open_orders()  # the venue does not have it: gone
