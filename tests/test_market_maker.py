"""market_maker quotes: warm-up, prices and sizes, requotes, the cancel cap, the self-trade guard
and rejections, each with a path that triggers the rule and a nearly identical one that does not.

Paths (tests/mm_harness.py): one book top per second, mid alternating by a step chosen for a
volatility; 5.8 bps keeps the maker calm (aggressive regime, no pause). The hedger is off where
inventory is set by hand, so only the rule under test acts."""

from __future__ import annotations

import pytest

from strategies.mm_quotes import adaptive_size_mult, vol_band_bps
from strategies.quoting import Cancel, LiveOrder, Modify, Place
from strategies.registry import make_params
from tests.mm_harness import T0, Host
from venue.markets import SOL_DEFAULT

pytestmark = pytest.mark.timeout(10)
CALM = 5.8
NO_HEDGE = {"hedge_enabled": False}


def test_no_quote_until_the_volatility_has_its_warmup_samples() -> None:
    h = Host()
    h.warm(CALM, seconds=30)  # 29 returns
    assert h.quotes() == {} and h.s.status()["skip"]["buy"] == "warming_up"
    h.book(T0 + 30_000, 200.0)  # the 30th
    q = h.quotes()
    assert set(q) == {"buy", "sell"}
    places = h.places(T0)
    assert all(a.tif == "post_only" and a.role == "quote" and a.kind == "limit" for a in places)


def test_prices_follow_the_volatility_band_and_sizes_are_quantised() -> None:
    h = Host()
    h.warm(CALM)
    p = make_params("market_maker")
    vol = h.s.status()["volatility_bps"]
    band = vol_band_bps(vol, p)
    assert band == pytest.approx(12.0 + vol - 10.0)  # inside 7..13
    q = h.quotes()
    ref = h.s._book.get(q["buy"]["coi"]).ref_mid
    assert (ref - q["buy"]["price"]) / ref * 1e4 == pytest.approx(band / 2, abs=0.06)  # one tick is 0.05 bps
    assert (q["sell"]["price"] - ref) / ref * 1e4 == pytest.approx(band / 2, abs=0.06)
    expected = int(0.064 * adaptive_size_mult(band, p) * 1000) / 1000
    assert q["buy"]["size"] == q["sell"]["size"] == expected
    assert round(expected * 1000) == expected * 1000
    assert vol_band_bps(0.0, p) == 7.0 and vol_band_bps(40.0, p) == 13.0
    assert adaptive_size_mult(7.0, p) == pytest.approx(1.1) and adaptive_size_mult(13.0, p) == pytest.approx(0.7)


def test_the_notional_floor_raises_a_small_quote_and_wins_over_size_max() -> None:
    h = Host()
    h.warm(CALM, start=150.0)
    q = h.quotes()
    # 0.066 x 150 = 9.9 < 10.5: raised to ceil(10.5 / price) on the lot
    assert q["buy"]["size"] == 0.071 and q["buy"]["size"] * q["buy"]["price"] >= 10.5
    assert q["sell"]["size"] == 0.070 and q["sell"]["size"] * q["sell"]["price"] >= 10.5
    h2 = Host()
    h2.warm(CALM, start=200.0)
    assert h2.quotes()["buy"]["size"] == 0.066  # 13.2 quote: the floor does not act


def _calm_then_move(move_bps: float, wait_ms: int = 500) -> tuple[Host, int]:
    h = Host()
    t = h.warm(CALM)
    t += wait_ms
    h.book(t, h.mid * (1 + move_bps / 1e4))
    return h, t


def test_requote_by_modify_when_the_mid_moves_more_than_2_bps() -> None:
    h, t = _calm_then_move(3.0)
    mods = h.modifies(t)
    assert len(mods) == 2 and {m.reason for m in mods} == {"requote_moved"}
    assert h.places(t) == [] and h.cancels(t) == []
    h2, t2 = _calm_then_move(1.0)  # the ref mid is 1 bps from either alternating mid: moves <= 2 bps
    assert h2.actions_since(t2) == []


def test_requote_when_a_quote_is_30_seconds_old() -> None:
    h = Host()
    t = h.warm(CALM)
    placed = h.s._book.get(h.quotes()["buy"]["coi"]).placed_ts
    h.run(CALM, (placed + 30_000 - t) // 1000, 200.0, t)  # the same calm path (mid within 1 bps of the ref)
    h.book(placed + 29_999, 200.0)
    assert h.modifies(t) == []
    h.book(placed + 30_000, 200.0)
    assert {m.reason for m in h.modifies(t)} == {"requote_age"}


def test_cancel_cap_stops_requotes_beyond_30_per_minute_until_the_window_frees() -> None:
    h = Host()
    t = h.warm(CALM)
    mid = h.mid
    # every event moves the mid 3 bps: each side requotes (one Modify = one cancel)
    for i in range(40):
        mid *= 1 + (3e-4 if i % 2 == 0 else -3e-4)
        h.book(t + i * 100, mid)
    mods = h.modifies(t)
    assert len(mods) == 30  # 15 events x 2 sides, then nothing: the cap
    assert h.s.telemetry()["maker_cancel_throttled"] == 1.0
    assert h.s.status()["cancels_peak_minute"] == 30
    first = next(ts for ts, a in h.sent if isinstance(a, Modify) and ts >= t)
    assert first == t
    h.run(CALM, 55, mid, t + 4_000)  # calm again; the quotes are 3 bps off their reference
    h.book(first + 59_999, mid)
    assert len(h.modifies(t)) == 30  # the first ones are still inside the window
    h.book(first + 60_000, mid)
    assert len(h.modifies(t)) == 32  # they left it: requoting resumes


def test_crossed_book_kills_quoting_and_blocks_for_the_backoff() -> None:
    h = Host()
    t = h.warm(CALM)
    coi = {q["coi"] for q in h.quotes().values()}
    h.handle(t, h.s.on_book(t, 200.01, 1.0, 200.0, 1.0))  # bid above ask
    assert {a.coi for a in h.cancels(t)} == coi and h.quotes() == {}
    assert h.s.telemetry()["maker_guard_block_active"] == 1.0
    h.book(t + 4_999, 200.0)
    assert h.quotes() == {}
    h.book(t + 5_000, 200.0)
    assert set(h.quotes()) == {"buy", "sell"}
    # a locked-by-one-tick book is not crossed: nothing cancelled
    h2 = Host()
    t2 = h2.warm(CALM)
    h2.handle(t2, h2.s.on_book(t2, 200.0, 1.0, 200.001, 1.0))
    assert h2.cancels(t2) == []


def _with_resting_foreign_sell(price: float) -> Host:
    h = Host()
    t = h.warm(CALM, seconds=30)  # one sample short of quoting
    # an order of ours nobody knows rests at `price`: its cancel is in flight, it may still fill
    h.accept = False  # the venue sits on the cancel that follows
    h.handle(t, h.s.on_venue_orders(t, [LiveOrder(coi=999, side="sell", price=price, remaining=0.07)]))
    h.book(t + 1, 200.0)
    return h


def test_never_quote_a_bid_at_or_through_our_own_ask() -> None:
    h = _with_resting_foreign_sell(199.922)  # at the bid we would quote
    assert "buy" not in h.quotes() and h.s.status()["skip"]["buy"] == "guard:would_cross_own"
    assert "sell" in h.quotes()
    h2 = _with_resting_foreign_sell(199.923)  # one tick above it
    assert h2.quotes()["buy"]["price"] == 199.922


def test_no_quote_beyond_the_50_bps_price_band() -> None:
    def run(spread: float) -> Host:
        h = Host(over={"spread_bps": spread, "vol_band_max_bps": 200.0})
        h.warm(CALM)
        return h

    assert set(run(104.0).quotes()) == {"buy", "sell"}  # band 99.8: 49.9 bps a side
    h = run(106.0)  # 101.8 total: 50.9 a side
    assert h.quotes() == {} and h.s.status()["guards"]["block_reasons"]["buy"] == "price_band"


@pytest.mark.parametrize(("inventory", "price", "blocked", "reason"), [
    (0.23, 150.0, True, "max_position"),  # 0.23 + 0.071 > 0.3
    (0.22, 150.0, False, ""),  # 0.291
    (0.19, 200.0, True, "max_inventory_notional"),  # (0.19 + 0.066) x 200 = 51.2 > 50
    (0.18, 200.0, False, ""),  # 49.2
])
def test_inventory_limits_block_the_side_that_adds(inventory: float, price: float, blocked: bool, reason: str) -> None:
    h = Host(over=NO_HEDGE)
    t = h.warm(CALM, seconds=30, start=price)
    h.s.adopt_position(t, inventory, price)
    h.book(t, price)
    assert ("buy" not in h.quotes()) == blocked
    assert "sell" in h.quotes()  # the side that reduces keeps quoting
    if blocked:
        assert h.s.status()["guards"]["block_reasons"]["buy"] == reason
        assert h.s.telemetry()["maker_guard_block_active"] == 1.0


def test_a_guard_block_backs_the_side_off_5_seconds() -> None:
    h = Host(over=NO_HEDGE)
    t = h.warm(CALM, seconds=30)
    h.s.adopt_position(t, 0.25, 200.0)
    h.book(t, 200.0)
    assert "buy" not in h.quotes()
    h.s.adopt_position(t + 1, 0.0, 200.0)  # the cause is gone at once...
    h.run(CALM, 4, 200.0, t + 1_000)
    h.book(t + 4_999, 200.0)
    assert "buy" not in h.quotes()  # ...but the side waits out the back-off
    h.book(t + 5_000, 200.0)
    assert "buy" in h.quotes() and h.s.telemetry()["maker_guard_block_active"] == 0.0


def test_a_rejected_quote_backs_off_doubling_and_never_loops() -> None:
    h = Host()
    h.accept = False
    t = h.warm(CALM)
    places = h.places(T0)
    assert len(places) == 2
    bid = next(a for a in places if a.side == "buy")
    h.handle(t, h.s.on_rejected(t, bid.coi, 21720, "post-only would cross"))
    for i in range(1, 60):  # a venue that rejects every bid for a minute (the calm path goes on)
        h.book(t + i * 1000, 200.0 * (1 + 0.75e-4) if i % 2 else 200.0)
        for a in h.places(t + i * 1000):
            if a.side == "buy":
                h.handle(t + i * 1000, h.s.on_rejected(t + i * 1000, a.coi, 21720, "post-only would cross"))
    bids = [ts - t for ts, a in h.sent if isinstance(a, Place) and a.side == "buy" and ts > t]
    assert bids == [2_000, 6_000, 14_000, 30_000]  # back-off 2, 4, 8, 16 s after each rejection


def test_a_venue_cancel_we_did_not_ask_for_backs_off_and_an_acceptance_resets() -> None:
    h = Host()
    t = h.warm(CALM)
    coi = h.quotes()["buy"]["coi"]
    h.live.pop(coi)
    h.handle(t, h.s.on_canceled(t, coi, "post-only would cross"))
    h.book(t + 1_999, 200.0)
    assert "buy" not in h.quotes()
    h.book(t + 2_000, 200.0)
    assert "buy" in h.quotes()
    assert h.s._reject["buy"].count == 0  # accepted: the next refusal starts at 2 s again


def test_a_rejected_modify_cancels_the_order_it_was_for() -> None:
    h = Host()
    t = h.warm(CALM)
    h.accept = False
    h.book(t, h.mid * 1.0003)
    mod = h.modifies(t)[0]
    out = h.s.on_rejected(t, mod.coi, 21720, "post-only would cross")
    assert [(type(a), a.coi) for a in out if isinstance(a, Cancel)] == [(Cancel, mod.coi)]
    assert h.s.open_orders()[mod.coi]["status"] == "canceling"
    gone = h.s.on_rejected(t + 1, mod.coi, 21710, "order not found")  # the cancel's answer
    assert mod.coi not in h.s.open_orders() and not any(isinstance(a, Cancel) for a in gone)


def test_quotes_are_spec_sized_for_sol() -> None:
    assert SOL_DEFAULT.size_decimals == 3
    p = make_params("market_maker")
    assert (p.size, p.size_min, p.size_max, p.notional_floor_quote) == (0.064, 0.061, 0.072, 10.5)
