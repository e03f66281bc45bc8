"""Pure helpers of actors/common.py (no Ray started)."""

from __future__ import annotations

import pytest

from actors.common import BoundedSet, SeqCounter, SeqTracker, client_order_index_for


@pytest.mark.parametrize("name", ["rsi_bb", "renko_ao", "breakout", "fast", "s0", "alpha/flatten", "ü"])
@pytest.mark.parametrize("seq", [0, 1, 999, 2**31, 2**32 - 1])
def test_client_order_index_matches_the_order_client(name: str, seq: int) -> None:
    from venue.order_client import client_order_index_for as venue_version

    assert client_order_index_for(name, seq) == venue_version(name, seq)


def test_client_order_index_refuses_out_of_range_seq() -> None:
    with pytest.raises(ValueError):
        client_order_index_for("x", 2**32)


def test_seq_counter_keeps_increasing_across_instances() -> None:
    first = SeqCounter()
    a = [first.next() for _ in range(3)]
    second = SeqCounter()  # a restarted sender
    assert a == sorted(a) and second.next() > a[-1]


def test_seq_tracker_duplicates_gaps_and_restarts() -> None:
    tracker = SeqTracker("t")
    assert tracker.observe("k", 10) == "ok"
    assert tracker.observe("k", 11) == "ok"
    assert tracker.observe("k", 11) == "duplicate"
    assert tracker.observe("k", 9) == "duplicate"
    assert tracker.observe("k", 13) == "gap"
    assert tracker.observe("k", 13 + 10**7) == "restart"
    assert (tracker.duplicates, tracker.gaps, tracker.restarts) == (2, 1, 1)


def test_bounded_set_forgets_the_oldest() -> None:
    seen = BoundedSet(capacity=3)
    assert all(seen.add(i) for i in range(4))
    assert 0 not in seen and 3 in seen and not seen.add(3) and len(seen) == 3
