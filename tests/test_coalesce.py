"""Items for one key that arrive together go in one batch; a lone item alone; keys apart."""

from __future__ import annotations

import asyncio
from collections.abc import Hashable

import pytest

from actors.coalesce import Coalescer

pytestmark = pytest.mark.timeout(10)


class Venue:
    def __init__(self) -> None:
        self.requests: list[tuple[Hashable, list[str]]] = []

    async def one(self, key: Hashable, item: str) -> str:
        self.requests.append((key, [item]))
        await asyncio.sleep(0.001)
        return f"ok:{item}"

    async def many(self, key: Hashable, items: list[str]) -> list[str]:
        self.requests.append((key, list(items)))
        await asyncio.sleep(0.001)
        if "bad" in items:
            raise ConnectionError("socket closed")
        return [f"ok:{item}" for item in items]


def test_items_arriving_together_share_one_request_and_each_gets_its_own_answer() -> None:
    async def run() -> None:
        venue = Venue()
        c: Coalescer[str, str] = Coalescer(venue.one, venue.many, max_batch=2)
        together = await asyncio.gather(c.submit(1, "bid"), c.submit(1, "ask"), c.submit(2, "other"),
                                        c.submit(1, "third"))
        assert together == ["ok:bid", "ok:ask", "ok:other", "ok:third"]
        # in chunks of max_batch, in order per key (keys go concurrently)
        assert [r for r in venue.requests if r[0] == 1] == [(1, ["bid", "ask"]), (1, ["third"])]
        assert [r for r in venue.requests if r[0] == 2] == [(2, ["other"])]
        assert await c.submit(1, "later") == "ok:later"  # a lone one goes alone
        assert venue.requests[-1] == (1, ["later"]) and (c.batches, c.batched_items) == (1, 2)

    asyncio.run(run())


def test_a_failed_request_fails_each_of_its_items_and_nothing_else() -> None:
    async def run() -> None:
        venue = Venue()
        c: Coalescer[str, str] = Coalescer(venue.one, venue.many)
        results = await asyncio.gather(c.submit(1, "bad"), c.submit(1, "ask"), c.submit(2, "fine"),
                                       return_exceptions=True)
        assert isinstance(results[0], ConnectionError) and isinstance(results[1], ConnectionError)
        assert results[2] == "ok:fine"

    asyncio.run(run())


def test_what_arrives_while_a_request_is_out_goes_together_in_the_next() -> None:
    async def run() -> None:
        venue = Venue()
        c: Coalescer[str, str] = Coalescer(venue.one, venue.many)
        first = asyncio.ensure_future(c.submit(1, "bid"))
        await asyncio.sleep(0.0002)  # the bid's request is out (it takes 1 ms)
        later = await asyncio.gather(c.submit(1, "ask"), c.submit(1, "hedge"))
        assert await first == "ok:bid" and later == ["ok:ask", "ok:hedge"]
        assert venue.requests == [(1, ["bid"]), (1, ["ask", "hedge"])]

    asyncio.run(run())
