"""The router's part in funding: the venue's hourly payments from the account stream to storage and risk.

An `account_all` update carries the funding the venue settled on the account's positions
(`funding_histories`); its snapshot, on every (re)subscription, repeats the recent ones, so a
router that was away recovers what it missed. Each payment becomes a `FundingPayment`, is written
durably (persistence keeps one row per (account, market, hour): a repeat is a no-op) and then goes
to risk, which dedupes on the same key. A payment whose write fails is not marked seen here, so the
next snapshot brings it again (and risk's reconciliation looks for it in the venue's history).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from actors.common import NS_PER_MS, BoundedSet, SeqCounter
from messages.codec import FUNDING
from messages.funding import FundingPayment


class FundingRelay:
    def __init__(self, sender: Any, strategies: Iterable[Any]) -> None:
        self.sender = sender
        # (account, market) -> the strategy trading it: what a payment is booked to in storage
        self.owners: dict[tuple[int, int], str] = {}
        for s in strategies:
            self.owners.setdefault((s.account_index, s.market_id), s.name)
        self.seen = BoundedSet(1_000_000)
        self.seq = SeqCounter()
        self.relayed = 0

    async def on_update(self, update: Any) -> int:
        """Store and forward the update's funding payments not handled before; returns how many."""
        account = update.account_index
        relayed = 0
        for entry in sorted(update.fundings, key=lambda f: (f.ts_ms, f.market_id)):
            payment = FundingPayment(
                account_index=account, market_id=entry.market_id,
                strategy=self.owners.get((account, entry.market_id), ""), funding_id=entry.funding_id,
                change=entry.change, rate=entry.rate, position_size=entry.position_size,
                ts_event=entry.ts_ms * NS_PER_MS, seq=self.seq.next(),
            )
            if payment.key in self.seen:
                continue
            data = FUNDING.encode(payment)
            await self.sender.call("persistence", "write_durable", data, timeout_s=60.0)
            self.seen.add(payment.key)
            self.sender.send("risk", "on_funding", data)
            relayed += 1
        self.relayed += relayed
        return relayed
