"""Lighter's account tiers: speed bumps, transaction rate, fees (a fact about the venue, read by
the simulator that plays them and by risk, whose rate limits follow them).

Lighter (docs, and DESIGN.md "Lighter as it behaves"):
- standard: an order takes effect about 200 ms after receipt when it rests (a maker, post-only)
  and 300 ms when it takes; 60 transactions a minute; fees 0/0.
- premium: 0 ms for makers, 140-200 ms for takers (150 here); maker 0.28-0.40 bps and taker
  1.96-2.80 bps (the lowest step here: 0.28 and 1.96 bps); a far higher limit (24,000 a minute,
  Lighter's premium request budget).
- paper: the simulator's own default and no Lighter tier: no bump, no limit, the market's fees.
  The directional strategies' fast tests order faster than 60 a minute of event time; a run
  chooses standard or premium per account (SimConfig.default_tier, account_tiers).
"""

from __future__ import annotations

from typing import Literal, get_args

import msgspec

TierName = Literal["paper", "standard", "premium"]
TIER_NAMES: tuple[str, ...] = get_args(TierName)



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
