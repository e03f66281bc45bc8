"""Positions per account and market, from fills and hourly funding, corrected by the venue's truth.

The venue is the truth for positions (DESIGN invariant 1): `reconcile` compares what fills told
us with what the venue's `account` endpoint says and adopts the venue's numbers, returning the
differences so that the caller logs every mismatch instead of silently ignoring it.

Funding: each hourly payment (`on_funding`, once per (account, market, hour)) adds its change to
the position's `funding` (> 0 received), which `net_pnl` counts beside realized PnL and fees.
`funding_mismatches` compares it with the venue's total_funding_paid_out (of opposite sign) and
adopts nothing: a payment still on its way would then count twice, so the caller fetches the
venue's history of payments and applies the ones it lacks (by their key) instead. What is left at
the first comparison after a start is funding from before our records (an account traded before
this system, or payments older than the history reaches): `note_funding_before` keeps it apart,
outside our PnL, and later comparisons count it on the venue's side.
"""

from __future__ import annotations

from typing import Any

import msgspec

SIZE_EPS = 1e-9


class PositionView(msgspec.Struct, kw_only=True):
    account_index: int
    market_id: int
    size: float = 0.0  # signed: > 0 long
    avg_entry: float = 0.0
    realized_pnl: float = 0.0
    fees: float = 0.0
    funding: float = 0.0  # hourly funding received on balance (< 0: paid), summed over its life

    @property
    def net_pnl(self) -> float:
        """Realized PnL net of fees, funding included."""
        return self.realized_pnl - self.fees + self.funding


class Mismatch(msgspec.Struct, frozen=True, kw_only=True):
    account_index: int
    market_id: int
    ours: float
    venue: float


class PositionBook:
    def __init__(self) -> None:
        self._positions: dict[tuple[int, int], PositionView] = {}
        self._seen_trades: set[tuple[int, int]] = set()
        self._seen_funding: set[tuple[int, int, int]] = set()  # (account, market, hour ns)
        self._funding_before: dict[tuple[int, int], float] = {}  # received before our records

    def get(self, account_index: int, market_id: int) -> PositionView:
        key = (account_index, market_id)
        pos = self._positions.get(key)
        if pos is None:
            pos = self._positions[key] = PositionView(account_index=account_index, market_id=market_id)
        return pos

    def all(self) -> list[PositionView]:
        return list(self._positions.values())

    def on_fill(self, account_index: int, market_id: int, is_buy: bool, price: float, size: float,
                fee: float = 0.0, trade_id: int | None = None) -> bool:
        """Apply one fill; a trade id seen before is ignored (returns False)."""
        if trade_id is not None:
            key = (account_index, trade_id)
            if key in self._seen_trades:
                return False
            self._seen_trades.add(key)
        pos = self.get(account_index, market_id)
        signed = size if is_buy else -size
        pos.fees += fee
        if pos.size == 0 or (pos.size > 0) == (signed > 0):
            new_size = pos.size + signed
            pos.avg_entry = (pos.avg_entry * abs(pos.size) + price * size) / abs(new_size)
            pos.size = new_size
            return True
        closed = min(abs(signed), abs(pos.size))
        direction = 1.0 if pos.size > 0 else -1.0
        pos.realized_pnl += (price - pos.avg_entry) * closed * direction
        pos.size += signed
        if abs(pos.size) < SIZE_EPS:
            pos.size = 0.0
            pos.avg_entry = 0.0
        elif (pos.size > 0) != (direction > 0):  # flipped: the rest opened at this price
            pos.avg_entry = price
        return True

    def on_funding(self, account_index: int, market_id: int, hour_ns: int, change: float) -> bool:
        """Apply one hour's funding payment; the same (account, market, hour) again is ignored (False)."""
        key = (account_index, market_id, hour_ns)
        if key in self._seen_funding:
            return False
        self._seen_funding.add(key)
        self.get(account_index, market_id).funding += change
        return True

    def funding_seen(self, account_index: int, market_id: int, hour_ns: int) -> bool:
        return (account_index, market_id, hour_ns) in self._seen_funding

    def funding_mismatches(self, account_index: int, venue_paid_out: dict[int, float],
                           tolerance: float = 1e-9) -> list[Mismatch]:
        """Markets whose funding differs from the venue's {market_id: total_funding_paid_out}
        (ours and venue in the Mismatch are both funding received, i.e. -paid out)."""
        out = []
        markets = set(venue_paid_out) | {m for (a, m) in self._positions if a == account_index}
        for market_id in sorted(markets):
            before = self._funding_before.get((account_index, market_id), 0.0)
            venue = 0.0 - venue_paid_out.get(market_id, 0.0) - before
            ours = self.get(account_index, market_id).funding
            if abs(ours - venue) > tolerance:
                out.append(Mismatch(account_index=account_index, market_id=market_id, ours=ours, venue=venue))
        return out

    def note_funding_before(self, account_index: int, venue_paid_out: dict[int, float]) -> list[Mismatch]:
        """Take today's differences with the venue as funding from before our records (the first
        comparison after a start); returns them."""
        found = self.funding_mismatches(account_index, venue_paid_out)
        for m in found:
            key = (account_index, m.market_id)
            self._funding_before[key] = self._funding_before.get(key, 0.0) + m.venue - m.ours
        return found

    def reconcile(self, account_index: int, venue_positions: dict[int, tuple[float, float]]) -> list[Mismatch]:
        """Adopt the venue's {market_id: (signed size, avg entry)} for one account."""
        mismatches = []
        markets = set(venue_positions) | {m for (a, m) in self._positions if a == account_index}
        for market_id in sorted(markets):
            venue_size, venue_entry = venue_positions.get(market_id, (0.0, 0.0))
            pos = self.get(account_index, market_id)
            if abs(pos.size - venue_size) > SIZE_EPS:
                mismatches.append(Mismatch(account_index=account_index, market_id=market_id,
                                           ours=pos.size, venue=venue_size))
            pos.size = venue_size
            pos.avg_entry = venue_entry if venue_size else 0.0
        return mismatches

    def net_notional(self, marks: dict[int, float]) -> float:
        """Signed exposure summed over every account, at the given mark prices."""
        return sum(p.size * marks.get(p.market_id, p.avg_entry) for p in self._positions.values())

    def to_state(self) -> dict[str, Any]:
        return {"positions": [msgspec.to_builtins(p) for p in self._positions.values()],
                "funding_seen": sorted(self._seen_funding)}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> PositionBook:
        book = cls()
        for raw in state.get("positions", []):
            pos = msgspec.convert(raw, PositionView)
            book._positions[(pos.account_index, pos.market_id)] = pos
        book._seen_funding = {(int(a), int(m), int(h)) for a, m, h in state.get("funding_seen", [])}
        return book
