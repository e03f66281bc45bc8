"""A robust websocket client for Lighter's market and account data (and our simulator's).

The SDK's WsClient has no reconnect, keepalive or gap detection; this one has:

- subscriptions: `order_book/{m}` and `trade/{m}` per market, `account_all/{a}` per account
  (with an auth token from a provider, fetched afresh on every (re)subscription); an account's
  subscription is renewed with a fresh token (subscribe again, no unsubscribe: the venue keeps
  sending) once `renew_fraction` of its token's remaining life has passed, and at once when the
  venue ends it (`unsubscribed`, as when a token expires);
- an L2Book per market: a `subscribed/order_book` snapshot resets it, `update/order_book`
  deltas apply; an offset gap, a malformed delta or a crossed book clears the book and
  resubscribes that market (unsubscribe + subscribe) for a fresh snapshot, dropping deltas
  until it arrives; a subscription that is never answered is retried;
- keepalive: app-level `{"type":"ping"}` every ping_interval_s (Lighter drops clients silent
  for 2 minutes) on top of websockets' protocol pings, and `{"type":"pong"}` to server pings;
- reconnects after any disconnect or error, with exponential backoff and full jitter that
  resets after a connection that served data for a while, resubscribing everything;
- staleness per market: a watchdog emits Stale when a market has sent no valid message for
  stale_after_s, and Fresh when data resumes;
- bad input never escapes: malformed frames are counted in `stats` and dropped, the event
  callback is guarded, and logs never contain auth tokens (server error texts are redacted).

Typed events (venue.wire.WsEvent) go to an `on_event` callback and/or an asyncio.Queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import math
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import msgspec
from loguru import logger
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from venue.auth_tokens import token_expiry_s
from venue.book import BookError, CrossedBook, L2Book, OffsetGap
from venue.codes import AUTH_CODES
from venue.wire import (
    PING_FRAME,
    PONG_FRAME,
    AccountAllMsg,
    BookUpdated,
    Connected,
    ConnectedMsg,
    Disconnected,
    Fresh,
    OrderBookMsg,
    PingMsg,
    PongMsg,
    Stale,
    TradeMsg,
    TradesReceived,
    UnknownMsg,
    WsEvent,
    account_update_from_wire,
    channel_id,
    decode_ws,
    subscribe_frame,
    trade_from_wire,
    unsubscribe_frame,
)

AuthProvider = Callable[[], "str | Awaitable[str]"]
EventCallback = Callable[[WsEvent], None]

_log = logger.bind(component="lighter_ws")

# websockets logs every frame at DEBUG, subscribe frames (with their auth tokens) included; its
# logger for our connections is pinned at INFO so that a global DEBUG setting cannot leak them
_WEBSOCKETS_LOGGER = logging.getLogger("venue.ws_client.websockets")
_WEBSOCKETS_LOGGER.setLevel(logging.INFO)

# control replies that need no action
_QUIET_TYPES = frozenset({"unsubscribed", "subscribed", "pong"})


@dataclass(slots=True)
class ClientStats:
    """Counters since construction (never reset; a reconnect does not clear them)."""

    messages: int = 0  # frames received
    malformed: int = 0  # bad JSON, wrong shape, NaN/negative/unparseable numbers, crossed snapshots
    gaps: int = 0  # offset gaps in a market's order book stream
    duplicates: int = 0  # deltas at or below the last applied offset (dropped)
    crossed: int = 0  # crossed snapshots or deltas that left the book crossed
    dropped_while_resyncing: int = 0  # deltas dropped while waiting for a fresh snapshot
    resubscribes: int = 0  # resubscriptions for a fresh snapshot (or an unanswered subscription)
    reconnects: int = 0  # successful connections after the first
    connect_failures: int = 0
    stale_events: int = 0
    unhandled: int = 0  # well-formed messages for channels or types we do not handle
    server_errors: int = 0  # error messages from the server
    pings_answered: int = 0
    auth_failures: int = 0  # auth-token provider raised
    auth_refused: int = 0  # account subscriptions the venue refused for their token
    auth_renewals: int = 0  # account subscriptions renewed with a fresh token before it expired
    subscriptions_ended: int = 0  # account subscriptions the server ended (an expired token), resubscribed
    callback_errors: int = 0  # the on_event callback raised
    queue_drops: int = 0  # events dropped because the queue was full
    internal_errors: int = 0  # bugs: an unexpected exception while handling a frame

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def backoff_delay(attempt: int, initial_s: float, max_s: float, rng: random.Random) -> float:
    """Full jitter: uniform in [0, min(max_s, initial_s * 2**attempt)]."""
    cap = min(max_s, initial_s * (2 ** min(attempt, 40)))
    return rng.uniform(0.0, cap)


class _LogThrottle:
    """At most one log line per key per interval, reporting how many were suppressed."""

    def __init__(self, interval_s: float = 5.0) -> None:
        self._interval_s = interval_s
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def allow(self, key: str) -> int | None:
        now = time.monotonic()
        if now - self._last.get(key, -math.inf) >= self._interval_s:
            self._last[key] = now
            return self._suppressed.pop(key, 0)
        self._suppressed[key] = self._suppressed.get(key, 0) + 1
        return None


def _safe_url(url: str) -> str:
    """The URL without userinfo or query, in case either carries a credential."""
    parts = urlsplit(url)
    netloc = parts.hostname or ""
    if parts.port:
        netloc = f"{netloc}:{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


class LighterWsClient:
    def __init__(
        self,
        url: str,
        *,
        markets: Iterable[int] = (),
        accounts: Iterable[int] | Mapping[int, AuthProvider | None] = (),
        on_event: EventCallback | None = None,
        queue: asyncio.Queue[WsEvent] | None = None,
        subscribe_trades: bool = True,
        strict_offsets: bool = True,
        depth: int = 10,
        ping_interval_s: float = 30.0,
        protocol_ping_interval_s: float | None = 20.0,
        protocol_ping_timeout_s: float | None = 20.0,
        stale_after_s: float = 5.0,
        backoff_initial_s: float = 0.2,
        backoff_max_s: float = 10.0,
        backoff_reset_after_s: float = 2.0,
        resync_min_interval_s: float = 0.5,
        resync_timeout_s: float = 5.0,
        open_timeout_s: float = 10.0,
        max_message_bytes: int = 1 << 24,
        compression: str | None = "deflate",
        rng: random.Random | None = None,
        renew_fraction: float = 0.8,
        on_auth_refused: Callable[[int], None] | None = None,
    ) -> None:
        if not 0.0 < renew_fraction < 1.0:
            raise ValueError(f"renew_fraction must be in (0, 1), got {renew_fraction!r}")
        self.renew_fraction = renew_fraction
        self.url = url
        self.markets: tuple[int, ...] = tuple(dict.fromkeys(markets))
        # told when the venue refuses an account's token, so its provider makes a new one for the
        # resubscription (else a token revoked before its expiry is presented again until renewed)
        self._on_auth_refused = on_auth_refused
        if isinstance(accounts, Mapping):
            self._auth: dict[int, AuthProvider | None] = dict(accounts)
        else:
            self._auth = dict.fromkeys(accounts)
        self.accounts: tuple[int, ...] = tuple(self._auth)
        self.on_event = on_event
        self.queue = queue
        self.subscribe_trades = subscribe_trades
        self.strict_offsets = strict_offsets
        self.depth = depth
        self.ping_interval_s = ping_interval_s
        self.protocol_ping_interval_s = protocol_ping_interval_s
        self.protocol_ping_timeout_s = protocol_ping_timeout_s
        self.stale_after_s = stale_after_s
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self.backoff_reset_after_s = backoff_reset_after_s
        self.resync_min_interval_s = resync_min_interval_s
        self.resync_timeout_s = resync_timeout_s
        self.open_timeout_s = open_timeout_s
        self.max_message_bytes = max_message_bytes
        self.compression = compression
        self._rng = rng or random.Random()

        self.stats = ClientStats()
        self._books = {m: L2Book(m, strict_offsets=strict_offsets) for m in self.markets}
        self._market_set = frozenset(self.markets)
        self._channel_market = {f"{name}{sep}{m}": m for m in self.markets
                                for name in ("order_book", "trade") for sep in (":", "/")}
        # staleness: every market starts stale (no data yet); Fresh on its first valid message
        self._last_seen: dict[int, float] = dict.fromkeys(self.markets, -math.inf)
        self._stale: dict[int, bool] = dict.fromkeys(self.markets, True)
        # a market is resyncing while it is in _resync_due: the value is when to (re)send
        self._resync_due: dict[int, float] = {}
        self._last_resync: dict[int, float] = {}
        # accounts whose subscription is not yet confirmed: when to (re)send it
        self._account_due: dict[int, float] = {}
        # accounts whose subscription's token is to be renewed: when (monotonic)
        self._account_renew: dict[int, float] = {}
        self._outbox: deque[bytes] = deque()
        self._send_lock = asyncio.Lock()
        self._secrets: deque[str] = deque(maxlen=32)  # recent auth tokens, to redact from logs
        self._throttle = _LogThrottle()
        self._ws: ClientConnection | None = None
        self._connections = 0
        self._served = False  # the current connection delivered a snapshot
        self._session_id = ""
        self._run_task: asyncio.Task[None] | None = None
        self._watchdog_task: asyncio.Task[None] | None = None
        self._stopping = False
        self._handlers: dict[type, Callable[[Any, float], None]] = {
            OrderBookMsg: self._on_order_book,
            TradeMsg: self._on_trades,
            AccountAllMsg: self._on_account,
            PingMsg: self._on_ping,
            PongMsg: _ignore,
            ConnectedMsg: self._on_connected,
            UnknownMsg: self._on_unknown,
        }

    # --- public API --------------------------------------------------------------------------
    async def start(self) -> None:
        """Start connecting in the background; returns at once (events report progress)."""
        if self._run_task is not None:
            raise RuntimeError("LighterWsClient already started")
        self._stopping = False
        self._run_task = asyncio.create_task(self._run(), name="lighter-ws-run")
        self._watchdog_task = asyncio.create_task(self._watchdog(), name="lighter-ws-watchdog")

    async def stop(self) -> None:
        """Close the connection and end both tasks (idempotent)."""
        self._stopping = True
        tasks = [t for t in (self._run_task, self._watchdog_task) if t is not None and not t.done()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def __aenter__(self) -> LighterWsClient:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def book(self, market_id: int) -> L2Book:
        return self._books[market_id]

    def is_stale(self, market_id: int) -> bool:
        """True until the market's first valid message, and after stale_after_s of silence."""
        return self._stale[market_id]

    def is_synced(self, market_id: int) -> bool:
        """The market's book holds a snapshot and no resubscription is pending."""
        return market_id not in self._resync_due and self._books[market_id].has_snapshot

    def is_ready(self, market_id: int) -> bool:
        """Fresh and synced: safe to trade on."""
        return not self._stale[market_id] and self.is_synced(market_id)

    @property
    def connected(self) -> bool:
        return self._ws is not None

    @property
    def running(self) -> bool:
        """Both background tasks are alive."""
        return all(t is not None and not t.done() for t in (self._run_task, self._watchdog_task))

    # --- connection loop ---------------------------------------------------------------------
    async def _run(self) -> None:
        attempt = 0
        while not self._stopping:
            try:
                ws = await connect(
                    self.url,
                    open_timeout=self.open_timeout_s,
                    ping_interval=self.protocol_ping_interval_s,
                    ping_timeout=self.protocol_ping_timeout_s,
                    close_timeout=1.0,
                    max_size=self.max_message_bytes,
                    max_queue=256,
                    compression=self.compression,
                    proxy=None,
                    logger=_WEBSOCKETS_LOGGER,
                )
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # refused, DNS, handshake, timeout: all retried
                self.stats.connect_failures += 1
                self._log_warning("connect", f"connect to {_safe_url(self.url)} failed: {type(exc).__name__}: "
                                             f"{self._redact(str(exc))}")
            else:
                started = time.monotonic()
                await self._serve(ws)
                if self._served and time.monotonic() - started >= self.backoff_reset_after_s:
                    attempt = 0
            if self._stopping:
                break
            delay = backoff_delay(attempt, self.backoff_initial_s, self.backoff_max_s, self._rng)
            attempt += 1
            await asyncio.sleep(delay)  # the backoff itself, not a wait for a condition

    async def _serve(self, ws: ClientConnection) -> None:
        """One connection from subscribing to its end; only CancelledError escapes."""
        self._connections += 1
        if self._connections > 1:
            self.stats.reconnects += 1
        self._ws = ws
        self._served = False
        reason = "closed"
        announced = False
        ping_task: asyncio.Task[None] | None = None
        try:
            await self._subscribe_all()
            _log.info("connected to {} (connection {})", _safe_url(self.url), self._connections)
            self._emit(Connected(url=_safe_url(self.url), connection=self._connections))
            announced = True
            ping_task = asyncio.create_task(self._app_pings(ws), name="lighter-ws-ping")
            while True:
                raw = await ws.recv(decode=False)
                self._on_frame(raw)
                if self._outbox:
                    await self._flush()
        except ConnectionClosed as exc:
            reason = f"connection closed: {exc}"
        except asyncio.CancelledError:
            reason = "stopped"
            raise
        except Exception as exc:
            reason = f"{type(exc).__name__}: {self._redact(str(exc))}"
        finally:
            self._ws = None
            self._outbox.clear()
            if ping_task is not None:
                ping_task.cancel()
            with contextlib.suppress(Exception):  # already broken: nothing more to do with this socket
                await ws.close()
            if reason != "stopped":
                _log.warning("disconnected from {}: {}", _safe_url(self.url), reason)
            if announced:
                self._emit(Disconnected(reason=reason))

    async def _subscribe_all(self) -> None:
        now = time.monotonic()
        for m in self.markets:
            # a new connection starts from nothing: wait for the snapshot (retried if unanswered)
            self._books[m].clear()
            self._resync_due[m] = now + self.resync_timeout_s
            self._last_resync[m] = now
            self._outbox.append(subscribe_frame(f"order_book/{m}"))
            if self.subscribe_trades:
                self._outbox.append(subscribe_frame(f"trade/{m}"))
        for a in self.accounts:
            await self._queue_account_subscribe(a, now)
        await self._flush()

    async def _queue_account_subscribe(self, account: int, now: float) -> None:
        self._account_due[account] = now + self.resync_timeout_s
        provider = self._auth.get(account)
        token: str | None = None
        if provider is not None:
            try:
                result = provider()
                if inspect.isawaitable(result):
                    result = await asyncio.wait_for(result, timeout=self.open_timeout_s)
                if not isinstance(result, str) or not result:
                    raise TypeError("the auth token provider must return a non-empty str")
                token = result
            except Exception as exc:  # the provider's message could hold key material: name only
                self.stats.auth_failures += 1
                self._log_warning("auth", f"auth token provider for account {account} raised "
                                          f"{type(exc).__name__}; retrying in {self.resync_timeout_s} s")
                return
            self._secrets.append(token)
            expiry = token_expiry_s(token)
            if expiry is not None:
                life_left = max(0.0, expiry - time.time())  # tokens expire on the wall clock
                self._account_renew[account] = now + max(self.resync_min_interval_s, life_left * self.renew_fraction)
        self._outbox.append(subscribe_frame(f"account_all/{account}", auth=token))

    async def _flush(self) -> None:
        """Send the outbox in order; a lock keeps an unsubscribe/subscribe pair together."""
        async with self._send_lock:
            ws = self._ws
            while self._outbox and ws is not None:
                await ws.send(self._outbox.popleft())

    async def _app_pings(self, ws: ClientConnection) -> None:
        try:
            while True:
                await asyncio.sleep(self.ping_interval_s)  # a period, not a wait for a condition
                async with self._send_lock:
                    await ws.send(PING_FRAME)
        except (ConnectionClosed, asyncio.CancelledError):
            return
        except Exception as exc:  # the recv loop will see the broken socket and reconnect
            self._log_warning("ping", f"app ping failed: {type(exc).__name__}")

    async def _watchdog(self) -> None:
        tick = max(0.01, min(0.25, self.stale_after_s / 5, self.resync_min_interval_s / 2))
        while True:
            await asyncio.sleep(tick)  # a period, not a wait for a condition
            try:
                await self._check(time.monotonic())
            except asyncio.CancelledError:
                raise
            except ConnectionClosed:
                pass  # the recv loop sees it too and reconnects
            except Exception as exc:
                self.stats.internal_errors += 1
                self._log_error("watchdog", f"watchdog error: {type(exc).__name__}: {self._redact(str(exc))}")

    async def _check(self, now: float) -> None:
        for m in self.markets:
            silent = now - self._last_seen[m]
            if not self._stale[m] and silent > self.stale_after_s:
                self._stale[m] = True
                self.stats.stale_events += 1
                _log.warning("market {} stale: no valid message for {:.1f} s", m, silent)
                self._emit(Stale(market_id=m, silent_for_s=silent))
        if self._ws is None:
            return  # the next connection resubscribes everything anyway
        for m, due in list(self._resync_due.items()):
            if now >= due:
                self._send_resync(m, now)
        for a, due in list(self._account_due.items()):
            if now >= due:
                self.stats.resubscribes += 1
                await self._queue_account_subscribe(a, now)
        for a, due in list(self._account_renew.items()):
            if now >= due and a not in self._account_due:
                del self._account_renew[a]
                self.stats.auth_renewals += 1
                await self._queue_account_subscribe(a, now)
        if self._outbox:
            await self._flush()

    # --- frames --------------------------------------------------------------------------------
    def _on_frame(self, raw: bytes | str) -> None:
        self.stats.messages += 1
        now = time.monotonic()
        try:
            msg = decode_ws(raw)
        except msgspec.DecodeError as exc:  # ValidationError is a DecodeError
            self.stats.malformed += 1
            self._log_warning("malformed", f"malformed frame dropped: {exc}")
            return
        handler = self._handlers.get(type(msg))
        if handler is None:
            self.stats.unhandled += 1
            return
        try:
            handler(msg, now)
        except Exception as exc:  # a bug here must not take the connection down
            self.stats.internal_errors += 1
            self._log_error("internal", f"error handling {type(msg).__name__}: {type(exc).__name__}: "
                                        f"{self._redact(str(exc))}")

    def _on_order_book(self, msg: OrderBookMsg, now: float) -> None:
        m = self._market_of(msg.channel)
        if m is None:
            return
        book = self._books[m]
        state = msg.order_book
        is_snapshot = msg.is_snapshot
        if is_snapshot:
            try:
                book.load_snapshot(state.bids, state.asks, msg.book_offset, msg.timestamp)
            except BookError as exc:
                self.stats.malformed += 1
                if isinstance(exc, CrossedBook):
                    self.stats.crossed += 1
                self._log_warning("bad-snapshot", f"snapshot rejected: {exc}")
                self._request_resync(m, now)
                return
            self._resync_due.pop(m, None)
            self._served = True
        else:
            if m in self._resync_due:
                self.stats.dropped_while_resyncing += 1
                return
            try:
                applied = book.apply_delta(state.bids, state.asks, msg.book_offset, msg.timestamp)
            except OffsetGap as exc:
                self.stats.gaps += 1
                self._log_warning("gap", f"{exc}; resubscribing")
                self._request_resync(m, now)
                return
            except CrossedBook as exc:
                self.stats.crossed += 1
                self._log_warning("crossed", f"{exc}; resubscribing")
                self._request_resync(m, now)
                return
            except BookError as exc:  # MalformedLevel (NoSnapshot cannot happen outside a resync)
                # the venue moved on by this update and we could not follow: resynchronise
                self.stats.malformed += 1
                self._log_warning("malformed", f"market {m}: delta dropped ({exc}); resubscribing")
                self._request_resync(m, now)
                return
            if not applied:
                self.stats.duplicates += 1
                return
        self._touch(m, now)
        bids = book.top_bids(self.depth)
        asks = book.top_asks(self.depth)
        self._emit(BookUpdated(
            market_id=m,
            ts_ms=msg.timestamp,
            offset=book.offset,
            best_bid=bids[0][0] if bids else None,
            best_ask=asks[0][0] if asks else None,
            bids=bids,
            asks=asks,
            is_snapshot=is_snapshot,
        ))

    def _on_trades(self, msg: TradeMsg, now: float) -> None:
        m = self._market_of(msg.channel)
        if m is None:
            return
        seen: set[int] = set()
        try:
            trades = []
            for wire_trade in (*msg.trades, *msg.liquidation_trades):
                if wire_trade.trade_id not in seen:  # a liquidation may also be listed as a trade
                    seen.add(wire_trade.trade_id)
                    trades.append(trade_from_wire(wire_trade))
        except ValueError as exc:
            self.stats.malformed += 1
            self._log_warning("malformed", f"market {m}: trades dropped ({exc})")
            return
        self._touch(m, now)
        if trades:
            self._emit(TradesReceived(market_id=m, trades=trades, is_snapshot=msg.is_snapshot))

    def _on_account(self, msg: AccountAllMsg, now: float) -> None:
        try:
            account = msg.account if msg.account is not None else channel_id(msg.channel)
        except ValueError:
            self.stats.malformed += 1
            return
        if account not in self._auth:
            self.stats.unhandled += 1
            return
        self._account_due.pop(account, None)  # the subscription is answered
        try:
            event = account_update_from_wire(msg, account)
        except ValueError as exc:
            self.stats.malformed += 1
            self._log_warning("malformed", f"account {account}: update dropped ({exc})")
            return
        if event.malformed_fundings:
            self.stats.malformed += event.malformed_fundings
            self._log_warning("malformed", f"account {account}: {event.malformed_fundings} funding rows dropped")
        self._emit(event)

    def _on_ping(self, msg: PingMsg, now: float) -> None:
        self.stats.pings_answered += 1
        self._outbox.append(PONG_FRAME)

    def _on_connected(self, msg: ConnectedMsg, now: float) -> None:
        self._session_id = msg.session_id

    def _on_unknown(self, msg: UnknownMsg, now: float) -> None:
        if msg.type == "unsubscribed" and msg.channel:
            account = self._account_of(msg.channel)
            if account is not None:  # we never unsubscribe an account: the server ended it
                self.stats.subscriptions_ended += 1
                self._account_renew.pop(account, None)
                self._account_due[account] = now  # resubscribed with a fresh token by the watchdog
                return
        error = msg.data.get("error")
        account = self._account_of(msg.channel) if msg.channel else None
        if account is not None and isinstance(error, dict) and error.get("code") in AUTH_CODES:
            self.stats.auth_refused += 1
            self._log_warning("auth", f"account {account}: subscription refused for its token "
                                      f"(code {error.get('code')}); resubscribing with a new one")
            if self._on_auth_refused is not None:
                self._on_auth_refused(account)
            self._account_renew.pop(account, None)
            self._account_due[account] = now + self.resync_min_interval_s
            return
        if error is not None or msg.type == "error":
            self.stats.server_errors += 1
            self._log_warning("server-error", f"server error: {self._redact(str(error or msg.data))[:500]}")
        elif msg.type not in _QUIET_TYPES:
            self.stats.unhandled += 1

    # --- helpers -------------------------------------------------------------------------------
    def _account_of(self, channel: str) -> int | None:
        kind = channel.partition(":")[0].partition("/")[0]
        if kind != "account_all":
            return None
        try:
            account = channel_id(channel)
        except ValueError:
            return None
        return account if account in self._auth else None

    def _market_of(self, channel: str) -> int | None:
        m = self._channel_market.get(channel)
        if m is not None:  # the common case, without parsing
            return m
        try:
            m = channel_id(channel)
        except ValueError:
            self.stats.malformed += 1
            return None
        if m not in self._market_set:
            self.stats.unhandled += 1
            return None
        return m

    def _touch(self, m: int, now: float) -> None:
        self._last_seen[m] = now
        if self._stale[m]:
            self._stale[m] = False
            self._emit(Fresh(market_id=m))

    def _request_resync(self, m: int, now: float) -> None:
        """Clear the book and resubscribe now, or as soon as resync_min_interval_s allows."""
        self._books[m].clear()
        due = max(now, self._last_resync.get(m, -math.inf) + self.resync_min_interval_s)
        self._resync_due[m] = due
        if due <= now:
            self._send_resync(m, now)

    def _send_resync(self, m: int, now: float) -> None:
        self.stats.resubscribes += 1
        self._last_resync[m] = now
        self._resync_due[m] = now + self.resync_timeout_s
        self._outbox.append(unsubscribe_frame(f"order_book/{m}"))
        self._outbox.append(subscribe_frame(f"order_book/{m}"))

    def _emit(self, event: WsEvent) -> None:
        if self.on_event is not None:
            try:
                self.on_event(event)
            except Exception as exc:
                self.stats.callback_errors += 1
                self._log_error("callback", f"on_event raised on {type(event).__name__}: "
                                            f"{type(exc).__name__}: {self._redact(str(exc))}")
        if self.queue is not None:
            try:
                self.queue.put_nowait(event)
            except asyncio.QueueFull:
                self.stats.queue_drops += 1
                self._log_warning("queue", "event queue full; event dropped")

    def _redact(self, text: str) -> str:
        for secret in self._secrets:
            if secret:
                text = text.replace(secret, "<redacted>")
        return text

    def _log_warning(self, key: str, text: str) -> None:
        suppressed = self._throttle.allow(key)
        if suppressed is not None:
            _log.warning("{}{}", text, f" (+{suppressed} similar suppressed)" if suppressed else "")

    def _log_error(self, key: str, text: str) -> None:
        suppressed = self._throttle.allow(key)
        if suppressed is not None:
            _log.error("{}{}", text, f" (+{suppressed} similar suppressed)" if suppressed else "")


def _ignore(msg: Any, now: float) -> None:
    return None
