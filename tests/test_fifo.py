"""The FIFO ledger: matching order, fees counted once, flips, the rolling window, state."""

from __future__ import annotations

import json

import pytest

from strategies.fifo import FifoLedger

pytestmark = pytest.mark.timeout(10)
LOT = 0.001  # SOL: sizes in units of 0.001


def test_fifo_matches_the_oldest_lot_first() -> None:
    led = FifoLedger(300_000)
    led.fill(0, "buy", 1000, 100.0, 0.0, LOT)
    led.fill(1, "buy", 1000, 110.0, 0.0, LOT)
    realized = led.fill(2, "sell", 1000, 120.0, 0.0, LOT)
    assert realized == pytest.approx(20.0)  # against 100 (FIFO), not 110 (LIFO) nor 105 (average)
    assert led.position_units == 1000 and led.average_entry() == pytest.approx(110.0)
    assert led.fill(3, "sell", 1000, 105.0, 0.0, LOT) == pytest.approx(-5.0)
    assert led.position_units == 0 and led.realized_total == pytest.approx(15.0)


def test_fees_of_both_legs_are_charged_once_when_the_lot_closes() -> None:
    led = FifoLedger(300_000)
    assert led.fill(0, "buy", 2000, 100.0, 0.04, LOT) == 0.0  # opening: nothing realized yet
    assert led.realized_total == 0.0 and led.fees_total == pytest.approx(0.04)
    # half the lot closes: its share of the opening fee (0.02) and the closing fee (0.01)
    assert led.fill(1, "sell", 1000, 101.0, 0.01, LOT) == pytest.approx(1.0 - 0.02 - 0.01)
    assert led.fill(2, "sell", 1000, 101.0, 0.01, LOT) == pytest.approx(1.0 - 0.02 - 0.01)
    assert led.realized_total == pytest.approx(2.0 - 0.06)  # gross minus every fee, once
    assert led.fees_total == pytest.approx(0.06)
    # the same round trip without fees realizes the gross: fees are what makes the difference
    bare = FifoLedger(300_000)
    bare.fill(0, "buy", 2000, 100.0, 0.0, LOT)
    bare.fill(1, "sell", 2000, 101.0, 0.0, LOT)
    assert bare.realized_total == pytest.approx(2.0)


def test_a_fill_through_zero_closes_then_opens_the_other_way_with_its_fee_split() -> None:
    led = FifoLedger(300_000)
    led.fill(0, "buy", 1000, 100.0, 0.0, LOT)
    realized = led.fill(1, "sell", 3000, 102.0, 0.03, LOT)  # 1 closes, 2 open short
    assert realized == pytest.approx(2.0 - 0.01)
    assert led.position_units == -2000 and led.average_entry() == pytest.approx(102.0)
    assert led.fill(2, "buy", 2000, 101.0, 0.0, LOT) == pytest.approx(2.0 - 0.02)  # short wins as price falls


def test_rolling_window_sum_in_event_time() -> None:
    led = FifoLedger(300_000)
    led.fill(0, "buy", 1000, 100.0, 0.0, LOT)
    led.fill(1_000, "sell", 1000, 99.0, 0.0, LOT)  # -1 at t=1000
    led.fill(2_000, "buy", 1000, 100.0, 0.0, LOT)
    led.fill(61_000, "sell", 1000, 100.5, 0.0, LOT)  # +0.5 at t=61000
    assert led.window_pnl(61_000) == pytest.approx(-0.5)
    assert led.window_pnl(300_999) == pytest.approx(-0.5)  # the loss is 299.999 s old: still in
    assert led.window_pnl(301_000) == pytest.approx(0.5)  # 300 s old: out
    assert led.window_pnl(361_000) == 0.0
    assert led.realized_total == pytest.approx(-0.5)  # the total keeps everything


def test_state_round_trips_through_json_and_continues_identically() -> None:
    led = FifoLedger(300_000)
    led.fill(0, "buy", 1500, 100.0, 0.03, LOT)
    led.fill(1_000, "sell", 500, 101.0, 0.01, LOT)
    twin = FifoLedger.from_state(json.loads(json.dumps(led.to_state())))
    for ledger in (led, twin):
        ledger.fill(2_000, "sell", 1500, 99.0, 0.02, LOT)
    assert twin.to_state() == led.to_state()
    assert twin.window_pnl(2_000) == led.window_pnl(2_000)


def test_reset_to_the_venues_position_keeps_realized() -> None:
    led = FifoLedger(300_000)
    led.fill(0, "buy", 1000, 100.0, 0.0, LOT)
    led.fill(1, "sell", 1000, 101.0, 0.0, LOT)
    led.reset_to(-700, 150.0)
    assert led.position_units == -700 and led.average_entry() == 150.0
    assert led.realized_total == pytest.approx(1.0)
    with pytest.raises(ValueError):
        led.fill(2, "buy", 0, 100.0, 0.0, LOT)


def test_a_closing_fill_says_what_it_closed_oldest_first_with_both_fees() -> None:
    ledger = FifoLedger(60_000)
    ledger.fill(1_000, "buy", 2, 100.0, 0.2, 0.01)
    assert ledger.last_closed is None  # opening closes nothing
    ledger.fill(2_000, "buy", 2, 102.0, 0.2, 0.01)
    realized = ledger.fill(3_000, "sell", 3, 105.0, 0.3, 0.01)
    closed = ledger.last_closed
    assert closed is not None and closed.units == 3 and closed.direction == 1 and closed.entry_ts_ms == 1_000
    assert closed.entry_price == pytest.approx((2 * 100.0 + 102.0) / 3)
    assert closed.fees == pytest.approx(0.2 + 0.1 + 0.3) and closed.realized == pytest.approx(realized)
