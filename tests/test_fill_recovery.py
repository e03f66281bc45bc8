"""venue.fill_recovery.missed_fills: the walk back through an account's trades stops as soon as it
can (a page with nothing missed of ours, one older than the newest stored fill, the last page) and
finds every missed fill of our orders once, in trade order."""

from __future__ import annotations

from typing import Any

import msgspec


class T(msgspec.Struct, frozen=True):
    trade_id: int
    ours: bool = True


def pages_of(trades: list[T], size: int) -> Any:
    """A venue's `trades`, newest first, `size` a page; records which pages were asked for."""
    newest_first = sorted(trades, key=lambda t: t.trade_id, reverse=True)
    asked: list[str | None] = []

    async def fetch(cursor: str | None) -> tuple[list[T], str | None]:
        asked.append(cursor)
        start = 0 if cursor is None else next(i for i, t in enumerate(newest_first) if t.trade_id < int(cursor))
        page = newest_first[start:start + size]
        more = start + size < len(newest_first)
        return page, str(page[-1].trade_id) if more else None

    fetch.asked = asked  # type: ignore[attr-defined]
    return fetch


async def test_finds_every_missed_fill_back_to_what_was_stored() -> None:
    from venue.fill_recovery import missed_fills

    trades = [T(i) for i in range(1, 1001)]
    stored = set(range(1, 701)) | set(range(951, 1001))  # 701..950 missed, the newest 50 from a snapshot
    fetch = pages_of(trades, 100)
    missed, pages = await missed_fills(fetch, lambda t: t.trade_id in stored, lambda t: t.ours, newest_stored=700)
    assert [t.trade_id for t in missed] == list(range(701, 951))
    assert pages == 4  # 1000..901, 900..801, 800..701, 700..601 (older than the newest stored: stop)


async def test_stops_at_a_page_with_nothing_missed_and_ignores_others_fills() -> None:
    from venue.fill_recovery import missed_fills

    trades = [T(i, ours=i % 3 != 0) for i in range(1, 501)]
    stored = {t.trade_id for t in trades if t.trade_id <= 440 or t.trade_id > 480}
    missed, pages = await missed_fills(pages_of(trades, 50), lambda t: t.trade_id in stored, lambda t: t.ours,
                                       newest_stored=None)
    assert [t.trade_id for t in missed] == [i for i in range(441, 481) if i % 3 != 0]
    assert pages == 3  # 500..451, 450..401 (found some), 400..351: nothing missed, stop

    # a fresh database on an account with a long history of others' fills: one page, nothing
    missed, pages = await missed_fills(pages_of([T(i, ours=False) for i in range(1, 1001)], 100),
                                       lambda t: False, lambda t: t.ours, newest_stored=None)
    assert (missed, pages) == ([], 1)
    # everything missed: walks to the last page
    missed, pages = await missed_fills(pages_of([T(i) for i in range(1, 251)], 100), lambda t: False,
                                       lambda t: t.ours, newest_stored=None)
    assert (len(missed), pages) == (250, 3)
