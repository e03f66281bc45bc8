"""Classic Renko bricks from a price stream (STRATEGIES.md section 2, `renko_ao`).

Anchoring: the first price seen is the reference level; the first brick needs a move of one
size from it in either direction (up: price >= ref + size, down: price <= ref - size) and opens
at the reference level. After that, with `top`/`bottom` the last brick's upper and lower edges:

- up brick when price >= top + size: opens at top, closes at top + size;
- down brick when price <= bottom - size: opens at bottom, closes at bottom - size;

so continuing needs one size and a reversal needs two (the reversal brick opens at the far edge
of the last brick). One price can form several bricks; they all carry that price's timestamp.

Size: every brick records the size it was formed with and never changes afterwards. `size` is
the size for the NEXT bricks; the strategy sets it as its volatility estimate moves (ATR(14) x
1.3, or 0.1% of price before ATR exists). All bricks formed by one update share the size
current at that update.

A brick's high/low are its body (max/min of open and close): the bricks are a function of the
levels crossed only, not of the path of ticks in between.
"""

from __future__ import annotations

import math
from typing import Any, Self

import msgspec


class Brick(msgspec.Struct, frozen=True):
    ts_ms: int
    open: float
    close: float
    high: float
    low: float
    direction: int  # +1 up, -1 down
    size: float


class RenkoBuilder:
    """Turns prices into Renko bricks.

    `max_bricks_per_update` bounds one update (a bad tick with a tiny size could otherwise try to
    build millions): a bigger move raises ValueError and leaves the builder untouched."""

    def __init__(self, size: float, max_bricks_per_update: int = 10_000) -> None:
        self.size = size
        self.max_bricks_per_update = max_bricks_per_update
        self.bricks_formed = 0
        self.direction = 0  # of the last brick; 0 before the first
        self._top: float | None = None  # last brick's upper edge (the reference level at first)
        self._bottom: float | None = None  # last brick's lower edge

    @property
    def size(self) -> float:
        return self._size

    @size.setter
    def size(self, value: float) -> None:
        if not (math.isfinite(value) and value > 0.0):
            raise ValueError(f"brick size must be finite and > 0, got {value!r}")
        self._size = float(value)

    @property
    def reference(self) -> float | None:
        """The anchor (first price) until the first brick forms; None before any price."""
        return self._top if self.direction == 0 else None

    @property
    def top(self) -> float | None:
        return self._top

    @property
    def bottom(self) -> float | None:
        return self._bottom

    def update(self, ts_ms: int, price: float) -> list[Brick]:
        """Apply a price; returns the bricks it formed (oldest first, often none)."""
        if not math.isfinite(price):
            raise ValueError(f"price must be finite, got {price!r}")
        top, bottom = self._top, self._bottom
        if top is None or bottom is None:
            self._top = self._bottom = price
            return []
        size = self._size
        moves = max(price - top, bottom - price) / size
        if moves > self.max_bricks_per_update:
            raise ValueError(f"move of {moves:.0f} bricks exceeds max_bricks_per_update")
        bricks: list[Brick] = []
        while price >= top + size:
            close = top + size
            bricks.append(Brick(ts_ms, top, close, close, top, 1, size))
            bottom, top = top, close
        while price <= bottom - size:
            close = bottom - size
            bricks.append(Brick(ts_ms, bottom, close, bottom, close, -1, size))
            top, bottom = bottom, close
        if bricks:
            self._top, self._bottom = top, bottom
            self.direction = bricks[-1].direction
            self.bricks_formed += len(bricks)
        return bricks

    def reanchor(self, price: float) -> None:
        """Start again from `price` as from a first price (bricks formed so far are kept): for a
        move too large to draw brick by brick."""
        if not math.isfinite(price):
            raise ValueError(f"price must be finite, got {price!r}")
        self._top = self._bottom = price
        self.direction = 0

    def to_state(self) -> dict[str, Any]:
        return {"kind": "RenkoBuilder", "size": self._size, "max_bricks_per_update": self.max_bricks_per_update,
                "bricks_formed": self.bricks_formed, "direction": self.direction, "top": self._top,
                "bottom": self._bottom}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Self:
        if state.get("kind") != "RenkoBuilder":
            raise ValueError(f"state is for {state.get('kind')!r}, not 'RenkoBuilder'")
        obj = cls(state["size"], state["max_bricks_per_update"])
        obj.bricks_formed = state["bricks_formed"]
        obj.direction = state["direction"]
        obj._top = state["top"]
        obj._bottom = state["bottom"]
        return obj
