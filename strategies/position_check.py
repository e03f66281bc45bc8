"""When a strategy adopts the venue's position as its own.

The risk actor's position for an account is reconciled with the venue; a strategy's is built from
the fills it applied. They differ for a moment whenever a fill is on its way to one of them, and
for good when the venue changed the position without a fill of ours reaching us (a liquidation,
a trade made by hand, a paper venue that started again). Only the second kind is corrected: a
difference is adopted when the same one is seen twice in a row while the strategy had no order
in flight, with no fill applied in between.
"""

from __future__ import annotations

SIZE_EPS = 1e-9


class PositionCheck:
    def __init__(self) -> None:
        self._seen: tuple[float, float, int] | None = None

    def observe(self, ours: float, venue: float, fills_applied: int, quiet: bool) -> bool:
        """One comparison; True when `venue` should now replace `ours`. `quiet`: no order of the
        strategy in flight (an observation that is not quiet neither counts nor resets)."""
        if not quiet:
            return False
        if abs(ours - venue) <= SIZE_EPS:
            self._seen = None
            return False
        seen = (ours, venue, fills_applied)
        if self._seen == seen:
            self._seen = None
            return True
        self._seen = seen
        return False
