"""L2Book: snapshot + deltas equal a plain-dict rebuild; validation, offsets, gaps."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from venue.book import CrossedBook, L2Book, MalformedLevel, NoSnapshot, OffsetGap, parse_levels
from venue.wire import PriceLevel


def lv(*pairs: tuple[str, str]) -> list[PriceLevel]:
    return [PriceLevel(price=p, size=s) for p, s in pairs]


# --- property: the book equals a dict model rebuilt from the same messages -------------------

# a small price grid so that updates hit existing levels, written in varying decimal forms
_prices = st.integers(min_value=1, max_value=40).flatmap(
    lambda k: st.sampled_from([f"{k / 4:.2f}", f"{k / 4:.3f}", repr(k / 4)])
)
_sizes = st.one_of(st.just("0"), st.just("0.000"), st.integers(1, 500).map(lambda n: f"{n / 100:.2f}"))
_levels = st.lists(st.tuples(_prices, _sizes), max_size=6)
_op = st.tuples(st.sampled_from(["snapshot", "delta", "delta", "delta"]), _levels, _levels)


def _model_apply(side: dict[float, float], levels: list[tuple[str, str]]) -> None:
    for p, s in levels:
        if float(s) == 0:
            side.pop(float(p), None)
        else:
            side[float(p)] = float(s)


def _crossed(bids: dict[float, float], asks: dict[float, float]) -> bool:
    return bool(bids and asks and max(bids) >= min(asks))


@settings(max_examples=200, deadline=None)
@given(ops=st.lists(_op, min_size=1, max_size=25))
def test_book_equals_rebuild_from_scratch(ops: list[tuple[str, list, list]]) -> None:
    book = L2Book(2, strict_offsets=True)
    model_bids: dict[float, float] = {}
    model_asks: dict[float, float] = {}
    have_snapshot = False
    offset = 0
    for kind, bids, asks in ops:
        offset += 1
        if kind == "snapshot":
            new_bids: dict[float, float] = {}
            new_asks: dict[float, float] = {}
            _model_apply(new_bids, bids)  # last level at a price wins, zero sizes absent
            _model_apply(new_asks, asks)
            if _crossed(new_bids, new_asks):
                before = book.levels(), book.offset
                with pytest.raises(CrossedBook):
                    book.load_snapshot(lv(*bids), lv(*asks), offset)
                assert (book.levels(), book.offset) == before  # rejected: unchanged
                offset -= 1
                continue
            book.load_snapshot(lv(*bids), lv(*asks), offset)
            model_bids, model_asks, have_snapshot = new_bids, new_asks, True
        elif not have_snapshot:
            with pytest.raises(NoSnapshot):
                book.apply_delta(lv(*bids), lv(*asks), offset)
            offset -= 1
            continue
        else:
            _model_apply(model_bids, bids)
            _model_apply(model_asks, asks)
            if _crossed(model_bids, model_asks):
                with pytest.raises(CrossedBook):
                    book.apply_delta(lv(*bids), lv(*asks), offset)
            else:
                assert book.apply_delta(lv(*bids), lv(*asks), offset) is True
        assert book.levels() == (model_bids, model_asks)
        assert book.offset == offset
        # the sorted views agree with the dicts
        assert book.top_bids(100) == sorted(model_bids.items(), reverse=True)
        assert book.top_asks(100) == sorted(model_asks.items())
        assert book.best_bid_price() == (max(model_bids) if model_bids else None)
        assert book.best_ask_price() == (min(model_asks) if model_asks else None)


# --- examples ----------------------------------------------------------------------------------


def _book() -> L2Book:
    book = L2Book(2)
    book.load_snapshot(lv(("150.10", "2.0"), ("150.00", "1.5"), ("149.90", "3")),
                       lv(("150.20", "1.0"), ("150.30", "4.25")), offset=10, ts_ms=123)
    return book


def test_snapshot_queries() -> None:
    book = _book()
    assert book.best_bid() == (150.10, 2.0)
    assert book.best_ask() == (150.20, 1.0)
    assert book.mid() == pytest.approx(150.15)
    assert book.spread() == pytest.approx(0.10)
    assert book.top_bids(2) == [(150.10, 2.0), (150.00, 1.5)]
    assert book.top_asks(5) == [(150.20, 1.0), (150.30, 4.25)]
    assert book.depth(1) == ([(150.10, 2.0)], [(150.20, 1.0)])
    assert book.top_bids(0) == [] and book.top_asks(0) == []
    assert (book.offset, book.ts_ms, book.bid_count, book.ask_count) == (10, 123, 3, 2)


def test_size_zero_removes_and_equal_prices_merge() -> None:
    book = _book()
    assert book.apply_delta(lv(("150.1", "0"), ("150.000", "7")), lv(("150.2000", "0.0000")), 11)
    assert book.best_bid() == (150.00, 7.0)
    assert book.best_ask() == (150.30, 4.25)
    # removing a level that is not there is harmless
    assert book.apply_delta(lv(("1.00", "0")), [], 12)
    assert book.levels() == ({150.0: 7.0, 149.9: 3.0}, {150.3: 4.25})


def test_empty_snapshot_has_no_top() -> None:
    book = L2Book(39)
    book.load_snapshot([], [], offset=1)
    assert book.best_bid() is None and book.best_ask() is None and book.mid() is None
    assert book.has_snapshot


def test_crossed_snapshot_rejected_and_book_unchanged() -> None:
    book = _book()
    before = book.levels()
    with pytest.raises(CrossedBook):
        book.load_snapshot(lv(("150.00", "1")), lv(("150.00", "1")), offset=20)  # locked counts
    with pytest.raises(CrossedBook):
        book.load_snapshot(lv(("151", "1")), lv(("150", "1")), offset=20)
    assert book.levels() == before and book.offset == 10


def test_delta_that_crosses_is_flagged() -> None:
    book = _book()
    with pytest.raises(CrossedBook):
        book.apply_delta(lv(("150.25", "1")), [], 11)
    assert book.is_crossed()


@pytest.mark.parametrize(
    ("price", "size"),
    [("NaN", "1"), ("nan", "1"), ("inf", "1"), ("-inf", "1"), ("150", "NaN"), ("150", "Infinity"),
     ("150", "-1"), ("-150", "1"), ("0", "1"), ("abc", "1"), ("150", ""), ("", "1"), ("1e999", "1")],
)
def test_bad_levels_rejected_without_change(price: str, size: str) -> None:
    book = _book()
    before = book.levels()
    with pytest.raises(MalformedLevel):
        # the bad level comes second so that a half-applied delta would show
        book.apply_delta(lv(("149.80", "9")), lv(("150.40", "1"), (price, size)), 11)
    assert book.levels() == before and book.offset == 10
    with pytest.raises(MalformedLevel):
        book.load_snapshot(lv((price, size)), [], 20)
    assert book.levels() == before and book.offset == 10


def test_parse_levels_values() -> None:
    assert parse_levels(lv(("2325.00", "99.0000"), ("0.5", "0"))) == [(2325.0, 99.0), (0.5, 0.0)]
    assert all(math.isfinite(p) for p, _ in parse_levels(lv(("1e3", "1"))))


def test_duplicate_and_old_offsets_dropped() -> None:
    book = _book()
    assert book.apply_delta(lv(("149.95", "1")), [], 11) is True
    assert book.apply_delta(lv(("149.95", "5")), [], 11) is False  # duplicate
    assert book.apply_delta(lv(("149.95", "6")), [], 3) is False  # old
    assert book.levels()[0][149.95] == 1.0
    assert book.offset == 11


def test_strict_gap_detected_and_nothing_applied() -> None:
    book = _book()
    with pytest.raises(OffsetGap) as info:
        book.apply_delta(lv(("149.95", "1")), [], 13)
    assert (info.value.last, info.value.got) == (10, 13)
    assert 149.95 not in book.levels()[0] and book.offset == 10


def test_non_strict_accepts_forward_jumps_but_drops_backwards() -> None:
    book = L2Book(0, strict_offsets=False)
    book.load_snapshot(lv(("100", "1")), lv(("101", "1")), offset=1000)
    assert book.apply_delta(lv(("100.5", "2")), [], 1057) is True
    assert book.apply_delta(lv(("100.5", "3")), [], 1003) is False  # backwards: dropped
    assert book.apply_delta(lv(("100.5", "4")), [], 1057) is False  # same offset: duplicate
    assert book.levels()[0] == {100.0: 1.0, 100.5: 2.0}


def test_delta_before_snapshot_and_after_clear() -> None:
    book = L2Book(2)
    with pytest.raises(NoSnapshot):
        book.apply_delta([], [], 1)
    book = _book()
    book.clear()
    assert not book.has_snapshot and book.levels() == ({}, {})
    with pytest.raises(NoSnapshot):
        book.apply_delta([], [], 11)
