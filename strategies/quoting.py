"""The quoting contract: a strategy that keeps several orders of its own at once (a market maker's
quote on each side, its hedger's clip), and places, modifies and cancels them by name.

A sibling of `strategies.base.Strategy`, whose one-pending-order contract stays as simple as the
directional strategies need. Like it, a `QuotingStrategy` is pure and deterministic: it never reads
the wall clock, never does I/O and never imports Ray; everything arrives through `on_*` with the
event's own time in ms, and it answers with `QuoteAction`s. An actor or the replay hosts it.

Naming. Every order carries the client order index the strategy gave it (`coi`), taken from the
`order_ids` callable the host passes in: the actor hands out indices it has reserved durably (so a
restarted strategy never reuses one), the replay a plain counter. The strategy keys its own book of
orders by coi; every order event comes back with it.

An order's life, as the strategy hears it (each `on_*` may answer with actions):
  Place -> on_accepted -> on_fill (partial ...) -> on_fill (remaining 0: done)
                       -> on_canceled (by our Cancel, the venue, post-only would cross, expiry)
        -> on_rejected (with the venue's code, or risk's / the router's own)
  Modify (Lighter's modify transaction: new price and/or size, same coi): accepted or rejected
  like a Place; a modified order loses its queue position at the venue.
A Cancel or Modify for an order the venue no longer has ends in on_canceled / on_rejected: the
strategy forgets the order then, never before (a fill can still arrive for a cancel in flight).

After a restart the host calls `on_venue_orders` with what rests at the venue on the strategy's
account: the strategy adopts the orders it knows (from its snapshot) and answers a Cancel for every
other one, so nothing rests that its owner does not know (DESIGN invariant 7).

Halts: `allow_entries(False)` (risk halt, breaker) must make the strategy cancel its quotes and
place nothing that adds to its position; orders that only reduce it (a hedge toward target that
reduces inventory) may go on, marked `reduce_only`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, ClassVar, Literal

import msgspec

from venue.markets import MarketSpec

Side = Literal["buy", "sell"]
Role = Literal["quote", "hedge"]


class Place(msgspec.Struct, frozen=True, kw_only=True, tag="place"):
    """A new order. kind "market" orders are IOC and `price` is the worst acceptable price."""

    coi: int
    side: Side
    price: float
    size: float
    kind: Literal["limit", "market"] = "limit"
    tif: Literal["post_only", "gtt", "ioc"] = "post_only"
    reduce_only: bool = False
    role: Role = "quote"
    reason: str = ""


class Modify(msgspec.Struct, frozen=True, kw_only=True, tag="modify"):
    """New price and size for a resting order of ours (same coi)."""

    coi: int
    price: float
    size: float
    reason: str = ""


class Cancel(msgspec.Struct, frozen=True, kw_only=True, tag="cancel"):
    coi: int
    reason: str = ""


QuoteAction = Place | Modify | Cancel


class LiveOrder(msgspec.Struct, frozen=True, kw_only=True):
    """An order resting at the venue on the strategy's account (for `on_venue_orders`)."""

    coi: int
    side: Side
    price: float
    remaining: float


class QuotingStrategy(ABC):
    """Base of the strategies that keep several named orders; see the module docstring."""

    kind: ClassVar[str]
    params_type: ClassVar[type[msgspec.Struct]]

    def __init__(self, name: str, market: MarketSpec, params: Any, *, account_index: int = 0,
                 order_ids: Callable[[], int]) -> None:
        if not isinstance(params, self.params_type):
            raise TypeError(f"{type(self).__name__} needs {self.params_type.__name__}, got {type(params).__name__}")
        self.name = name
        self.market = market
        self.params = params
        self.account_index = account_index
        self.order_ids = order_ids

    @property
    @abstractmethod
    def inventory(self) -> float:
        """The signed position in base units, as the strategy's fills made it (long > 0)."""

    # --- market data ---------------------------------------------------------------------
    @abstractmethod
    def on_book(self, ts_ms: int, bid: float, bid_size: float, ask: float, ask_size: float) -> list[QuoteAction]:
        """The top of the venue's book (bid may be >= ask: a crossed book)."""

    @abstractmethod
    def on_trade(self, ts_ms: int, price: float, size: float, taker_is_buyer: bool) -> list[QuoteAction]:
        """A print on the venue (anyone's)."""

    # --- our orders ----------------------------------------------------------------------
    @abstractmethod
    def on_accepted(self, ts_ms: int, coi: int) -> list[QuoteAction]:
        """The venue took our Place or Modify."""

    @abstractmethod
    def on_fill(self, ts_ms: int, coi: int, side: Side, price: float, size: float, fee: float,
                is_maker: bool, remaining: float) -> list[QuoteAction]:
        """One fill of our order (fee in quote, > 0 paid); remaining 0 ends the order."""

    @abstractmethod
    def on_canceled(self, ts_ms: int, coi: int, reason: str) -> list[QuoteAction]:
        """The order ended without filling in full (our cancel, post-only cross, expiry, the venue)."""

    @abstractmethod
    def on_rejected(self, ts_ms: int, coi: int, code: int, reason: str) -> list[QuoteAction]:
        """Our Place or Modify was refused (venue code, or risk's / the router's)."""

    @abstractmethod
    def on_venue_orders(self, ts_ms: int, live: list[LiveOrder]) -> list[QuoteAction]:
        """After a restart: what rests at the venue for us. Adopt the known, cancel the rest."""

    @abstractmethod
    def adopt_position(self, ts_ms: int, size: float, entry_price: float) -> bool:
        """The venue's position (signed size) replaces ours when they differ; True when it changed."""

    @abstractmethod
    def allow_entries(self, allowed: bool) -> None:
        """Risk halt or breaker: False cancels quotes at the next event and adds to no position."""

    @abstractmethod
    def closed_trades(self) -> list[Any]:
        """TradeRecords of the positions closed since the previous call (drained): for a maker,
        each fill that closes earlier FIFO lots."""

    # --- state and operators -------------------------------------------------------------
    @abstractmethod
    def open_orders(self) -> dict[int, dict[str, Any]]:
        """Our orders not yet ended, by coi: side, price, size, remaining, role, status."""

    @abstractmethod
    def telemetry(self) -> dict[str, float]:
        """The gauges of STRATEGIES.md section 4 (regime, FIFO PnL, guards, inventory, open quotes)."""

    @abstractmethod
    def snapshot(self) -> dict[str, Any]:
        """Complete, JSON-serialisable state: restore(snapshot()) continues identically."""

    @abstractmethod
    def restore(self, state: dict[str, Any]) -> None:
        """Load a snapshot() (also one that went through json.dumps/loads)."""

    @abstractmethod
    def status(self) -> dict[str, Any]:
        """For operators: inventory, open quotes, FIFO PnL, pauses and guards."""
