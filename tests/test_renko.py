"""RenkoBuilder on hand-computed sequences (STRATEGIES.md section 2)."""

from __future__ import annotations

import json

import msgspec
import pytest

from indicators.renko import Brick, RenkoBuilder


def up(ts: int, open_: float, size: float) -> Brick:
    return Brick(ts, open_, open_ + size, open_ + size, open_, 1, size)


def down(ts: int, open_: float, size: float) -> Brick:
    return Brick(ts, open_, open_ - size, open_, open_ - size, -1, size)


def test_first_price_anchors_and_first_brick_needs_one_size_up() -> None:
    renko = RenkoBuilder(1.0)
    assert renko.update(1, 100.0) == []
    assert renko.reference == 100.0
    assert renko.update(2, 100.99) == []
    assert renko.update(3, 101.0) == [up(3, 100.0, 1.0)]
    assert renko.reference is None and renko.direction == 1
    assert (renko.bottom, renko.top) == (100.0, 101.0)


def test_first_brick_needs_one_size_down() -> None:
    renko = RenkoBuilder(2.0)
    renko.update(1, 100.0)
    assert renko.update(2, 98.5) == []
    assert renko.update(3, 97.9) == [down(3, 100.0, 2.0)]
    assert renko.direction == -1


def test_continuation_needs_one_size_and_reversal_two() -> None:
    renko = RenkoBuilder(1.0)
    renko.update(0, 100.0)
    assert renko.update(1, 101.2) == [up(1, 100.0, 1.0)]  # brick [100, 101]
    assert renko.update(2, 101.9) == []
    assert renko.update(3, 102.0) == [up(3, 101.0, 1.0)]  # brick [101, 102]
    # A drop of 1.9 from the top is not a reversal: that needs price <= bottom - size = 100.
    assert renko.update(4, 100.1) == []
    assert renko.update(5, 100.0) == [down(5, 101.0, 1.0)]  # opens at the last brick's bottom
    # Going on down needs just one more size below the new bottom (100 -> 99).
    assert renko.update(6, 99.0) == [down(6, 100.0, 1.0)]
    # And back up needs two: price >= top + size where top is now 100.
    assert renko.update(7, 100.9) == []
    assert renko.update(8, 101.0) == [up(8, 100.0, 1.0)]


def test_one_gap_move_forms_several_bricks() -> None:
    renko = RenkoBuilder(0.5)
    renko.update(0, 10.0)
    assert renko.update(1, 11.7) == [up(1, 10.0, 0.5), up(1, 10.5, 0.5), up(1, 11.0, 0.5)]
    # A crash through several levels: the reversal brick plus the continuation ones.
    assert renko.update(2, 9.4) == [down(2, 11.0, 0.5), down(2, 10.5, 0.5), down(2, 10.0, 0.5)]
    assert renko.bricks_formed == 6
    assert (renko.bottom, renko.top) == (9.5, 10.0)


def test_size_change_affects_only_new_bricks() -> None:
    renko = RenkoBuilder(1.0)
    renko.update(0, 100.0)
    first = renko.update(1, 101.0)
    renko.size = 0.25
    assert first == [up(1, 100.0, 1.0)]  # already formed: keeps its size
    assert renko.update(2, 101.5) == [up(2, 101.0, 0.25), up(2, 101.25, 0.25)]
    renko.size = 2.0
    # Reversal with the new size: price <= bottom (101.25) - 2.0.
    assert renko.update(3, 99.5) == []
    assert renko.update(4, 99.25) == [down(4, 101.25, 2.0)]


def test_state_round_trip_resumes_identically() -> None:
    prices = [100.0, 100.6, 101.3, 99.9, 98.2, 98.9, 101.7, 104.4, 103.0, 100.1, 99.0]
    reference = RenkoBuilder(0.7)
    expected = [b for i, p in enumerate(prices) for b in reference.update(i, p)]
    assert len(expected) > 5
    for cut in range(len(prices) + 1):
        first = RenkoBuilder(0.7)
        bricks = [b for i, p in enumerate(prices[:cut]) for b in first.update(i, p)]
        restored = RenkoBuilder.from_state(json.loads(json.dumps(first.to_state())))
        bricks += [b for i, p in enumerate(prices[cut:], start=cut) for b in restored.update(i, p)]
        assert bricks == expected, cut
        assert restored.to_state() == reference.to_state()


def test_brick_is_a_msgspec_struct() -> None:
    brick = up(5, 1.0, 0.5)
    assert msgspec.json.decode(msgspec.json.encode(brick), type=Brick) == brick


def test_bad_input_raises() -> None:
    for bad in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError):
            RenkoBuilder(bad)
    renko = RenkoBuilder(1.0, max_bricks_per_update=100)
    renko.update(0, 100.0)
    with pytest.raises(ValueError):
        renko.size = 0.0
    with pytest.raises(ValueError):
        renko.update(1, float("nan"))
    state = renko.to_state()
    with pytest.raises(ValueError):
        renko.update(2, 1_000.0)  # 900 bricks in one tick
    assert renko.to_state() == state
    with pytest.raises(ValueError):
        RenkoBuilder.from_state({"kind": "CandleBuilder"})
