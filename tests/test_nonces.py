"""NonceManager: fetched once, counted locally, never handed out twice, refreshed on the rules."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from venue.nonces import NonceManager


class FakeVenue:
    """nextNonce of one key; `calls` records every fetch, `fail` makes the next fetch raise."""

    def __init__(self, next_nonce: int) -> None:
        self.next_nonce = next_nonce
        self.calls: list[tuple[int, int]] = []
        self.fail: Exception | None = None

    async def fetch(self, account_index: int, api_key_index: int) -> int:
        self.calls.append((account_index, api_key_index))
        await asyncio.sleep(0)  # a real await point: concurrent callers interleave here
        if self.fail is not None:
            error, self.fail = self.fail, None
            raise error
        return self.next_nonce


async def test_fetches_once_then_counts_locally() -> None:
    venue = FakeVenue(100)
    nonces = NonceManager(venue.fetch, account_index=7, api_key_index=3)
    assert nonces.known_next is None
    assert [await nonces.next() for _ in range(5)] == [100, 101, 102, 103, 104]
    assert venue.calls == [(7, 3)]
    assert nonces.fetches == 1
    assert nonces.known_next == 105


async def test_concurrent_senders_never_share_a_nonce() -> None:
    venue = FakeVenue(10)
    nonces = NonceManager(venue.fetch, 1, 2)
    got = await asyncio.gather(*(nonces.next() for _ in range(200)))
    assert sorted(got) == list(range(10, 210))  # unique and gapless
    assert len(venue.calls) == 1  # the first fetch is shared, not repeated by each waiter


async def test_release_of_the_last_nonce_gives_it_back() -> None:
    nonces = NonceManager(FakeVenue(5).fetch, 1, 2)
    first = await nonces.next()
    second = await nonces.next()
    nonces.release(second)  # refused by the API: not consumed
    assert await nonces.next() == second
    assert first == 5 and second == 6


async def test_release_of_an_older_nonce_forces_a_refresh() -> None:
    venue = FakeVenue(5)
    nonces = NonceManager(venue.fetch, 1, 2)
    old = await nonces.next()
    await nonces.next()
    nonces.release(old)  # a later nonce is already out: the venue's count is unknown
    assert nonces.known_next is None
    venue.next_nonce = 6
    assert await nonces.next() == 6
    assert len(venue.calls) == 2


async def test_invalidate_asks_the_venue_before_the_next_send() -> None:
    venue = FakeVenue(50)
    nonces = NonceManager(venue.fetch, 1, 2)
    assert await nonces.next() == 50
    nonces.invalidate()  # a send of unknown fate
    venue.next_nonce = 51  # it did land
    assert await nonces.next() == 51
    assert await nonces.next() == 52
    assert len(venue.calls) == 2


async def test_hard_refresh_takes_the_venues_count_now() -> None:
    venue = FakeVenue(1)
    nonces = NonceManager(venue.fetch, 1, 2)
    await nonces.next()
    venue.next_nonce = 40  # another process used the key
    assert await nonces.hard_refresh() == 40
    assert await nonces.next() == 40
    assert len(venue.calls) == 2


async def test_a_failed_fetch_propagates_and_is_retried_next_time() -> None:
    venue = FakeVenue(9)
    nonces = NonceManager(venue.fetch, 1, 2)
    venue.fail = ConnectionError("down")
    with pytest.raises(ConnectionError):
        await nonces.next()
    assert nonces.known_next is None
    assert await nonces.next() == 9


async def test_a_failed_hard_refresh_leaves_the_count_unknown() -> None:
    venue = FakeVenue(9)
    nonces = NonceManager(venue.fetch, 1, 2)
    await nonces.next()
    venue.fail = TimeoutError()
    with pytest.raises(TimeoutError):
        await nonces.hard_refresh()
    assert nonces.known_next is None  # not the stale local count


@pytest.mark.parametrize("answer", [-1, "12", None, True])
async def test_a_nonsense_answer_is_refused(answer: object) -> None:
    async def fetch(account_index: int, api_key_index: int) -> object:
        return answer

    nonces = NonceManager(fetch, 1, 2)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        await nonces.next()


# A model check: whatever mix of accepted / refused-by-API sends, with the venue counting strictly
# up by one and only accepted transactions consuming a nonce, every nonce the manager hands out is
# exactly the venue's next one: no 21104 ever happens in a single-sender world.
@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(["accept", "refuse", "unknown-landed", "unknown-lost"]), max_size=40))
def test_model_every_nonce_is_the_venues_next(ops: list[str]) -> None:
    async def run() -> None:
        venue = FakeVenue(1000)
        nonces = NonceManager(venue.fetch, 1, 2)
        for op in ops:
            nonce = await nonces.next()
            assert nonce == venue.next_nonce
            if op == "accept":
                venue.next_nonce += 1
            elif op == "refuse":
                nonces.release(nonce)
            elif op == "unknown-landed":
                venue.next_nonce += 1
                nonces.invalidate()
            else:
                nonces.invalidate()

    asyncio.run(run())
