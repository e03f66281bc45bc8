"""The simulator's matching engine: simulator orders against an external book and each other.

Pure and deterministic (no clock, no randomness, no I/O), so the REST/websocket server and a
backtester drive the same code. The external market arrives as full book snapshots (`on_book`)
and prints (`on_trade`); simulator accounts `submit`, `modify` and `cancel` orders. Takers sweep
the merged book (external levels plus other accounts' resting orders); resting orders fill as
makers when an external print reaches them or a new external book crosses them. How a print
reaches a resting order is the maker fill model of `venue.sim.queue`: by default the order waits
behind the external size that rested at its price before it (its queue), and a print at its price
trades that queue first. Everything is in the venue's integer units and event time in ms; money is
float quote currency (fees: the market's, or an account's own from `set_account_fees`).
"""

from __future__ import annotations

import hashlib
import heapq
import math
from collections import deque

from venue import codes
from venue.markets import MarketSpec, Rounding
from venue.sim import queue
from venue.sim.accounts import apply_fill
from venue.sim.accounts import unrealized_pnl as position_unrealized_pnl
from venue.sim.book_sides import ExternalSide, Level, RestingSide, merge_levels
from venue.sim.funding import FundingLedger, FundingRates
from venue.sim.queue import MakerFills
from venue.sim.types import (
    Account,
    OrderRequest,
    OrderStatus,
    OrderType,
    SimOrder,
    SimTrade,
    SubmitResult,
    TimeInForce,
)

__all__ = ["MAX_PRICE", "Level", "MakerFills", "MatchingEngine", "tx_hash_for"]

MAX_PRICE = 2**32  # the venue packs prices into 32 bits
_NOTIONAL_EPSILON = 1e-9


class _MarketState:
    def __init__(self, spec: MarketSpec, recent_trades: int) -> None:
        self.spec = spec
        self.min_base_units = spec.size_to_int(spec.min_base_amount, Rounding.NEAREST)
        self.ext_bids = ExternalSide(is_ask=False)
        self.ext_asks = ExternalSide(is_ask=True)
        self.bids = RestingSide(is_ask=False)
        self.asks = RestingSide(is_ask=True)
        self.recent: deque[SimTrade] = deque(maxlen=recent_trades)

    def resting(self, is_ask: bool) -> RestingSide:
        return self.asks if is_ask else self.bids

    def external(self, is_ask: bool) -> ExternalSide:
        return self.ext_asks if is_ask else self.ext_bids

    def best_merged(self, is_ask: bool) -> int | None:
        """Best price on one side of the book as the venue shows it (any account's orders count)."""
        candidates = [
            price
            for price in (self.resting(is_ask).best_price(), self.external(is_ask).best_available_price())
            if price is not None
        ]
        if not candidates:
            return None
        return min(candidates) if is_ask else max(candidates)


def tx_hash_for(trade_id: int) -> str:
    """A deterministic 80-hex-character transaction hash for a simulator trade."""
    return hashlib.blake2b(f"lighter-sim-trade:{trade_id}".encode(), digest_size=40).hexdigest()


def _sign(value: int) -> int:
    return (value > 0) - (value < 0)


class MatchingEngine:
    """Matches simulator orders against the external market and each other; keeps accounts.

    Expired GTT orders are canceled whenever an event at or after their expiry arrives (so an
    expired order never fills); `expire` returns every order expired since its previous call.
    `take_order_updates` returns the orders whose state changed since its previous call, for a
    server that pushes account updates.

    maker_fills chooses how prints reach resting orders (`venue.sim.queue.MakerFills`): "queue"
    (the default), "through" (only prints through the price, the engine's older default) or
    "touch"; `fill_at_touch=True` is a synonym of "touch", kept for its callers.
    """

    def __init__(
        self,
        markets: dict[int, MarketSpec],
        *,
        default_collateral: float = 10_000.0,
        max_leverage: float = 10.0,
        fill_at_touch: bool = False,
        maker_fills: MakerFills | str | None = None,
        order_index_start: int = 281_474_976_710_656,
        trade_id_start: int = 1,
        max_terminal_orders: int = 100_000,
        max_trades_per_account: int = 100_000,
        recent_trades_per_market: int = 1_000,
        funding_rates: FundingRates | None = None,
    ) -> None:
        self._markets = {
            market_id: _MarketState(spec, recent_trades_per_market) for market_id, spec in markets.items()
        }
        self._default_collateral = float(default_collateral)
        self._max_leverage = float(max_leverage)
        self._maker_fills = queue.resolve_maker_fills(maker_fills, fill_at_touch)
        self._account_fees: dict[int, tuple[float, float]] = {}  # account -> (maker, taker) fractions
        self._next_order_index = order_index_start
        self._next_trade_id = trade_id_start
        self._max_terminal_orders = max_terminal_orders
        self._max_trades_per_account = max_trades_per_account

        self._accounts: dict[int, Account] = {}
        self._orders: dict[int, SimOrder] = {}  # every order still remembered, by order_index
        self._terminal: deque[int] = deque()  # order_index of terminal orders, oldest first
        self._by_client: dict[tuple[int, int], int] = {}  # (account, client_order_index) -> order_index
        self._active: dict[int, dict[int, SimOrder]] = {}  # account -> resting orders by order_index
        self._reduce_only: dict[tuple[int, int], dict[int, SimOrder]] = {}  # (account, market) -> resting
        self._expiries: list[tuple[int, int]] = []  # heap of (order_expiry_ms, order_index), lazily pruned
        self._expiring_open = 0  # how many heap entries still belong to resting orders
        self._expired: deque[SimOrder] = deque(maxlen=max_terminal_orders)  # since the last expire()
        self._account_trades: dict[int, deque[SimTrade]] = {}
        self._updated: dict[int, SimOrder] = {}
        # hourly funding on event time (venue.sim.funding); no rates: none is paid
        self.funding = FundingLedger(funding_rates)
        self._specs = dict(markets)

    # =========================================================================================
    # the external market
    # =========================================================================================

    def on_book(self, market_id: int, bids: list[Level], asks: list[Level], ts_ms: int) -> list[SimTrade]:
        """Replace the external book; resting simulator orders it crosses fill as makers at their price."""
        state = self._state(market_id)
        self._expire_due(ts_ms)
        state.ext_bids.replace(bids)
        state.ext_asks.replace(asks)
        trades: list[SimTrade] = []
        for is_ask in (False, True):
            self._cross_resting(state, is_ask, ts_ms, trades)
            if self._maker_fills is MakerFills.QUEUE:
                queue.requeue_after_book(state.resting(is_ask), state.external(is_ask))
        return trades

    def on_trade(
        self, market_id: int, price: int, size: int, taker_is_buyer: bool, ts_ms: int
    ) -> list[SimTrade]:
        """An external print: resting orders it reaches fill as makers at their price, up to its size.

        Orders at prices the print went through fill in price-time priority; at the print's own
        price the maker fill model decides (queue: after the external size ahead of them).
        """
        state = self._state(market_id)
        self._expire_due(ts_ms)
        trades: list[SimTrade] = []
        if price <= 0 or size <= 0:
            return trades
        # a buy aggressor lifts our asks, a sell aggressor hits our bids
        side = state.resting(is_ask=taker_is_buyer)
        print_key = side.key(price)
        limit_key = print_key - (1 if self._maker_fills is MakerFills.THROUGH else 0)
        left = size
        for key in side.keys_through(limit_key):
            through = key < print_key or self._maker_fills is MakerFills.TOUCH
            if left <= 0 and not through:
                break
            left -= self._walk_level(state, side, key, left, None, ts_ms, trades, through=through)
        return trades

    # =========================================================================================
    # orders from simulator accounts
    # =========================================================================================

    def submit(self, req: OrderRequest, ts_ms: int) -> SubmitResult:
        state = self._markets.get(req.market_id)
        if state is None:
            return _reject(codes.INVALID_MARKET, f"unknown market {req.market_id}")
        self._expire_due(ts_ms)
        rejection, base_amount = self._validate(state, req, ts_ms)
        if rejection is not None:
            return rejection

        is_market = req.order_type == OrderType.MARKET
        order = SimOrder(
            order_index=self._next_order_index,
            client_order_index=req.client_order_index,
            account_index=req.account_index,
            market_id=req.market_id,
            is_ask=req.is_ask,
            price=req.price,
            initial_base_amount=base_amount,
            remaining_base_amount=base_amount,
            order_type=req.order_type,
            time_in_force=TimeInForce.IOC if is_market else req.time_in_force,
            reduce_only=req.reduce_only,
            order_expiry_ms=req.order_expiry_ms
            if req.time_in_force != TimeInForce.IOC and not is_market
            else 0,
            nonce=req.nonce,
            created_at_ms=ts_ms,
            updated_at_ms=ts_ms,
        )
        self._next_order_index += 1
        self.account(req.account_index)
        self._remember(order)

        trades: list[SimTrade] = []
        if order.time_in_force != TimeInForce.POST_ONLY:
            self._take(state, order, ts_ms, trades)

        if order.remaining_base_amount == 0:
            self._finish(order, OrderStatus.FILLED, ts_ms)
        elif order.time_in_force == TimeInForce.IOC:
            status = (
                OrderStatus.CANCELED_IOC
                if order.filled_base_amount
                else OrderStatus.CANCELED_NOT_ENOUGH_LIQUIDITY
            )
            self._finish(order, status, ts_ms)
        else:
            self._rest(state, order)
        return SubmitResult(code=codes.OK, message=codes.message_for(codes.OK), order=order, trades=trades)

    def cancel(
        self, account_index: int, market_id: int, order_index: int, ts_ms: int
    ) -> tuple[int, SimOrder | None]:
        """Cancel one open order of the account, by order_index or else by client_order_index."""
        self._expire_due(ts_ms)
        order = self._open_order(account_index, order_index)
        if order is None or order.market_id != market_id:
            return codes.ORDER_NOT_FOUND, None
        self._finish(order, OrderStatus.CANCELED, ts_ms)
        return codes.OK, order

    def modify(
        self,
        account_index: int,
        order_index: int,
        new_price: int,
        new_size: int,
        ts_ms: int,
        *,
        market_id: int | None = None,
    ) -> SubmitResult:
        """Lighter's modify: a resting order of the account (by order_index or else by
        client_order_index) gets a new limit price and a new size; its side, kind and expiry stay.

        new_size is what is left to trade (the new remaining amount; what already filled stays
        filled, so initial_base_amount becomes filled + new_size); a reduce-only order is clipped
        to its position as at submit. The new values are checked like a create's (minimums, price
        range, margin, post-only against the book); a rejection leaves the order as it was, and an
        order the account no longer has open (unknown, filled, canceled, expired, or in another
        market) is ORDER_NOT_FOUND.

        Queue position (Lighter documents none; this is the common venue rule): the same price with
        a size not larger keeps the order's place in its queue; a new price or a larger size puts
        it at the back, as a new arrival would be. At a new price it first trades whatever it
        crosses as a taker (a post-only order that would cross is rejected instead).
        """
        self._expire_due(ts_ms)
        order = self._open_order(account_index, order_index)
        if order is None or (market_id is not None and order.market_id != market_id):
            return _reject(codes.ORDER_NOT_FOUND, f"no open order {order_index} of account {account_index}")
        state = self._markets[order.market_id]
        request = OrderRequest(
            account_index=account_index,
            market_id=order.market_id,
            client_order_index=order.client_order_index,
            base_amount=new_size,
            price=new_price,
            is_ask=order.is_ask,
            order_type=OrderType.LIMIT,
            time_in_force=order.time_in_force,
            reduce_only=order.reduce_only,
            order_expiry_ms=order.order_expiry_ms,
        )
        rejection, base_amount = self._validate(state, request, ts_ms, replacing=order)
        if rejection is not None:
            return rejection
        trades: list[SimTrade] = []
        order.updated_at_ms = ts_ms
        self._touch(order)
        if new_price == order.price and base_amount <= order.remaining_base_amount:
            order.initial_base_amount -= order.remaining_base_amount - base_amount
            order.remaining_base_amount = base_amount
            return SubmitResult(code=codes.OK, message=codes.message_for(codes.OK), order=order)
        self._unrest(order)
        order.price = new_price
        order.initial_base_amount = order.filled_base_amount + base_amount
        order.remaining_base_amount = base_amount
        if order.time_in_force != TimeInForce.POST_ONLY:
            self._take(state, order, ts_ms, trades)
        if order.remaining_base_amount == 0:
            self._finish(order, OrderStatus.FILLED, ts_ms)
        elif self._fillable(order, 1) == 0:  # a reduce-only order whose position its own fills closed
            self._finish(order, OrderStatus.CANCELED_REDUCE_ONLY, ts_ms)
        else:
            self._rest(state, order)
        return SubmitResult(code=codes.OK, message=codes.message_for(codes.OK), order=order, trades=trades)

    def cancel_all(self, account_index: int, ts_ms: int, market_id: int | None = None) -> list[SimOrder]:
        self._expire_due(ts_ms)
        canceled = self.active_orders(account_index, market_id)
        for order in canceled:
            self._finish(order, OrderStatus.CANCELED, ts_ms)
        return canceled

    def expire(self, ts_ms: int) -> list[SimOrder]:
        """GTT orders with order_expiry_ms <= ts_ms become canceled-expired; returns every order
        expired since the previous call (including those expired while handling other events)."""
        self._expire_due(ts_ms)
        expired = list(self._expired)
        self._expired.clear()
        return expired

    def set_account_fees(self, account_index: int, maker_fee: float | None, taker_fee: float | None) -> None:
        """The account's own fee rates (fractions of notional, in every market), as its tier has
        them; None for both goes back to each market's fees."""
        if maker_fee is None and taker_fee is None:
            self._account_fees.pop(account_index, None)
            return
        if (
            maker_fee is None
            or taker_fee is None
            or not all(
                isinstance(fee, (int, float)) and math.isfinite(fee) and -0.01 <= fee <= 0.01
                for fee in (maker_fee, taker_fee)
            )
        ):
            raise ValueError(
                f"account fees must be finite fractions of notional within [-0.01, 0.01], "
                f"got maker {maker_fee!r} taker {taker_fee!r}"
            )
        self._account_fees[account_index] = (float(maker_fee), float(taker_fee))

    # =========================================================================================
    # views
    # =========================================================================================

    def account_fees(self, account_index: int, market_id: int) -> tuple[float, float]:
        """(maker, taker) fee fractions the account pays in the market."""
        own = self._account_fees.get(account_index)
        if own is not None:
            return own
        spec = self._state(market_id).spec
        return spec.maker_fee, spec.taker_fee

    @property
    def maker_fills(self) -> MakerFills:
        return self._maker_fills

    def account(self, account_index: int) -> Account:
        account = self._accounts.get(account_index)
        if account is None:
            account = Account(account_index=account_index, collateral=self._default_collateral)
            self._accounts[account_index] = account
        return account

    def accounts(self) -> list[Account]:
        return list(self._accounts.values())

    def markets(self) -> dict[int, MarketSpec]:
        return {market_id: state.spec for market_id, state in self._markets.items()}

    def active_orders(self, account_index: int, market_id: int | None = None) -> list[SimOrder]:
        return [
            order
            for order in self._active.get(account_index, {}).values()
            if market_id is None or order.market_id == market_id
        ]

    def order(self, order_index: int) -> SimOrder | None:
        return self._orders.get(order_index)

    def inactive_orders(self, account_index: int, market_id: int | None = None) -> list[SimOrder]:
        """The account's ended orders still remembered (max_terminal_orders in all), oldest first."""
        out = []
        for order_index in self._terminal:
            order = self._orders.get(order_index)
            if order is not None and order.account_index == account_index and (
                market_id is None or order.market_id == market_id
            ):
                out.append(order)
        return out

    def _open_order(self, account_index: int, order_index: int) -> SimOrder | None:
        """The account's resting order by order_index, or else by client_order_index."""
        active = self._active.get(account_index, {})
        order = active.get(order_index)
        if order is None:
            by_client = self._by_client.get((account_index, order_index))
            order = active.get(by_client) if by_client is not None else None
        return order

    def order_by_client_index(self, account_index: int, client_order_index: int) -> SimOrder | None:
        order_index = self._by_client.get((account_index, client_order_index))
        return None if order_index is None else self._orders.get(order_index)

    def account_trades(self, account_index: int, market_id: int | None = None) -> list[SimTrade]:
        return [
            trade
            for trade in self._account_trades.get(account_index, ())
            if market_id is None or trade.market_id == market_id
        ]

    def recent_trades(self, market_id: int, limit: int = 100) -> list[SimTrade]:
        recent = self._state(market_id).recent
        newest_first: list[SimTrade] = []
        for trade in reversed(recent):
            if len(newest_first) >= limit:
                break
            newest_first.append(trade)
        return newest_first

    def book(self, market_id: int, depth: int = 50) -> tuple[list[Level], list[Level]]:
        state = self._state(market_id)
        return (
            merge_levels(state.ext_bids.depth(), state.bids.depth(), state.bids, depth),
            merge_levels(state.ext_asks.depth(), state.asks.depth(), state.asks, depth),
        )

    def mid(self, market_id: int) -> float | None:
        state = self._state(market_id)
        if not state.ext_bids.levels or not state.ext_asks.levels:
            return None
        return state.spec.price_from_int(state.ext_bids.levels[0][0] + state.ext_asks.levels[0][0]) / 2

    def unrealized_pnl(self, account_index: int, market_id: int) -> float:
        """PnL of the open position at the external mid (0.0 when flat or without a mid)."""
        state = self._state(market_id)
        account = self._accounts.get(account_index)
        position = account.positions.get(market_id) if account is not None else None
        return position_unrealized_pnl(position, state.spec, self.mid(market_id))

    def take_order_updates(self) -> list[SimOrder]:
        """Orders created or changed since the previous call, in order of their first change."""
        updated = list(self._updated.values())
        self._updated = {}
        return updated

    # =========================================================================================
    # validation
    # =========================================================================================

    def _validate(
        self, state: _MarketState, req: OrderRequest, ts_ms: int, replacing: SimOrder | None = None
    ) -> tuple[SubmitResult | None, int]:
        """A rejection (no state changed) or None, and the base amount to trade (reduce-only clipped).

        replacing: the open order a modify changes (its own size does not count twice for margin).
        """
        spec = state.spec
        if req.account_index < 0:
            return _reject(codes.INVALID_ACCOUNT, f"invalid account index {req.account_index}"), 0
        if req.base_amount <= 0 or req.base_amount < state.min_base_units:
            return _reject(
                codes.INVALID_BASE_AMOUNT,
                f"base amount {req.base_amount} is below the minimum {state.min_base_units} units",
            ), 0
        if req.price <= 0 or req.price >= MAX_PRICE:
            return _reject(codes.INVALID_PRICE, f"price {req.price} is out of range"), 0
        notional = spec.size_from_int(req.base_amount) * spec.price_from_int(req.price)
        if notional + _NOTIONAL_EPSILON < spec.min_quote_amount:
            return _reject(
                codes.NOTIONAL_TOO_SMALL,
                f"notional {notional:.6f} is below the minimum {spec.min_quote_amount:.6f}",
            ), 0
        is_market = req.order_type == OrderType.MARKET
        if is_market and req.time_in_force == TimeInForce.POST_ONLY:
            return _reject(codes.INVALID_PARAM, "a market order cannot be post-only"), 0
        if not is_market and req.time_in_force != TimeInForce.IOC and 0 < req.order_expiry_ms <= ts_ms:
            return _reject(codes.ORDER_EXPIRED, f"order expiry {req.order_expiry_ms} is not after {ts_ms}"), 0
        if req.time_in_force == TimeInForce.POST_ONLY:
            opposite = state.best_merged(is_ask=not req.is_ask)
            if opposite is not None and (req.price <= opposite if req.is_ask else req.price >= opposite):
                return _reject(
                    codes.POST_ONLY_WOULD_CROSS,
                    f"post-only {'ask' if req.is_ask else 'bid'} at {req.price} crosses the best "
                    f"{'bid' if req.is_ask else 'ask'} {opposite}",
                ), 0

        position_size = self._position_size(req.account_index, req.market_id)
        signed = -req.base_amount if req.is_ask else req.base_amount
        base_amount = req.base_amount
        if req.reduce_only:
            if position_size == 0 or _sign(position_size) == _sign(signed):
                return _reject(
                    codes.REDUCE_ONLY_WOULD_INCREASE,
                    f"reduce-only {'ask' if req.is_ask else 'bid'} against position {position_size}",
                ), 0
            base_amount = min(base_amount, abs(position_size))
            return None, base_amount
        if (
            replacing is not None
            and req.price == replacing.price
            and base_amount <= replacing.remaining_base_amount
        ):
            return None, base_amount  # a smaller order at the same price never needs more margin

        margin = self._margin_rejection(state, req, position_size, replacing)
        return margin, base_amount

    def _margin_rejection(
        self, state: _MarketState, req: OrderRequest, position_size: int, replacing: SimOrder | None = None
    ) -> SubmitResult | None:
        """Reject an order whose worst-case resulting exposure exceeds collateral x max_leverage.

        Worst case: this order and the account's open orders on the same side all fill. Reducing
        orders are always allowed. Other markets' positions count at their mid (else entry).
        """
        signed = -req.base_amount if req.is_ask else req.base_amount
        after = position_size + signed
        if abs(after) <= abs(position_size) and _sign(after) * _sign(position_size) >= 0:
            return None
        same_side_open = sum(
            order.remaining_base_amount
            for order in self.active_orders(req.account_index, req.market_id)
            if order.is_ask == req.is_ask and order is not replacing
        )
        worst = after - same_side_open if req.is_ask else after + same_side_open
        spec = state.spec
        reference = spec.price_from_int(req.price)
        if req.order_type == OrderType.MARKET:
            mid = self.mid(req.market_id)
            reference = mid if mid is not None else reference
        exposure = spec.size_from_int(abs(worst)) * reference
        account = self._accounts.get(req.account_index)
        collateral = account.collateral if account is not None else self._default_collateral
        if account is not None:
            for market_id, position in account.positions.items():
                other = self._markets.get(market_id)
                if market_id == req.market_id or position.size == 0 or other is None:
                    continue
                mark = self.mid(market_id)
                exposure += other.spec.size_from_int(abs(position.size)) * (
                    mark if mark is not None else position.avg_entry_price
                )
        limit = collateral * self._max_leverage
        if exposure > limit + _NOTIONAL_EPSILON:
            return _reject(
                codes.INSUFFICIENT_MARGIN,
                f"exposure {exposure:.2f} would exceed collateral {collateral:.2f} x leverage "
                f"{self._max_leverage:g} = {limit:.2f}",
            )
        return None

    # =========================================================================================
    # matching
    # =========================================================================================

    def _take(self, state: _MarketState, taker: SimOrder, ts_ms: int, trades: list[SimTrade]) -> None:
        """Sweep the merged book up to the taker's price, each level in its queue order."""
        resting = state.resting(is_ask=not taker.is_ask)
        external = state.external(is_ask=not taker.is_ask)
        limit_key = resting.key(taker.price)
        keys = sorted(set(resting.keys_through(limit_key)) | set(external.keys_through(limit_key)))
        # a reduce-only taker was clipped to its position at submit, and only its own fills move that
        # position during the sweep (it never trades with its account's orders), so no re-check here
        for key in keys:
            if taker.remaining_base_amount <= 0:
                break
            self._walk_level(
                state, resting, key, taker.remaining_base_amount, taker, ts_ms, trades, external=external
            )

    def _walk_level(
        self,
        state: _MarketState,
        side: RestingSide,
        key: int,
        quantity: int,
        taker: SimOrder | None,
        ts_ms: int,
        trades: list[SimTrade],
        *,
        external: ExternalSide | None = None,
        through: bool = False,
    ) -> int:
        """Trade up to quantity at one price, in queue order; return how much of it was used.

        The queue (venue.sim.queue): the external size ahead of our first order, that order, the
        external size between it and the next, ..., the external size behind our last order.
        taker None is an external print: its external part is not booked (both sides are the
        external market) but still uses up the print. A simulator taker books its external part
        against `external` (what the snapshot has left at this price). through: the price was
        traded through, so no queue is ahead of our orders (they fill in time priority).
        """
        price = side.price(key)
        ext_left = None if external is None else max(0, external.available_at(price))
        left = quantity
        passed = 0  # external size traded at this price, from the front of its queue
        level = side.levels.get(key)
        for maker in list(level) if level is not None else ():
            if left <= 0:
                break
            if maker.status != OrderStatus.OPEN:
                continue
            if not through:
                ahead = queue.ahead_of(maker, passed)
                if ahead is None:
                    if taker is None:
                        break  # a print at a price whose queue no snapshot has shown yet: not ours
                    ahead = 0  # a simulator taker sees only what the snapshot shows, and it shows nothing
                size = min(left, ahead) if ext_left is None else min(left, ahead, ext_left)
                if size > 0:
                    self._trade_external(state, external, taker, price, size, ts_ms, trades)
                    passed += size
                    left -= size
                    ext_left = None if ext_left is None else ext_left - size
                if left <= 0:
                    break
            if taker is not None and maker.account_index == taker.account_index:
                continue  # an account never trades with itself
            size = min(left, maker.remaining_base_amount, self._fillable(maker, left))
            if size <= 0:  # a reduce-only order whose position is gone or reversed
                self._finish(maker, OrderStatus.CANCELED_REDUCE_ONLY, ts_ms)
                continue
            trades.append(self._execute(state, maker, taker, maker.price, size, ts_ms))
            left -= size
        if taker is not None and ext_left and left > 0:  # the external size behind our orders
            size = min(left, ext_left)
            self._trade_external(state, external, taker, price, size, ts_ms, trades)
            passed += size
            left -= size
        level = side.levels.get(key)
        if level is not None:
            if through:
                queue.to_front(level)
            else:
                queue.advance(level, passed)
        return quantity - left

    def _trade_external(
        self,
        state: _MarketState,
        external: ExternalSide | None,
        taker: SimOrder | None,
        price: int,
        size: int,
        ts_ms: int,
        trades: list[SimTrade],
    ) -> None:
        """A simulator taker trades external size; a print's own external part books nothing."""
        if taker is None or external is None:
            return
        external.consume(price, size)
        trades.append(self._execute(state, None, taker, price, size, ts_ms))

    def _cross_resting(self, state: _MarketState, is_ask: bool, ts_ms: int, trades: list[SimTrade]) -> None:
        """Fill resting orders on one side that the new external book crosses, at their own price."""
        resting = state.resting(is_ask)
        external = state.external(is_ask=not is_ask)
        if not external.levels:
            return
        j = 0
        # only the levels the new best external price reaches, so a quiet book costs O(log n)
        for key in resting.keys_through(resting.key(external.levels[0][0])):
            level = resting.levels.get(key)
            if level is None:
                continue
            our_price = resting.price(key)
            for maker in list(level):
                while maker.status == OrderStatus.OPEN and j < len(external.levels):
                    ext_price = external.levels[j][0]
                    if (ext_price < our_price) if is_ask else (ext_price > our_price):
                        return  # the external side no longer reaches this order nor any worse one
                    available = external.available(j)
                    if available <= 0:
                        j += 1
                        continue
                    size = min(available, maker.remaining_base_amount, self._fillable(maker, available))
                    if size <= 0:
                        self._finish(maker, OrderStatus.CANCELED_REDUCE_ONLY, ts_ms)
                        break
                    external.consume(ext_price, size)
                    trades.append(self._execute(state, maker, None, our_price, size, ts_ms))
                if j >= len(external.levels):
                    return

    def _fillable(self, order: SimOrder, wanted: int) -> int:
        """How much of `wanted` the order may trade now: reduce-only orders never increase a position."""
        if not order.reduce_only:
            return wanted
        size = self._position_size(order.account_index, order.market_id)
        reduces = (size > 0 and order.is_ask) or (size < 0 and not order.is_ask)
        return min(wanted, abs(size)) if reduces else 0

    def _execute(
        self,
        state: _MarketState,
        maker: SimOrder | None,
        taker: SimOrder | None,
        price: int,
        size: int,
        ts_ms: int,
    ) -> SimTrade:
        """Book one fill between a maker and a taker (either may be the external market, None)."""
        spec = state.spec
        notional = spec.price_from_int(price) * spec.size_from_int(size)
        maker_fee = (
            0.0 if maker is None else self.account_fees(maker.account_index, spec.market_id)[0] * notional
        )
        taker_fee = (
            0.0 if taker is None else self.account_fees(taker.account_index, spec.market_id)[1] * notional
        )
        if maker is not None:
            maker_is_ask = maker.is_ask
        elif taker is not None:
            maker_is_ask = not taker.is_ask
        else:
            raise ValueError("a fill needs at least one simulator order")
        ask, bid = (maker, taker) if maker_is_ask else (taker, maker)
        trade = SimTrade(
            trade_id=self._next_trade_id,
            market_id=spec.market_id,
            price=price,
            size=size,
            ts_ms=ts_ms,
            tx_hash=tx_hash_for(self._next_trade_id),
            ask_id=ask.order_index if ask is not None else -1,
            bid_id=bid.order_index if bid is not None else -1,
            ask_client_id=ask.client_order_index if ask is not None else 0,
            bid_client_id=bid.client_order_index if bid is not None else 0,
            ask_account_id=ask.account_index if ask is not None else -1,
            bid_account_id=bid.account_index if bid is not None else -1,
            is_maker_ask=maker_is_ask,
            taker_fee=taker_fee,
            maker_fee=maker_fee,
        )
        self._next_trade_id += 1
        state.recent.append(trade)
        for order, fee in ((maker, maker_fee), (taker, taker_fee)):
            if order is None:
                continue
            order.filled_base_amount += size
            order.remaining_base_amount -= size
            order.filled_quote += notional
            order.updated_at_ms = ts_ms
            self._touch(order)
            account = self.account(order.account_index)
            apply_fill(account, spec, is_buy=not order.is_ask, price=price, size=size, fee=fee)
            self._record_trade(order.account_index, trade)
        if maker is not None and maker.remaining_base_amount == 0:
            self._finish(maker, OrderStatus.FILLED, ts_ms)
        for order in (maker, taker):
            if order is not None:
                self._drop_stale_reduce_only(order.account_index, spec.market_id, ts_ms)
        return trade

    def _drop_stale_reduce_only(self, account_index: int, market_id: int, ts_ms: int) -> None:
        """Cancel resting reduce-only orders that the position no longer lets reduce anything."""
        resting = self._reduce_only.get((account_index, market_id))
        if not resting:
            return
        for order in list(resting.values()):
            if self._fillable(order, 1) == 0:
                self._finish(order, OrderStatus.CANCELED_REDUCE_ONLY, ts_ms)

    # =========================================================================================
    # order lifecycle
    # =========================================================================================

    def _rest(self, state: _MarketState, order: SimOrder) -> None:
        """Put the order on the book, at the back of its price's queue."""
        order.queue_ahead = (
            queue.queue_on_join(state.external(order.is_ask), order.price)
            if self._maker_fills is MakerFills.QUEUE
            else 0
        )
        state.resting(order.is_ask).add(order)
        self._active.setdefault(order.account_index, {})[order.order_index] = order
        if order.reduce_only:
            self._reduce_only.setdefault((order.account_index, order.market_id), {})[order.order_index] = (
                order
            )
        if order.order_expiry_ms > 0:
            heapq.heappush(self._expiries, (order.order_expiry_ms, order.order_index))
            self._expiring_open += 1

    def _finish(self, order: SimOrder, status: str, ts_ms: int) -> None:
        """Move an order to a terminal status, taking it off the book if it rests."""
        self._unrest(order)
        order.status = status
        order.updated_at_ms = ts_ms
        self._touch(order)
        self._terminal.append(order.order_index)
        while len(self._terminal) > self._max_terminal_orders:
            self._forget(self._terminal.popleft())

    def _unrest(self, order: SimOrder) -> None:
        """Take a resting order off the book and out of the resting registries (no-op otherwise)."""
        active = self._active.get(order.account_index)
        if active is None or active.pop(order.order_index, None) is None:
            return
        self._markets[order.market_id].resting(order.is_ask).remove(order)
        if not active:
            del self._active[order.account_index]
        if order.order_expiry_ms > 0:
            self._expiring_open -= 1
            self._prune_expiries()
        if order.reduce_only:
            key = (order.account_index, order.market_id)
            reduce_only = self._reduce_only.get(key)
            if reduce_only is not None:
                reduce_only.pop(order.order_index, None)
                if not reduce_only:
                    del self._reduce_only[key]

    def _expire_due(self, ts_ms: int) -> None:
        # every entry point brings its event time here first: the funding of any whole hour it
        # passed is settled on the positions as they were at that hour, before this event acts
        self.funding.settle(ts_ms, self._accounts.values(), self._specs, self.mid)
        while self._expiries and self._expiries[0][0] <= ts_ms:
            _, order_index = heapq.heappop(self._expiries)
            order = self._orders.get(order_index)
            if order is not None and order.status == OrderStatus.OPEN:
                self._finish(order, OrderStatus.CANCELED_EXPIRED, ts_ms)
                self._expired.append(order)

    def _remember(self, order: SimOrder) -> None:
        self._orders[order.order_index] = order
        self._by_client[(order.account_index, order.client_order_index)] = order.order_index
        self._touch(order)

    def _touch(self, order: SimOrder) -> None:
        """Note a changed order for take_order_updates (bounded, for callers that never drain it)."""
        self._updated[order.order_index] = order
        if len(self._updated) > self._max_terminal_orders:
            del self._updated[next(iter(self._updated))]

    def _prune_expiries(self) -> None:
        """Rebuild the expiry heap once it is mostly entries of orders no longer resting.

        GTT orders usually carry far expiries (Lighter's default is 28 days), so without this the
        heap would keep one entry per order ever placed; rebuilding at 2x keeps it amortised O(1).
        """
        if len(self._expiries) <= 2 * self._expiring_open + 1024:
            return
        self._expiries = [
            (order.order_expiry_ms, order.order_index)
            for active in self._active.values()
            for order in active.values()
            if order.order_expiry_ms > 0
        ]
        heapq.heapify(self._expiries)

    def _forget(self, order_index: int) -> None:
        order = self._orders.pop(order_index, None)
        if order is None:
            return
        key = (order.account_index, order.client_order_index)
        if self._by_client.get(key) == order_index:
            del self._by_client[key]

    def _record_trade(self, account_index: int, trade: SimTrade) -> None:
        history = self._account_trades.get(account_index)
        if history is None:
            history = deque(maxlen=self._max_trades_per_account)
            self._account_trades[account_index] = history
        history.append(trade)

    def _position_size(self, account_index: int, market_id: int) -> int:
        account = self._accounts.get(account_index)
        position = account.positions.get(market_id) if account is not None else None
        return position.size if position is not None else 0

    def _state(self, market_id: int) -> _MarketState:
        state = self._markets.get(market_id)
        if state is None:
            raise ValueError(f"unknown market {market_id}")
        return state


def _reject(code: int, message: str) -> SubmitResult:
    return SubmitResult(code=code, message=f"{codes.message_for(code)}: {message}")
