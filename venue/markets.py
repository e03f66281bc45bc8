"""Market metadata and exact conversion between floats and the venue's integer units.

Lighter prices and sizes travel as integers scaled by the market's decimals (SOL: 3 and 3, so
1 SOL = 1000 base units and 150.125 USDC = 150125 price units). Strategies think in floats; the
venue boundary converts here, once, with explicit rounding, and refuses orders below the
market's minimums before anything is signed.
"""

from __future__ import annotations

import functools
import math
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal
from enum import StrEnum
from typing import Any

import msgspec


class Rounding(StrEnum):
    NEAREST = "nearest"
    DOWN = "down"  # toward -inf: a buy's limit price, any size
    UP = "up"  # toward +inf: a sell's limit price


_DECIMAL_ROUNDING = {
    Rounding.NEAREST: ROUND_HALF_EVEN,
    Rounding.DOWN: ROUND_FLOOR,
    Rounding.UP: ROUND_CEILING,
}


class OrderRefused(ValueError):
    """An order that must not be sent: the reason names the rule and the numbers."""


class MarketSpec(msgspec.Struct, frozen=True, kw_only=True):
    market_id: int
    symbol: str
    size_decimals: int
    price_decimals: int
    min_base_amount: float
    min_quote_amount: float
    maker_fee: float = 0.0  # a fraction of notional: 0.0002 is 2 bps
    taker_fee: float = 0.0
    status: str = "active"

    # --- scaling -------------------------------------------------------------------------
    @property
    def size_scale(self) -> int:
        return 10**self.size_decimals

    @property
    def price_scale(self) -> int:
        return 10**self.price_decimals

    @property
    def lot(self) -> float:
        """The smallest size step, in base units of the asset (0.001 SOL)."""
        return 1 / self.size_scale

    @property
    def tick(self) -> float:
        return 1 / self.price_scale

    def size_to_int(self, size: float, rounding: Rounding = Rounding.DOWN) -> int:
        return _to_int(size, self.size_decimals, rounding, "size")

    def price_to_int(self, price: float, rounding: Rounding = Rounding.NEAREST) -> int:
        return _to_int(price, self.price_decimals, rounding, "price")

    def size_from_int(self, units: int) -> float:
        return units / self.size_scale

    def price_from_int(self, units: int) -> float:
        return units / self.price_scale

    def quantize_size(self, size: float, rounding: Rounding = Rounding.DOWN) -> float:
        return self.size_from_int(self.size_to_int(size, rounding))

    def quantize_price(self, price: float, rounding: Rounding = Rounding.NEAREST) -> float:
        return self.price_from_int(self.price_to_int(price, rounding))

    def format_size(self, units: int) -> str:
        """The venue's string form of a size ("0.050" for 50 units at 3 decimals)."""
        return _format_units(units, self.size_decimals)

    def format_price(self, units: int) -> str:
        return _format_units(units, self.price_decimals)

    # --- pre-trade validation ------------------------------------------------------------
    def check_order(self, base_units: int, price_units: int) -> None:
        """Raise OrderRefused when the order is below the market's minimums or malformed."""
        if base_units <= 0:
            raise OrderRefused(f"{self.symbol}: size must be positive, got {base_units} base units")
        if price_units <= 0:
            raise OrderRefused(f"{self.symbol}: price must be positive, got {price_units} price units")
        if price_units >= 2**32:
            raise OrderRefused(f"{self.symbol}: price {price_units} units does not fit the venue's 32 bits")
        size = self.size_from_int(base_units)
        min_base_units = self.size_to_int(self.min_base_amount, Rounding.NEAREST)
        if base_units < min_base_units:
            raise OrderRefused(
                f"{self.symbol}: size {size:.{self.size_decimals}f} is below the minimum base amount "
                f"{self.min_base_amount:.{self.size_decimals}f}"
            )
        notional = size * self.price_from_int(price_units)
        if notional + 1e-9 < self.min_quote_amount:
            raise OrderRefused(
                f"{self.symbol}: notional {notional:.6f} is below the minimum quote amount "
                f"{self.min_quote_amount:.6f}"
            )


def _to_int(value: float, decimals: int, rounding: Rounding, what: str) -> int:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        raise OrderRefused(f"{what} must be a finite number, got {value!r}")
    return _scaled(float(value), decimals, rounding)


@functools.lru_cache(maxsize=1 << 16)
def _scaled(value: float, decimals: int, rounding: Rounding) -> int:
    # cached: called for every order's size and price (a replay sends tens of thousands over a few
    # thousand distinct prices), and Decimal is slow. repr() is the shortest string that
    # round-trips, so 0.1 scales to exactly 100 at 3 decimals
    scaled = Decimal(repr(value)).scaleb(decimals)
    return int(scaled.quantize(Decimal(1), rounding=_DECIMAL_ROUNDING[rounding]))


def _format_units(units: int, decimals: int) -> str:
    sign = "-" if units < 0 else ""
    units = abs(units)
    if decimals == 0:
        return f"{sign}{units}"
    whole, frac = divmod(units, 10**decimals)
    return f"{sign}{whole}.{frac:0{decimals}d}"


def _fee_fraction(raw: Any) -> float:
    """Lighter reports fees as percent strings ("0.0200" is 2 bps)."""
    return float(raw) / 100.0


def _int_field(row: dict[str, Any], key: str, fallback: str) -> int:
    """row[key] (else row[fallback]) as an int; TypeError if neither is there (or it is null)."""
    value = row.get(key, row.get(fallback))
    if value is None:
        raise TypeError(f"{key!r} (or {fallback!r}) is missing or null")
    return int(value)


def market_from_details(row: dict[str, Any]) -> MarketSpec:
    """One entry of `orderBookDetails` (or `orderBooks`) to a MarketSpec."""
    if not isinstance(row, dict):
        raise ValueError(f"orderBookDetails entry is not an object: {type(row).__name__}")
    try:
        return MarketSpec(
            market_id=int(row["market_id"]),
            symbol=str(row["symbol"]),
            size_decimals=_int_field(row, "size_decimals", "supported_size_decimals"),
            price_decimals=_int_field(row, "price_decimals", "supported_price_decimals"),
            min_base_amount=float(row["min_base_amount"]),
            min_quote_amount=float(row["min_quote_amount"]),
            maker_fee=_fee_fraction(row.get("maker_fee", "0")),
            taker_fee=_fee_fraction(row.get("taker_fee", "0")),
            status=str(row.get("status", "active")),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"orderBookDetails entry is malformed ({exc!r}): {sorted(row)}") from exc


def markets_from_details(payload: dict[str, Any]) -> dict[int, MarketSpec]:
    """The whole `orderBookDetails` (or `orderBooks`) response to {market_id: MarketSpec}."""
    code = payload.get("code", 200)
    if code != 200:
        raise ValueError(f"orderBookDetails answered code {code}: {payload.get('message')}")
    rows = payload.get("order_book_details") or payload.get("order_books") or []
    if not isinstance(rows, list):
        raise ValueError(f"orderBookDetails entries are not a list: {type(rows).__name__}")
    return {spec.market_id: spec for spec in map(market_from_details, rows)}


def fee_to_venue_string(fraction: float) -> str:
    """Inverse of the percent-string convention, for the simulator's responses."""
    return f"{fraction * 100:.4f}"


SOL_DEFAULT = MarketSpec(
    market_id=2,
    symbol="SOL",
    size_decimals=3,
    price_decimals=3,
    min_base_amount=0.050,
    min_quote_amount=10.0,
    maker_fee=0.0,
    taker_fee=0.0,
)
