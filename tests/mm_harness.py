"""A tiny in-test venue for the market maker: books in, actions answered at once (accepted,
cancelled), resting orders kept by coi so a test can fill them. Paths are one book top per second
whose mid alternates by `x` bps (a chosen volatility: the EMA of |returns| per second is x, so
the volatility reads x * sqrt(60))."""

from __future__ import annotations

import itertools
import math
from typing import Any

from strategies.quoting import Cancel, Modify, Place, QuoteAction
from strategies.registry import build_quoting
from venue.markets import SOL_DEFAULT, MarketSpec

T0 = 1_746_000_000_000
HALF_TICK = 0.0005
SQRT60 = math.sqrt(60)


def x_for_vol(vol_bps: float) -> float:
    """The alternating step (bps) that gives a volatility of vol_bps."""
    return vol_bps / SQRT60


class Host:
    def __init__(self, *, preset: str = "default", over: dict[str, Any] | None = None, accept: bool = True,
                 market: MarketSpec = SOL_DEFAULT, ioc_fills: bool = False) -> None:
        self._ids = itertools.count(1)
        self.s: Any = build_quoting("market_maker", "mm", market, order_ids=lambda: next(self._ids), preset=preset,
                                    overrides=over)
        self.accept = accept
        self.ioc_fills = ioc_fills  # an IOC fills in full at its limit (taker), else finds nothing
        self.live: dict[int, dict[str, Any]] = {}  # the venue's resting orders
        self.sent: list[tuple[int, QuoteAction]] = []
        self.ts = T0
        self.mid = 0.0

    # --- driving -------------------------------------------------------------------------
    def book(self, ts: int, mid: float, half_spread: float = HALF_TICK) -> list[QuoteAction]:
        self.ts, self.mid = ts, mid
        return self.handle(ts, self.s.on_book(ts, mid - half_spread, 1.0, mid + half_spread, 1.0))

    def handle(self, ts: int, actions: list[QuoteAction]) -> list[QuoteAction]:
        """Record the actions; when accepting, answer each at once (and what that answer brings)."""
        out: list[QuoteAction] = []
        queue = list(actions)
        while queue:
            a = queue.pop(0)
            out.append(a)
            self.sent.append((ts, a))
            if not self.accept:
                continue
            if isinstance(a, Place):
                if a.tif != "ioc":
                    self.live[a.coi] = {"side": a.side, "price": a.price, "size": a.size, "role": a.role}
                queue += self.s.on_accepted(ts, a.coi)
                if a.tif == "ioc" and self.ioc_fills:
                    queue += self.s.on_fill(ts, a.coi, a.side, a.price, a.size, 0.0, False, 0.0)
                elif a.tif == "ioc":
                    queue += self.s.on_canceled(ts, a.coi, "ioc: nothing within the limit")
            elif isinstance(a, Modify):
                self.live[a.coi].update(price=a.price, size=a.size)
                queue += self.s.on_accepted(ts, a.coi)
            elif isinstance(a, Cancel):
                self.live.pop(a.coi, None)
                queue += self.s.on_canceled(ts, a.coi, "canceled")
        return out

    def warm(self, vol_bps: float, seconds: int = 40, start: float = 200.0, t0: int = T0) -> int:
        """Alternating mids for `seconds` seconds; returns the time of the next second."""
        x = x_for_vol(vol_bps)
        for i in range(seconds):
            self.book(t0 + i * 1000, start * (1 + x / 1e4) if i % 2 else start)
        return t0 + seconds * 1000

    def run(self, vol_bps: float, seconds: int, start: float, t0: int, drift_bps_per_s: float = 0.0) -> int:
        """Continue alternating around `start` (drifting), from t0; returns the next second."""
        x = x_for_vol(vol_bps)
        for i in range(seconds):
            base = start * (1 + drift_bps_per_s * i / 1e4)
            self.book(t0 + i * 1000, base * (1 + x / 1e4) if i % 2 else base)
        return t0 + seconds * 1000

    def fill(self, ts: int, coi: int, size: float | None = None, price: float | None = None, fee: float = 0.0,
             is_maker: bool = True) -> list[QuoteAction]:
        order = self.live[coi]
        size = order["size"] if size is None else size
        remaining = round(order["size"] - size, 9)
        if remaining <= 0:
            self.live.pop(coi)
        else:
            order["size"] = remaining
        px = order["price"] if price is None else price
        return self.handle(ts, self.s.on_fill(ts, coi, order["side"], px, size, fee, is_maker, remaining))

    # --- reading -------------------------------------------------------------------------
    def quotes(self) -> dict[str, dict[str, Any]]:
        """The strategy's quotes by side (one per side expected)."""
        out: dict[str, dict[str, Any]] = {}
        for coi, o in self.s.open_orders().items():
            if o["role"] == "quote" and o["status"] != "canceling":
                assert o["side"] not in out, f"two quotes on {o['side']}"
                out[o["side"]] = {"coi": coi, **o}
        return out

    def hedges(self) -> list[dict[str, Any]]:
        return [{"coi": c, **o} for c, o in self.s.open_orders().items() if o["role"] == "hedge"]

    def actions_since(self, ts: int, kind: type | None = None) -> list[QuoteAction]:
        return [a for t, a in self.sent if t >= ts and (kind is None or isinstance(a, kind))]

    def places(self, ts: int) -> list[Place]:
        return [a for t, a in self.sent if t >= ts and isinstance(a, Place)]

    def modifies(self, ts: int) -> list[Modify]:
        return [a for t, a in self.sent if t >= ts and isinstance(a, Modify)]

    def cancels(self, ts: int) -> list[Cancel]:
        return [a for t, a in self.sent if t >= ts and isinstance(a, Cancel)]

    def distance_bps(self, side: str) -> float:
        """The quote's distance from the mid it was priced from (bps)."""
        q = self.quotes()[side]
        ref = self.s._book.get(q["coi"]).ref_mid
        return abs(q["price"] - ref) / ref * 1e4
