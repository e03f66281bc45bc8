"""`market_maker`: two-sided post-only quotes with a hedger on the same account (STRATEGIES.md
section 4), on the quoting contract of strategies.quoting.

Composition: strategies.mm_signals (volatility, sigma, trend returns, event time), mm_conditions
(pauses, trend filter, 5-minute guard, PnL guard, regime), mm_quotes (spread, size, self-trade
guard), mm_orders (our orders, cancel budget, back-offs), fifo (FIFO PnL net of fees), hedger.

On every event (a book top; a fill, acceptance, cancel or rejection of ours, at the last book):
the conditions are updated, the hedger steps, then each side is reconciled:
- a side that must not quote (halted, warming up, a volatility pause, a guard or rejection
  back-off, the bid's down-trend cooldown or 5-minute pause, the hedger crossing against it, a
  size below the minimums, a guard block) has its quote cancelled. Such cancels take risk off
  and are always sent, even beyond the cancel cap (they are counted in it);
- a side with no quote gets a Place;
- a live quote is requoted with one Modify when the mid moved more than 2 bps from the quote's
  reference mid, its planned price drifted more than 2 bps, or it is 30 s old, and only while
  fewer than 30 cancels (each Modify is one) fall in the last 60 s; else it waits ("throttled").
A crossed book (bid >= ask) cancels every quote and blocks quoting for the guard back-off (5 s).
Any guard block of a side backs that side off 5 s; a block lasting 10 s puts the hedger in its
emergency mode. A rejected quote (or one the venue cancelled on its own, e.g. post-only would
cross) backs its side off 2 s, doubling per consecutive rejection up to 60 s; an acceptance
resets it. A rejected Modify cancels the order it was for. Nothing is ever retried in a loop.

Fees: every fill enters the FIFO ledger with its fee: the fee the venue reports, or, when
maker_fee / taker_fee are set, that fraction of the fill's notional.

Time advances only with events; the host must feed book tops (they carry the event time) for
timers (the hedger's 8 s, a quote's age, back-offs) to run.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from messages.state import TradeRecord
from strategies.common import NS_PER_MS
from strategies.fifo import Closed, FifoLedger
from strategies.hedger import HedgeContext, Hedger
from strategies.mm_conditions import Conditions
from strategies.mm_orders import Backoff, CancelBudget, OrderBook, TrackedOrder
from strategies.mm_params import MarketMakerParams
from strategies.mm_quotes import adaptive_size_mult, guard_reason, quote_price, quote_size, vol_band_bps
from strategies.mm_signals import MarketSignals
from strategies.quoting import Cancel, LiveOrder, Modify, Place, QuoteAction, QuotingStrategy, Side
from venue.codes import ORDER_NOT_FOUND
from venue.markets import MarketSpec, Rounding

SNAPSHOT_VERSION = 1
SIDES: tuple[Side, Side] = ("buy", "sell")
OTHER: dict[Side, Side] = {"buy": "sell", "sell": "buy"}


class MarketMakerStrategy(QuotingStrategy):
    kind = "market_maker"
    params_type = MarketMakerParams
    params: MarketMakerParams

    def __init__(self, name: str, market: MarketSpec, params: MarketMakerParams, *, account_index: int = 0,
                 order_ids: Callable[[], int]) -> None:
        super().__init__(name, market, params, account_index=account_index, order_ids=order_ids)
        p = params
        self._signals = MarketSignals(p)
        self._cond = Conditions(p)
        self._ledger = FifoLedger(int(p.pnl_window_s * 1000))
        self._closed: list[TradeRecord] = []  # FIFO closes not yet drained by closed_trades()
        self._book = OrderBook()
        self._cancels = CancelBudget(p.max_cancels_per_minute)
        self._hedger = Hedger(market, p)
        self._reject = {side: Backoff() for side in SIDES}
        self._guard = {side: Backoff() for side in SIDES}
        self._guard_reason: dict[str, str] = {side: "" for side in SIDES}
        self._skip: dict[str, str] = {side: "" for side in SIDES}
        self._guard_block_since: int | None = None
        self._crossed = False
        self._top: list[float] | None = None  # [bid, ask] of the last uncrossed book
        self._entries_allowed = True
        self._throttled = False
        self._last_ts: int | None = None
        self._last_book_ts: int | None = None
        self._counts: dict[str, int] = {
            "dropped_events": 0, "fills_quote": 0, "fills_hedge": 0, "fills_unknown": 0, "maker_fills": 0,
            "taker_fills": 0, "rejections": 0, "venue_cancels": 0, "adopted_orders": 0, "canceled_unknown": 0,
            "positions_adopted": 0, "requotes": 0,
        }

    # ================================================================================ helpers
    @property
    def inventory(self) -> float:
        return self.market.size_from_int(self._ledger.position_units)

    def _now(self, ts_ms: int) -> int:
        now = ts_ms if self._last_ts is None else max(ts_ms, self._last_ts)
        self._last_ts = now
        return now

    def _record(self, ts_ms: int, actions: list[QuoteAction], *, forced: bool = False) -> list[QuoteAction]:
        """Count cancels and modifies against the cap. forced: a cancel that takes risk off (crossed
        book, halt, pause, guard, a rejected modify, an unknown order) goes out whatever the cap
        says; the others (requotes, the hedger's) are sent only while the cap has room."""
        for a in actions:
            if isinstance(a, (Cancel, Modify)):
                self._cancels.record(ts_ms, forced=forced)
        return actions

    def _cancel(self, ts_ms: int, orders: list[TrackedOrder], reason: str) -> list[QuoteAction]:
        """Cancel what rests; a Place not yet accepted is cancelled at its acceptance (next step)."""
        out: list[QuoteAction] = []
        for o in orders:
            if o.status in ("live", "modifying"):
                o.status = "canceling"
                out.append(Cancel(coi=o.coi, reason=reason))
        return self._record(ts_ms, out, forced=True)

    def _backoff_ms(self) -> tuple[float, float]:
        return self.params.reject_backoff_s * 1000, self.params.reject_backoff_max_s * 1000

    # ================================================================================ market data
    def on_book(self, ts_ms: int, bid: float, bid_size: float, ask: float, ask_size: float) -> list[QuoteAction]:
        if not all(isinstance(x, (int, float)) and math.isfinite(x) and x > 0 for x in (bid, ask)) or (
            self._last_book_ts is not None and ts_ms < self._last_book_ts
        ):
            self._counts["dropped_events"] += 1
            return []
        self._last_book_ts = ts_ms
        now = self._now(ts_ms)
        if bid >= ask:
            self._crossed = True
            for side in SIDES:
                self._guard[side].block(now, self.params.guard_backoff_s * 1000)
                self._guard_reason[side] = "crossed_book"
            return self._step(now)
        self._crossed = False
        self._top = [bid, ask]
        self._signals.on_mid(now, (bid + ask) / 2)
        return self._step(now)

    def on_trade(self, ts_ms: int, price: float, size: float, taker_is_buyer: bool) -> list[QuoteAction]:
        return []  # the maker's rules read the book only

    # ================================================================================ our orders
    def on_accepted(self, ts_ms: int, coi: int) -> list[QuoteAction]:
        now = self._now(ts_ms)
        o = self._book.get(coi)
        if o is None:
            return []
        if o.status == "modifying" or (o.status == "canceling" and o.new_size > 0):
            o.price, o.size, o.remaining, o.ref_mid, o.placed_ts = o.new_price, o.new_size, o.new_size, o.new_ref_mid, now
            o.new_price = o.new_size = o.new_ref_mid = 0.0
        if o.status != "canceling":
            o.status = "live"
        if o.role == "quote":
            self._reject[o.side].count = 0
        return self._step(now)

    def on_fill(self, ts_ms: int, coi: int, side: Side, price: float, size: float, fee: float, is_maker: bool,
                remaining: float) -> list[QuoteAction]:
        now = self._now(ts_ms)
        m = self.market
        if not (math.isfinite(price) and price > 0 and math.isfinite(size) and math.isfinite(fee)):
            self._counts["dropped_events"] += 1
            return []
        units = m.size_to_int(size, Rounding.NEAREST)
        if units <= 0:
            self._counts["dropped_events"] += 1
            return []
        rate = self.params.maker_fee if is_maker else self.params.taker_fee
        if rate is not None:
            fee = rate * price * m.size_from_int(units)
        self._ledger.fill(now, side, units, price, fee, m.lot)
        self._counts["maker_fills" if is_maker else "taker_fills"] += 1
        o = self._book.get(coi)
        closed = self._ledger.last_closed
        if closed is not None:
            self._closed.append(self._trade_record(now, closed, price, "hedge" if o is not None and o.role == "hedge"
                                                   else "quote" if o is not None else "unknown_order"))
        self._counts[f"fills_{o.role}" if o is not None else "fills_unknown"] += 1
        if o is not None:
            if o.new_size > 0:
                o.new_size = max(0.0, round(o.new_size - m.size_from_int(units), 9))
            o.remaining = remaining
            if m.size_to_int(max(remaining, 0.0), Rounding.NEAREST) <= 0:
                self._book.forget(coi)
        return self._step(now)

    def on_canceled(self, ts_ms: int, coi: int, reason: str) -> list[QuoteAction]:
        now = self._now(ts_ms)
        o = self._book.forget(coi)
        if o is not None and o.role == "quote" and o.status != "canceling":
            self._counts["venue_cancels"] += 1  # e.g. post-only would cross: back off, no loop
            self._reject[o.side].reject(now, *self._backoff_ms())
        return self._step(now)

    def on_rejected(self, ts_ms: int, coi: int, code: int, reason: str) -> list[QuoteAction]:
        now = self._now(ts_ms)
        o = self._book.get(coi)
        if o is None:
            return []
        self._counts["rejections"] += 1
        out: list[QuoteAction] = []
        if o.status in ("placing", "modifying"):
            if o.role == "quote":
                self._reject[o.side].reject(now, *self._backoff_ms())
            else:
                self._hedger.on_rejected(now, self.params.reject_backoff_s * 1000)
            if o.status == "placing":
                self._book.forget(coi)
            else:  # the old order may still rest, at a price we no longer mean
                o.new_price = o.new_size = o.new_ref_mid = 0.0
                o.status = "canceling"
                out = self._record(now, [Cancel(coi=coi, reason="modify_rejected")], forced=True)
        elif o.status == "canceling" and code != ORDER_NOT_FOUND:
            # the cancel itself was refused (a rate limit): the order still rests; ask again later
            o.cancel_retry_ms = now + int(self.params.reject_backoff_s * 1000)
        else:  # a Cancel (or anything) for an order the venue no longer has: it is gone
            self._book.forget(coi)
        return out + self._step(now)

    def on_venue_orders(self, ts_ms: int, live: list[LiveOrder]) -> list[QuoteAction]:
        now = self._now(ts_ms)
        out: list[QuoteAction] = []
        seen: set[int] = set()
        for lo in live:
            seen.add(lo.coi)
            o = self._book.get(lo.coi)
            if o is None:
                self._counts["canceled_unknown"] += 1
                self._book.add(TrackedOrder(coi=lo.coi, side=lo.side, role="quote", price=lo.price, size=lo.remaining,
                                            remaining=lo.remaining, status="canceling", placed_ts=now,
                                            ref_mid=lo.price))
                out.append(Cancel(coi=lo.coi, reason="unknown_after_restart"))
                continue
            self._counts["adopted_orders"] += 1
            o.price, o.remaining, o.new_price, o.new_size, o.new_ref_mid = lo.price, lo.remaining, 0.0, 0.0, 0.0
            if o.status == "canceling":
                out.append(Cancel(coi=lo.coi, reason="cancel_after_restart"))
            else:
                o.status = "live"
        for coi in [c for c in self._book.orders if c not in seen]:
            self._book.forget(coi)  # gone while we were away (its fills come from the position)
        return self._record(now, out, forced=True)

    def _trade_record(self, now: int, closed: Closed, exit_price: float, closed_by: str) -> TradeRecord:
        """One FIFO close as a round trip, for storage, reports and risk's breakers. The exit time
        carries the ledger's fill count below the ms, so two closes in one ms stay two rows."""
        size = self.market.size_from_int(closed.units)
        notional = closed.entry_price * size
        return TradeRecord(
            strategy=self.name, account_index=self.account_index, market_id=self.market.market_id,
            side="long" if closed.direction > 0 else "short", entry_price=closed.entry_price, exit_price=exit_price,
            entry_ts=closed.entry_ts_ms * NS_PER_MS, exit_ts=now * NS_PER_MS + self._ledger.fills % NS_PER_MS,
            size=size, fees=closed.fees, pnl_quote=closed.realized,
            pnl_pct=100.0 * closed.realized / notional if notional else 0.0, exit_reason=f"fifo_{closed_by}",
            mfe_bps=0.0, mae_bps=0.0, ts_event=now * NS_PER_MS, seq=self._ledger.fills)

    def closed_trades(self) -> list[TradeRecord]:
        out, self._closed = self._closed, []
        return out

    def adopt_position(self, ts_ms: int, size: float, entry_price: float) -> bool:
        units = self.market.size_to_int(size, Rounding.NEAREST)
        if units == self._ledger.position_units:
            return False
        price = entry_price if math.isfinite(entry_price) and entry_price > 0 else self._signals.last_mid or 0.0
        self._ledger.reset_to(units, price, self._now(ts_ms))
        self._counts["positions_adopted"] += 1
        return True

    def allow_entries(self, allowed: bool) -> None:
        self._entries_allowed = allowed

    # ================================================================================ decisions
    def _step(self, now: int) -> list[QuoteAction]:
        retried = self._retry_cancels(now)
        if self._crossed:
            out = retried + self._cancel(now, self._book.by_role("quote"), "crossed_book")
            self._update_block(now)
            return out
        if self._top is None:
            return retried
        bid, ask = self._top
        mid = (bid + ask) / 2
        inv = self.inventory
        self._cond.update(now, self._signals, inv, self._ledger.window_pnl(now), self._guard_block_since is not None)
        ctx = HedgeContext(now, mid, bid, ask, inv, self._cond.pnl_guard, self._guard_block_since,
                           self._entries_allowed, self._cancels.available(now))
        out = retried + self._record(now, self._hedger.step(ctx, self._book, self.order_ids))
        self._throttled = False
        for side in SIDES:
            out += self._quote_side(now, side, mid, bid, ask, inv)
        self._update_block(now)
        return out

    def _retry_cancels(self, now: int) -> list[QuoteAction]:
        due = [o for o in self._book.orders.values() if o.status == "canceling" and 0 < o.cancel_retry_ms <= now]
        for o in due:
            o.cancel_retry_ms = 0
        return self._record(now, [Cancel(coi=o.coi, reason="cancel_retry") for o in due], forced=True)

    def _update_block(self, now: int) -> None:
        blocked = self._crossed or any(self._guard[s].active(now) for s in SIDES)
        if not blocked:
            self._guard_block_since = None
        elif self._guard_block_since is None:
            self._guard_block_since = now

    def _off_reason(self, now: int, side: Side) -> str | None:
        c = self._cond
        if not self._entries_allowed:
            return "halted"
        if self._signals.volatility_bps is None or self._signals.samples < self.params.vol_warmup_samples:
            return "warming_up"
        if c.high_vol_paused:
            return "high_vol_pause"
        if c.low_vol_paused:
            return "low_vol_pause"
        if self._guard[side].active(now):
            return "guard_backoff:" + self._guard_reason[side]
        if self._reject[side].active(now):
            return "reject_backoff"
        return None

    def _soft_off_reason(self, now: int, side: Side) -> str | None:
        """Why a side that passes the guard is still kept off (after the guard, so that a lasting
        guard block stays visible to the hedger's emergency rule while these hold)."""
        c = self._cond
        if side == "buy" and c.bid_cooldown(now):
            return "trend_down_cooldown"
        if side == "buy" and c.trend5m_guard and self.params.trend5m_action == "pause":
            return "trend5m_guard"
        if self._hedger.aggressive_side is not None and side != self._hedger.aggressive_side:
            return "hedger_crossing"
        return None

    def plan(self, side: Side, mid: float, bid: float, ask: float) -> tuple[float, float] | None:
        """The (price, size) this side would quote now, before the guard; None below the minimums."""
        c, p = self._cond, self.params
        vol = self._signals.volatility_bps or 0.0
        band = vol_band_bps(vol, p)
        half = (band + c.trend_extra_bps() + c.regime_extra_bps + c.pnl_extra_bps) / 2
        if side == "buy" and c.trend5m_guard and p.trend5m_action == "widen":
            half += p.trend5m_widen_bps
        price = quote_price(self.market, side, mid, half, bid, ask)
        mult = adaptive_size_mult(band, p) * c.regime_size_mult
        if c.high_vol_clip:
            mult *= p.high_vol_clip_mult
        if c.pnl_guard:
            mult *= p.pnl_guard_size_mult
        size = quote_size(self.market, p, mult, price)
        return None if size is None else (price, size)

    def _quote_side(self, now: int, side: Side, mid: float, bid: float, ask: float, inv: float) -> list[QuoteAction]:
        p = self.params
        working = self._book.working("quote", side)
        reason = self._off_reason(now, side)
        plan = None
        if reason is None:
            plan = self.plan(side, mid, bid, ask)
            if plan is None:
                reason = "size_below_minimum"
            else:
                current = working[0].coi if working else None
                g = guard_reason(p, side, plan[0], plan[1], mid, bid, ask, self._book.resting_prices(OTHER[side]),
                                 inv, self._book.open_size(side, exclude=current))
                if g is not None:
                    self._guard[side].block(now, p.guard_backoff_s * 1000)
                    self._guard_reason[side] = g
                    reason, plan = "guard:" + g, None
                else:
                    reason = self._soft_off_reason(now, side)
                    plan = None if reason else plan
        self._skip[side] = reason or ""
        if plan is None:
            return self._cancel(now, working, reason or "")
        out = self._cancel(now, working[1:], "extra_quote")
        price, size = plan
        if not working:
            coi = self.order_ids()
            self._book.add(TrackedOrder(coi=coi, side=side, role="quote", price=price, size=size, remaining=size,
                                        status="placing", placed_ts=now, ref_mid=mid))
            return out + [Place(coi=coi, side=side, price=price, size=size, reason="quote")]
        o = working[0]
        if o.status != "live":
            return out
        tol = p.requote_tolerance_bps
        moved = abs(mid - o.ref_mid) / o.ref_mid * 1e4 > tol
        drifted = abs(price - o.price) / mid * 1e4 > tol
        aged = now - o.placed_ts >= p.max_order_age_s * 1000
        if not (moved or drifted or aged):
            return out
        if not self._cancels.available(now):
            self._throttled = True
            self._skip[side] = "cancel_cap"
            return out
        o.status, o.new_price, o.new_size, o.new_ref_mid = "modifying", price, size, mid
        self._counts["requotes"] += 1
        reason = "requote_moved" if moved else "requote_drift" if drifted else "requote_age"
        return out + self._record(now, [Modify(coi=o.coi, price=price, size=size, reason=reason)])

    # ================================================================================ operators
    def open_orders(self) -> dict[int, dict[str, Any]]:
        return {
            o.coi: {"side": o.side, "price": o.price, "size": o.size, "remaining": o.remaining, "role": o.role,
                    "status": o.status}
            for o in self._book.orders.values()
        }

    def telemetry(self) -> dict[str, float]:
        c, h = self._cond, self._hedger
        now = self._last_ts or 0
        return {
            "maker_regime_state": 1.0 if c.regime == "aggressive" else 0.0,
            "maker_fifo_realized_quote": self._ledger.realized_total,
            "maker_fifo_window_quote": self._ledger.window_pnl(now),
            "maker_trend_state": {"up": 1.0, "down": -1.0, "neutral": 0.0}[c.trend],
            "maker_trend_down_guard": float(c.trend == "down"),
            "maker_trend_down_cooldown_active": float(c.bid_cooldown(now)),
            "maker_trend5m_guard": float(c.trend5m_guard),
            "maker_guard_block_active": float(self._guard_block_since is not None),
            "maker_pnl_guard_active": float(c.pnl_guard),
            "maker_high_vol_clip_active": float(c.high_vol_clip),
            "maker_paused": float(c.high_vol_paused or c.low_vol_paused),
            "maker_cancel_throttled": float(self._throttled),
            "hedger_force_aggressive": float(h.aggressive),
            "hedger_guard_emergency": float(h.emergency),
            "inventory": self.inventory,
            "open_quotes": float(len(self._book.by_role("quote"))),
            "cancels_last_minute": float(self._cancels.used(now)),
            "volatility_bps": self._signals.volatility_bps or 0.0,
        }

    def status(self) -> dict[str, Any]:
        c, led, h = self._cond, self._ledger, self._hedger
        now = self._last_ts or 0
        mid = self._signals.last_mid
        return {
            "strategy": self.name, "kind": self.kind, "market_id": self.market.market_id,
            "inventory": self.inventory, "average_entry": led.average_entry(), "mark": mid,
            "unrealized_pnl": led.unrealized(mid, self.market.lot) if mid else 0.0,
            "orders": [{"coi": o.coi, "role": o.role, "side": o.side, "price": o.price, "size": o.size,
                        "remaining": o.remaining, "status": o.status} for o in self._book.orders.values()],
            "fifo_realized_quote": led.realized_total, "fifo_window_quote": led.window_pnl(now),
            "fees_paid": led.fees_total, "regime": c.regime, "trend": c.trend, "trend_bps": c.trend_bps,
            "trend5m_bps": c.trend5m_bps, "volatility_bps": self._signals.volatility_bps,
            "sigma_1m_bps": self._signals.sigma_1m_bps,
            "pauses": {"high_vol": c.high_vol_paused, "low_vol": c.low_vol_paused, "entries_allowed": self._entries_allowed,
                       "bid_cooldown": c.bid_cooldown(now), "cancel_throttled": self._throttled},
            "guards": {"pnl_guard": c.pnl_guard, "pnl_extra_bps": c.pnl_extra_bps, "trend5m": c.trend5m_guard,
                       "high_vol_clip": c.high_vol_clip, "block_since_ms": self._guard_block_since,
                       "crossed_book": self._crossed, "block_reasons": dict(self._guard_reason)},
            "hedger": {"aggressive": h.aggressive, "emergency": h.emergency, "clips": h.clips_sent,
                       "exposure_since_ms": h.exposure_since_ms, "last_skip": h.last_skip},
            "cancels_last_minute": self._cancels.used(now), "cancels_peak_minute": self._cancels.peak,
            "requote_cancels_peak_minute": self._cancels.peak_discretionary,
            "skip": dict(self._skip), "last_ts_ms": self._last_ts, **self._counts,
        }

    # ================================================================================ state
    def snapshot(self) -> dict[str, Any]:
        return {
            "version": SNAPSHOT_VERSION, "kind": self.kind, "name": self.name,
            "signals": self._signals.to_state(), "conditions": self._cond.to_state(),
            "ledger": self._ledger.to_state(), "orders": self._book.to_state(), "cancels": self._cancels.to_state(),
            "hedger": self._hedger.to_state(),
            "reject": {s: [b.count, b.until_ms] for s, b in self._reject.items()},
            "guard": {s: [b.count, b.until_ms] for s, b in self._guard.items()},
            "guard_reason": dict(self._guard_reason), "skip": dict(self._skip),
            "guard_block_since": self._guard_block_since, "crossed": self._crossed, "top": self._top,
            "entries_allowed": self._entries_allowed, "throttled": self._throttled,
            "last_ts": self._last_ts, "last_book_ts": self._last_book_ts, "counts": dict(self._counts),
        }

    def restore(self, state: dict[str, Any]) -> None:
        if state.get("version") != SNAPSHOT_VERSION or state.get("kind") != self.kind:
            raise ValueError(f"{self.name}: snapshot of kind {state.get('kind')!r} v{state.get('version')} cannot be "
                             f"restored into {self.kind!r} v{SNAPSHOT_VERSION}")
        self._signals.load_state(state["signals"])
        self._cond.load_state(state["conditions"])
        self._ledger = FifoLedger.from_state(state["ledger"])
        self._book.load_state(state["orders"])
        self._cancels.load_state(state["cancels"])
        self._hedger.load_state(state["hedger"])
        self._reject = {s: Backoff(count=v[0], until_ms=v[1]) for s, v in state["reject"].items()}
        self._guard = {s: Backoff(count=v[0], until_ms=v[1]) for s, v in state["guard"].items()}
        self._guard_reason, self._skip = dict(state["guard_reason"]), dict(state["skip"])
        self._guard_block_since, self._crossed = state["guard_block_since"], state["crossed"]
        self._top = state["top"]
        self._entries_allowed, self._throttled = state["entries_allowed"], state["throttled"]
        self._last_ts, self._last_book_ts = state["last_ts"], state["last_book_ts"]
        self._counts = dict(state["counts"])
