"""Replay of a Lighter websocket recording (`lighter-trader record`) as a market.

File format: gzip (or plain) text, one message a line: `<local receive time ns> <raw JSON>`, as
the Binance recording. The messages are Lighter's: `subscribed/order_book` (the whole book) then
`update/order_book` (changed levels; size "0" removes a level) on channel `order_book:M`, and
`subscribed/trade` / `update/trade` on `trade:M`; anything else (connected, ping, other channels)
is counted in `ignored`.

One market is replayed (`market_id`, or else the first market whose book snapshot the file
holds). Every subscribed/order_book replaces the book (a recorder that reconnected subscribes
again); an update whose begin_nonce does not continue the previous nonce is counted in `gaps`
and applied anyway (a recording cannot ask again). Emitted: a SourceBook (top `levels` a side)
after each book message, a SourceTrade per new trade of an update/trade (taker_is_buyer =
is_maker_ask: the maker sold; trade ids seen before are `duplicates`). The trades of subscribed/trade are the
market's past, from before the recording's book: counted in `snapshot_trades`, not emitted, and
their ids remembered so that a repeat is not replayed. Books and trades before the first book
snapshot are counted in `before_snapshot`.

Event time: a message's `timestamp` (ms; a trade's own), else its `last_updated_at` (us), else
the line's receive time; made nondecreasing. Malformed lines are counted in `malformed`, with
the reason in `malformed_reasons`, and dropped; a gzip cut short (the recorder killed) ends the
replay at the last whole line and sets `truncated`.
"""

from __future__ import annotations

import io
import math
import zlib
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec

from venue.sim.binance_source import L2Book
from venue.sim.synthetic import NS_PER_MS
from venue.sim.types import SourceEvent, SourceTrade

Levels = list[tuple[float, float]]
CHUNK = 1 << 16


MAX_NS = 2**63  # event and receive times are int64 nanoseconds downstream


class Malformed(ValueError):
    """A line that cannot be read as one of the recording's messages; str() is the reason."""


def _number(raw: Any, what: str) -> float:
    if isinstance(raw, bool) or not isinstance(raw, (str, int, float)):
        raise Malformed(f"bad {what}")
    try:
        value = float(raw)
    except ValueError:
        raise Malformed(f"bad {what}") from None
    if not math.isfinite(value) or value < 0:
        raise Malformed(f"bad {what}")
    return value


def _levels(raw: Any) -> Levels:
    if not isinstance(raw, list):
        raise Malformed("bad levels")
    out: Levels = []
    for level in raw:
        if not isinstance(level, dict):
            raise Malformed("bad level")
        price = _number(level.get("price"), "level price")
        if price <= 0:
            raise Malformed("bad level price")
        out.append((price, _number(level.get("size"), "level size")))
    return out


def _int_or_none(raw: Any) -> int | None:
    return raw if isinstance(raw, int) and not isinstance(raw, bool) else None


def parse_line(line: bytes) -> tuple[int, dict[str, Any]]:
    """(receive time ns, message) of one line, or Malformed."""
    stamp, sep, body = line.strip().partition(b" ")
    if not sep or not stamp.isdigit():
        raise Malformed("no receive time")
    if int(stamp) >= MAX_NS:
        raise Malformed("receive time out of range")
    try:
        message = msgspec.json.decode(body)
    except msgspec.DecodeError:
        raise Malformed("bad JSON") from None
    if not isinstance(message, dict):
        raise Malformed("not a JSON object")
    return int(stamp), message


def channel_market(message: dict[str, Any]) -> tuple[str, int] | None:
    """("order_book", 2) of a message on channel "order_book:2" (or "order_book/2"); None without one."""
    channel = message.get("channel")
    if not isinstance(channel, str):
        return None
    for sep in (":", "/"):
        kind, found, arg = channel.partition(sep)
        if found:
            try:
                return kind, int(arg)
            except ValueError:
                raise Malformed("bad channel") from None
    return None


class LighterRecordingSource:
    """A finite replay of one market of a Lighter websocket recording; counters describe the last run."""

    def __init__(self, path: str | Path, *, market_id: int | None = None, levels: int = 50) -> None:
        if levels < 1:
            raise ValueError(f"levels must be >= 1, got {levels}")
        self.path = Path(path)
        self.market_id = market_id
        self.levels = levels
        self._reset_counters()

    def _reset_counters(self) -> None:
        self.lines = 0
        self.malformed = 0
        self.malformed_reasons: Counter[str] = Counter()
        self.gaps = 0  # book updates that did not continue the previous one
        self.before_snapshot = 0  # book updates and trades before the first book snapshot
        self.snapshot_trades = 0  # trades of subscribed/trade: the market's past
        self.duplicates = 0  # trades whose id was already seen
        self.uncrossed = 0  # books that came out crossed and were repaired
        self.other_markets = 0  # messages of markets not replayed
        self.ignored = 0  # well-formed messages of other kinds
        self.truncated = False
        self.books = 0
        self.trades = 0

    def stats(self) -> dict[str, Any]:
        return {
            "lines": self.lines, "books": self.books, "trades": self.trades, "malformed": self.malformed,
            "malformed_reasons": dict(self.malformed_reasons), "gaps": self.gaps,
            "before_snapshot": self.before_snapshot, "snapshot_trades": self.snapshot_trades,
            "duplicates": self.duplicates, "uncrossed": self.uncrossed, "other_markets": self.other_markets,
            "ignored": self.ignored, "truncated": self.truncated,
        }  # fmt: skip

    def _lines(self) -> Iterator[bytes]:
        """Whole lines; a gzip cut short yields all it decompresses to (the recorder sync-flushes)."""
        with open(self.path, "rb") as raw:
            gzipped = raw.read(2) == b"\x1f\x8b"
            raw.seek(0)
            chunks = _gunzip(raw) if gzipped else iter(lambda: raw.read(CHUNK), b"")
            tail = b""
            try:
                for chunk in chunks:
                    lines = (tail + chunk).split(b"\n")
                    tail = lines.pop()
                    for line in lines:
                        yield line + b"\n"
            except (EOFError, zlib.error):
                self.truncated = True
            if tail.strip():
                self.truncated = True  # the last line, cut off mid-write

    def events(self) -> Iterator[SourceEvent]:
        """The recording's books and trades of the market in nondecreasing event time; each call starts over."""
        self._reset_counters()
        market = self.market_id
        book = L2Book()
        have_book = False
        last_nonce: int | None = None
        seen_trades: set[int] = set()
        last_ts = 0

        def stamp(ts_ns: int) -> int:
            nonlocal last_ts
            last_ts = max(last_ts, ts_ns)
            return last_ts

        def message_ns(message: dict[str, Any], received_ns: int) -> int:
            ts_ms = _int_or_none(message.get("timestamp"))
            updated_us = _int_or_none(message.get("last_updated_at"))
            ns = ts_ms * NS_PER_MS if ts_ms is not None else (updated_us * 1_000 if updated_us is not None
                                                              else received_ns)
            if not 0 <= ns < MAX_NS:  # an absurd stamp would hold every later event at its time
                raise Malformed("timestamp out of range")
            return ns

        for line in self._lines():
            if not line.strip():
                continue
            self.lines += 1
            try:
                received_ns, message = parse_line(line)
                kind = message.get("type")
                where = channel_market(message)
                if where is None or kind not in (
                    "subscribed/order_book", "update/order_book", "subscribed/trade", "update/trade"
                ):  # fmt: skip
                    self.ignored += 1
                    continue
                channel, channel_market_id = where
                if market is None and kind == "subscribed/order_book":
                    market = channel_market_id
                if channel_market_id != market:
                    self.other_markets += 1
                    continue
                if kind.endswith("/order_book"):
                    body = message.get("order_book")
                    if not isinstance(body, dict):
                        raise Malformed("no order_book")
                    bids, asks = _levels(body.get("bids")), _levels(body.get("asks"))
                    nonce, begin = _int_or_none(body.get("nonce")), _int_or_none(body.get("begin_nonce"))
                    event_ns = message_ns(message, received_ns)  # before the book changes: may be Malformed
                    if kind == "subscribed/order_book":
                        book.clear()
                        have_book = True
                    elif not have_book:
                        self.before_snapshot += 1
                        continue
                    elif last_nonce is not None and begin is not None and begin != last_nonce:
                        self.gaps += 1
                    book.apply(bids, asks)
                    last_nonce = nonce
                    if book.is_crossed():
                        self.uncrossed += 1
                        book.uncross(keep_bids=True)
                    self.books += 1
                    yield book.top(stamp(event_ns), self.levels)
                else:
                    trades = message.get("trades")
                    if not isinstance(trades, list):
                        raise Malformed("no trades")
                    parsed = [_trade(t, message, received_ns) for t in trades]  # the whole line or none of it
                    for trade_id, trade in parsed:
                        if trade_id is not None and trade_id in seen_trades:
                            self.duplicates += 1
                            continue
                        if trade_id is not None:
                            seen_trades.add(trade_id)
                        if kind == "subscribed/trade":
                            self.snapshot_trades += 1
                        elif not have_book:
                            self.before_snapshot += 1
                        else:
                            self.trades += 1
                            yield msgspec.structs.replace(trade, ts_ns=stamp(trade.ts_ns))
            except Malformed as exc:
                self.malformed += 1
                self.malformed_reasons[str(exc)] += 1


def _gunzip(raw: io.BufferedReader) -> Iterator[bytes]:
    """Decompressed chunks of a (multi-member) gzip file; EOFError when it ends mid-stream."""
    inflate = zlib.decompressobj(wbits=31)
    while True:
        data = raw.read(CHUNK)
        if not data:
            if not inflate.eof:
                raise EOFError("the gzip stream is cut short")
            return
        while data:
            yield inflate.decompress(data)
            if not inflate.eof:
                break
            data = inflate.unused_data  # another gzip member follows
            inflate = zlib.decompressobj(wbits=31)
            if not data:
                data = raw.read(CHUNK)
                if not data:
                    return


def _trade(raw: Any, message: dict[str, Any], received_ns: int) -> tuple[int | None, SourceTrade]:
    if not isinstance(raw, dict):
        raise Malformed("bad trade")
    price, size = _number(raw.get("price"), "trade price"), _number(raw.get("size"), "trade size")
    maker_ask = raw.get("is_maker_ask")
    if price <= 0 or size <= 0 or not isinstance(maker_ask, bool):
        raise Malformed("bad trade")
    ts_ms = _int_or_none(raw.get("timestamp"))
    if ts_ms is None:
        ts_ms = _int_or_none(message.get("timestamp"))
    ts_ns = ts_ms * NS_PER_MS if ts_ms is not None else received_ns
    if not 0 <= ts_ns < MAX_NS:
        raise Malformed("timestamp out of range")
    trade = SourceTrade(ts_ns=ts_ns, price=price, size=size, taker_is_buyer=maker_ask)
    return _int_or_none(raw.get("trade_id")), trade
