"""Which of an account's fills at the venue were never stored: paged out of Lighter's `trades`.

After a restart the router cannot tell from the account stream alone what it missed (a snapshot
carries the last 50 fills). `missed_fills` walks the account's trades newest first, a page
(at most 100) at a time, collecting the fills of our orders that were not stored, and stops at
the first page that
- has no such fill (everything newer was stored, or the page holds only others' fills: a fresh
  database on an account with a long history stops at once), or
- lies entirely at or below the newest trade id stored before (older fills were seen then), or
- is the last one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

Page = tuple[list[Any], "str | None"]  # (trades newest first, the next page's cursor or None)


async def missed_fills(
    fetch: Callable[[str | None], Awaitable[Page]],
    stored: Callable[[Any], bool],
    ours: Callable[[Any], bool],
    newest_stored: int | None,
) -> tuple[list[Any], int]:
    """(the missed fills in trade order, how many pages were read)."""
    missed: dict[int, Any] = {}
    cursor: str | None = None
    pages = 0
    while True:
        trades, cursor = await fetch(cursor)
        pages += 1
        found = [t for t in trades if not stored(t) and ours(t)]
        for trade in found:
            missed[trade.trade_id] = trade
        older = newest_stored is not None and all(t.trade_id <= newest_stored for t in trades)
        if not cursor or not found or older:
            break
    return sorted(missed.values(), key=lambda t: t.trade_id), pages
