"""The order side of one Lighter account: scale, check, sign (lighter-sdk), rate-limit and send.

One `OrderClient` per (account, API key). Each call turns floats into the market's integers,
refuses what the venue would refuse before anything is signed, takes a nonce (venue.nonces),
waits for the rate limiter (venue.ratelimit), signs in a worker thread and posts `sendTx` over a
keep-alive aiohttp session. Every call returns a typed outcome and never raises for venue or
network trouble.

Why these choices:
- Signing runs in a dedicated ThreadPoolExecutor: the Go signer releases the GIL, and costs about
  0.5 ms on a worker thread against 2.5 ms on the event loop's thread.
- We post `sendTx` ourselves (form-encoded `tx_type`, `tx_info`, as the SDK does) rather than
  through the SDK's TransactionApi: the SDK turns HTTP-200 refusals into "success" objects and
  4xx into exceptions whose text must be parsed; here status and body are read directly.
- Given the venue's websocket URL (`ws_url`), transactions go over Lighter's `jsonapi/sendtx` on a
  socket of their own while it is connected (venue.tx_socket: about half the latency and CPU of
  an HTTP POST), and over REST whenever it is not; the outcomes are the same either way.
- Sends of one API key are serialized (nonce, sign, post, answer): Lighter counts nonces per key
  strictly up by one, so a nonce N+1 overtaking N on another connection would be refused. More
  throughput per account means more API keys (one OrderClient each), not concurrency on one key.
- Rounding: a limit price rounds to the tick but never more aggressively than asked (buy DOWN,
  sell UP); a market order's worst price rounds OUTWARD (buy UP, sell DOWN) by less than a tick,
  so the protection is never tightened: an order the caller expects to fill at exactly its worst
  price is not cancelled by our rounding. Sizes round DOWN to the lot.

Outcomes: `TxAccepted`, or `TxRejected(code, reason, sent)`. `sent=False`: nothing left this
process (refused before signing, signing failed, no nonce, connection refused), safe to re-issue.
`sent=True` with a venue code (> 0): the venue refused it, no order exists. `sent=True` with code
-1 (network error, timeout, HTTP 5xx): fate unknown, reconcile with the venue before re-issuing
(with the same client_order_index, so the venue cannot double it).

The private key is handed to lighter.SignerClient and kept nowhere else; it never appears in a
repr, a log line or an exception.
"""

from __future__ import annotations

import asyncio
import functools
import re
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal
from urllib.parse import urlencode

import aiohttp
import lighter
import msgspec
from lighter.nonce_manager import NonceManagerType
from loguru import logger

from venue import codes
from venue.auth_tokens import check_lifetime
from venue.client_ids import SEQ_MASK
from venue.client_ids import client_order_index_for as client_order_index_for  # re-exported
from venue.client_ids import strategy_tag as strategy_tag  # re-exported
from venue.markets import MarketSpec, OrderRefused, Rounding
from venue.nonces import NonceManager
from venue.order_batch import BatchOp, read_batch_answer
from venue.ratelimit import RateLimiter
from venue.rest import LighterRest, VenueError, parse_status
from venue.tx_socket import FateUnknown, NotSent, TxSocket, http_status_for

# Lighter's transaction types and order enumerations (as in lighter.SignerClient)
TX_CREATE_ORDER = 14
TX_CANCEL_ORDER = 15
TX_CANCEL_ALL_ORDERS = 16
TX_MODIFY_ORDER = 17
MAX_BATCH_TXS = 15  # Lighter's sendTxBatch takes at most 15 transactions
ORDER_TYPE_LIMIT = 0
ORDER_TYPE_MARKET = 1
TIF_IOC = 0
TIF_GTT = 1
TIF_POST_ONLY = 2
DEFAULT_28_DAY_ORDER_EXPIRY = -1
DEFAULT_IOC_EXPIRY = 0
CANCEL_ALL_IMMEDIATE = 0
NIL_TRIGGER_PRICE = 0

MAX_CLIENT_ORDER_INDEX = 2**48 - 1  # Lighter's cap
NO_CLIENT_ORDER_INDEX = -1  # in outcomes of cancels, which carry no client order index
NETWORK_ERROR = -1  # TxRejected.code when the venue's answer is unknown

TimeInForce = Literal["gtt", "post_only", "ioc"]
_TIF_CODES: dict[str, int] = {"gtt": TIF_GTT, "post_only": TIF_POST_ONLY, "ioc": TIF_IOC}

_KEY_HEX = re.compile(r"[0-9a-fA-F]{80}")  # 40-byte API private keys, hex


# --- outcomes --------------------------------------------------------------------------------


class TxAccepted(msgspec.Struct, frozen=True, kw_only=True, tag=True):
    client_order_index: int  # NO_CLIENT_ORDER_INDEX for cancels
    tx_hash: str
    nonce: int
    ts_sent_ns: int  # wall clock, ns since the epoch
    ts_ack_ns: int
    tx_type: int = TX_CREATE_ORDER


class TxRejected(msgspec.Struct, frozen=True, kw_only=True, tag=True):
    client_order_index: int
    code: int  # a venue code, venue.codes.*, or NETWORK_ERROR
    reason: str
    sent: bool  # see the module docstring
    tx_type: int = TX_CREATE_ORDER
    http_status: int = 0  # 0 when no HTTP answer was read


TxOutcome = TxAccepted | TxRejected


# deterministic client order indices live in venue.client_ids (no SDK import); re-exported here


# --- the client --------------------------------------------------------------------------------


class _DefaultLimit:
    """Marks "a fresh RateLimiter(60, 60.0) for this client": a shared default instance would
    make every account wait on one account's budget."""


DEFAULT_RATE_LIMIT: Any = _DefaultLimit()


class _Reply(msgspec.Struct):
    tx_hash: str | None = None


class OrderClient:
    """Create with `await OrderClient.create(...)` inside a running event loop."""

    def __init__(
        self,
        *,
        url: str,
        account_index: int,
        api_key_index: int,
        signer: lighter.SignerClient,
        markets: dict[int, MarketSpec],
        session: aiohttp.ClientSession,
        owns_session: bool,
        nonces: NonceManager,
        rate_limit: RateLimiter | None,
        sign_pool: ThreadPoolExecutor,
        owns_sign_pool: bool = True,
        request_timeout_s: float,
        retry_429: int,
        backoff_429_s: float,
        clock_ns: Callable[[], int],
        tx_socket: TxSocket | None = None,
    ) -> None:
        self.url = url
        self.account_index = account_index
        self.api_key_index = api_key_index
        self.markets = dict(markets)
        self.nonces = nonces
        self.rate_limit = rate_limit
        self._signer = signer  # holds the private key; never exposed
        self._session = session
        self._owns_session = owns_session
        self._sign_pool = sign_pool
        self._owns_sign_pool = owns_sign_pool
        self._send_url = f"{url}/api/v1/sendTx"
        self._batch_url = f"{url}/api/v1/sendTxBatch"
        self._timeout = aiohttp.ClientTimeout(total=request_timeout_s)
        self._request_timeout_s = request_timeout_s
        self._tx_socket = tx_socket
        self._retry_429 = retry_429
        self._backoff_429_s = backoff_429_s
        self._clock_ns = clock_ns
        self._send_lock = asyncio.Lock()  # one transaction of this key in flight at a time
        self._adhoc_seq = int(time.time() * 1000) & SEQ_MASK
        self._closed = False
        self._log = logger.bind(component="order_client", account=account_index)

    @classmethod
    async def create(
        cls,
        url: str,
        account_index: int,
        api_key_index: int,
        private_key: str,
        markets: dict[int, MarketSpec],
        *,
        rate_limit: RateLimiter | None = DEFAULT_RATE_LIMIT,
        sign_threads: int = 1,
        sign_pool: ThreadPoolExecutor | None = None,
        session: aiohttp.ClientSession | None = None,
        request_timeout_s: float = 10.0,
        retry_429: int = 0,
        backoff_429_s: float = 1.0,
        clock_ns: Callable[[], int] = time.time_ns,
        ws_url: str | None = None,
    ) -> OrderClient:
        """Build the SignerClient (it needs a running loop) and the client around it.

        rate_limit: the default is a fresh RateLimiter(60, 60.0) (Lighter's standard accounts);
        None disables limiting (the local simulator, benchmarks). retry_429: how many times an
        HTTP 429 is retried after backoff_429_s * 2**attempt (default: not retried). ws_url: the
        venue's websocket, to send transactions over while it is connected (None: REST only).
        sign_pool: a signing thread pool shared with other clients (left running by `close`);
        default: a pool of `sign_threads` of its own.
        """
        # Wrapped and dropped first: a traceback that shows local values (loguru's diagnose
        # mode, on by default) then shows only "<redacted>" for any line of this frame.
        secret = _Secret(private_key)
        del private_key
        asyncio.get_running_loop()  # fail here, clearly, rather than deep inside the SDK
        if sign_threads < 1:
            raise ValueError(f"sign_threads must be >= 1, got {sign_threads}")
        root = url.rstrip("/")
        signer = _build_signer(root, account_index, api_key_index, secret)
        del secret
        owns_session = session is None
        if session is None:
            session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=8, keepalive_timeout=60))
        rest = LighterRest(root, session, timeout_s=request_timeout_s)
        if isinstance(rate_limit, _DefaultLimit):
            rate_limit = RateLimiter(60, 60.0)
        tx_socket = TxSocket(ws_url, session) if ws_url else None
        if tx_socket is not None:
            tx_socket.start()
        return cls(
            url=root,
            account_index=account_index,
            api_key_index=api_key_index,
            signer=signer,
            markets=markets,
            session=session,
            owns_session=owns_session,
            nonces=NonceManager(rest.next_nonce, account_index, api_key_index),
            rate_limit=rate_limit,
            sign_pool=sign_pool or ThreadPoolExecutor(max_workers=sign_threads, thread_name_prefix="lighter-sign"),
            owns_sign_pool=sign_pool is None,
            request_timeout_s=request_timeout_s,
            retry_429=retry_429,
            backoff_429_s=backoff_429_s,
            clock_ns=clock_ns,
            tx_socket=tx_socket,
        )

    def __repr__(self) -> str:
        return (
            f"OrderClient(url={self.url!r}, account_index={self.account_index}, "
            f"api_key_index={self.api_key_index}, markets={sorted(self.markets)})"
        )

    __str__ = __repr__

    def __reduce__(self) -> Any:
        # pickling would copy the signer, and with it the key (Ray pickles actor arguments)
        raise TypeError("OrderClient holds a signing key and cannot be pickled; create one per process")

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        async with self._send_lock:  # let a send in flight finish
            if self._tx_socket is not None:
                await self._tx_socket.close()
            if self._owns_session:
                await self._session.close()
            await self._signer.close()  # the SDK's own aiohttp session (unused, but open)
            if self._owns_sign_pool:
                self._sign_pool.shutdown(wait=True)

    async def __aenter__(self) -> OrderClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def auth_token(self, lifetime_s: int) -> str:
        """A new auth token for this account's private endpoints and channels, valid for
        `lifetime_s` (at most 8 hours) from now (SignerClient.create_auth_token_with_expiry)."""
        token, error = self._signer.create_auth_token_with_expiry(
            check_lifetime(lifetime_s), api_key_index=self.api_key_index)
        if error is not None or not token:
            # the signer's message is not passed on: nothing of the key may reach a log
            raise RuntimeError(f"cannot make an auth token for account {self.account_index}")
        return str(token)

    async def warm_up(self) -> None:
        """Pay the first order's one-off costs now rather than on the first order: the venue's
        next nonce (its request also opens the keep-alive connection sendTx reuses), the signing
        thread with its first call into the Go signer, and the transaction socket's connection
        when there is one (waited for up to 2 s; REST carries orders until then). Measured on the
        paper venue with 4 strategies ordering at once, the first orders after a start took 25-55
        ms from the market event, the next ones 7-10 ms; warmed up, the first ones take 5-13 ms. The throwaway
        signature (a cancel of order 0) is never sent, so it spends no nonce. Raises what the
        nonce fetch raises (the venue unreachable): the caller decides whether that matters."""
        if self._tx_socket is not None:
            await self._tx_socket.wait_up(2.0)
        async with self._send_lock:
            if self.nonces.known_next is None:
                await self.nonces.hard_refresh()
            nonce = self.nonces.known_next
            if nonce is None or not self.markets:
                return
            market = min(self.markets)
            await asyncio.get_running_loop().run_in_executor(self._sign_pool, functools.partial(
                self._signer.sign_cancel_order, market, 0, nonce=nonce, api_key_index=self.api_key_index))

    # --- orders --------------------------------------------------------------------------------
    async def limit_order(
        self,
        market_id: int,
        is_ask: bool,
        size: float,
        price: float,
        *,
        tif: TimeInForce = "gtt",
        reduce_only: bool = False,
        client_order_index: int | None = None,
        expiry_ms: int | None = None,
        gate: Awaitable[Any] | None = None,
    ) -> TxOutcome:
        """A limit order. expiry_ms: absolute expiry (ms since the epoch) of a gtt/post_only
        order; None means the venue's 28-day default. IOC orders take no expiry."""
        coi = self._client_order_index(client_order_index)
        if isinstance(coi, TxRejected):
            return coi
        tif_code = _TIF_CODES.get(tif)
        if tif_code is None:
            return _refused(coi, codes.INVALID_PARAM, f"unknown time in force {tif!r}")
        if tif_code == TIF_IOC:
            if expiry_ms is not None:
                return _refused(coi, codes.INVALID_PARAM, "an IOC order takes no expiry")
            expiry = DEFAULT_IOC_EXPIRY
        else:
            expiry = DEFAULT_28_DAY_ORDER_EXPIRY if expiry_ms is None else int(expiry_ms)
        # never more aggressive than asked: a buy rounds down, a sell up
        units = self._scale(coi, market_id, size, price, Rounding.UP if is_ask else Rounding.DOWN)
        if isinstance(units, TxRejected):
            return units
        base, price_units = units
        sign = functools.partial(
            self._signer.sign_create_order,
            market_id, coi, base, price_units, bool(is_ask), ORDER_TYPE_LIMIT, tif_code,
            bool(reduce_only), NIL_TRIGGER_PRICE, expiry,
        )  # fmt: skip
        return await self._submit(TX_CREATE_ORDER, coi, sign, gate)

    async def market_order(
        self,
        market_id: int,
        is_ask: bool,
        size: float,
        worst_price: float,
        *,
        reduce_only: bool = False,
        client_order_index: int | None = None,
        gate: Awaitable[Any] | None = None,
    ) -> TxOutcome:
        """A market (IOC) order that fills at worst_price or better; the rest is cancelled."""
        coi = self._client_order_index(client_order_index)
        if isinstance(coi, TxRejected):
            return coi
        # outward by < 1 tick: the protection is never tightened by rounding (module docstring)
        units = self._scale(coi, market_id, size, worst_price, Rounding.DOWN if is_ask else Rounding.UP)
        if isinstance(units, TxRejected):
            return units
        base, price_units = units
        sign = functools.partial(
            self._signer.sign_create_order,
            market_id, coi, base, price_units, bool(is_ask), ORDER_TYPE_MARKET, TIF_IOC,
            bool(reduce_only), NIL_TRIGGER_PRICE, DEFAULT_IOC_EXPIRY,
        )  # fmt: skip
        return await self._submit(TX_CREATE_ORDER, coi, sign, gate)

    async def cancel(self, market_id: int, order_index: int) -> TxOutcome:
        """Cancel one resting order by the venue's order_index."""
        if market_id not in self.markets:
            return _refused(NO_CLIENT_ORDER_INDEX, codes.INVALID_MARKET, f"unknown market {market_id}",
                            TX_CANCEL_ORDER)  # fmt: skip
        if order_index < 0:
            return _refused(NO_CLIENT_ORDER_INDEX, codes.INVALID_PARAM, f"bad order index {order_index}",
                            TX_CANCEL_ORDER)  # fmt: skip
        sign = functools.partial(self._signer.sign_cancel_order, market_id, order_index)
        return await self._submit(TX_CANCEL_ORDER, NO_CLIENT_ORDER_INDEX, sign)

    async def modify(
        self,
        market_id: int,
        index: int,
        price: float,
        size: float,
        *,
        is_ask: bool | None = None,
        gate: Awaitable[Any] | None = None,
    ) -> TxOutcome:
        """Lighter's modify: a resting order (by the venue's order index, or by its client order
        index when below 2**48) gets a new price and a new remaining size. is_ask, when known,
        rounds the price never more aggressively than asked (buy down, sell up); else to the
        nearest tick. The outcome names the client order index when `index` is one."""
        op = self.modify_op(market_id, index, price, size, is_ask=is_ask)
        if isinstance(op, TxRejected):
            return op
        return await self._submit(TX_MODIFY_ORDER, op.client_order_index, op.sign, gate)

    async def modify_order(
        self,
        market_id: int,
        client_order_index: int,
        price: float,
        size: float,
        *,
        is_ask: bool | None = None,
        gate: Awaitable[Any] | None = None,
    ) -> TxOutcome:
        """Modify our resting order named by its client order index (see `modify`)."""
        if not 0 <= client_order_index <= MAX_CLIENT_ORDER_INDEX:
            return _refused(client_order_index, codes.INVALID_PARAM,
                            f"client_order_index {client_order_index} outside [0, 2**48)", TX_MODIFY_ORDER)  # fmt: skip
        return await self.modify(market_id, client_order_index, price, size, is_ask=is_ask, gate=gate)

    # --- batches (sendTxBatch) ------------------------------------------------------------------
    def limit_op(
        self, market_id: int, is_ask: bool, size: float, price: float, *, tif: TimeInForce = "gtt",
        reduce_only: bool = False, client_order_index: int | None = None, expiry_ms: int | None = None,
    ) -> BatchOp | TxRejected:
        """A limit order for `send_batch` (the checks of `limit_order`), or its refusal."""
        coi = self._client_order_index(client_order_index)
        if isinstance(coi, TxRejected):
            return coi
        tif_code = _TIF_CODES.get(tif)
        if tif_code is None:
            return _refused(coi, codes.INVALID_PARAM, f"unknown time in force {tif!r}")
        if tif_code == TIF_IOC and expiry_ms is not None:
            return _refused(coi, codes.INVALID_PARAM, "an IOC order takes no expiry")
        expiry = DEFAULT_IOC_EXPIRY if tif_code == TIF_IOC else (
            DEFAULT_28_DAY_ORDER_EXPIRY if expiry_ms is None else int(expiry_ms))
        units = self._scale(coi, market_id, size, price, Rounding.UP if is_ask else Rounding.DOWN)
        if isinstance(units, TxRejected):
            return units
        sign = functools.partial(
            self._signer.sign_create_order, market_id, coi, units[0], units[1], bool(is_ask), ORDER_TYPE_LIMIT,
            tif_code, bool(reduce_only), NIL_TRIGGER_PRICE, expiry,
        )  # fmt: skip
        return BatchOp(tx_type=TX_CREATE_ORDER, client_order_index=coi, sign=sign)

    def modify_op(
        self, market_id: int, index: int, price: float, size: float, *, is_ask: bool | None = None
    ) -> BatchOp | TxRejected:
        """A modify for `send_batch` (the checks of `modify`), or its refusal."""
        coi = index if 0 <= index <= MAX_CLIENT_ORDER_INDEX else NO_CLIENT_ORDER_INDEX
        if index < 0:
            return _refused(coi, codes.INVALID_PARAM, f"bad order index {index}", TX_MODIFY_ORDER)
        rounding = Rounding.NEAREST if is_ask is None else (Rounding.UP if is_ask else Rounding.DOWN)
        units = self._scale(coi, market_id, size, price, rounding)
        if isinstance(units, TxRejected):
            return msgspec.structs.replace(units, tx_type=TX_MODIFY_ORDER)
        sign = functools.partial(self._signer.sign_modify_order, market_id, index, units[0], units[1],
                                 NIL_TRIGGER_PRICE)  # fmt: skip
        return BatchOp(tx_type=TX_MODIFY_ORDER, client_order_index=coi, sign=sign)

    def cancel_op(self, market_id: int, index: int) -> BatchOp | TxRejected:
        """A cancel for `send_batch` (by order index, or client order index below 2**48)."""
        if market_id not in self.markets:
            return _refused(NO_CLIENT_ORDER_INDEX, codes.INVALID_MARKET, f"unknown market {market_id}",
                            TX_CANCEL_ORDER)  # fmt: skip
        if index < 0:
            return _refused(NO_CLIENT_ORDER_INDEX, codes.INVALID_PARAM, f"bad order index {index}", TX_CANCEL_ORDER)
        sign = functools.partial(self._signer.sign_cancel_order, market_id, index)
        return BatchOp(tx_type=TX_CANCEL_ORDER, client_order_index=NO_CLIENT_ORDER_INDEX, sign=sign)

    async def send_batch(
        self, ops: list[BatchOp | TxRejected], *, gate: Awaitable[Any] | None = None
    ) -> list[TxOutcome]:
        """Several transactions in one request (Lighter's sendTxBatch, at most 15; over the
        transaction socket's `jsonapi/sendtxbatch` while it is up, else REST), e.g. "cancel +
        place" or "modify bid + modify ask". One outcome per op, in order: an op refused before
        signing keeps its TxRejected and the rest go. The venue takes or refuses the request whole
        at its gate (nonces, rate limit: every op gets that refusal); once taken, each transaction
        has its own outcome. Nonces, the rate limiter (one slot per transaction) and the gate work
        as for a single order."""
        if len(ops) > MAX_BATCH_TXS:
            reason = f"at most {MAX_BATCH_TXS} transactions per batch, got {len(ops)}"
            return [op if isinstance(op, TxRejected) else _refused(op.client_order_index, codes.INVALID_PARAM,
                                                                   reason, op.tx_type) for op in ops]  # fmt: skip
        outcomes: list[TxOutcome | None] = [op if isinstance(op, TxRejected) else None for op in ops]
        todo = [(i, op) for i, op in enumerate(ops) if isinstance(op, BatchOp)]
        if not todo:
            return [o for o in outcomes if o is not None]
        if self._closed:
            raise RuntimeError("OrderClient is closed")
        nonce_retried = False
        while True:
            if self.rate_limit is not None:
                for _ in todo:
                    await self.rate_limit.acquire()
            async with self._send_lock:
                sent, retry = await self._attempt_batch([op for _, op in todo], may_retry_nonce=not nonce_retried,
                                                        gate=gate)  # fmt: skip
            gate = None  # awaited once
            if retry and not nonce_retried:
                nonce_retried = True
                continue
            break
        for (i, _), outcome in zip(todo, sent, strict=True):
            outcomes[i] = outcome
        return [o for o in outcomes if o is not None]

    async def _attempt_batch(
        self, ops: list[BatchOp], *, may_retry_nonce: bool, gate: Awaitable[Any] | None
    ) -> tuple[list[TxOutcome], bool]:
        """One nonce per op, the signatures, one request. Returns the outcomes and whether to retry
        (an invalid nonce, refreshed from the venue)."""
        def refused_all(code: int, reason: str, sent: bool = False) -> list[TxOutcome]:
            return [TxRejected(client_order_index=op.client_order_index, code=code, reason=reason, sent=sent,
                               tx_type=op.tx_type) for op in ops]  # fmt: skip

        if self._closed:
            return refused_all(NETWORK_ERROR, "OrderClient closed"), False
        nonces: list[int] = []
        try:
            for _ in ops:
                nonces.append(await self.nonces.next())
        except Exception as exc:
            for nonce in reversed(nonces):
                self.nonces.release(nonce)
            return refused_all(NETWORK_ERROR, f"no nonce: {type(exc).__name__}"), False
        loop = asyncio.get_running_loop()
        signed: list[tuple[int, str]] = []
        for op, nonce in zip(ops, nonces, strict=True):
            try:
                tx_type, tx_info, _hash, error = await loop.run_in_executor(
                    self._sign_pool, functools.partial(op.sign, nonce=nonce, api_key_index=self.api_key_index))
            except Exception as exc:
                error, tx_info, tx_type = f"{type(exc).__name__}", None, 0
            if error is not None or tx_info is None:
                for n in reversed(nonces):
                    self.nonces.release(n)
                return refused_all(codes.INVALID_TX_INFO, f"signing failed: {error}"), False
            signed.append((tx_type, tx_info))
        if gate is not None:
            try:
                await gate
            except BaseException:
                for n in reversed(nonces):
                    self.nonces.release(n)
                raise
        ts_sent = self._clock_ns()
        delivered = await self._deliver_batch([t for t, _ in signed], [info for _, info in signed])
        if isinstance(delivered, str):  # no answer: fate unknown (or, for a refused connection, not sent)
            return refused_all(NETWORK_ERROR, delivered, sent=not delivered.startswith("not sent")), False
        status, payload = delivered
        ts_ack = self._clock_ns()
        verdict = read_batch_answer(len(ops), status, payload)
        outcomes: list[TxOutcome] = [
            TxAccepted(client_order_index=op.client_order_index, tx_hash=v.tx_hash, nonce=nonce, ts_sent_ns=ts_sent,
                       ts_ack_ns=ts_ack, tx_type=op.tx_type)
            if v.code == codes.OK else
            TxRejected(client_order_index=op.client_order_index, code=v.code, reason=v.message, sent=v.sent,
                       tx_type=op.tx_type, http_status=status)
            for op, nonce, v in zip(ops, nonces, verdict.verdicts, strict=True)
        ]  # fmt: skip
        if verdict.release_nonces:
            for n in reversed(nonces):
                self.nonces.release(n)
        if verdict.fate_unknown:
            self.nonces.invalidate()
        if verdict.invalid_nonce:
            try:
                await self.nonces.hard_refresh()
            except Exception:
                self.nonces.invalidate()
                return outcomes, False
            return outcomes, may_retry_nonce
        return outcomes, False

    async def _deliver_batch(self, tx_types: list[int], tx_infos: list[str]) -> tuple[int, bytes] | str:
        """The venue's answer to a batch (status, body), or why none came ("not sent: ..." when
        nothing left this process)."""
        socket = self._tx_socket
        if socket is not None and socket.up:
            try:
                payload = await socket.send_batch(tx_types, tx_infos, self._request_timeout_s)
            except NotSent:
                pass
            except FateUnknown as exc:
                self.nonces.invalidate()
                return str(exc)
            else:
                return http_status_for(parse_status(payload)[0]), payload
        body = urlencode({"tx_types": msgspec.json.encode(tx_types).decode(),
                          "tx_infos": msgspec.json.encode(tx_infos).decode()})  # fmt: skip
        try:
            async with self._session.post(self._batch_url, data=body, timeout=self._timeout,
                                          headers={"Content-Type": "application/x-www-form-urlencoded"}) as resp:
                return resp.status, await resp.read()
        except aiohttp.ClientConnectorError as exc:
            self.nonces.invalidate()
            return f"not sent: {type(exc).__name__}"
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            self.nonces.invalidate()
            return type(exc).__name__

    async def cancel_all(self) -> TxOutcome:
        """Cancel every open order of the account, in all markets, now."""
        sign = functools.partial(self._signer.sign_cancel_all_orders, CANCEL_ALL_IMMEDIATE, 0)
        return await self._submit(TX_CANCEL_ALL_ORDERS, NO_CLIENT_ORDER_INDEX, sign)

    # --- pre-trade ---------------------------------------------------------------------------
    def _client_order_index(self, given: int | None) -> int | TxRejected:
        if given is None:
            # No index from the caller (scripts, manual use): a time-seeded sequence. It wraps
            # every 2**32 ms (49 days), longer than Lighter's 28-day maximum order life, so it
            # cannot collide with a live order of an earlier run unless that run placed more
            # than one order per millisecond since it started.
            self._adhoc_seq = (self._adhoc_seq + 1) & SEQ_MASK
            return client_order_index_for("_adhoc", self._adhoc_seq)
        if not 0 <= given <= MAX_CLIENT_ORDER_INDEX:
            return _refused(given, codes.INVALID_PARAM, f"client_order_index {given} outside [0, 2**48)")
        return given

    def _scale(
        self, coi: int, market_id: int, size: float, price: float, price_rounding: Rounding
    ) -> tuple[int, int] | TxRejected:
        spec = self.markets.get(market_id)
        if spec is None:
            return _refused(coi, codes.INVALID_MARKET, f"unknown market {market_id}")
        try:
            base = spec.size_to_int(size, Rounding.DOWN)
        except OrderRefused as exc:
            return _refused(coi, codes.INVALID_BASE_AMOUNT, str(exc))
        try:
            price_units = spec.price_to_int(price, price_rounding)
        except OrderRefused as exc:
            return _refused(coi, codes.INVALID_PRICE, str(exc))
        try:
            spec.check_order(base, price_units)
        except OrderRefused as exc:
            return _refused(coi, _refusal_code(spec, base, price_units), str(exc))
        return base, price_units

    # --- sending -----------------------------------------------------------------------------
    async def _submit(self, tx_type: int, coi: int, sign: Callable[..., Any],
                      gate: Awaitable[Any] | None = None) -> TxOutcome:
        if self._closed:
            raise RuntimeError("OrderClient is closed")
        nonce_retried = False
        retries_429 = 0
        while True:
            if self.rate_limit is not None:
                await self.rate_limit.acquire()
            async with self._send_lock:
                outcome, retry = await self._attempt(tx_type, coi, sign, may_retry_nonce=not nonce_retried,
                                                     gate=gate)
            if retry == "nonce":
                nonce_retried = True
                self._log.warning("invalid nonce: refreshed from the venue, retrying coi={}", coi)
                continue
            if retry == "429" and retries_429 < self._retry_429:
                await asyncio.sleep(self._backoff_429_s * 2**retries_429)
                retries_429 += 1
                continue
            if isinstance(outcome, TxRejected):
                self._log.info("tx {} rejected: code={} reason={} coi={}", tx_type, outcome.code,
                               outcome.reason, coi)  # fmt: skip
            return outcome

    async def _attempt(
        self, tx_type: int, coi: int, sign: Callable[..., Any], *, may_retry_nonce: bool,
        gate: Awaitable[Any] | None = None,
    ) -> tuple[TxOutcome, str | None]:
        """One nonce, one signature, one POST. Returns the outcome and what to retry, if anything.

        `gate` (an asyncio Task or Future, awaited after signing and before the POST) lets the
        caller overlap its own pre-send step with signing: the router journals the order durably
        meanwhile. If the gate raises, the nonce is released, nothing is sent, and the gate's
        exception is raised to the caller."""
        if self._closed:  # closed while this call waited for the rate limiter or the lock
            return _refused(coi, NETWORK_ERROR, "OrderClient closed", tx_type), None
        try:
            nonce = await self.nonces.next()
        except VenueError as exc:
            return _refused(coi, exc.code, f"no nonce: {exc.message}", tx_type, exc.http_status), None
        except Exception as exc:  # the fetcher is injected: any failure means "no nonce, not sent"
            return _refused(coi, NETWORK_ERROR, f"no nonce: {type(exc).__name__}", tx_type), None

        loop = asyncio.get_running_loop()
        try:
            signed = await loop.run_in_executor(
                self._sign_pool, functools.partial(sign, nonce=nonce, api_key_index=self.api_key_index)
            )
        except Exception as exc:  # e.g. ctypes refusing an integer too large for its C type
            self.nonces.release(nonce)
            return _refused(
                coi, codes.INVALID_TX_INFO, f"signing failed: {type(exc).__name__}", tx_type
            ), None
        signed_type, tx_info, signed_hash, error = signed
        if error is not None or tx_info is None:
            self.nonces.release(nonce)
            return _refused(coi, codes.INVALID_TX_INFO, f"signing failed: {error}", tx_type), None
        if gate is not None:
            try:
                await gate
            except BaseException:
                self.nonces.release(nonce)
                raise

        ts_sent = self._clock_ns()
        delivered = await self._deliver(signed_type, tx_info, coi, tx_type)
        if isinstance(delivered, TxRejected):
            return delivered, None
        status, payload = delivered
        ts_ack = self._clock_ns()

        code, message = parse_status(payload)
        if status == 200 and code == codes.OK:
            tx_hash = _reply_hash(payload) or signed_hash or ""
            return TxAccepted(client_order_index=coi, tx_hash=tx_hash, nonce=nonce,
                              ts_sent_ns=ts_sent, ts_ack_ns=ts_ack, tx_type=tx_type), None  # fmt: skip

        def rejected(code: int, reason: str) -> TxRejected:
            return TxRejected(client_order_index=coi, code=code, reason=reason, sent=True, tx_type=tx_type,
                              http_status=status)  # fmt: skip

        if status == 429 or code == codes.TOO_MANY_REQUESTS:
            self.nonces.release(nonce)  # refused at the gate: not sequenced
            return rejected(
                codes.TOO_MANY_REQUESTS, message or codes.message_for(codes.TOO_MANY_REQUESTS)
            ), "429"
        if code == codes.INVALID_NONCE or "invalid nonce" in (message or "").lower():
            outcome = rejected(codes.INVALID_NONCE, message or codes.message_for(codes.INVALID_NONCE))
            try:
                await self.nonces.hard_refresh()
            except Exception as exc:
                self.nonces.invalidate()
                return rejected(
                    codes.INVALID_NONCE, f"invalid nonce; refresh failed: {type(exc).__name__}"
                ), None
            return outcome, ("nonce" if may_retry_nonce else None)
        if status >= 500:
            self.nonces.invalidate()  # a gateway or server fault: the venue may or may not have it
            return rejected(NETWORK_ERROR, f"HTTP {status}: {message or ''}".strip()), None
        if status == 200:
            # refused in an HTTP-200 body: the venue sequenced the transaction and then refused it
            # (the simulator's engine does this, e.g. 21720 post-only would cross): nonce spent
            return rejected(code, message or codes.message_for(code)), None
        # refused at the gate (HTTP 4xx): never sequenced, the nonce is unused
        self.nonces.release(nonce)
        if code == codes.OK:  # no code in the body
            code = status
        return rejected(code, message or codes.message_for(code)), None

    async def _deliver(self, signed_type: int, tx_info: str, coi: int,
                       tx_type: int) -> tuple[int, bytes] | TxRejected:
        """The venue's answer (HTTP status or its websocket equivalent, body), or a TxRejected when
        no answer came: over the transaction socket while it is up, else REST sendTx."""
        socket = self._tx_socket
        if socket is not None and socket.up:
            try:
                payload = await socket.send(signed_type, tx_info, self._request_timeout_s)
            except NotSent:
                pass  # nothing left: REST below
            except FateUnknown as exc:
                self.nonces.invalidate()  # the venue may or may not have it
                self._log.warning("sendtx: fate unknown ({})", exc)
                return TxRejected(client_order_index=coi, code=NETWORK_ERROR, reason=str(exc), sent=True,
                                  tx_type=tx_type)  # fmt: skip
            else:
                return http_status_for(parse_status(payload)[0]), payload
        body = urlencode({"tx_type": signed_type, "tx_info": tx_info})
        try:
            async with self._session.post(
                self._send_url,
                data=body,
                headers={"Content-Type": "application/x-www-form-urlencoded"},
                timeout=self._timeout,
            ) as resp:
                return resp.status, await resp.read()
        except aiohttp.ClientConnectorError as exc:
            # the connection was never made: the venue has not seen this transaction
            self.nonces.invalidate()
            self._log.warning("sendTx: cannot connect ({})", type(exc).__name__)
            return _refused(coi, NETWORK_ERROR, type(exc).__name__, tx_type)
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            self.nonces.invalidate()  # the venue may or may not have it
            self._log.warning("sendTx: fate unknown ({})", type(exc).__name__)
            return TxRejected(client_order_index=coi, code=NETWORK_ERROR, reason=type(exc).__name__,
                              sent=True, tx_type=tx_type)  # fmt: skip


# --- helpers -----------------------------------------------------------------------------------


def _refused(
    coi: int, code: int, reason: str, tx_type: int = TX_CREATE_ORDER, http_status: int = 0
) -> TxRejected:
    """Refused before anything was sent."""
    return TxRejected(client_order_index=coi, code=code, reason=reason, sent=False, tx_type=tx_type,
                      http_status=http_status)  # fmt: skip


def _reply_hash(payload: bytes) -> str | None:
    try:
        return msgspec.json.decode(payload, type=_Reply, strict=False).tx_hash
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None


def _refusal_code(spec: MarketSpec, base: int, price_units: int) -> int:
    """The venue code of what MarketSpec.check_order refused (checked in its order)."""
    if base <= 0:
        return codes.INVALID_BASE_AMOUNT
    if price_units <= 0 or price_units >= 2**32:
        return codes.INVALID_PRICE
    if base < spec.size_to_int(spec.min_base_amount, Rounding.NEAREST):
        return codes.INVALID_BASE_AMOUNT
    return codes.NOTIONAL_TOO_SMALL


class _Secret:
    """A value that prints as <redacted> (in reprs, f-strings and tracebacks with locals)."""

    __slots__ = ("_value",)

    def __init__(self, value: object) -> None:
        self._value = value

    def reveal(self) -> object:
        return self._value

    def __repr__(self) -> str:
        return "<redacted>"

    __str__ = __repr__

    def __reduce__(self) -> Any:
        raise TypeError("a secret cannot be pickled")


def _build_signer(url: str, account_index: int, api_key_index: int, secret: _Secret) -> lighter.SignerClient:
    """lighter.SignerClient, with errors that never carry the key (no raise line names it)."""
    value = secret.reveal()
    problem: str | None = None
    if not isinstance(value, str):
        problem = "private_key must be a str (hex)"
    else:
        bare = value[2:] if value.startswith("0x") else value
        if not _KEY_HEX.fullmatch(bare):
            # checked here because the SDK leaks an open aiohttp session when the Go side refuses
            problem = f"private_key must be 40 bytes in hex (80 hex digits), got {len(bare)} characters"
    if problem is not None:
        raise ValueError(problem)
    failure: str | None = None
    try:
        signer = lighter.SignerClient(
            url, account_index, api_private_keys={api_key_index: bare},
            nonce_management_type=NonceManagerType.NONE,  # we manage nonces: venue.nonces
        )  # fmt: skip
    except Exception as exc:
        failure = type(exc).__name__ + ": " + str(exc).replace(bare, "<redacted>")
    if failure is not None:
        # raised outside the except block: no __context__ chaining the SDK's frames (which hold the key)
        raise ValueError(f"cannot build the Lighter signer for account {account_index}: {failure}")
    return signer
