"""The simulator's public market channels besides the book and trades: ticker, market_stats, candle.

Clients subscribe with a slash and get frames on a colon channel, as on Lighter:
  ticker/{m}             -> subscribed/ticker (best bid and ask: price and size), then update/ticker
                            whenever the top of the merged book changes
  market_stats/{m}       -> subscribed/market_stats, then update/market_stats when a figure moves
  market_stats/all       -> the same for every market, keyed by market id ("market_stats:all")
  candle/{m}/{res}       -> subscribed/candle (the newest candles, oldest first), then update/candle
                            with the forming candle whenever it changes; res: 1m 5m 15m 30m 1h 4h 1d

Everything comes from what the simulator already keeps: the merged book (ticker, mid price), the
external book (index and mark price: the simulator has no separate oracle), the recent trades
(last trade price), the candle history (candles, rolling 24 h figures) and the engine's positions
(open interest: the simulated accounts' longs). The funding rate is the one the engine settles
hourly (venue.sim.funding: the simulator's funding setting). Updates are built only for channels
somebody subscribes to, and a frame equal to the last one sent is not sent again.
"""

from __future__ import annotations

from typing import Any

from venue import codes
from venue.markets import MarketSpec
from venue.sim.publisher import Client, encode
from venue.sim.shapes import _daily_stats, _open_interest
from venue.sim.venue_protocol import SimVenue

KINDS = ("ticker", "market_stats", "candle")
CANDLE_RESOLUTIONS = ("1m", "5m", "15m", "30m", "1h", "4h", "1d")
CANDLES_ON_SUBSCRIBE = 100
FUNDING_PERIOD_MS = 3_600_000  # Lighter funds hourly
OPEN_INTEREST_LIMIT = "72057594037927936.000000"  # Lighter's "no limit" (the BTC fixture's value)
ALL = "all"


def parse(channel: Any) -> tuple[str, int | None, str | None] | None:
    """(kind, market or None for "all", resolution or None) of a channel of this module, given
    with slashes or colons; None if it is not one (or is malformed)."""
    if not isinstance(channel, str):
        return None
    parts = channel.replace(":", "/").split("/")
    if parts[0] not in KINDS:
        return None
    kind = parts[0]
    if kind == "market_stats" and parts[1:] == [ALL]:
        return kind, None, None
    expected = 3 if kind == "candle" else 2
    if len(parts) != expected or not parts[1].isdigit():
        return None
    resolution = parts[2] if kind == "candle" else None
    if resolution is not None and resolution not in CANDLE_RESOLUTIONS:
        return None
    return kind, int(parts[1]), resolution


def colon_name(kind: str, market: int | None, resolution: str | None) -> str:
    name = f"{kind}:{ALL if market is None else market}"
    return name if resolution is None else f"{name}:{resolution}"


def handles(channel: Any) -> bool:
    """Whether a subscribe/unsubscribe names one of this module's kinds (even malformed)."""
    return isinstance(channel, str) and channel.replace(":", "/").split("/")[0] in KINDS


def on_subscription(sim: SimVenue, client: Client, kind: str, channel: Any) -> None:
    """A client's subscribe or unsubscribe of one of these channels: the snapshot, or an error."""
    publisher = sim.publisher
    parsed = parse(channel)
    if parsed is None or (parsed[1] is not None and parsed[1] not in sim.markets):
        sim.counters.ws_malformed += 1
        publisher.send(client, encode({"type": "error", "error": {
            "code": codes.INVALID_PARAM, "message": f"invalid channel {channel!r}"}}))
        return
    name = colon_name(*parsed)
    if kind == "unsubscribe":
        publisher.unsubscribe(client, name)
        publisher.send(client, encode({"type": "unsubscribed", "channel": name}))
        return
    publisher.subscribe(client, name)
    message = snapshot(sim, *parsed)
    publisher.send(client, encode(message))
    updates = getattr(sim, "market_channels", None)
    if isinstance(updates, MarketChannels):  # it publishes this channel's changes from this snapshot on
        updates.subscribed(*parsed, message)


def snapshot(sim: SimVenue, kind: str, market: int | None, resolution: str | None) -> dict[str, Any]:
    """The subscribed/* message of a channel, as of now."""
    name = colon_name(kind, market, resolution)
    if kind == "ticker":
        assert market is not None
        return ticker_message(sim, market, "subscribed/ticker")
    if kind == "market_stats":
        stats: Any = all_stats(sim) if market is None else market_stats(sim, market)
        return {"channel": name, "market_stats": stats, "timestamp": sim.now_ms, "type": "subscribed/market_stats"}
    assert market is not None and resolution is not None
    candles = sim.candles[market].query(resolution, count_back=CANDLES_ON_SUBSCRIBE)
    return {"candles": candles, "channel": name, "timestamp": sim.now_ms, "type": "subscribed/candle"}


def _level(spec: MarketSpec, levels: list[tuple[int, int]]) -> dict[str, str]:
    if not levels:
        return {"price": "", "size": ""}
    price, size = levels[0]
    return {"price": spec.format_price(price), "size": spec.format_size(size)}


def ticker_body(sim: SimVenue, market: int) -> dict[str, Any]:
    spec = sim.markets[market]
    bids, asks = sim.engine.book(market, 1)
    updated_us = sim.books[market].last_updated_us if (bids or asks) else 0
    return {"s": spec.symbol, "a": _level(spec, asks), "b": _level(spec, bids), "last_updated_at": updated_us}


def ticker_message(sim: SimVenue, market: int, kind: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    body = ticker_body(sim, market) if body is None else body
    return {
        "channel": f"ticker:{market}",
        "last_updated_at": body["last_updated_at"],
        "nonce": sim.books[market].offset,
        "ticker": body,
        "timestamp": sim.now_ms,
        "type": kind,
    }


def _rate(value: float) -> str:
    return f"{value:.6f}"


def funding_rate(sim: SimVenue, market: int) -> float:
    """The market's hourly funding rate, as the engine's funding ledger settles it (venue.sim.funding)."""
    return sim.engine.funding.rates.rate_for(market)


def market_stats(sim: SimVenue, market: int) -> dict[str, Any]:
    """One market's statistics in Lighter's shape (prices and rates as strings, 24 h figures as floats)."""
    spec = sim.markets[market]
    daily = _daily_stats(sim, market)
    index = sim.engine.mid(market)  # the external book's mid: the simulator's only outside price
    bids, asks = sim.engine.book(market, 1)
    mid = (bids[0][0] + asks[0][0]) / 2 / spec.price_scale if bids and asks else index
    recent = sim.recent_trades[market]
    last_trade = float(recent[-1]["price"]) if recent else 0.0
    funding = funding_rate(sim, market)

    def price(value: float | None) -> str:
        return "" if value is None else f"{value:.{spec.price_decimals}f}"

    return {
        "symbol": spec.symbol,
        "market_id": market,
        "index_price": price(index),
        "mark_price": price(index),
        "mid_price": price(mid),
        "open_interest": f"{_open_interest(sim, market):.{spec.size_decimals}f}",
        "open_interest_limit": OPEN_INTEREST_LIMIT,
        "base_interest_rate": "0.0000",  # the simulator charges no interest
        "funding_clamp_small": "0.0000",
        "funding_clamp_big": "0.0000",
        "last_trade_price": price(last_trade),
        "current_funding_rate": _rate(funding),
        "funding_rate": _rate(funding),
        "funding_timestamp": sim.now_ms - sim.now_ms % FUNDING_PERIOD_MS + FUNDING_PERIOD_MS,
        "daily_base_token_volume": daily["volume"],
        "daily_quote_token_volume": daily["quote"],
        "daily_price_low": daily["low"],
        "daily_price_high": daily["high"],
        "daily_price_change": daily["change"],
    }


def all_stats(sim: SimVenue) -> dict[str, dict[str, Any]]:
    return {str(m): market_stats(sim, m) for m in sorted(sim.markets)}


class MarketChannels:
    """The update side: after each step, what changed on the subscribed channels goes out. It
    knows the channels that were subscribed (from `subscribed`), so that a step costs nothing
    until somebody asks for one of them."""

    def __init__(self, sim: SimVenue) -> None:
        self.sim = sim
        # this module's channels subscribed to, in subscription order (pruned when left)
        self._names: dict[str, None] = {}
        self._last: dict[str, Any] = {}  # channel (or market_stats:{m} for all) -> the body last sent

    def subscribed(self, kind: str, market: int | None, resolution: str | None, snapshot: dict[str, Any]) -> None:
        """A client subscribed and was sent this snapshot: every subscriber of the channel has
        seen it (all were sent each change), so only a change from it is news."""
        self._names[colon_name(kind, market, resolution)] = None
        if kind == "ticker":
            self._last[f"ticker:{market}"] = (snapshot["ticker"]["a"], snapshot["ticker"]["b"])
        elif kind == "market_stats":
            stats = snapshot["market_stats"]
            for one in stats.values() if market is None else [stats]:
                self._last[f"market_stats:{one['market_id']}"] = _moving(one)
        elif snapshot["candles"]:
            self._last[colon_name(kind, market, resolution)] = snapshot["candles"][-1]

    def _changed(self, key: str, body: Any) -> bool:
        if self._last.get(key) == body:
            return False
        self._last[key] = body
        return True

    def publish(self, markets: set[int]) -> None:
        """Updates for the markets a step touched (book, trades or orders), to their subscribers."""
        names = self._names
        if not names:
            return
        sim = self.sim
        publisher = sim.publisher
        gone = [name for name in names if not publisher.has_subscribers(name)]
        for name in gone:  # nobody listens: the next subscriber gets a snapshot and changes from it
            del names[name]
            self._last.pop(name, None)
        every = "market_stats:all" in names
        all_changed = False
        for market in markets:
            ticker = f"ticker:{market}"
            if ticker in names:
                body = ticker_body(sim, market)
                if self._changed(ticker, (body["a"], body["b"])):
                    publisher.publish(ticker, encode(ticker_message(sim, market, "update/ticker", body)))
            stats_name = f"market_stats:{market}"
            if every or stats_name in names:
                stats = market_stats(sim, market)
                if self._changed(stats_name, _moving(stats)):
                    all_changed = True
                    if stats_name in names:
                        publisher.publish(stats_name, encode({
                            "channel": stats_name, "market_stats": stats, "timestamp": sim.now_ms,
                            "type": "update/market_stats"}))
            prefix = f"candle:{market}:"
            for name in [n for n in names if n.startswith(prefix)]:
                latest = sim.candles[market].latest(name[len(prefix):])
                if latest is not None and self._changed(name, latest):
                    publisher.publish(name, encode({
                        "candles": [latest], "channel": name, "timestamp": sim.now_ms, "type": "update/candle"}))
        if all_changed and every:
            publisher.publish("market_stats:all", encode({
                "channel": "market_stats:all", "market_stats": all_stats(sim), "timestamp": sim.now_ms,
                "type": "update/market_stats"}))


def _moving(stats: dict[str, Any]) -> tuple[Any, ...]:
    """The figures whose change is worth an update (not the funding time, which only ticks on)."""
    return tuple(v for k, v in stats.items() if k != "funding_timestamp")
