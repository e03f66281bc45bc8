"""The market maker's hedger: keeps the account's inventory near a target, on the same account.

Rules (STRATEGIES.md section 4, defaults in strategies.mm_params):
- Hedge when |inventory - target| > trigger (0.05, target +0.02): side sell when above target,
  size min(|inventory - target|, clip) with clip <= max_clip (0.10), floored to the lot; a size
  below the market minimums is raised to the smallest one that meets them, and skipped if even
  that would overshoot the deviation.
- Passive first: a post-only order 2 bps from the mid on the passive side (a sell above the mid),
  never at or through the opposite touch; it is moved (Modify) to the current price when it is
  more than `hedge_reprice_bps` off and was sent at least 0.25 s ago, and only while the cancel
  budget has room (a reprice is a requote).
- Aggressive after 8 s of exposure (the deviation above trigger without interruption): the
  passive order is cancelled, then an IOC limit order crosses at `cross` bps from the mid (at
  most the slippage cap, 12), after which the hedger waits `hedge_cooldown_s` (ours, 2 s).
  It does not cross while the opposite touch is beyond the cap (a thin or gapped book).
- PnL guard active: clip x0.65, slippage cap 9 bps, cross at 7 bps.
- Guard block for >= 10 s: emergency, cross at once (no passive phase), clip x1.4, cross and cap
  +6 bps, 0.75 s cooldown.
- Halted (entries not allowed): target 0 and only reduce-only clips (never beyond flat).
- Never crosses our own resting orders: before an aggressive sell, every bid of ours at or above
  its limit is cancelled and the hedger waits for it to go (and the maker keeps that side off
  while `aggressive_side` says so).

Pure: the maker strategy calls `step` on every event with the state of the account; the hedger
adds its orders (role "hedge") to the shared order book and answers actions.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

from strategies.common import meets_minimums
from strategies.mm_orders import OrderBook, TrackedOrder
from strategies.mm_params import MarketMakerParams
from strategies.quoting import Cancel, Modify, Place, QuoteAction, Side
from venue.markets import MarketSpec, Rounding

EPS_UNITS = 1e-9


class HedgeContext(NamedTuple):
    ts_ms: int
    mid: float
    bid: float
    ask: float
    inventory: float
    pnl_guard: bool
    guard_block_since_ms: int | None
    entries_allowed: bool
    can_requote: bool  # the cancel budget has room


class Hedger:
    def __init__(self, market: MarketSpec, p: MarketMakerParams) -> None:
        self.market = market
        self.p = p
        self.exposure_since_ms: int | None = None
        self.cooldown_until_ms = 0
        self.last_post_ms = 0
        self.aggressive = False
        self.emergency = False
        self.aggressive_side: Side | None = None
        self.clips_sent = 0
        self.last_skip = ""

    # ------------------------------------------------------------------------------------
    def step(self, ctx: HedgeContext, book: OrderBook, new_coi: Callable[[], int]) -> list[QuoteAction]:
        p = self.p
        target = p.hedge_target_units if ctx.entries_allowed else 0.0
        deviation = ctx.inventory - target
        hedges = book.by_role("hedge")
        if not p.hedge_enabled or abs(deviation) <= p.hedge_trigger_units + EPS_UNITS:
            self._calm()
            return self._cancel(hedges, "hedge_not_needed")
        if self.exposure_since_ms is None:
            self.exposure_since_ms = ctx.ts_ms
        side: Side = "sell" if deviation > 0 else "buy"
        wrong_side = [o for o in hedges if o.side != side]
        if wrong_side:
            return self._cancel(wrong_side, "hedge_side_flipped")
        if not ctx.entries_allowed and any(not o.reduce_only for o in hedges):
            return self._cancel([o for o in hedges if not o.reduce_only], "hedge_halted")
        block = ctx.guard_block_since_ms
        self.emergency = block is not None and ctx.ts_ms - block >= p.hedge_emergency_after_s * 1000
        self.aggressive = self.emergency or ctx.ts_ms - self.exposure_since_ms >= p.hedge_aggressive_after_s * 1000
        self.aggressive_side = side if self.aggressive else None
        if ctx.ts_ms < self.cooldown_until_ms:
            self.last_skip = "cooldown"
            return []
        size = self._size(ctx, deviation, side)
        if size is None:
            return self._cancel(hedges, "hedge_below_minimum")
        if self.aggressive:
            return self._cross(ctx, book, new_coi, side, size, hedges)
        return self._passive(ctx, book, new_coi, side, size, hedges)

    def _calm(self) -> None:
        self.exposure_since_ms = None
        self.aggressive = self.emergency = False
        self.aggressive_side = None

    # --- sizing --------------------------------------------------------------------------
    def clip_units(self, pnl_guard: bool) -> float:
        p = self.p
        if self.emergency:
            return p.hedge_max_clip_units * p.hedge_emergency_clip_mult
        if pnl_guard:
            return p.hedge_max_clip_units * p.hedge_guard_clip_mult
        return p.hedge_max_clip_units

    def _size(self, ctx: HedgeContext, deviation: float, side: Side) -> float | None:
        m = self.market
        want = min(abs(deviation), self.clip_units(ctx.pnl_guard))
        limit = abs(deviation)
        reduce_only = not ctx.entries_allowed
        if reduce_only:
            limit = min(limit, abs(ctx.inventory))
            want = min(want, limit)
        size = m.quantize_size(round(want, 9), Rounding.DOWN)
        price = ctx.mid
        if size <= 0 or not meets_minimums(m, size, price):
            smallest = max(m.quantize_size(m.min_base_amount, Rounding.UP),
                           m.quantize_size(round(m.min_quote_amount / price, 9), Rounding.UP))
            if smallest > limit + EPS_UNITS or not meets_minimums(m, smallest, price):
                self.last_skip = "below_minimum"
                return None
            size = smallest
        return size

    # --- prices --------------------------------------------------------------------------
    def cross_and_cap_bps(self, pnl_guard: bool) -> tuple[float, float]:
        p = self.p
        if pnl_guard:
            cross, cap = p.hedge_guard_cross_bps, p.hedge_guard_slippage_bps
        else:
            cross = cap = p.hedge_max_slippage_bps
        if self.emergency:
            cross, cap = cross + p.hedge_emergency_extra_bps, cap + p.hedge_emergency_extra_bps
        return min(cross, cap), cap

    def _passive_price(self, ctx: HedgeContext, side: Side) -> float:
        m = self.market
        off = self.p.hedge_passive_offset_bps / 1e4
        if side == "sell":
            return max(m.quantize_price(ctx.mid * (1 + off), Rounding.UP), m.quantize_price(ctx.bid, Rounding.DOWN) + m.tick)
        return min(m.quantize_price(ctx.mid * (1 - off), Rounding.DOWN), m.quantize_price(ctx.ask, Rounding.UP) - m.tick)

    # --- actions -------------------------------------------------------------------------
    def _passive(self, ctx: HedgeContext, book: OrderBook, new_coi: Callable[[], int], side: Side, size: float,
                 hedges: list[TrackedOrder]) -> list[QuoteAction]:
        price = self._passive_price(ctx, side)
        if not hedges:
            return [self._place(ctx, book, new_coi, side, price, size, "post_only", "hedge_passive")]
        order = hedges[0]
        if order.status != "live":
            return []
        off_bps = abs(price - order.price) / ctx.mid * 1e4
        waited = ctx.ts_ms - self.last_post_ms >= self.p.hedge_passive_wait_s * 1000
        if off_bps > self.p.hedge_reprice_bps and waited and ctx.can_requote:
            order.status, order.new_price, order.new_size, order.new_ref_mid = "modifying", price, size, ctx.mid
            self.last_post_ms = ctx.ts_ms
            return [Modify(coi=order.coi, price=price, size=size, reason="hedge_reprice")]
        return []

    def _cross(self, ctx: HedgeContext, book: OrderBook, new_coi: Callable[[], int], side: Side, size: float,
               hedges: list[TrackedOrder]) -> list[QuoteAction]:
        if hedges:  # a passive one to take down first, or an IOC still in flight
            return self._cancel([o for o in hedges if o.tif != "ioc"], "hedge_to_aggressive")
        m = self.market
        cross, cap = self.cross_and_cap_bps(ctx.pnl_guard)
        touch_bps = (ctx.mid - ctx.bid) / ctx.mid * 1e4 if side == "sell" else (ctx.ask - ctx.mid) / ctx.mid * 1e4
        if touch_bps > cap:
            self.last_skip = "touch_beyond_cap"
            return []
        if side == "sell":
            limit = m.quantize_price(round(ctx.mid * (1 - cross / 1e4), 9), Rounding.UP)
            ours = [o for o in book.by_role("quote", "buy") if max(o.price, o.new_price) >= limit]
        else:
            limit = m.quantize_price(round(ctx.mid * (1 + cross / 1e4), 9), Rounding.DOWN)
            ours = [o for o in book.by_role("quote", "sell")
                    if min(o.price, o.new_price if o.status == "modifying" else math.inf) <= limit]
        if ours:  # our own quote is in the way: take it down, cross on a later event
            self.last_skip = "own_quote_in_the_way"
            return self._cancel(ours, "hedge_self_trade")
        p = self.p
        cooldown = p.hedge_emergency_cooldown_s if self.emergency else p.hedge_cooldown_s
        self.cooldown_until_ms = ctx.ts_ms + int(cooldown * 1000)
        self.clips_sent += 1
        reason = "hedge_emergency" if self.emergency else "hedge_aggressive"
        return [self._place(ctx, book, new_coi, side, limit, size, "ioc", reason)]

    def _place(self, ctx: HedgeContext, book: OrderBook, new_coi: Callable[[], int], side: Side, price: float,
               size: float, tif: str, reason: str) -> Place:
        reduce_only = (side == "sell" and ctx.inventory >= size - EPS_UNITS) or (
            side == "buy" and -ctx.inventory >= size - EPS_UNITS)
        coi = new_coi()
        book.add(TrackedOrder(coi=coi, side=side, role="hedge", price=price, size=size, remaining=size,
                              status="placing", placed_ts=ctx.ts_ms, ref_mid=ctx.mid, tif=tif,
                              reduce_only=reduce_only))
        self.last_post_ms = ctx.ts_ms
        self.last_skip = ""
        return Place(coi=coi, side=side, price=price, size=size, kind="limit",
                     tif="ioc" if tif == "ioc" else "post_only", reduce_only=reduce_only, role="hedge",
                     reason=reason)

    @staticmethod
    def _cancel(orders: list[TrackedOrder], reason: str) -> list[QuoteAction]:
        out: list[QuoteAction] = []
        for o in orders:
            if o.status in ("live", "modifying"):  # a Place not yet answered is canceled once accepted
                o.status = "canceling"
                out.append(Cancel(coi=o.coi, reason=reason))
        return out

    def on_rejected(self, ts_ms: int, backoff_ms: float) -> None:
        """A hedge was refused: wait before the next clip (never loop on a refusal)."""
        self.cooldown_until_ms = max(self.cooldown_until_ms, ts_ms + int(backoff_ms))

    # --- state ---------------------------------------------------------------------------
    def to_state(self) -> dict[str, Any]:
        return {
            "exposure_since_ms": self.exposure_since_ms,
            "cooldown_until_ms": self.cooldown_until_ms,
            "last_post_ms": self.last_post_ms,
            "aggressive": self.aggressive,
            "emergency": self.emergency,
            "aggressive_side": self.aggressive_side,
            "clips_sent": self.clips_sent,
            "last_skip": self.last_skip,
        }

    def load_state(self, state: dict[str, Any]) -> None:
        self.exposure_since_ms = state["exposure_since_ms"]
        self.cooldown_until_ms = state["cooldown_until_ms"]
        self.last_post_ms = state["last_post_ms"]
        self.aggressive = state["aggressive"]
        self.emergency = state["emergency"]
        self.aggressive_side = state["aggressive_side"]
        self.clips_sent = state["clips_sent"]
        self.last_skip = state["last_skip"]
