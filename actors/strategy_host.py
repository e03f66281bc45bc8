"""What every strategy actor needs, whichever kind of strategy it hosts (actors/strategy.py for the
directional ones, actors/quoting.py for the maker): durable client order indices, the memory of
fills already applied, and risk's venue-reconciled position at start-up.

Client order indices are `client_order_index_for(name, seq)`. The seq is reserved in blocks of
SEQ_BLOCK: a snapshot recording the new upper bound is written DURABLY before the first index of a
block is used (and ahead of time, half a block early), so a restart continues above every index the
previous incarnation could have used, without a durable write per order.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from actors.common import BoundedSet, Sender, client_order_index_for
from venue.client_ids import SEQ_MASK

SEQ_BLOCK = 1000
RECENT_FILLS = 200


class OrderIndices:
    """The seq of a strategy's next client order index and the bound reserved durably."""

    def __init__(self, strategy: str, reserve: Callable[[], Awaitable[None]]) -> None:
        self.strategy = strategy
        self._reserve_durably = reserve  # writes a snapshot carrying `bound` durably
        self.next_seq = 0
        self.hi = 0  # indices below this are reserved durably
        self.reserving_hi = 0
        self._reserving: asyncio.Task[None] | None = None

    @property
    def bound(self) -> int:
        """What a snapshot records: every index below it may have been used."""
        return max(self.hi, self.reserving_hi)

    def restore(self, bound: int) -> None:
        self.hi = self.next_seq = bound

    def recover(self, highest_stored: int | None) -> None:
        """Continue above the highest index storage holds of ours (a journaled order may be newer
        than the snapshot), and reserve the first block (by the snapshot at the end of start-up)."""
        ours = client_order_index_for(self.strategy, 0) & ~SEQ_MASK
        if highest_stored is not None and (highest_stored & ~SEQ_MASK) == ours:
            self.next_seq = max(self.next_seq, (highest_stored & SEQ_MASK) + 1)
        self.hi = self.next_seq + SEQ_BLOCK

    def reserved(self, seq: int) -> bool:
        return seq < self.hi

    def take(self) -> int:
        """The next seq (the caller checks `reserved`); starts the next block's reservation when
        half of this one is used."""
        seq = self.next_seq
        self.next_seq += 1
        if self.hi - self.next_seq < SEQ_BLOCK // 2 and (self._reserving is None or self._reserving.done()):
            self._reserving = asyncio.ensure_future(self._reserve())
        return seq

    async def _reserve(self) -> None:
        self.reserving_hi = self.next_seq + SEQ_BLOCK
        await self._reserve_durably()  # its snapshot carries `bound`, the new block included
        self.hi = max(self.hi, self.reserving_hi)


class FillMemory:
    """The venue trade ids of the fills applied (a fill arrives twice: retried calls, stored fills
    replayed at start-up); the newest RECENT_FILLS go into snapshots."""

    def __init__(self) -> None:
        self._seen = BoundedSet(RECENT_FILLS * 10)
        self._order: list[int] = []

    def remember(self, trade_id: int) -> bool:
        """True the first time a trade id is seen."""
        if not self._seen.add(trade_id):
            return False
        self._order.append(trade_id)
        if len(self._order) > RECENT_FILLS:
            del self._order[: len(self._order) - RECENT_FILLS]
        return True

    def recent(self) -> list[int]:
        return self._order[-RECENT_FILLS:]

    def load(self, trade_ids: list[Any]) -> None:
        for trade_id in trade_ids:
            self.remember(int(trade_id))


async def wait_reconciled(sender: Sender, account: int, market_id: int, timeout_s: float = 15.0) -> dict[str, Any]:
    """Risk's position of the account once it has reconciled it with the venue (or after timeout_s)."""
    deadline = time.monotonic() + timeout_s
    while True:
        pos: dict[str, Any] = await sender.call("risk", "position", account, market_id, timeout_s=60.0)
        if pos["reconciled"] or time.monotonic() > deadline:
            return pos
        await asyncio.sleep(0.2)  # risk reconciles the account with the venue: poll its answer
