"""Transactions for one account that arrive together leave together: Lighter's sendTxBatch takes up
to 15 in one request, and a maker's requote of both sides is two modifies decided on one tick.

`Coalescer.submit(key, item)` queues the item and returns its outcome. One sender per key: it waits
one turn of the event loop (items read from the same socket read join), sends what is queued, and
while that request is out, whatever arrives for the key waits for it and then goes in the next one.
The order client sends one transaction at a time per account anyway, so an item that has to wait
waits no longer than it would alone, and a burst costs one request instead of several. A lone item
goes alone (`send_one`), several as one batch (`send_many`, in chunks of `max_batch`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

Item = TypeVar("Item")
Outcome = TypeVar("Outcome")


class Coalescer(Generic[Item, Outcome]):
    def __init__(self, send_one: Callable[[Hashable, Item], Awaitable[Outcome]],
                 send_many: Callable[[Hashable, list[Item]], Awaitable[list[Outcome]]], max_batch: int = 15) -> None:
        self.send_one = send_one
        self.send_many = send_many
        self.max_batch = max_batch
        self._queued: dict[Hashable, list[tuple[Item, asyncio.Future[Outcome]]]] = {}
        self._senders: dict[Hashable, asyncio.Future[None]] = {}
        self.sends = 0
        self.batches = 0
        self.batched_items = 0

    async def submit(self, key: Hashable, item: Item) -> Outcome:
        answer: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        queue = self._queued.setdefault(key, [])
        queue.append((item, answer))
        if key not in self._senders:
            self._senders[key] = asyncio.ensure_future(self._send_queued(key))
        return await answer

    async def _send_queued(self, key: Hashable) -> None:
        try:
            await asyncio.sleep(0)  # one turn of the loop: items read with the first one join it
            while self._queued.get(key):
                queue = self._queued.pop(key)
                for start in range(0, len(queue), self.max_batch):
                    await self._send(key, queue[start:start + self.max_batch])
        finally:
            del self._senders[key]

    async def _send(self, key: Hashable, chunk: list[tuple[Item, asyncio.Future[Outcome]]]) -> None:
        try:
            if len(chunk) == 1:
                outcomes = [await self.send_one(key, chunk[0][0])]
            else:
                outcomes = await self.send_many(key, [item for item, _ in chunk])
                self.batches += 1
                self.batched_items += len(chunk)
            self.sends += 1
        except Exception as exc:  # each caller hears what went wrong with its own item
            for _, answer in chunk:
                if not answer.done():
                    answer.set_exception(exc)
            return
        for (_, answer), outcome in zip(chunk, outcomes, strict=True):
            if not answer.done():
                answer.set_result(outcome)
