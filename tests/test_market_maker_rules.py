"""market_maker conditions: volatility pauses and clip, the trend filter and its bid cooldown, the
5-minute guard, regimes and the PnL guard, each with a path that triggers the rule and a nearly
identical one that does not (tests/mm_harness.py paths: one book per second, mid alternating by a
step chosen for the volatility; the hedger is off where inventory is set by hand)."""

from __future__ import annotations

import msgspec
import pytest

from strategies.quoting import Place
from tests.mm_harness import Host
from venue.markets import SOL_DEFAULT

pytestmark = pytest.mark.timeout(10)
CALM = 5.8
NO_HEDGE = {"hedge_enabled": False}


def calm_then(vol: float, seconds: int = 150, over: dict | None = None, inventory: float = 0.0) -> tuple[Host, int]:
    h = Host(over=over)
    t = h.warm(CALM)
    if inventory:
        h.s.adopt_position(t, inventory, 200.0)
    return h, h.run(vol, seconds, 200.0, t)


def test_high_volatility_pause_above_30_bps() -> None:
    h, _ = calm_then(32.0)
    assert h.s.status()["pauses"]["high_vol"] and h.quotes() == {}
    h2, _ = calm_then(28.0)
    assert not h2.s.status()["pauses"]["high_vol"] and set(h2.quotes()) == {"buy", "sell"}


@pytest.mark.parametrize(("inventory", "resumed"), [(0.07, True), (0.08, False)])  # 25 % of 0.3 is 0.075
def test_high_volatility_resumes_only_with_a_small_inventory(inventory: float, resumed: bool) -> None:
    h, t = calm_then(32.0, over=NO_HEDGE, inventory=inventory)
    assert h.s.status()["pauses"]["high_vol"]
    h.run(20.0, 200, 200.0, t)  # volatility back below 30
    assert h.s.status()["volatility_bps"] < 30.0
    assert h.s.status()["pauses"]["high_vol"] == (not resumed)
    assert ("sell" in h.quotes()) == resumed


def test_low_volatility_pause_with_hysteresis() -> None:
    h, t = calm_then(4.3)  # below 4.5: paused
    assert h.s.status()["pauses"]["low_vol"] and h.quotes() == {}
    t = h.run(5.2, 200, 200.0, t)  # 5.2: above 4.5 but not above 5.5: still paused
    assert 4.5 < h.s.status()["volatility_bps"] < 5.5 and h.quotes() == {}
    h.run(5.7, 200, 200.0, t)  # above 5.5: resumes
    assert not h.s.status()["pauses"]["low_vol"] and set(h.quotes()) == {"buy", "sell"}
    h2, _ = calm_then(4.7)  # never below 4.5: never paused
    assert not h2.s.status()["pauses"]["low_vol"] and set(h2.quotes()) == {"buy", "sell"}


@pytest.mark.parametrize(("vol", "clipped"), [(9.3, True), (8.7, False)])
def test_size_x0_85_while_one_minute_sigma_is_above_9_bps(vol: float, clipped: bool) -> None:
    # at mid 1000, with a small size_min and market minimum, nothing else clamps the size
    over = {"size_min": 0.01, "defensive_size_mult": 1.0, "max_inventory_notional": 1000.0}
    h = Host(over=over, market=msgspec.structs.replace(SOL_DEFAULT, min_base_amount=0.01))
    h.warm(vol, seconds=100, start=1000.0)  # the quotes are priced and sized at this volatility
    st = h.s.status()
    assert (st["sigma_1m_bps"] > 9.0) == clipped and st["guards"]["high_vol_clip"] == clipped
    band = 12.0 + st["volatility_bps"] - 10.0
    adaptive = 1.1 - 0.4 * (band - 7.0) / 6.0
    expected = int(0.064 * adaptive * (0.85 if clipped else 1.0) * 1000 + 1e-9) / 1000
    assert h.quotes()["buy"]["size"] == expected


def _jump(move_bps: float, over: dict | None = None, after_s: int = 1) -> tuple[Host, int]:
    """Calm, then the mid steps by move_bps and the calm path continues around the new level."""
    h = Host(over=over)
    t = h.warm(CALM)
    t = h.run(CALM, 20, 200.0, t)
    level = 200.0 * (1 + move_bps / 1e4)
    return h, h.run(CALM, after_s, level, t)


def test_up_trend_above_12_bps_widens_by_2_5() -> None:
    # the alternating path adds up to -0.75 bps to the 45 s return: 13.0 reads 12.25..13, 11.5 at most 11.5
    up, _ = _jump(13.0)
    flat, _ = _jump(11.5)
    assert up.s.status()["trend"] == "up" and flat.s.status()["trend"] == "neutral"
    extra = up.distance_bps("sell") - flat.distance_bps("sell")
    assert extra == pytest.approx(2.5 / 2, abs=0.1)  # half of the total's extra, each side
    assert up.s.telemetry()["maker_trend_state"] == 1.0


def test_up_trend_holds_down_to_6_bps() -> None:
    h, t = _jump(13.0)
    h.run(CALM, 2, 200.0 * (1 + 7.0 / 1e4), t)  # the 45 s return falls to ~7: still up
    assert h.s.status()["trend"] == "up"
    h.run(CALM, 2, 200.0 * (1 + 5.0 / 1e4), t + 2_000)  # inside +-6: neutral
    assert h.s.status()["trend"] == "neutral"


def test_down_trend_below_minus_6_pulls_the_bid_and_asks_widen_by_6() -> None:
    down, _ = _jump(-6.5)  # reads -6.5..-7.25
    flat, _ = _jump(-5.0)  # reads -5.0..-5.75
    assert down.s.status()["trend"] == "down" and flat.s.status()["trend"] == "neutral"
    assert set(down.quotes()) == {"sell"} and down.s.status()["skip"]["buy"] == "trend_down_cooldown"
    assert set(flat.quotes()) == {"buy", "sell"}
    assert down.s.telemetry()["maker_trend_down_guard"] == 1.0


@pytest.mark.parametrize(("threshold", "cooldown_s"), [(5.0, 45), (50.0, 20)])
def test_bid_cooldown_lasts_the_regimes_cooldown_after_the_down_trend(threshold: float, cooldown_s: int) -> None:
    # the regime's volatility threshold pins the regime (the jump lifts the volatility near 6 for a while)
    over = {"regime_vol_threshold_bps": threshold}
    h, t = _jump(-6.5, over=over)
    # the jump leaves the 45 s lookback after 45 s: the down-trend ends then
    t = h.run(CALM, 60, 200.0 * (1 - 6.5 / 1e4), t)
    last_down = h.s._cond.down_last_ms
    assert h.s.status()["trend"] == "neutral"
    h.run(CALM, cooldown_s, 200.0 * (1 - 6.5 / 1e4), t)
    regime = h.s.status()["regime"]
    assert regime == ("defensive" if threshold == 5.0 else "aggressive")
    timeline = [(ts - last_down, a.side) for ts, a in h.sent if ts > last_down and isinstance(a, Place)
                and a.side == "buy"]
    assert timeline and timeline[0][0] >= cooldown_s * 1000 and timeline[0][0] < cooldown_s * 1000 + 1_000


@pytest.mark.parametrize(("drift", "inventory", "paused"), [
    (-7.2, 0.05, True),  # 5-minute return below -6 with a long: the bid pauses
    (-5.0, 0.05, False),  # above -6
    (-7.2, 0.0, False),  # nothing long to lose
])
def test_five_minute_guard_pauses_the_bid_on_a_losing_long(drift: float, inventory: float, paused: bool) -> None:
    h = Host(over=NO_HEDGE)
    t = h.warm(CALM)
    if inventory:
        h.s.adopt_position(t, inventory, 200.0)
    h.run(CALM, 310, 200.0, t, drift_bps_per_s=drift / 300)  # a slow slide: no 45 s trend
    st = h.s.status()
    assert st["trend"] == "neutral"
    assert st["guards"]["trend5m"] == paused
    assert ("buy" not in h.quotes()) == paused
    if paused:
        assert st["skip"]["buy"] == "trend5m_guard"


@pytest.mark.parametrize(("vol", "regime"), [(6.3, "defensive"), (5.8, "aggressive")])
def test_regime_by_volatility_threshold_6_bps(vol: float, regime: str) -> None:
    h = Host()
    h.warm(vol, seconds=100)  # the first quotes are already priced in this regime
    st = h.s.status()
    assert st["regime"] == regime
    band = 12.0 + st["volatility_bps"] - 10.0
    extra = 2.0 if regime == "defensive" else 0.0
    assert h.distance_bps("sell") == pytest.approx((band + extra) / 2, abs=0.06)  # a tick is 0.05 bps
    adaptive = 1.1 - 0.4 * (band - 7.0) / 6.0
    size = max(0.061, 0.064 * adaptive * (0.7 if regime == "defensive" else 1.0))
    assert h.quotes()["sell"]["size"] == int(size * 1000 + 1e-9) / 1000
    assert h.s.telemetry()["maker_regime_state"] == (1.0 if regime == "aggressive" else 0.0)


def _after_loss(loss: float) -> tuple[Host, int]:
    h = Host(over=NO_HEDGE)
    t = h.warm(CALM)
    h.handle(t, h.s.on_fill(t, 9001, "buy", 200.0, 0.1, 0.0, True, 0.0))
    h.handle(t, h.s.on_fill(t, 9002, "sell", 200.0 - loss / 0.1, 0.1, 0.0, True, 0.0))
    return h, h.run(CALM, 3, 200.0, t + 1_000)


def test_pnl_guard_widens_up_to_8_bps_trims_size_and_clears_after_the_window() -> None:
    h, t = _after_loss(0.30)  # shortfall 0.25 below the -0.05 floor: the full +8 bps
    ok, _ = _after_loss(0.04)  # above the floor
    st = h.s.status()
    assert st["guards"]["pnl_guard"] and st["guards"]["pnl_extra_bps"] == pytest.approx(8.0)
    assert not ok.s.status()["guards"]["pnl_guard"]
    # defensive (a guard) +2, PnL +8: 5 bps more a side than the unguarded maker
    assert h.distance_bps("sell") - ok.distance_bps("sell") == pytest.approx(5.0, abs=0.1)
    half, _ = _after_loss(0.175)  # half the full shortfall: +4
    assert half.s.status()["guards"]["pnl_extra_bps"] == pytest.approx(4.0)
    # the loss leaves the 5-minute window: the guard clears
    h.run(CALM, 300, 200.0, t)
    assert not h.s.status()["guards"]["pnl_guard"] and h.s.status()["fifo_window_quote"] == 0.0
    assert h.s.status()["fifo_realized_quote"] == pytest.approx(-0.30)
