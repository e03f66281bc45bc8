"""Awesome-Oscillator divergence over Renko bricks, `renko_ao`'s entry rule (STRATEGIES.md
section 2), a pure function of the bricks (see strategies.renko_ao's docstring for the rules).
"""

from __future__ import annotations

from typing import NamedTuple

import msgspec

from strategies.base import Side


class BrickPoint(msgspec.Struct, array_like=True):
    """A formed brick as the divergence rules need it (id counts bricks from the first)."""

    id: int
    high: float
    low: float
    close: float
    ao: float | None


class Divergence(NamedTuple):
    side: Side
    i1: int
    i2: int
    strength: float
    ao_strength: float
    bricks_since: int
    extreme_id: int


def find_divergence(window: list[BrickPoint]) -> Divergence | None:
    """The divergence in `window` (bricks with AO values, oldest first) by the module's rules,
    before any threshold (bricks since, strengths); None if there is none."""
    n = len(window)
    if n < 2 or any(b.ao is None for b in window):
        return None
    aos = [b.ao for b in window if b.ao is not None]
    max_abs = max(abs(a) for a in aos)
    if max_abs == 0:
        return None
    found: list[Divergence] = []
    # bullish: lower low in price, higher low in AO
    i2 = min(range(n), key=lambda i: (window[i].low, -i))
    if i2 >= 1:
        i1 = min(range(i2), key=lambda i: (aos[i], -i))
        if window[i2].low < window[i1].low and aos[i2] > aos[i1]:
            found.append(_divergence("buy", i1, i2, aos, max_abs, window))
    # bearish: higher high in price, lower high in AO
    i2 = max(range(n), key=lambda i: (window[i].high, i))
    if i2 >= 1:
        i1 = max(range(i2), key=lambda i: (aos[i], i))
        if window[i2].high > window[i1].high and aos[i2] < aos[i1]:
            found.append(_divergence("sell", i1, i2, aos, max_abs, window))
    if len(found) == 2:
        if found[0].i2 == found[1].i2:
            return None
        return max(found, key=lambda d: d.i2)
    return found[0] if found else None


def _divergence(side: Side, i1: int, i2: int, aos: list[float], max_abs: float, window: list[BrickPoint]) -> Divergence:
    return Divergence(
        side=side,
        i1=i1,
        i2=i2,
        strength=abs(aos[i2] - aos[i1]) / max_abs,
        ao_strength=abs(aos[-1]) / max_abs,
        bricks_since=len(window) - 1 - i2,
        extreme_id=window[i2].id,
    )
