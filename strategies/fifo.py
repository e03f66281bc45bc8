"""A FIFO position ledger: lots in, FIFO matching, realized PnL net of fees, and the sum of the
realized PnL over a rolling window of event time (the market maker's PnL guard).

Sizes are integer lots of the market (exact); prices and fees are floats in quote.

Fees. Every fill's fee counts against PnL exactly once. A fill (or the part of it) that closes
earlier lots realizes (exit - entry) x size x direction, minus that part's own fee, minus the
share of the opening fills' fees carried by the lots it closes; a fill that opens inventory
realizes nothing yet and its fee waits in the lot until the lot is closed. So a round trip's
realized PnL is its gross minus both fees, and `realized_total` never counts a fee twice. A fee
rebate (negative fee) works the same way.

Window. Each fill's realized amount is kept with its time; `window_pnl(now)` sums those with
time > now - window (fills at exactly now - window have left it).
"""

from __future__ import annotations

from collections import deque
from typing import Any, Literal

import msgspec

Side = Literal["buy", "sell"]


class Lot(msgspec.Struct, kw_only=True, array_like=True):
    units: int  # > 0, open lots of one direction
    price: float
    fee_per_unit: float  # the opening fill's fee not yet realized, per lot unit
    ts_ms: int = 0  # when the opening fill came (event time)


class Closed(msgspec.Struct, frozen=True, kw_only=True):
    """What one fill closed: `units` of earlier lots opened at `entry_price` (their average) from
    `entry_ts_ms` (the oldest one's time), realizing `realized` net of `fees` (both fills' shares)."""

    units: int
    direction: int  # of the lots closed: +1 long, -1 short
    entry_price: float
    entry_ts_ms: int
    fees: float
    realized: float


class FifoLedger:
    """Signed inventory as FIFO lots; see the module docstring."""

    def __init__(self, window_ms: int) -> None:
        if window_ms <= 0:
            raise ValueError(f"window_ms must be > 0, got {window_ms}")
        self.window_ms = window_ms
        self._lots: deque[Lot] = deque()
        self._direction = 0  # +1 long lots, -1 short lots, 0 flat
        self._window: deque[tuple[int, float]] = deque()
        self._window_sum = 0.0
        self.realized_total = 0.0
        self.fees_total = 0.0
        self.fills = 0
        self.last_closed: Closed | None = None  # what the latest fill closed, if anything

    # --- reading -----------------------------------------------------------------------
    @property
    def position_units(self) -> int:
        """Signed open size in lots (long > 0)."""
        return self._direction * sum(lot.units for lot in self._lots)

    def average_entry(self) -> float:
        units = sum(lot.units for lot in self._lots)
        return sum(lot.units * lot.price for lot in self._lots) / units if units else 0.0

    def unrealized(self, mark: float, lot_size: float) -> float:
        """PnL of the open lots at `mark`, net of their opening fees still carried."""
        return sum(
            ((mark - lot.price) * self._direction * lot_size - lot.fee_per_unit) * lot.units for lot in self._lots
        )

    def window_pnl(self, now_ms: int) -> float:
        self._expire(now_ms)
        return self._window_sum

    # --- writing -----------------------------------------------------------------------
    def fill(self, ts_ms: int, side: Side, units: int, price: float, fee: float, lot_size: float) -> float:
        """Apply one fill (units > 0 lots, fee in quote); returns the PnL it realized."""
        if units <= 0:
            raise ValueError(f"a fill needs units > 0, got {units}")
        sign = 1 if side == "buy" else -1
        fee_per_unit = fee / units
        realized = fees = cost = 0.0
        entry_ts = ts_ms
        direction = self._direction
        left = units
        while left and self._direction == -sign and self._lots:
            lot = self._lots[0]
            matched = min(left, lot.units)
            gross = (price - lot.price) * self._direction * matched * lot_size
            realized += gross - (lot.fee_per_unit + fee_per_unit) * matched
            fees += (lot.fee_per_unit + fee_per_unit) * matched
            cost += lot.price * matched
            entry_ts = min(entry_ts, lot.ts_ms)
            lot.units -= matched
            left -= matched
            if lot.units == 0:
                self._lots.popleft()
        closed = units - left
        self.last_closed = None if not closed else Closed(
            units=closed, direction=direction, entry_price=cost / closed, entry_ts_ms=entry_ts, fees=fees,
            realized=realized)
        if not self._lots:
            self._direction = 0
        if left:
            self._direction = sign
            self._lots.append(Lot(units=left, price=price, fee_per_unit=fee_per_unit, ts_ms=ts_ms))
        self.fills += 1
        self.fees_total += fee
        if units > left:  # something closed: the realized amount (maybe 0.0) enters the window
            self.realized_total += realized
            self._window.append((ts_ms, realized))
            self._window_sum += realized
        self._expire(ts_ms)
        return realized

    def reset_to(self, units: int, price: float, ts_ms: int = 0) -> None:
        """Replace the open lots by one lot of `units` (signed) at `price` (the venue's position)."""
        self._lots.clear()
        self._direction = (units > 0) - (units < 0)
        if units:
            self._lots.append(Lot(units=abs(units), price=price, fee_per_unit=0.0, ts_ms=ts_ms))

    def _expire(self, now_ms: int) -> None:
        cutoff = now_ms - self.window_ms
        window = self._window
        while window and window[0][0] <= cutoff:
            self._window_sum -= window.popleft()[1]
        if not window:
            self._window_sum = 0.0  # no float residue once the window is empty

    # --- state -------------------------------------------------------------------------
    def to_state(self) -> dict[str, Any]:
        return {
            "window_ms": self.window_ms,
            "lots": [msgspec.to_builtins(lot) for lot in self._lots],
            "direction": self._direction,
            "window": [list(item) for item in self._window],
            "window_sum": self._window_sum,
            "realized_total": self.realized_total,
            "fees_total": self.fees_total,
            "fills": self.fills,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> FifoLedger:
        obj = cls(state["window_ms"])
        obj._lots = deque(msgspec.convert(lot, Lot) for lot in state["lots"])
        obj._direction = state["direction"]
        obj._window = deque((int(ts), float(pnl)) for ts, pnl in state["window"])
        obj._window_sum = state["window_sum"]
        obj.realized_total = state["realized_total"]
        obj.fees_total = state["fees_total"]
        obj.fills = state["fills"]
        return obj
