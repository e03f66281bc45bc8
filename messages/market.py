"""Market data: feed -> strategies (and risk, for mids), sent in batches.

Each event carries `ts_event` (the venue's time of the change, ns), `ts_init` (when our process
created the message, ns) and `seq`: the feed's sequence number **per market**, so a strategy can
detect gaps market by market. The feed sends `MarketBatch`es every `feed.batch_interval_ms`;
inside a batch book tops (and depth snapshots) may be conflated to the latest per market, while
trades, candles and status changes are never dropped. `MarketBatch.market_seqs` gives the last
seq per market covered by the batch (conflated-away events included), so conflation is not
mistaken for a gap.

Prices and sizes are floats in quote and base units (the venue's integers are converted in
`venue/`). Side lists in `BookDepth` are best first: bids descending, asks ascending.
"""

from __future__ import annotations

from messages.base import Message


class MarketEvent(Message, frozen=True, kw_only=True):
    """Base of the per-market events (not itself sent)."""

    market_id: int
    ts_init: int


class BookTop(MarketEvent, frozen=True, kw_only=True, tag="book_top"):
    bid: float
    bid_size: float
    ask: float
    ask_size: float

    @property
    def mid(self) -> float:
        return (self.bid + self.ask) / 2.0


class BookDepth(MarketEvent, frozen=True, kw_only=True, tag="book_depth"):
    """The top levels of the book as the feed holds it (a snapshot, not a delta)."""

    bids: list[tuple[float, float]]  # (price, size), best (highest) first
    asks: list[tuple[float, float]]  # (price, size), best (lowest) first


class Trade(MarketEvent, frozen=True, kw_only=True, tag="trade"):
    """A trade printed on the venue; taker_is_buyer tells the aggressor's side."""

    trade_id: int
    price: float
    size: float
    taker_is_buyer: bool


class Candle(MarketEvent, frozen=True, kw_only=True, tag="candle"):
    """A closed candle.

    strategy is "" for a venue candle (the feed, or the candles endpoint at warm-up) and the
    strategy's name for a candle that strategy built from mid prices; storage keys candles by it.
    """

    interval_s: int
    open_time_ms: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    strategy: str = ""


class FeedStatus(MarketEvent, frozen=True, kw_only=True, tag="feed_status"):
    """The feed's health for one market: stale once silent for `feed.stale_after_s`.

    ts_event is the newest market event time the feed had seen (0 before any): a status is no
    market event, so no receiver moves an event-time clock by it."""

    stale: bool
    silent_for_s: float
    reason: str = ""


MarketEventType = BookTop | BookDepth | Trade | Candle | FeedStatus


class MarketBatch(Message, frozen=True, kw_only=True, tag="market_batch"):
    """What the feed sends: events in arrival order.

    seq is the feed's batch counter; ts_event the latest ts_event among its book tops and trades
    (the newest seen before, 0 before any, when it holds none); ts_init when the batch was built.
    """

    ts_init: int
    events: list[MarketEventType]
    market_seqs: dict[int, int]  # market_id -> last per-market seq covered by this batch


def conflate(events: list[MarketEventType]) -> list[MarketEventType]:
    """Keep only the latest BookTop and the latest BookDepth per market; keep everything else.

    A kept book event takes the place of its last occurrence, so the relative order of a book
    update and the trades around it is preserved as far as the survivors go.
    """
    last_index: dict[tuple[str, int], int] = {}
    for index, event in enumerate(events):
        if isinstance(event, (BookTop, BookDepth)):
            last_index[(type(event).__name__, event.market_id)] = index
    return [
        event
        for index, event in enumerate(events)
        if not isinstance(event, (BookTop, BookDepth))
        or last_index[(type(event).__name__, event.market_id)] == index
    ]
