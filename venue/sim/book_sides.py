"""The two kinds of book side the matching engine keeps for each market.

`RestingSide`: the simulator's own resting orders on one side, in price-time priority.
`ExternalSide`: one side of the external market's book as its latest snapshot showed it, less
what simulator takers have consumed from it since.

Prices are stored as keys that sort best first (ask: price, bid: -price), so both sides of the
book share one code path. Everything is in the venue's integer units.
"""

from __future__ import annotations

from bisect import bisect_right, insort
from collections import deque
from collections.abc import Iterator

from venue.sim.types import SimOrder

Level = tuple[int, int]  # (price units, size units)


class RestingSide:
    """Resting simulator orders on one side of one market; `keys` lists the non-empty levels."""

    def __init__(self, is_ask: bool) -> None:
        self.is_ask = is_ask
        self.keys: list[int] = []
        self.levels: dict[int, deque[SimOrder]] = {}

    def key(self, price: int) -> int:
        return price if self.is_ask else -price

    def price(self, key: int) -> int:
        return key if self.is_ask else -key

    def add(self, order: SimOrder) -> None:
        key = self.key(order.price)
        level = self.levels.get(key)
        if level is None:
            level = deque()
            self.levels[key] = level
            insort(self.keys, key)
        level.append(order)

    def remove(self, order: SimOrder) -> None:
        key = self.key(order.price)
        level = self.levels[key]
        for i, resting in enumerate(level):
            if resting is order:
                del level[i]
                break
        if not level:
            del self.levels[key]
            del self.keys[bisect_right(self.keys, key) - 1]

    def keys_through(self, limit_key: int) -> list[int]:
        """A snapshot of the keys at or better than limit_key (safe to mutate the side meanwhile)."""
        return self.keys[: bisect_right(self.keys, limit_key)]

    def best_price(self) -> int | None:
        return self.price(self.keys[0]) if self.keys else None

    def depth(self) -> Iterator[Level]:
        for key in self.keys:
            yield self.price(key), sum(order.remaining_base_amount for order in self.levels[key])


class ExternalSide:
    """One side of the external book, best first, with what simulator takers consumed from it."""

    def __init__(self, is_ask: bool) -> None:
        self.is_ask = is_ask
        self.levels: list[Level] = []
        self.sizes: dict[int, int] = {}
        self.consumed: dict[int, int] = {}

    def key(self, price: int) -> int:
        return price if self.is_ask else -price

    def replace(self, levels: list[Level]) -> None:
        merged: dict[int, int] = {}
        for price, size in levels:
            if price > 0 and size > 0:
                merged[price] = merged.get(price, 0) + size
        # best first; prices are unique here, so plain tuple order is the price order
        self.levels = sorted(merged.items(), reverse=not self.is_ask)
        self.sizes = merged
        self.consumed = {}

    def available(self, index: int) -> int:
        price, size = self.levels[index]
        return size - self.consumed.get(price, 0)

    def available_at(self, price: int) -> int:
        """What is left at this price of the latest snapshot (0 where it showed nothing)."""
        return self.sizes.get(price, 0) - self.consumed.get(price, 0)

    def consume(self, price: int, size: int) -> None:
        self.consumed[price] = self.consumed.get(price, 0) + size

    def shows(self, price: int) -> bool:
        """Whether the snapshot speaks for this price: at or better than its worst level shown.

        Beyond the worst level the snapshot is silent (it is the top N levels), so an empty
        price there is not evidence that nobody rests at it.
        """
        return bool(self.levels) and self.key(price) <= self.key(self.levels[-1][0])

    def keys_through(self, limit_key: int) -> list[int]:
        keys: list[int] = []
        for price, _ in self.levels:
            key = self.key(price)
            if key > limit_key:
                break
            keys.append(key)
        return keys

    def best_available_price(self) -> int | None:
        for index, (price, _) in enumerate(self.levels):
            if self.available(index) > 0:
                return price
        return None

    def depth(self) -> Iterator[Level]:
        for index, (price, _) in enumerate(self.levels):
            left = self.available(index)
            if left > 0:
                yield price, left


def merge_levels(
    external: Iterator[Level], simulated: Iterator[Level], side: RestingSide, depth: int
) -> list[Level]:
    """Merge two best-first level streams of one side, adding sizes at equal prices."""
    merged: list[Level] = []
    ext = next(external, None)
    sim = next(simulated, None)
    while len(merged) < depth and (ext is not None or sim is not None):
        if sim is None or (ext is not None and side.key(ext[0]) < side.key(sim[0])):
            assert ext is not None
            merged.append(ext)
            ext = next(external, None)
        elif ext is None or side.key(sim[0]) < side.key(ext[0]):
            merged.append(sim)
            sim = next(simulated, None)
        else:
            merged.append((ext[0], ext[1] + sim[1]))
            ext = next(external, None)
            sim = next(simulated, None)
    return merged
