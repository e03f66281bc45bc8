"""The hedger inside the market maker: trigger, passive first, aggressive after 8 s, the PnL-guard
and emergency modes, halts, and never crossing our own quote. Inventory is set with
adopt_position on a calm path (tests/mm_harness.py) at mid 200."""

from __future__ import annotations

import pytest

from strategies.quoting import Place
from tests.mm_harness import Host

pytestmark = pytest.mark.timeout(10)
CALM = 5.8


def start(inventory: float, over: dict | None = None) -> tuple[Host, int]:
    h = Host(over=over)
    t = h.warm(CALM)
    h.s.adopt_position(t, inventory, 200.0)
    h.book(t, 200.0)
    return h, t


def hedge_places(h: Host, since: int) -> list[Place]:
    return [a for a in h.places(since) if a.role == "hedge"]


def test_hedges_only_beyond_the_trigger() -> None:
    h, t = start(0.07)  # 0.07 - 0.02 = 0.05: not beyond 0.05
    assert hedge_places(h, t) == []
    h, t = start(0.071)
    (p,) = hedge_places(h, t)
    assert (p.side, p.size, p.tif) == ("sell", 0.051, "post_only")
    h, t = start(-0.04)  # -0.06 from target: buy back toward +0.02
    (p,) = hedge_places(h, t)
    assert (p.side, p.size) == ("buy", 0.06)


def test_passive_hedge_posts_2_bps_from_mid_in_clips_of_at_most_0_10() -> None:
    h, t = start(0.25)
    (p,) = hedge_places(h, t)
    assert p.size == 0.10 and p.price == pytest.approx(200.0 * 1.0002) and p.reduce_only


def test_passive_then_aggressive_after_8_seconds_of_exposure() -> None:
    h, t = start(0.15)
    (passive,) = hedge_places(h, t)
    h.run(CALM, 7, 200.0, t + 1_000)
    h.book(t + 7_999, 200.0)
    assert [a.tif for a in hedge_places(h, t)] == ["post_only"]
    assert h.s.telemetry()["hedger_force_aggressive"] == 0.0
    h.book(t + 8_000, 200.0)
    cancels = [a.coi for a in h.cancels(t + 8_000)]
    assert passive.coi in cancels  # the passive one is taken down first ...
    ioc = [a for a in hedge_places(h, t + 8_000) if a.tif == "ioc"]
    assert len(ioc) == 1  # ... then (its cancel answered at once here) the cross
    assert (ioc[0].side, ioc[0].size) == ("sell", 0.10) and ioc[0].price == pytest.approx(200.0 * (1 - 12e-4))
    assert h.s.telemetry()["hedger_force_aggressive"] == 1.0
    # our bid (the side adding to the long) is off while the hedger crosses
    # (or the guard, while that bid's cancel is in flight: a canceling order may still fill)
    assert "buy" not in h.quotes()
    assert h.s.status()["skip"]["buy"] in ("hedger_crossing", "guard_backoff:max_inventory_notional")


def test_exposure_that_ends_before_8_seconds_restarts_the_clock() -> None:
    h, t = start(0.15)
    h.run(CALM, 5, 200.0, t + 1_000)
    h.s.adopt_position(t + 5_500, 0.03, 200.0)  # back within the trigger
    h.book(t + 5_500, 200.0)
    h.s.adopt_position(t + 5_600, 0.15, 200.0)
    h.run(CALM, 8, 200.0, t + 6_000)
    assert [a for a in hedge_places(h, t) if a.tif == "ioc"] == []  # 8 s from t + 5.6 s not reached


def _loss(h: Host, t: int, quote: float) -> None:
    """A realized loss of `quote` through two fills of an order we do not know (venue truth)."""
    h.handle(t, h.s.on_fill(t, 9001, "buy", 200.0, 0.1, 0.0, True, 0.0))
    h.handle(t, h.s.on_fill(t, 9002, "sell", 200.0 - quote / 0.1, 0.1, 0.0, True, 0.0))


def test_pnl_guard_mode_clips_x0_65_and_crosses_at_7_bps() -> None:
    h = Host()
    t = h.warm(CALM)
    _loss(h, t, 0.06)  # below the -0.05 floor
    h.s.adopt_position(t, 0.25, 200.0)
    h.run(CALM, 9, 200.0, t)
    assert h.s.telemetry()["maker_pnl_guard_active"] == 1.0
    ioc = [a for a in hedge_places(h, t) if a.tif == "ioc"]
    assert ioc[0].size == 0.065 and ioc[0].price == pytest.approx(200.0 * (1 - 7e-4))
    h2 = Host()
    t2 = h2.warm(CALM)
    _loss(h2, t2, 0.04)  # above the floor: normal mode
    h2.s.adopt_position(t2, 0.25, 200.0)
    h2.run(CALM, 9, 200.0, t2)
    ioc2 = [a for a in hedge_places(h2, t2) if a.tif == "ioc"]
    assert ioc2[0].size == 0.10 and ioc2[0].price == pytest.approx(200.0 * (1 - 12e-4))


def test_emergency_after_10_seconds_of_guard_block() -> None:
    # inventory at 0.29 blocks the bid (max_position); the block lasts; hedges cannot fill here
    def run(seconds: int) -> Host:
        h = Host(over={"hedge_aggressive_after_s": 100.0})  # only the emergency can cross
        t = h.warm(CALM)
        h.s.adopt_position(t, 0.29, 200.0)
        h.run(CALM, seconds, 200.0, t)
        return h

    h = run(10)  # the block started at t: 9 s of it so far
    assert h.s.telemetry()["hedger_guard_emergency"] == 0.0
    assert all(a.tif == "post_only" for a in hedge_places(h, 0))
    h = run(11)  # 10 s
    assert h.s.telemetry()["hedger_guard_emergency"] == 1.0
    ioc = [a for a in hedge_places(h, 0) if a.tif == "ioc"]
    assert (ioc[0].size, ioc[0].reason) == (0.14, "hedge_emergency")
    assert ioc[0].price == pytest.approx(200.0 * (1 - 18e-4))
    # the 0.75 s cooldown: the next clip (the IOC found nothing at the host) goes 0.75 s later
    last = max(ts for ts, a in h.sent if isinstance(a, Place) and a.tif == "ioc")
    h.book(last + 749, 200.0)
    assert len([a for a in hedge_places(h, 0) if a.tif == "ioc"]) == len(ioc)
    h.book(last + 750, 200.0)
    assert len([a for a in hedge_places(h, 0) if a.tif == "ioc"]) == len(ioc) + 1


def test_never_crosses_our_own_bid() -> None:
    h, t = start(0.15)
    h.run(CALM, 7, 200.0, t + 1_000)
    bid = h.quotes()["buy"]["coi"]  # at 199.92x, above the sell IOC's limit (199.76)
    (passive,) = [o["coi"] for o in h.hedges()]
    h.accept = False  # the venue answers by hand from here
    h.book(t + 8_000, 200.0)
    assert {a.coi for a in h.cancels(t + 8_000)} == {bid, passive}
    h.handle(t + 8_001, h.s.on_canceled(t + 8_001, passive, "canceled"))
    assert [a for a in hedge_places(h, t) if a.tif == "ioc"] == []  # our bid may still rest: wait
    h.handle(t + 8_002, h.s.on_canceled(t + 8_002, bid, "canceled"))
    (ioc,) = [a for a in hedge_places(h, t) if a.tif == "ioc"]
    assert ioc.side == "sell" and not any(o["side"] == "buy" for o in h.s.open_orders().values())


def test_halt_cancels_quotes_and_hedges_reduce_only_toward_flat() -> None:
    h = Host()
    t = h.warm(CALM)
    h.s.adopt_position(t, 0.06, 200.0)  # 0.04 above target: no hedge while trading
    h.book(t, 200.0)
    assert hedge_places(h, t) == [] and len(h.quotes()) == 2
    h.s.allow_entries(False)
    h.book(t + 1_000, 200.0 * 1.0000375)
    assert h.quotes() == {}  # both quotes cancelled
    (p,) = hedge_places(h, t)  # target 0 while halted: 0.06 > 0.05 hedges, reduce-only
    assert (p.side, p.size, p.reduce_only) == ("sell", 0.06, True)
