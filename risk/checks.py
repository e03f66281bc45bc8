"""Pre-trade checks, the kill switch and per-account rate limits: the risk actor's pure core.

`RiskEngine.check(intent, now_s)` decides every order a strategy asks for. It reads intents by
field name (strategy, account_index, market_id, side, size, price, kind, tif, reduce_only,
is_exit, worst_price), so the message type from `messages/` and test doubles both work.

Rules, in the order they are applied (the first failing one names the refusal):
1. the strategy is known and trades only on its own account (always, even for exits);
2. the kill switch: `halted` or `flattening` refuses entries; exits are always allowed;
3. fail closed: no fresh two-sided book for the market refuses entries;
4. a tripped circuit breaker of the strategy refuses entries;
5. size: positive, within the market's minimums, entries within the strategy's size_max, an exit
   never larger than the position it closes;
6. price: a limit within `price_band_bps` of mid; a post-only order that would cross is refused;
   a taker's worst price within `max_slippage_bps` of mid;
7. entries that raise the absolute net notional across all accounts above `max_net_notional`;
8. the account's order rate (a sliding 60 s window), for entries and exits alike.
"""

from __future__ import annotations

from collections import deque
from typing import Any, Protocol

import msgspec

from risk.breakers import BreakerLimits, CircuitBreaker
from risk.positions import Mismatch, PositionBook
from venue.markets import MarketSpec, OrderRefused


class IntentLike(Protocol):
    """What the checks read of an intent: read-only, so frozen Structs (OrderIntent) qualify."""

    @property
    def strategy(self) -> str: ...
    @property
    def account_index(self) -> int: ...
    @property
    def market_id(self) -> int: ...
    @property
    def side(self) -> Any: ...
    @property
    def size(self) -> float: ...
    @property
    def price(self) -> float | None: ...
    @property
    def kind(self) -> str: ...
    @property
    def tif(self) -> str: ...
    @property
    def reduce_only(self) -> bool: ...
    @property
    def is_exit(self) -> bool: ...


class RiskLimits(msgspec.Struct, frozen=True, kw_only=True):
    max_net_notional: float = 5_000.0
    price_band_bps: float = 50.0
    max_slippage_bps: float = 50.0
    order_rate_per_min: int = 60
    cancel_rate_per_min: int = 60


class StrategyLimits(msgspec.Struct, frozen=True, kw_only=True):
    account_index: int
    market_id: int
    size_max: float
    equity: float = 10_000.0
    breakers: BreakerLimits | None = None  # this strategy's own, else the engine's
    tx_per_minute: int | None = None  # the account tier's budget (orders, modifies, cancels), else risk's limits


class Decision(msgspec.Struct, frozen=True, kw_only=True):
    approved: bool
    code: str = ""
    reason: str = ""


APPROVED = Decision(approved=True)

RUNNING, HALTED, FLATTENING = "running", "halted", "flattening"


def is_buy(side: Any) -> bool:
    value = getattr(side, "value", side)
    if value in ("buy", "bid", "long", True, 0):
        return True
    if value in ("sell", "ask", "short", False, 1):
        return False
    raise ValueError(f"unknown side {side!r}")


class SlidingWindow:
    """At most `limit` events in any `window_s` seconds of event time.

    A time more than a window before the newest one recorded means the clock went back (a replay
    started again, or a wall-clock stamp got in once): what was recorded belongs to another
    timeline and would otherwise never leave the window, so it is forgotten.
    """

    def __init__(self, limit: int, window_s: float = 60.0) -> None:
        self.limit = limit
        self.window_s = window_s
        self._times: deque[float] = deque()

    def allow(self, now_s: float) -> bool:
        if self._times and now_s < self._times[-1] - self.window_s:
            self._times.clear()
        while self._times and now_s - self._times[0] >= self.window_s:
            self._times.popleft()
        if len(self._times) >= self.limit:
            return False
        self._times.append(now_s)
        return True


class RiskEngine:
    def __init__(self, strategies: dict[str, StrategyLimits], markets: dict[int, MarketSpec],
                 limits: RiskLimits | None = None, breaker_limits: BreakerLimits | None = None) -> None:
        self.strategies = strategies
        self.markets = markets
        self.limits = limits or RiskLimits()
        self.positions = PositionBook()
        self.breakers = {name: CircuitBreaker(name, s.equity, s.breakers or breaker_limits)
                         for name, s in strategies.items()}
        self.mode: dict[str, str] = {name: RUNNING for name in strategies}
        self.halt_reason: dict[str, str] = {}
        self._tops: dict[int, tuple[float, float]] = {}
        self._stale: set[int] = set()
        self._order_windows: dict[int, SlidingWindow] = {}
        self._cancel_windows: dict[int, SlidingWindow] = {}
        self._tx_windows: dict[int, SlidingWindow] = {}  # accounts with a tier's budget

    # --- market state --------------------------------------------------------------------
    def on_book_top(self, market_id: int, bid: float, ask: float) -> None:
        if bid > 0 and ask > 0 and bid < ask:
            self._tops[market_id] = (bid, ask)

    def on_feed_status(self, market_id: int, stale: bool) -> None:
        (self._stale.add if stale else self._stale.discard)(market_id)

    def mid(self, market_id: int) -> float | None:
        top = self._tops.get(market_id)
        return (top[0] + top[1]) / 2 if top else None

    # --- the check ---------------------------------------------------------------------
    def check(self, intent: IntentLike, now_s: float) -> Decision:
        decision = self._check(intent)
        if not decision.approved:
            return decision
        tier_limit = self._tier_limit(intent.account_index)
        if tier_limit is not None:
            return self._tier_allows(intent.account_index, tier_limit, now_s)
        if not self._window(self._order_windows, intent.account_index,
                            self.limits.order_rate_per_min).allow(now_s):
            return _refuse("rate_limit", f"account {intent.account_index} is at its "
                           f"{self.limits.order_rate_per_min} orders a minute")
        return decision

    def check_cancel(self, strategy: str, account_index: int, now_s: float) -> Decision:
        own = self.strategies.get(strategy)
        if own is None or own.account_index != account_index:
            return _refuse("wrong_account", f"{strategy} may only cancel on its own account")
        tier_limit = self._tier_limit(account_index)
        if tier_limit is not None:
            return self._tier_allows(account_index, tier_limit, now_s)
        if not self._window(self._cancel_windows, account_index, self.limits.cancel_rate_per_min).allow(now_s):
            return _refuse("rate_limit", f"account {account_index} is at its cancel rate")
        return APPROVED

    def _tier_limit(self, account_index: int) -> int | None:
        for own in self.strategies.values():
            if own.account_index == account_index:
                return own.tx_per_minute
        return None

    def _tier_allows(self, account_index: int, limit: int, now_s: float) -> Decision:
        """Lighter counts every transaction of a tiered account (create, modify, cancel) in one
        budget a minute: so does risk, so that the venue never has to refuse one."""
        if not self._window(self._tx_windows, account_index, limit).allow(now_s):
            return _refuse("rate_limit", f"account {account_index} is at its tier's {limit} transactions a minute")
        return APPROVED

    def _check(self, intent: IntentLike) -> Decision:
        own = self.strategies.get(intent.strategy)
        if own is None:
            return _refuse("unknown_strategy", f"no strategy named {intent.strategy!r}")
        if intent.account_index != own.account_index or intent.market_id != own.market_id:
            return _refuse("wrong_account", f"{intent.strategy} trades market {own.market_id} on account "
                           f"{own.account_index}, not market {intent.market_id} on {intent.account_index}")
        market = self.markets.get(intent.market_id)
        if market is None:
            return _refuse("unknown_market", f"market {intent.market_id} is not configured")
        buy = is_buy(intent.side)
        exit_order = intent.is_exit or intent.reduce_only
        position = self.positions.get(intent.account_index, intent.market_id).size
        if exit_order:
            closes = position != 0 and (position > 0) != buy
            if not closes:
                return _refuse("not_an_exit", f"an exit must reduce the position ({position:+g})")
            if intent.size > abs(position) + 1e-9:
                return _refuse("size", f"exit size {intent.size:g} exceeds the position {abs(position):g}")
        else:
            if self.mode[intent.strategy] != RUNNING:
                return _refuse("halted", f"{intent.strategy} is {self.mode[intent.strategy]}: "
                               f"{self.halt_reason.get(intent.strategy, '')}".rstrip(": "))
            if intent.market_id in self._stale or intent.market_id not in self._tops:
                return _refuse("feed_stale", f"no fresh book for market {intent.market_id}: entries refused")
            breaker = self.breakers[intent.strategy]
            if breaker.tripped:
                return _refuse("breaker", f"circuit breaker tripped: {breaker.describe()}")
            if intent.size > own.size_max + 1e-9:
                return _refuse("size", f"size {intent.size:g} exceeds size_max {own.size_max:g}")
        decision = self._check_price(intent, market, buy, exit_order)
        if not decision.approved:
            return decision
        if not exit_order:
            mid = self.mid(intent.market_id) or 0.0
            marks = {m: (b + a) / 2 for m, (b, a) in self._tops.items()}
            net = self.positions.net_notional(marks)
            after = net + (intent.size if buy else -intent.size) * mid
            if abs(after) > self.limits.max_net_notional and abs(after) > abs(net):
                return _refuse("net_exposure", f"net notional would be {after:.2f}, above the cap "
                               f"{self.limits.max_net_notional:.2f}")
        return APPROVED

    def _check_price(self, intent: IntentLike, market: MarketSpec, buy: bool, exit_order: bool) -> Decision:
        price = intent.price if intent.kind == "limit" else getattr(intent, "worst_price", None) or intent.price
        mid = self.mid(intent.market_id)
        if price is None or price <= 0:
            return _refuse("price", "an order needs a positive limit or worst price")
        try:
            market.check_order(market.size_to_int(intent.size), market.price_to_int(price))
        except OrderRefused as exc:
            return _refuse("min_size", str(exc))
        if mid is None:
            return APPROVED  # only exits get here without a book; they price themselves
        bid, ask = self._tops[intent.market_id]
        deviation_bps = abs(price - mid) / mid * 1e4
        taker = intent.kind == "market" or intent.tif == "ioc"
        if intent.tif == "post_only" and ((buy and price >= ask) or (not buy and price <= bid)):
            return _refuse("post_only_cross", f"post-only {'bid' if buy else 'ask'} {price:g} would cross "
                           f"the book ({bid:g} / {ask:g})")
        if taker and deviation_bps > self.limits.max_slippage_bps:
            return _refuse("slippage", f"worst price {price:g} is {deviation_bps:.1f} bps from mid "
                           f"{mid:g}, above {self.limits.max_slippage_bps:g}")
        if not taker and not exit_order and deviation_bps > self.limits.price_band_bps:
            return _refuse("price_band", f"limit {price:g} is {deviation_bps:.1f} bps from mid {mid:g}, "
                           f"outside the {self.limits.price_band_bps:g} bps band")
        return APPROVED

    @staticmethod
    def _window(windows: dict[int, SlidingWindow], account: int, limit: int) -> SlidingWindow:
        window = windows.get(account)
        if window is None:
            window = windows[account] = SlidingWindow(limit)
        return window

    # --- fills, trades and the venue's truth --------------------------------------------
    def on_fill(self, account_index: int, market_id: int, side: Any, price: float, size: float,
                fee: float = 0.0, trade_id: int | None = None) -> bool:
        return self.positions.on_fill(account_index, market_id, is_buy(side), price, size, fee, trade_id)

    def on_trade_closed(self, strategy: str, pnl: float, ts_ms: int) -> str | None:
        breaker = self.breakers.get(strategy)
        return breaker.on_trade_closed(pnl, ts_ms) if breaker else None

    def on_time(self, ts_ms: int) -> list[str]:
        """Event time moved on; returns the strategies whose daily-loss trip the new day cleared."""
        return [name for name, breaker in self.breakers.items() if breaker.on_time(ts_ms)]

    def reconcile(self, account_index: int, venue_positions: dict[int, tuple[float, float]]) -> list[Mismatch]:
        return self.positions.reconcile(account_index, venue_positions)

    # --- the kill switch -----------------------------------------------------------------
    def _scope(self, scope: str) -> list[str]:
        return list(self.strategies) if scope == "all" else [scope] if scope in self.strategies else []

    def halt(self, scope: str = "all", reason: str = "operator") -> list[str]:
        names = self._scope(scope)
        for name in names:
            if self.mode[name] == RUNNING:
                self.mode[name] = HALTED
            self.halt_reason[name] = reason
        return names

    def resume(self, scope: str = "all") -> list[str]:
        names = self._scope(scope)
        for name in names:
            self.mode[name] = RUNNING
            self.halt_reason.pop(name, None)
            self.breakers[name].reset()
        return names

    def flatten(self, scope: str = "all", reason: str = "operator") -> list[dict[str, Any]]:
        """Halt and return the reduce-only IOC closes to send (cancel-all goes first, per account)."""
        closes = []
        for name in self._scope(scope):
            self.mode[name] = FLATTENING
            self.halt_reason[name] = reason
            own = self.strategies[name]
            pos = self.positions.get(own.account_index, own.market_id)
            if pos.size == 0:
                continue
            mid = self.mid(own.market_id) or pos.avg_entry
            slip = self.limits.max_slippage_bps / 1e4
            sell = pos.size > 0
            closes.append({
                "strategy": name, "account_index": own.account_index, "market_id": own.market_id,
                "side": "sell" if sell else "buy", "size": abs(pos.size),
                "worst_price": mid * (1 - slip) if sell else mid * (1 + slip),
            })
        return closes

    # --- persistence ---------------------------------------------------------------------
    def to_state(self) -> dict[str, Any]:
        return {
            "mode": dict(self.mode),
            "halt_reason": dict(self.halt_reason),
            "breakers": {name: b.to_state() for name, b in self.breakers.items()},
            "positions": self.positions.to_state(),
        }

    def restore(self, state: dict[str, Any]) -> None:
        for name, mode in state.get("mode", {}).items():
            if name in self.mode:
                self.mode[name] = mode
        self.halt_reason.update({k: v for k, v in state.get("halt_reason", {}).items() if k in self.mode})
        for name, raw in state.get("breakers", {}).items():
            if name in self.breakers:
                self.breakers[name] = CircuitBreaker.from_state(raw)
        if "positions" in state:
            self.positions = PositionBook.from_state(state["positions"])


def _refuse(code: str, reason: str) -> Decision:
    return Decision(approved=False, code=code, reason=reason)
