"""Hourly funding of the simulator's perpetuals, settled on event time (pure: no clock, no I/O).

At every whole hour of event time the engine's clock passes, each open position pays or earns
funding: change = -size x mark x rate, with size signed (> 0 long) and the rate per hour, so a
positive rate makes longs pay shorts (Lighter's convention). `change` is what the account's
collateral moves by (Lighter's PositionFunding.change: < 0 paid); the position's
`total_funding_paid_out` moves the other way (> 0: paid out on balance). Payments are rounded to
USDC's 6 decimals, as the venue books collateral in integer micro-USDC, so the strings the venue
shows are exact and sums agree to the last digit wherever they are taken.

Event time is the market source's: a replay at 1000x pays an hour's funding every 3.6 s of wall
time, and an event that jumps over several hours pays each of them once, at the position and
mark of the jump (nothing traded in between). The first event only starts the clock.

The rate comes from the settings (`FundingRates`: one rate, or one per market); market sources
carry none today. The mark is the external book's mid, else the position's entry price.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Iterable, Mapping

import msgspec

from venue.markets import MarketSpec
from venue.sim.types import Account

__all__ = [
    "HOUR_MS",
    "FundingLedger",
    "FundingRates",
    "FundingRecord",
    "HourClock",
    "MarketFunding",
    "funding_change",
]

HOUR_MS = 3_600_000
MAX_RATE_PER_HOUR = 0.04  # Lighter clamps funding at 4% an hour
USDC_DECIMALS = 6


class FundingRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One hour's funding of one account's position (Lighter's PositionFunding)."""

    funding_id: int
    account_index: int
    market_id: int
    ts_ms: int  # the whole hour of event time it settles
    rate: float  # per hour; > 0: longs pay shorts
    mark_price: float
    position_size: float  # signed base units as a float: > 0 long
    change: float  # the account's collateral change: < 0 paid, > 0 received


class MarketFunding(msgspec.Struct, frozen=True, kw_only=True):
    """One market's funding at one hour (Lighter's `fundings` entry)."""

    market_id: int
    ts_ms: int
    rate: float
    mark_price: float


def funding_change(size: float, mark: float, rate: float) -> float:
    """The collateral change of a position of signed `size` at `mark` for one hour at `rate`."""
    return round(-size * mark * rate, USDC_DECIMALS) + 0.0  # + 0.0: never -0.0


class FundingRates:
    """The hourly rate per market: `default`, or the market's own from `per_market`."""

    def __init__(self, default: float = 0.0, per_market: Mapping[int, float] | None = None) -> None:
        self.default = _checked_rate(default, "default")
        self.per_market = {int(m): _checked_rate(r, f"market {m}") for m, r in (per_market or {}).items()}

    def rate_for(self, market_id: int) -> float:
        return self.per_market.get(market_id, self.default)

    @property
    def any_nonzero(self) -> bool:
        return self.default != 0.0 or any(r != 0.0 for r in self.per_market.values())


def _checked_rate(rate: float, what: str) -> float:
    if not (isinstance(rate, (int, float)) and math.isfinite(rate) and abs(rate) <= MAX_RATE_PER_HOUR):
        raise ValueError(f"funding rate ({what}) must be a finite fraction per hour within "
                         f"+-{MAX_RATE_PER_HOUR}, got {rate!r}")
    return float(rate)


class HourClock:
    """The whole hours an event clock passes, each returned once (event time never goes back here:
    an older time crosses nothing)."""

    def __init__(self) -> None:
        self.last_ms: int | None = None

    def crossed(self, ts_ms: int) -> list[int]:
        """Every hour h with last < h <= ts_ms, oldest first; the first call only starts the clock."""
        last = self.last_ms
        if last is None or ts_ms <= last:
            if last is None:
                self.last_ms = ts_ms
            return []
        self.last_ms = ts_ms
        first = (last // HOUR_MS + 1) * HOUR_MS
        return [] if first > ts_ms else list(range(first, ts_ms + 1, HOUR_MS))


class FundingLedger:
    """Settles each hour the clock passes on every open position and keeps what was paid.

    `settle` moves collateral and each position's total_funding_paid_out; `take_new` hands over the
    payments since its previous call (a server publishes them); `history` and `market_history`
    keep the most recent ones for the venue's funding endpoints and account snapshots.
    """

    def __init__(self, rates: FundingRates | None = None, *, keep: int = 10_000) -> None:
        self.rates = rates if rates is not None else FundingRates()
        self.clock = HourClock()
        self._next_id = 1
        self._keep = keep
        self._new: list[FundingRecord] = []
        self._by_account: dict[int, deque[FundingRecord]] = {}
        self._by_market: dict[int, deque[MarketFunding]] = {}

    def settle(
        self,
        ts_ms: int,
        accounts: Iterable[Account],
        specs: Mapping[int, MarketSpec],
        mark: Callable[[int], float | None],
    ) -> list[FundingRecord]:
        """Pay every hour passed by ts_ms; returns the payments made now."""
        hours = self.clock.crossed(ts_ms)
        if not hours or not self.rates.any_nonzero:
            return []
        accounts = list(accounts)
        paid: list[FundingRecord] = []
        for hour_ms in hours:
            marks = {m: mark(m) for m in specs}
            for market_id in specs:
                price = marks[market_id]
                if price is not None:
                    self._market_log(market_id).append(MarketFunding(
                        market_id=market_id, ts_ms=hour_ms, rate=self.rates.rate_for(market_id), mark_price=price))
            for account in accounts:
                for market_id, position in sorted(account.positions.items()):
                    spec = specs.get(market_id)
                    if position.size == 0 or spec is None:
                        continue
                    price = marks[market_id]
                    price = price if price is not None else position.avg_entry_price
                    size = spec.size_from_int(position.size)
                    rate = self.rates.rate_for(market_id)
                    change = funding_change(size, price, rate)
                    account.collateral += change
                    position.total_funding_paid_out -= change
                    record = FundingRecord(funding_id=self._next_id, account_index=account.account_index,
                                           market_id=market_id, ts_ms=hour_ms, rate=rate, mark_price=price,
                                           position_size=size, change=change)
                    self._next_id += 1
                    paid.append(record)
                    self._account_log(account.account_index).append(record)
        self._new.extend(paid)
        return paid

    def take_new(self) -> list[FundingRecord]:
        """The payments made since the previous call, oldest first."""
        new, self._new = self._new, []
        return new

    def history(self, account_index: int, market_id: int | None = None) -> list[FundingRecord]:
        """The account's kept payments, oldest first."""
        return [r for r in self._by_account.get(account_index, ())
                if market_id is None or r.market_id == market_id]

    def market_history(self, market_id: int) -> list[MarketFunding]:
        return list(self._by_market.get(market_id, ()))

    def _account_log(self, account_index: int) -> deque[FundingRecord]:
        log = self._by_account.get(account_index)
        if log is None:
            log = self._by_account[account_index] = deque(maxlen=self._keep)
        return log

    def _market_log(self, market_id: int) -> deque[MarketFunding]:
        log = self._by_market.get(market_id)
        if log is None:
            log = self._by_market[market_id] = deque(maxlen=self._keep)
        return log
