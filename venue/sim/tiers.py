"""Lighter's account tiers, as the simulator plays them: speed bumps, transaction rate, fees.

Lighter (docs, and DESIGN.md "Lighter as it behaves"):
- standard: an order takes effect about 200 ms after receipt when it rests (a maker, post-only)
  and 300 ms when it takes; 60 transactions a minute; fees 0/0.
- premium: 0 ms for makers, 140-200 ms for takers (150 here); maker 0.28-0.40 bps and taker
  1.96-2.80 bps (the lowest step here: 0.28 and 1.96 bps); a far higher limit (24,000 a minute,
  Lighter's premium request budget).
- paper: the simulator's own default and no Lighter tier: no bump, no limit, the market's fees.
  The directional strategies' fast tests order faster than 60 a minute of event time; a run
  chooses standard or premium per account (SimConfig.default_tier, account_tiers).

Cancels take a maker's delay (they never trade); a modify takes a taker's when its new price
would cross the book at receipt, else a maker's. Time here is the venue's event time in ms:
a replay at 1000x meets the same bumps and windows as a live run. Pure: no clock, no I/O.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from typing import Literal, get_args

import msgspec

TierName = Literal["paper", "standard", "premium"]
TIER_NAMES: tuple[str, ...] = get_args(TierName)
RATE_WINDOW_MS = 60_000


class Tier(msgspec.Struct, frozen=True, kw_only=True):
    name: TierName
    maker_delay_ms: int  # receipt to effect, for orders that rest, cancels and non-crossing modifies
    taker_delay_ms: int  # receipt to effect, for orders that may trade on arrival
    tx_per_minute: int | None  # transactions per rolling minute of event time; None: no limit
    maker_fee: float | None  # fractions of notional; None: the market's own fees
    taker_fee: float | None


PAPER = Tier(name="paper", maker_delay_ms=0, taker_delay_ms=0, tx_per_minute=None, maker_fee=None, taker_fee=None)
STANDARD = Tier(name="standard", maker_delay_ms=200, taker_delay_ms=300, tx_per_minute=60, maker_fee=0.0,
                taker_fee=0.0)  # fmt: skip
PREMIUM = Tier(name="premium", maker_delay_ms=0, taker_delay_ms=150, tx_per_minute=24_000, maker_fee=0.000028,
               taker_fee=0.000196)  # fmt: skip
TIERS: dict[str, Tier] = {t.name: t for t in (PAPER, STANDARD, PREMIUM)}


def tier_named(name: str) -> Tier:
    tier = TIERS.get(name)
    if tier is None:
        raise ValueError(f"unknown account tier {name!r} (one of {', '.join(TIER_NAMES)})")
    return tier


class AccountTiers:
    """Each account's tier (a default and per-account overrides) and its rolling rate window."""

    def __init__(self, default: str = "paper", accounts: Mapping[int, str] | None = None) -> None:
        self.default = tier_named(default)
        self._accounts: dict[int, Tier] = {}
        for account, name in (accounts or {}).items():
            if isinstance(account, bool) or not isinstance(account, int) or account < 0:
                raise ValueError(f"account tiers: account index must be an integer >= 0, got {account!r}")
            self._accounts[account] = tier_named(name)
        self._windows: dict[int, deque[int]] = {}  # account -> event ms of its admitted transactions

    def tier(self, account_index: int) -> Tier:
        return self._accounts.get(account_index, self.default)

    def delay_ms(self, account_index: int, takes: bool) -> int:
        tier = self.tier(account_index)
        return tier.taker_delay_ms if takes else tier.maker_delay_ms

    def admit(self, counts: Mapping[int, int], now_ms: int) -> bool:
        """Admit `counts[account]` transactions of each account at event time now_ms, all or none:
        False when any account would pass its tier's limit within the rolling minute."""
        for account, count in counts.items():
            limit = self.tier(account).tx_per_minute
            if limit is not None and self._in_window(account, now_ms) + count > limit:
                return False
        for account, count in counts.items():
            if self.tier(account).tx_per_minute is not None:
                self._windows.setdefault(account, deque()).extend([now_ms] * count)
        return True

    def _in_window(self, account: int, now_ms: int) -> int:
        window = self._windows.get(account)
        if window is None:
            return 0
        if window and window[-1] > now_ms:
            window.clear()  # event time went back (a new timeline): the old one's window is gone
        while window and window[0] <= now_ms - RATE_WINDOW_MS:
            window.popleft()
        return len(window)
