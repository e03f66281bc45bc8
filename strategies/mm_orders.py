"""The market maker's book of its own orders, its cancel budget and its rejection back-off.

An order's status, as the strategy tracks it:
  placing   the Place is out, the venue has not answered
  live      resting at the venue (accepted)
  modifying a Modify is out (the old price and size still rest until it is accepted)
  canceling a Cancel is out; fills may still arrive
An order leaves the book on its last fill, on on_canceled, or on on_rejected of its Place (or of
the Cancel of an order the venue no longer has). A rejected Modify leaves the old order resting,
or none: the strategy then cancels it, so that no order rests with a price it did not mean.

Cancel discipline: every Cancel and every Modify (it replaces the resting order, like a cancel
and a place, in one transaction) is one entry of a rolling 60 s window of event time.
"""

from __future__ import annotations

from collections import deque
from typing import Any, Literal

import msgspec

from strategies.quoting import Role, Side

Status = Literal["placing", "live", "modifying", "canceling"]
CANCEL_WINDOW_MS = 60_000


class TrackedOrder(msgspec.Struct, kw_only=True):
    coi: int
    side: Side
    role: Role
    price: float
    size: float
    remaining: float
    status: Status
    placed_ts: int  # when the current price was sent (the age of a requote)
    ref_mid: float  # the mid the current price was computed from
    tif: str = "post_only"
    reduce_only: bool = False
    new_price: float = 0.0  # of a Modify in flight
    new_size: float = 0.0
    new_ref_mid: float = 0.0
    cancel_retry_ms: int = 0  # a refused Cancel (rate limit): sent again from this time (0: none due)


class CancelBudget:
    """Cancels (and Modifies) in the last 60 s of event time."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._times: deque[int] = deque()
        self.peak = 0  # the most in any window, for operators and the replay report
        # the most in a window when a discretionary one (a requote, the hedger's) went out: the cap
        # says this never exceeds `limit`; forced ones (taking risk off) may go beyond it
        self.peak_discretionary = 0

    def used(self, now_ms: int) -> int:
        times = self._times
        while times and times[0] <= now_ms - CANCEL_WINDOW_MS:
            times.popleft()
        return len(times)

    def available(self, now_ms: int) -> bool:
        return self.used(now_ms) < self.limit

    def record(self, now_ms: int, *, forced: bool = False) -> None:
        self._times.append(now_ms)
        used = self.used(now_ms)
        self.peak = max(self.peak, used)
        if not forced:
            self.peak_discretionary = max(self.peak_discretionary, used)

    def to_state(self) -> dict[str, Any]:
        return {"times": list(self._times), "peak": self.peak, "peak_discretionary": self.peak_discretionary}

    def load_state(self, state: dict[str, Any]) -> None:
        self._times = deque(int(t) for t in state["times"])
        self.peak = state["peak"]
        self.peak_discretionary = state.get("peak_discretionary", 0)


class Backoff(msgspec.Struct, kw_only=True):
    """Consecutive rejections of one side's quotes and the time before it may quote again."""

    count: int = 0
    until_ms: int = 0

    def reject(self, now_ms: int, base_ms: float, max_ms: float) -> None:
        self.count += 1
        self.until_ms = now_ms + int(min(base_ms * 2 ** (self.count - 1), max_ms))

    def block(self, now_ms: int, ms: float) -> None:
        self.until_ms = max(self.until_ms, now_ms + int(ms))

    def active(self, now_ms: int) -> bool:
        return now_ms < self.until_ms


class OrderBook:
    """Our orders by coi."""

    def __init__(self) -> None:
        self.orders: dict[int, TrackedOrder] = {}

    def add(self, order: TrackedOrder) -> None:
        self.orders[order.coi] = order

    def get(self, coi: int) -> TrackedOrder | None:
        return self.orders.get(coi)

    def forget(self, coi: int) -> TrackedOrder | None:
        return self.orders.pop(coi, None)

    def by_role(self, role: Role, side: Side | None = None) -> list[TrackedOrder]:
        return [o for o in self.orders.values() if o.role == role and (side is None or o.side == side)]

    def working(self, role: Role, side: Side) -> list[TrackedOrder]:
        """Orders of role/side not being canceled."""
        return [o for o in self.by_role(role, side) if o.status != "canceling"]

    def resting_prices(self, side: Side) -> list[float]:
        """Every price at which an order of ours on `side` may rest (old and new of a Modify)."""
        out: list[float] = []
        for o in self.orders.values():
            if o.side == side:
                out.append(o.price)
                if o.status == "modifying":
                    out.append(o.new_price)
        return out

    def open_size(self, side: Side, exclude: int | None = None) -> float:
        """The most our orders on `side` could still fill (a Modify counts its larger size)."""
        total = 0.0
        for o in self.orders.values():
            if o.side == side and o.coi != exclude:
                total += max(o.remaining, o.new_size) if o.status == "modifying" else o.remaining
        return total

    def to_state(self) -> list[Any]:
        return [msgspec.to_builtins(o) for o in self.orders.values()]

    def load_state(self, state: list[Any]) -> None:
        self.orders = {o.coi: o for o in (msgspec.convert(item, TrackedOrder) for item in state)}
