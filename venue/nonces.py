"""Nonces for one Lighter API key: fetched once from the venue, then counted locally.

Lighter counts nonces per (account, api_key_index), strictly up by one: a transaction whose nonce
is not the venue's next one is refused with 21104 "invalid nonce". Asking the venue before every
send would cost a round trip (and its answer lags behind transactions still in flight), so:

Rules
  1. The first `next()` asks the venue (`nextNonce`); after that nonces are counted locally.
     `next()` holds an asyncio.Lock, so concurrent senders never receive the same nonce.
  2. Accepted transaction, or refused in an HTTP-200 body (code != 200): the venue sequenced it
     and the nonce is spent; nothing to do. (The simulator consumes the nonce before its engine
     refuses an order, e.g. 21720 post-only would cross; Lighter accepts such orders and
     cancels them afterwards.)
  3. Refused at the gate (HTTP 4xx such as a malformed transaction, HTTP 429): never sequenced,
     the nonce was not consumed: `release(nonce)` gives it back (when it is the last one handed
     out; otherwise the count is unknown, see 4).
  4. Fate unknown (connection error, timeout, HTTP 5xx), or a release that cannot be applied:
     `invalidate()`; the next `next()` asks the venue again (a hard refresh).
  5. 21104 "invalid nonce": the local count is wrong (another process used the key, or a send
     of unknown fate did land): `hard_refresh()` asks the venue now; the caller retries once
     with the fresh nonce and the SAME client_order_index, so the retry can never double an
     order.

A wrong guess in 3 or 4 is self-healing: it costs one 21104 and one refresh, never a reused nonce
on an accepted transaction. Pure except for the injected fetcher.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

NonceFetcher = Callable[[int, int], Awaitable[int]]
"""async (account_index, api_key_index) -> the venue's next nonce (LighterRest.next_nonce fits)."""


class NonceManager:
    def __init__(self, fetch: NonceFetcher, account_index: int, api_key_index: int) -> None:
        self._fetch = fetch
        self.account_index = account_index
        self.api_key_index = api_key_index
        self._next: int | None = None  # None: unknown, ask the venue before handing one out
        self._lock = asyncio.Lock()
        self.fetches = 0  # how often the venue was asked (observability and tests)

    def __repr__(self) -> str:
        return (
            f"NonceManager(account_index={self.account_index}, api_key_index={self.api_key_index}, "
            f"next={self._next})"
        )

    @property
    def known_next(self) -> int | None:
        """The nonce `next()` would hand out without asking the venue, or None."""
        return self._next

    async def next(self) -> int:
        """Hand out a fresh nonce. Raises whatever the fetcher raises when the venue must be asked."""
        async with self._lock:
            if self._next is None:
                self._next = await self._fetch_now()
            nonce = self._next
            self._next = nonce + 1
            return nonce

    def release(self, nonce: int) -> None:
        """The venue refused the transaction carrying `nonce` without consuming it (rule 3)."""
        if self._next is not None and nonce == self._next - 1:
            self._next = nonce
        else:
            # A later nonce is already out (or the count was dropped): the venue's next nonce is
            # now unknown to us, so ask again rather than guess.
            self._next = None

    def invalidate(self) -> None:
        """The venue may or may not have consumed a nonce (rule 4): ask it before the next send."""
        self._next = None

    async def hard_refresh(self) -> int:
        """Ask the venue now (rule 5) and return the nonce the next `next()` will hand out."""
        async with self._lock:
            self._next = None  # stays unknown if the fetch fails
            self._next = await self._fetch_now()
            return self._next

    async def _fetch_now(self) -> int:
        self.fetches += 1
        nonce = await self._fetch(self.account_index, self.api_key_index)
        if not isinstance(nonce, int) or isinstance(nonce, bool) or nonce < 0:
            raise ValueError(f"nextNonce answered {nonce!r}, not a non-negative integer")
        return nonce
