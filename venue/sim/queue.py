"""Queue position of resting simulator orders: how long a maker waits behind the external book.

The external market is known only by price level (L2 snapshots) and prints, so where our order
sits in the real queue at its price is an estimate. The engine's default (`MakerFills.QUEUE`)
follows hftbacktest's risk-averse queue model, adapted to snapshots:

- joining: an order that comes to rest records `queue_ahead`, the external size then resting at
  its price (what is left of the snapshot there). Simulator orders already at that price are ahead
  of it too, by time priority, which the level's FIFO keeps. A price beyond the snapshot's worst
  level is one the snapshot says nothing about: the order's queue is QUEUE_UNKNOWN until a
  snapshot shows its price, and then it is all the size shown there.
- a print at our price (its aggressor on the other side) trades the queue from the front: first
  the external size ahead of our first order, then that order, then the external size between it
  and our next order, and so on. Only what is left of the print after the size ahead fills us,
  and the prints' total fills never exceed its size.
- a print through our price (a buyer paying more than our ask, a seller taking less than our bid)
  means the real level was emptied: our orders there fill in time priority up to the print's
  size, and whatever of them is left is at the front of its queue (queue_ahead 0).
- a snapshot that shows less size at our price than queue_ahead lowers queue_ahead to it:
  everything left at the level may be ahead of us, so what went away (cancels, trades we did
  not see) is assumed to have been behind us unless the level became too small to hold our
  estimate. A snapshot showing more never moves us back: whoever joined later is behind us.
  This is the conservative choice (cancels never advance us); hftbacktest's probabilistic models
  would advance us by a share of every decrease.
- a snapshot whose other side reaches our price fills us there, queue or not (the book crossed).
- a simulator taker trades the same queue: the external size ahead of each of our orders before
  that order, then the external size behind the last one.
- cancelling takes an order out of its level (it never fills again); a modify that changes the
  price or increases the size rejoins at the back with a new queue_ahead; a size decrease at the
  same price keeps its place.

The older models stay available: THROUGH (only prints through our price fill us; a simulator
taker trades our orders before external size at the same price) and TOUCH (`fill_at_touch`: a
print at our price fills us as if it went through, ignoring the queue). Neither uses
queue_ahead, which stays 0. Everything is integer units and event order: no randomness, no clock.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from venue.sim.book_sides import ExternalSide, RestingSide
from venue.sim.types import SimOrder

QUEUE_UNKNOWN = -1  # no snapshot has shown the order's price since it came to rest


class MakerFills(StrEnum):
    """When a print reaches a resting simulator order (see the module's docstring)."""

    QUEUE = "queue"
    THROUGH = "through"
    TOUCH = "touch"


def resolve_maker_fills(maker_fills: MakerFills | str | None, fill_at_touch: bool) -> MakerFills:
    """The model from the engine's options: `fill_at_touch=True` is TOUCH, the default QUEUE."""
    if maker_fills is None:
        return MakerFills.TOUCH if fill_at_touch else MakerFills.QUEUE
    try:
        model = MakerFills(maker_fills)
    except ValueError:
        raise ValueError(
            f"maker_fills must be one of {', '.join(m.value for m in MakerFills)}, got {maker_fills!r}"
        ) from None
    if fill_at_touch and model is not MakerFills.TOUCH:
        raise ValueError(f"fill_at_touch=True contradicts maker_fills={model.value!r}")
    return model


def queue_on_join(external: ExternalSide, price: int) -> int:
    """The external size ahead of an order coming to rest at price on this side of the book."""
    if not external.shows(price):
        return QUEUE_UNKNOWN
    return max(0, external.available_at(price))


def ahead_of(order: SimOrder, passed: int) -> int | None:
    """External size still ahead of the order once `passed` of its level has traded (None: unknown)."""
    if order.queue_ahead == QUEUE_UNKNOWN:
        return None
    return max(0, order.queue_ahead - passed)


def advance(orders: Iterable[SimOrder], passed: int) -> None:
    """`passed` external size at the orders' level traded from the front of its queue."""
    if passed <= 0:
        return
    for order in orders:
        if order.queue_ahead > 0:
            order.queue_ahead = max(0, order.queue_ahead - passed)


def to_front(orders: Iterable[SimOrder]) -> None:
    """The level was traded through: nothing external is left ahead of any of the orders."""
    for order in orders:
        order.queue_ahead = 0


def requeue_after_book(resting: RestingSide, external: ExternalSide) -> None:
    """A new snapshot of the same side: shrink queue_ahead where the level shrank below it.

    Orders at prices the snapshot does not speak for keep their estimate; an unknown queue
    becomes the size now shown at its price.
    """
    if not external.levels:
        return
    worst_key = external.key(external.levels[-1][0])
    for key in resting.keys:
        if key > worst_key:
            break
        shown = external.sizes.get(resting.price(key), 0)
        for order in resting.levels[key]:
            if order.queue_ahead == QUEUE_UNKNOWN or order.queue_ahead > shown:
                order.queue_ahead = shown
