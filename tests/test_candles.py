"""CandleBuilder: hand-computed aggregation, gap filling, volume, late events, state round trip."""

from __future__ import annotations

import json

import msgspec
import pytest

from indicators.candles import Candle, CandleBuilder

MIN = 60_000


def test_aggregates_mids_into_ohlc() -> None:
    builder = CandleBuilder(MIN)
    assert builder.current is None
    assert builder.on_mid(120_500, 100.0) == []  # opens the candle at 120_000
    assert builder.on_mid(130_000, 102.0) == []
    assert builder.on_mid(150_000, 99.5) == []
    assert builder.on_mid(179_999, 101.0) == []
    assert builder.current == Candle(120_000, 100.0, 102.0, 99.5, 101.0, 0.0)
    closed = builder.on_mid(180_000, 103.0)  # first mid of the next minute closes the previous
    assert closed == [Candle(120_000, 100.0, 102.0, 99.5, 101.0, 0.0)]
    assert builder.current == Candle(180_000, 103.0, 103.0, 103.0, 103.0, 0.0)


def test_volume_comes_from_trades_and_trades_do_not_move_prices() -> None:
    builder = CandleBuilder(MIN)
    builder.on_trade(1_000, 100.0, 5.0)  # before any mid: nothing to attach to, dropped
    assert builder.current is None
    builder.on_mid(2_000, 100.0)
    builder.on_trade(3_000, 150.0, 0.25)  # a print far from the mid: volume only
    builder.on_trade(4_000, 50.0, 0.5)
    builder.on_mid(5_000, 100.5)
    assert builder.current == Candle(0, 100.0, 100.5, 100.0, 100.5, 0.75)
    closed = builder.on_mid(60_000, 101.0)
    assert closed[0].volume == 0.75
    assert builder.current is not None and builder.current.volume == 0.0


def test_time_jump_fills_empty_intervals_with_flat_candles() -> None:
    builder = CandleBuilder(MIN)
    builder.on_mid(10_000, 100.0)
    builder.on_mid(20_000, 101.0)
    closed = builder.on_mid(3 * MIN + 5_000, 98.0)  # minutes 1 and 2 had no events
    assert closed == [
        Candle(0, 100.0, 101.0, 100.0, 101.0, 0.0),
        Candle(MIN, 101.0, 101.0, 101.0, 101.0, 0.0),
        Candle(2 * MIN, 101.0, 101.0, 101.0, 101.0, 0.0),
    ]
    assert builder.current == Candle(3 * MIN, 98.0, 98.0, 98.0, 98.0, 0.0)


def test_trades_never_close_candles_and_their_volume_waits_for_its_interval() -> None:
    builder = CandleBuilder(MIN)
    builder.on_mid(0, 100.0)
    builder.on_trade(MIN + 1_000, 120.0, 2.0)  # a later interval: held, closes nothing
    builder.on_trade(2 * MIN + 1, 120.0, 0.5)  # two intervals ahead: held as well
    assert builder.current == Candle(0, 100.0, 100.0, 100.0, 100.0, 0.0)
    closed = builder.on_mid(MIN + 2_000, 102.0)  # time moves: the first candle closes without it
    assert closed == [Candle(0, 100.0, 100.0, 100.0, 100.0, 0.0)]
    assert builder.current == Candle(MIN, 102.0, 102.0, 102.0, 102.0, 2.0)
    builder.on_mid(MIN + 3_000, 101.0)
    # Minute 2 has trades but no mid: it closes flat at the last close, keeping its volume.
    closed = builder.on_mid(3 * MIN, 103.0)
    assert closed == [Candle(MIN, 102.0, 102.0, 101.0, 101.0, 2.0), Candle(2 * MIN, 101.0, 101.0, 101.0, 101.0, 0.5)]
    assert builder.current == Candle(3 * MIN, 103.0, 103.0, 103.0, 103.0, 0.0)


def test_advance_closes_on_a_quiet_market() -> None:
    builder = CandleBuilder(15_000)
    assert builder.advance(5_000) == []  # nothing open yet
    builder.on_mid(1_000, 50.0)
    assert builder.advance(14_999) == []
    closed = builder.advance(30_000)
    assert [c.open_time_ms for c in closed] == [0, 15_000]
    assert builder.current == Candle(30_000, 50.0, 50.0, 50.0, 50.0, 0.0)


def test_late_events_are_dropped_and_counted() -> None:
    builder = CandleBuilder(MIN)
    builder.on_mid(MIN + 10, 100.0)
    assert builder.on_mid(MIN - 1, 500.0) == []
    builder.on_trade(5, 500.0, 9.0)
    assert builder.late_events == 2
    assert builder.current == Candle(MIN, 100.0, 100.0, 100.0, 100.0, 0.0)
    builder.on_mid(MIN + 5, 99.0)  # earlier than the last event but same interval: still counted in
    assert builder.current == Candle(MIN, 100.0, 100.0, 99.0, 99.0, 0.0)


def test_state_round_trip_mid_candle() -> None:
    events = [("mid", 1_000, 100.0), ("trade", 2_000, 100.1, 0.5), ("mid", 61_000, 101.0),
              ("trade", 62_000, 101.0, 1.5), ("trade", 130_000, 101.0, 0.7), ("trade", 190_000, 99.0, 0.2),
              ("mid", 63_000, 100.2), ("mid", 200_000, 99.0),
              ("trade", 201_000, 99.0, 0.1), ("mid", 250_000, 98.0), ("mid", 300_000, 98.5)]

    def feed(builder: CandleBuilder, batch: list[tuple]) -> list[Candle]:
        closed: list[Candle] = []
        for kind, *args in batch:
            if kind == "mid":
                closed += builder.on_mid(*args)
            else:
                builder.on_trade(*args)
        return closed

    reference = CandleBuilder(MIN)
    expected = feed(reference, events)
    # Held volume reached minutes 2 (0.7) and 3 (0.2 + 0.1).
    assert [c.volume for c in expected] == pytest.approx([0.5, 1.5, 0.7, 0.3, 0.0])
    for cut in range(len(events) + 1):
        first = CandleBuilder(MIN)
        closed = feed(first, events[:cut])
        restored = CandleBuilder.from_state(json.loads(json.dumps(first.to_state())))
        assert restored.current == first.current
        closed += feed(restored, events[cut:])
        assert closed == expected, cut
        assert restored.current == reference.current


def test_candle_encodes_with_msgspec() -> None:
    candle = Candle(0, 1.0, 2.0, 0.5, 1.5, 3.0)
    assert msgspec.json.decode(msgspec.json.encode(candle), type=Candle) == candle


def test_bad_input_raises_without_changing_state() -> None:
    with pytest.raises(ValueError):
        CandleBuilder(0)
    builder = CandleBuilder(MIN, max_gap_candles=10)
    builder.on_mid(0, 100.0)
    state = builder.to_state()
    for bad in (float("nan"), float("inf"), 0.0, -1.0):
        with pytest.raises(ValueError):
            builder.on_mid(1_000, bad)
    with pytest.raises(ValueError):
        builder.on_trade(1_000, 100.0, -1.0)
    with pytest.raises(ValueError):
        builder.on_mid(12 * MIN, 100.0)  # 11 empty candles > max_gap_candles
    with pytest.raises(ValueError):
        builder.on_trade(12 * MIN, 100.0, 1.0)
    assert builder.to_state() == state
