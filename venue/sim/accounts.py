"""Position and collateral accounting for simulator accounts: one fill in, the account updated.

Sizes stay in integer base units so that a position is exactly the signed sum of its fills;
prices and money are floats in quote currency (through the market's MarketSpec), as the venue
reports them.
"""

from __future__ import annotations

from venue.markets import MarketSpec
from venue.sim.types import Account, Position


def position_of(account: Account, market_id: int) -> Position:
    """The account's position in the market, created flat on first use."""
    position = account.positions.get(market_id)
    if position is None:
        position = Position(market_id=market_id)
        account.positions[market_id] = position
    return position


def apply_fill(
    account: Account, spec: MarketSpec, *, is_buy: bool, price: int, size: int, fee: float
) -> float:
    """Book one fill of `size` base units at `price` (integer units) and its fee; return realized PnL.

    Increasing moves the entry to the size-weighted average; reducing realizes (exit - entry) on
    the closed size (mirrored for shorts) and keeps the entry; a flip realizes the closed part
    and opens the rest at the fill price. Collateral moves by realized PnL minus the fee.
    """
    if size <= 0:
        raise ValueError(f"fill size must be positive, got {size}")
    position = position_of(account, spec.market_id)
    fill_price = spec.price_from_int(price)
    signed = size if is_buy else -size
    old = position.size
    new = old + signed
    realized = 0.0
    if old == 0 or (old > 0) == is_buy:
        position.avg_entry_price = (abs(old) * position.avg_entry_price + size * fill_price) / abs(new)
    else:
        closed = min(abs(old), size)
        direction = 1.0 if old > 0 else -1.0
        realized = (fill_price - position.avg_entry_price) * spec.size_from_int(closed) * direction
        if new == 0:
            position.avg_entry_price = 0.0
        elif (new > 0) != (old > 0):
            position.avg_entry_price = fill_price
    position.size = new
    position.realized_pnl += realized
    position.fees_paid += fee
    account.collateral += realized - fee
    return realized


def unrealized_pnl(position: Position | None, spec: MarketSpec, mark: float | None) -> float:
    """Mark-to-market PnL of the position at `mark` (0.0 when flat or without a mark)."""
    if position is None or position.size == 0 or mark is None:
        return 0.0
    return (mark - position.avg_entry_price) * spec.size_from_int(position.size)
