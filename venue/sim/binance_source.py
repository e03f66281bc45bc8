"""Replay of a raw Binance USD-M futures websocket recording as a market.

File format: gzip (or plain) text, one message a line: `<local receive time ns> <raw JSON>`,
the JSON either bare or wrapped as {"stream": ..., "data": ...}. The recording holds one REST
depth snapshot ({"lastUpdateId", "bids", "asks", ...}) and the streams `depth@0ms`
(depthUpdate: U, u, pu, b, a), `trade` (p, q, m) and `bookTicker` (u, b, B, a, A).

The L2 book is rebuilt as Binance documents for futures: diffs received before the snapshot
are buffered; diffs with u < lastUpdateId are dropped; the first applied diff should straddle
lastUpdateId and each later one should have pu equal to the previous u (otherwise a gap is
counted and the diff applied anyway, as a recording cannot re-fetch a snapshot); size 0 removes
a level. A bookTicker newer than the book (u above the last applied diff) sets the top: it
removes better levels on its side and sets the best level's size. Diffs arrive in batches less
often than tickers, so a diff older than the last applied ticker re-applies that ticker after it.

Emitted: the snapshot as the first SourceBook, a SourceBook after each applied diff and ticker,
a SourceTrade per trade (taker_is_buyer = not m, as m says the buyer was the maker). Event time
is the exchange's E (milliseconds) in ns, made nondecreasing. Trades and tickers before the
snapshot cannot be placed on a book and are counted in `before_snapshot`. Malformed lines are
counted in `malformed` and dropped.
"""

from __future__ import annotations

import gzip
import io
import math
from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec

from venue.sim.synthetic import NS_PER_MS
from venue.sim.types import SourceBook, SourceEvent, SourceTrade

Levels = list[tuple[float, float]]


class Malformed(ValueError):
    """A line that cannot be read as one of the recording's messages."""


class L2Book:
    """Price levels of both sides, kept sorted so the top N is a slice (no sort per event)."""

    def __init__(self) -> None:
        self.bids: dict[float, float] = {}
        self.asks: dict[float, float] = {}
        self._bid_prices: list[float] = []  # ascending: the best bid is last
        self._ask_prices: list[float] = []  # ascending: the best ask is first

    def clear(self) -> None:
        self.bids.clear()
        self.asks.clear()
        self._bid_prices.clear()
        self._ask_prices.clear()

    @staticmethod
    def _set(levels: dict[float, float], prices: list[float], price: float, size: float) -> None:
        if size == 0:
            if levels.pop(price, None) is not None:
                del prices[bisect_left(prices, price)]
        else:
            if price not in levels:
                insort(prices, price)
            levels[price] = size

    def apply(self, bids: Levels, asks: Levels) -> None:
        for price, size in bids:
            self._set(self.bids, self._bid_prices, price, size)
        for price, size in asks:
            self._set(self.asks, self._ask_prices, price, size)

    def set_top(self, bid: float, bid_size: float, ask: float, ask_size: float) -> None:
        """What a bookTicker says: nothing is better than bid/ask, and these are their sizes."""
        cut = bisect_right(self._bid_prices, bid)
        for price in self._bid_prices[cut:]:
            del self.bids[price]
        del self._bid_prices[cut:]
        cut = bisect_left(self._ask_prices, ask)
        for price in self._ask_prices[:cut]:
            del self.asks[price]
        del self._ask_prices[:cut]
        self._set(self.bids, self._bid_prices, bid, bid_size)
        self._set(self.asks, self._ask_prices, ask, ask_size)

    def best_bid(self) -> float | None:
        return self._bid_prices[-1] if self._bid_prices else None

    def best_ask(self) -> float | None:
        return self._ask_prices[0] if self._ask_prices else None

    def is_crossed(self) -> bool:
        bid, ask = self.best_bid(), self.best_ask()
        return bid is not None and ask is not None and bid >= ask

    def uncross(self, keep_bids: bool) -> None:
        """Drop the other side's levels that cross the kept side's best price."""
        if keep_bids:
            bid = self.best_bid()
            assert bid is not None
            cut = bisect_right(self._ask_prices, bid)
            for price in self._ask_prices[:cut]:
                del self.asks[price]
            del self._ask_prices[:cut]
        else:
            ask = self.best_ask()
            assert ask is not None
            cut = bisect_left(self._bid_prices, ask)
            for price in self._bid_prices[cut:]:
                del self.bids[price]
            del self._bid_prices[cut:]

    def top(self, ts_ns: int, levels: int) -> SourceBook:
        bid_prices = self._bid_prices[: -levels - 1 : -1]
        ask_prices = self._ask_prices[:levels]
        return SourceBook(
            ts_ns=ts_ns,
            bids=[(p, self.bids[p]) for p in bid_prices],
            asks=[(p, self.asks[p]) for p in ask_prices],
        )


# ---------------------------------------------------------------------------------------------
# Parsing: every check raises Malformed, so a line is either fully read or dropped
# ---------------------------------------------------------------------------------------------


def _number(raw: Any) -> float:
    try:
        value = float(raw)
    except (TypeError, ValueError) as exc:
        raise Malformed(f"not a number: {raw!r}") from exc
    if not math.isfinite(value) or value < 0:
        raise Malformed(f"not a finite non-negative number: {raw!r}")
    return value


def _int(raw: Any) -> int:
    if not isinstance(raw, int) or isinstance(raw, bool):
        raise Malformed(f"not an integer: {raw!r}")
    return raw


def _levels(raw: Any) -> Levels:
    if not isinstance(raw, list):
        raise Malformed("levels are not a list")
    out: Levels = []
    for level in raw:
        if not isinstance(level, list) or len(level) < 2:
            raise Malformed(f"bad level {level!r}")
        price = _number(level[0])
        if price <= 0:
            raise Malformed(f"non-positive price {level!r}")
        out.append((price, _number(level[1])))
    return out


def _message(line: bytes) -> dict[str, Any]:
    """The JSON payload of one line (unwrapped from a combined-stream envelope)."""
    stamp, sep, body = line.strip().partition(b" ")
    if not sep or not stamp.isdigit():
        raise Malformed("no receive time")
    try:
        obj = msgspec.json.decode(body)
    except msgspec.DecodeError as exc:
        raise Malformed("bad JSON") from exc
    if isinstance(obj, dict) and "stream" in obj and isinstance(obj.get("data"), dict):
        obj = obj["data"]
    if not isinstance(obj, dict):
        raise Malformed("not a JSON object")
    return obj


class _Diff(msgspec.Struct, frozen=True):
    first: int  # U
    last: int  # u
    prev: int  # pu
    ts_ms: int
    bids: Levels
    asks: Levels


def _diff(msg: dict[str, Any]) -> _Diff:
    return _Diff(
        _int(msg.get("U")),
        _int(msg.get("u")),
        _int(msg.get("pu")),
        _int(msg.get("E")),
        _levels(msg.get("b")),
        _levels(msg.get("a")),
    )


# ---------------------------------------------------------------------------------------------
# The source
# ---------------------------------------------------------------------------------------------


class BinanceRecordingSource:
    """A finite replay of a Binance futures websocket recording; counters describe the last run."""

    def __init__(self, path: str | Path, *, levels: int = 20) -> None:
        if levels < 1:
            raise ValueError(f"levels must be >= 1, got {levels}")
        self.path = Path(path)
        self.levels = levels
        self._reset_counters()

    def _reset_counters(self) -> None:
        self.malformed = 0  # lines that could not be read
        self.gaps = 0  # depth diffs whose sequence did not follow the previous one
        self.stale = 0  # diffs older than the snapshot and tickers older than the book
        self.before_snapshot = 0  # trades and tickers before the snapshot (no book to place them on)
        self.ignored = 0  # well-formed messages of other kinds
        self.uncrossed = 0  # books that came out crossed (after a gap) and were repaired

    def _lines(self) -> Iterator[bytes]:
        with open(self.path, "rb") as probe:
            gzipped = probe.read(2) == b"\x1f\x8b"
        raw = gzip.open(self.path, "rb") if gzipped else open(self.path, "rb")  # noqa: SIM115
        with io.BufferedReader(raw) as stream:  # type: ignore[arg-type]
            yield from stream

    def events(self) -> Iterator[SourceEvent]:
        """The recording's books and trades in nondecreasing event time; each call starts over."""
        self._reset_counters()
        book = L2Book()
        pending: list[_Diff] = []  # diffs before the snapshot
        snapshot_id: int | None = None
        last_u: int | None = None  # the u of the last applied diff
        ticker: tuple[int, float, float, float, float] | None = None  # the last applied one
        last_ts = 0

        def stamp(ts_ms: int) -> int:
            nonlocal last_ts
            last_ts = max(last_ts, ts_ms * NS_PER_MS)
            return last_ts

        def apply_diff(diff: _Diff) -> bool:
            nonlocal last_u
            if diff.last < (snapshot_id or 0):
                self.stale += 1
                return False
            if last_u is None:
                if not diff.first <= (snapshot_id or 0) <= diff.last:
                    self.gaps += 1
            elif diff.prev != last_u:
                self.gaps += 1
            book.apply(diff.bids, diff.asks)
            last_u = diff.last
            if ticker is not None and ticker[0] > diff.last:
                book.set_top(*ticker[1:])  # the ticker is newer than this batch
            if book.is_crossed():
                self.uncrossed += 1
                book.uncross(keep_bids=True)
            return True

        for line in self._lines():
            if not line.strip():
                continue
            try:
                msg = _message(line)
                kind = msg.get("e")
                if "lastUpdateId" in msg and "bids" in msg:
                    snap_bids, snap_asks = _levels(msg["bids"]), _levels(msg["asks"])
                    snap_id = _int(msg["lastUpdateId"])
                    snap_ms = _int(msg.get("E", msg.get("T")))
                    if snapshot_id is not None:
                        self.ignored += 1  # a second snapshot: the diffs already keep the book
                        continue
                    book.apply(snap_bids, snap_asks)
                    if book.is_crossed():
                        book.clear()
                        raise Malformed("crossed snapshot")
                    snapshot_id = snap_id
                    yield book.top(stamp(snap_ms), self.levels)
                    for diff in pending:
                        if apply_diff(diff):
                            yield book.top(stamp(diff.ts_ms), self.levels)
                    pending.clear()
                elif kind == "depthUpdate":
                    diff = _diff(msg)
                    if snapshot_id is None:
                        pending.append(diff)
                    elif apply_diff(diff):
                        yield book.top(stamp(diff.ts_ms), self.levels)
                elif kind == "trade":
                    price, size = _number(msg.get("p")), _number(msg.get("q"))
                    maker_is_buyer = msg.get("m")
                    ts_ms = _int(msg.get("E"))
                    if price <= 0 or size <= 0 or not isinstance(maker_is_buyer, bool):
                        raise Malformed("bad trade")
                    if snapshot_id is None:
                        self.before_snapshot += 1
                        continue
                    yield SourceTrade(
                        ts_ns=stamp(ts_ms), price=price, size=size, taker_is_buyer=not maker_is_buyer
                    )
                elif kind == "bookTicker":
                    u, ts_ms = _int(msg.get("u")), _int(msg.get("E"))
                    bid, bid_size = _number(msg.get("b")), _number(msg.get("B"))
                    ask, ask_size = _number(msg.get("a")), _number(msg.get("A"))
                    if not 0 < bid < ask or bid_size <= 0 or ask_size <= 0:
                        raise Malformed("bad ticker")
                    if snapshot_id is None:
                        self.before_snapshot += 1
                        continue
                    if u <= max(last_u or 0, snapshot_id, ticker[0] if ticker else 0):
                        self.stale += 1  # the book already knows more than this ticker
                        continue
                    ticker = (u, bid, bid_size, ask, ask_size)
                    book.set_top(bid, bid_size, ask, ask_size)
                    yield book.top(stamp(ts_ms), self.levels)
                else:
                    self.ignored += 1
            except (Malformed, KeyError):
                self.malformed += 1
