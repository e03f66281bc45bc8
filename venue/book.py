"""An L2 order book rebuilt from Lighter's websocket snapshot and deltas.

Lighter sends levels as `{"price": "…", "size": "…"}` strings; a size of zero removes the level.
Each side is a dict (price -> size) plus a sorted list of its prices, so a delta costs
O(levels changed x log n) to locate (bisect) and the best price is an index away. Prices are
float keys: the venue's decimal strings parse to the same float every time, so "2325.00" and
"2325.0" are one level.

Every message carries an `offset`. Deltas at or below the last applied offset are duplicates
(or replays) and are dropped. With `strict_offsets` (our simulator increments the offset by one
per update per market) any forward jump is a gap; without it (Lighter mainnet, whose offsets are
not contiguous per market) only the backwards case is detected. A gap, a malformed level or a
crossed book raise a specific `BookError` so that the caller can count it and resynchronise.
"""

from __future__ import annotations

import math
from bisect import bisect_left, insort
from collections.abc import Iterable
from typing import Protocol

_INF = math.inf


class LevelLike(Protocol):
    """A wire level: venue strings, as `venue.wire.PriceLevel`."""

    @property
    def price(self) -> str: ...

    @property
    def size(self) -> str: ...


class BookError(ValueError):
    """Base of everything the book refuses; the client counts these and resynchronises."""


class MalformedLevel(BookError):
    """A level with an unparseable, non-finite, non-positive price or negative size."""


class CrossedBook(BookError):
    """Best bid >= best ask. From a snapshot: rejected, the book is unchanged. From a delta: the
    delta was applied and the book is now crossed, so it must be rebuilt from a fresh snapshot."""


class OffsetGap(BookError):
    """A delta whose offset shows that at least one update was missed (nothing was applied)."""

    def __init__(self, market_id: int, last: int, got: int) -> None:
        super().__init__(f"market {market_id}: offset gap, last applied {last}, got {got}")
        self.last = last
        self.got = got


class NoSnapshot(BookError):
    """A delta arrived before any snapshot: it cannot be applied to anything."""


def parse_levels(levels: Iterable[LevelLike]) -> list[tuple[float, float]]:
    """Venue strings to (price, size) floats, refusing the whole list on any bad level."""
    out: list[tuple[float, float]] = []
    for level in levels:
        try:
            price = float(level.price)
            size = float(level.size)
        except (TypeError, ValueError, AttributeError) as exc:
            raise MalformedLevel(f"unparseable level {level!r}") from exc
        # chained comparisons are False for NaN, so this also rejects NaN
        if not (0.0 < price < _INF) or not (0.0 <= size < _INF):
            raise MalformedLevel(f"out-of-range level price={level.price!r} size={level.size!r}")
        out.append((price, size))
    return out


class L2Book:
    """Bids and asks of one market. Not thread-safe; one owner (the websocket client)."""

    __slots__ = (
        "market_id",
        "strict_offsets",
        "offset",
        "ts_ms",
        "has_snapshot",
        "_bids",
        "_asks",
        "_bid_prices",
        "_ask_prices",
    )

    def __init__(self, market_id: int, *, strict_offsets: bool = True) -> None:
        self.market_id = market_id
        self.strict_offsets = strict_offsets
        self.offset = -1  # offset of the last applied snapshot or delta
        self.ts_ms = 0
        self.has_snapshot = False
        self._bids: dict[float, float] = {}
        self._asks: dict[float, float] = {}
        # ascending in both cases: the best bid is the last element, the best ask the first
        self._bid_prices: list[float] = []
        self._ask_prices: list[float] = []

    # --- input ---------------------------------------------------------------------------
    def load_snapshot(
        self, bids: Iterable[LevelLike], asks: Iterable[LevelLike], offset: int, ts_ms: int = 0
    ) -> None:
        """Replace the whole book. A malformed or crossed snapshot leaves the book unchanged."""
        bid_map = _side_from_levels(parse_levels(bids))
        ask_map = _side_from_levels(parse_levels(asks))
        if bid_map and ask_map:
            best_bid, best_ask = max(bid_map), min(ask_map)
            if best_bid >= best_ask:
                raise CrossedBook(
                    f"market {self.market_id}: crossed snapshot, best bid {best_bid} >= best ask {best_ask}"
                )
        self._bids, self._asks = bid_map, ask_map
        self._bid_prices = sorted(bid_map)
        self._ask_prices = sorted(ask_map)
        self.offset = offset
        self.ts_ms = ts_ms
        self.has_snapshot = True

    def apply_delta(
        self, bids: Iterable[LevelLike], asks: Iterable[LevelLike], offset: int, ts_ms: int = 0
    ) -> bool:
        """Apply one update. Returns False for a duplicate or old offset (nothing applied).

        Raises NoSnapshot, OffsetGap or MalformedLevel with the book unchanged, or CrossedBook
        after applying a delta that leaves best bid >= best ask.
        """
        if not self.has_snapshot:
            raise NoSnapshot(f"market {self.market_id}: delta at offset {offset} before any snapshot")
        if offset <= self.offset:
            return False
        if self.strict_offsets and offset != self.offset + 1:
            raise OffsetGap(self.market_id, self.offset, offset)
        # parse both sides before touching anything, so a bad level cannot leave half a delta
        bid_updates = parse_levels(bids)
        ask_updates = parse_levels(asks)
        _apply_side(self._bids, self._bid_prices, bid_updates)
        _apply_side(self._asks, self._ask_prices, ask_updates)
        self.offset = offset
        self.ts_ms = ts_ms
        if self._bid_prices and self._ask_prices and self._bid_prices[-1] >= self._ask_prices[0]:
            raise CrossedBook(
                f"market {self.market_id}: delta at offset {offset} crossed the book, "
                f"best bid {self._bid_prices[-1]} >= best ask {self._ask_prices[0]}"
            )
        return True

    def clear(self) -> None:
        """Forget everything (a resubscription is under way)."""
        self._bids, self._asks = {}, {}
        self._bid_prices, self._ask_prices = [], []
        self.offset = -1
        self.has_snapshot = False

    # --- queries -------------------------------------------------------------------------
    def best_bid(self) -> tuple[float, float] | None:
        if not self._bid_prices:
            return None
        price = self._bid_prices[-1]
        return price, self._bids[price]

    def best_ask(self) -> tuple[float, float] | None:
        if not self._ask_prices:
            return None
        price = self._ask_prices[0]
        return price, self._asks[price]

    def best_bid_price(self) -> float | None:
        return self._bid_prices[-1] if self._bid_prices else None

    def best_ask_price(self) -> float | None:
        return self._ask_prices[0] if self._ask_prices else None

    def mid(self) -> float | None:
        if not self._bid_prices or not self._ask_prices:
            return None
        return (self._bid_prices[-1] + self._ask_prices[0]) / 2.0

    def spread(self) -> float | None:
        if not self._bid_prices or not self._ask_prices:
            return None
        return self._ask_prices[0] - self._bid_prices[-1]

    def is_crossed(self) -> bool:
        return bool(self._bid_prices and self._ask_prices and self._bid_prices[-1] >= self._ask_prices[0])

    def top_bids(self, n: int) -> list[tuple[float, float]]:
        """The n best bids, best (highest) first."""
        if n <= 0:
            return []
        bids = self._bids
        return [(p, bids[p]) for p in self._bid_prices[: -n - 1 : -1]]

    def top_asks(self, n: int) -> list[tuple[float, float]]:
        """The n best asks, best (lowest) first."""
        asks = self._asks
        return [(p, asks[p]) for p in self._ask_prices[: max(n, 0)]]

    def depth(self, n: int) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
        """(top n bids, top n asks), each best first."""
        return self.top_bids(n), self.top_asks(n)

    def levels(self) -> tuple[dict[float, float], dict[float, float]]:
        """Copies of the whole book as (bids, asks) price -> size maps (tests, reconciliation)."""
        return dict(self._bids), dict(self._asks)

    @property
    def bid_count(self) -> int:
        return len(self._bid_prices)

    @property
    def ask_count(self) -> int:
        return len(self._ask_prices)

    def __repr__(self) -> str:
        return (
            f"L2Book(market_id={self.market_id}, offset={self.offset}, bids={self.bid_count}, "
            f"asks={self.ask_count}, best_bid={self.best_bid_price()}, best_ask={self.best_ask_price()})"
        )


def _apply_side(book: dict[float, float], prices: list[float], updates: list[tuple[float, float]]) -> None:
    for price, size in updates:
        if size == 0.0:
            if book.pop(price, None) is not None:
                del prices[bisect_left(prices, price)]
            # removing a level we do not have is harmless: the venue may repeat a removal
        else:
            if price not in book:
                insort(prices, price)
            book[price] = size


def _side_from_levels(levels: list[tuple[float, float]]) -> dict[float, float]:
    """A snapshot side, read in order like a delta onto nothing (a repeated price: last wins)."""
    side: dict[float, float] = {}
    for price, size in levels:
        if size > 0.0:
            side[price] = size
        else:
            side.pop(price, None)
    return side
