"""Funding: the hourly payments a perpetual position pays or earns, as the venue reports them.

`FundingPayment` goes from the router (which reads the venue's account stream) to risk and
persistence. (account_index, market_id, ts_event) identifies it: the venue settles each position
once an hour, so a payment delivered again (a reconnect's snapshot repeats recent ones, Ray retries
calls) is recognised everywhere by that key and counted once.
"""

from __future__ import annotations

from messages.base import Message


class FundingPayment(Message, frozen=True, kw_only=True, tag="funding_payment"):
    """One hour's funding of one account's position. ts_event: the hour it settles (ns, venue time).

    change: what the account's collateral moved by (quote; < 0 paid, > 0 received), Lighter's
    PositionFunding.change; it adds to PnL as it is. rate: per hour as a fraction (> 0: longs pay).
    strategy: the strategy trading this account and market ("" when none does).
    """

    account_index: int
    market_id: int
    strategy: str = ""
    funding_id: int = 0
    change: float
    rate: float = 0.0
    position_size: float = 0.0  # signed base units at the hour: > 0 long

    @property
    def key(self) -> tuple[int, int, int]:
        return (self.account_index, self.market_id, self.ts_event)
