"""The synthetic source's book persists between snapshots, as a real L2 book does.

Before PersistentBook every 100 ms snapshot was drawn afresh: on average 73.5 of the 40 levels'
prices and sizes differed between consecutive snapshots (every level, counted once when its size
changed and twice when its price moved). The tests below measure that number and the invariants
that make it small: occupancy depends on the tick alone, sizes on the level's epoch.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from venue.sim.synthetic import NS_PER_MIN, Grid, PersistentBook, SyntheticSource
from venue.sim.types import SourceBook

START_NS = 1_746_372_780_000_000_000
TICK = 0.001


def changed_levels(a: SourceBook, b: SourceBook) -> tuple[int, int]:
    """(prices on one side of the pair only, prices on both whose size changed), both sides summed."""
    moved = resized = 0
    for old, new in ((a.bids, b.bids), (a.asks, b.asks)):
        before, after = dict(old), dict(new)
        moved += len(before.keys() ^ after.keys())
        resized += sum(1 for p in before.keys() & after.keys() if before[p] != after[p])
    return moved, resized


def books_of(book: PersistentBook, chunks: list[np.ndarray], spread_bps: float = 0.8) -> list[SourceBook]:
    """The snapshots of consecutive chunks of mids, one every 100 ms."""
    out: list[SourceBook] = []
    for mids in chunks:
        ts = [len(out) + i for i in range(len(mids))]
        out += book.ladders(mids, np.full(len(mids), spread_bps)).books(ts)
    return out


def new_book(seed: int = 3, levels: int = 20) -> PersistentBook:
    return PersistentBook(seed, price_grid=Grid(TICK), size_grid=Grid(0.001), levels=levels, step_ms=100)


def ticks(price: float) -> int:
    return round(price / TICK)


@pytest.mark.parametrize("seed", [2, 7])  # 2: ten calm minutes; 7: calm, then volatile
def test_synthetic_updates_change_few_levels(seed: int) -> None:
    src = SyntheticSource(seed=seed)
    events = itertools.takewhile(lambda e: e.ts_ns < START_NS + 10 * NS_PER_MIN, src.events())
    books = [e for e in events if isinstance(e, SourceBook)]
    assert len(books) == 6000
    counts = np.array([changed_levels(a, b) for a, b in itertools.pairwise(books)])
    moved, resized = counts[:, 0].mean(), counts[:, 1].mean()
    # measured: 6.6 (seed 2) and 8.6 (seed 7) per update, against 73.5 for independent draws; what
    # remains is mostly the mid itself, ~4 ticks a snapshot in the calm regime at a 0.001 tick,
    # moving the touch and sliding levels in and out at both ends of each side
    assert 1.0 < moved + resized < 10.0
    # a level that stays in the book keeps its size until its epoch turns (~2.5% per snapshot)
    kept = 40 - moved / 2
    assert resized / kept < 0.05


def test_a_still_mid_only_refreshes_sizes() -> None:
    book = new_book()
    chunks = [np.full(6000, 160.0), np.full(6000, 160.0)]  # two chunks: state carries over
    books = books_of(book, chunks)
    counts = np.array([changed_levels(a, b) for a, b in itertools.pairwise(books)])
    assert counts[:, 0].max() == 0, "no level appears or vanishes while the mid stands still"
    # 38 deep levels refreshed every 4 s and 2 touches every 1 s: 1.15 sizes per 100 ms snapshot
    assert 0.8 < counts[:, 1].mean() < 1.5
    assert counts[:, 1].max() <= 6, "epochs are phased per level, never turning all at once"
    assert counts[5999, 1] <= 6, "no burst where one chunk hands over to the next"
    # yet no size is frozen: within 10 s every level's epoch turns at least twice
    for j in range(20):
        assert len({bk.bids[j][1] for bk in books[:100]}) > 1
        assert len({bk.asks[j][1] for bk in books[:100]}) > 1


def test_levels_depend_on_the_tick_alone() -> None:
    """Away from the touches, a tick holds a level in every book that reaches it, or in none."""
    rng = np.random.default_rng(0)
    walk = 160.0 * np.exp(np.cumsum(rng.normal(0.0, 3e-5, 12_000)))  # ~5 ticks a snapshot
    books = books_of(new_book(), [walk[:6000], walk[6000:]])
    occupied: dict[int, bool] = {}
    for book in books[::7]:
        for side in (book.bids, book.asks):
            inner = {ticks(p) for p, _ in side[1:]}
            lo, hi = sorted((ticks(side[1][0]), ticks(side[-1][0])))
            for k in range(lo, hi + 1):
                assert occupied.setdefault(k, k in inner) == (k in inner), f"tick {k} flickered"
    assert len(occupied) > 1000


def test_persistent_book_shape_matches_the_independent_one() -> None:
    # a steady climb over 20,000 ticks: the average is over many stretches of the fixed lattice
    books = books_of(new_book(), [np.linspace(150.0, 170.0, 6000)])
    for book in books[::50]:
        bids, asks = [p for p, _ in book.bids], [p for p, _ in book.asks]
        assert len(bids) == len(asks) == 20
        assert all(a > b for a, b in itertools.pairwise(bids))
        assert all(b > a for a, b in itertools.pairwise(asks))
        assert bids[0] < asks[0] and all(s > 0 for _, s in book.bids + book.asks)
    depth_bps = np.array([(b.bids[0][0] - b.bids[-1][0]) / b.bids[0][0] * 1e4 for b in books])
    # build_ladders' book spans ~7.1 bps a side (0.25 bps gaps widening 5% a level)
    assert 6.5 < depth_bps.mean() < 7.7

    # sizes on a calm random walk (0.265 bps a snapshot); measured 24, 30, 69 lots for the
    # touch, level 1 and level 19 (build_ladders: 24, 26, 60)
    walk = 160.0 * np.exp(np.cumsum(np.random.default_rng(1).normal(0.0, 2.65e-5, 6000)))
    sizes = np.array([[s for _, s in b.bids] for b in books_of(new_book(), [walk])])
    assert sizes[:, -1].mean() > 1.6 * sizes[:, 1].mean(), "liquidity rests further out"
    assert 15.0 < np.median(sizes[:, 0]) < 25.0  # the touch: lognormal around 20


def test_persistent_book_is_deterministic_per_seed() -> None:
    mids = [np.full(600, 160.0) * np.exp(np.linspace(0.0, 1e-3, 600))]
    assert books_of(new_book(5), mids) == books_of(new_book(5), mids)
    assert books_of(new_book(5), mids) != books_of(new_book(6), mids)


def test_persistent_book_rejects_a_price_without_room_for_the_levels() -> None:
    with pytest.raises(ValueError, match="above zero"):
        new_book().ladders(np.array([0.01]), np.array([1.0]))  # 10 ticks: no room for 20 bids
    one = books_of(new_book(levels=1), [np.full(10, 160.0)])
    assert all(len(b.bids) == len(b.asks) == 1 for b in one)
