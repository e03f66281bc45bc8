"""The paper venue's side of Lighter's account tiers (venue/tiers.py): each account's tier and its
rolling transaction window.

Cancels take a maker's delay (they never trade); a modify takes a taker's when its new price
would cross the book at receipt, else a maker's. Time here is the venue's event time in ms:
a replay at 1000x meets the same bumps and windows as a live run. Pure: no clock, no I/O.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping

from venue.tiers import PAPER, PREMIUM, STANDARD, TIER_NAMES, TIERS, Tier, TierName, tier_named

__all__ = ["PAPER", "PREMIUM", "STANDARD", "TIER_NAMES", "TIERS", "AccountTiers", "Tier", "TierName", "tier_named"]

RATE_WINDOW_MS = 60_000


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
