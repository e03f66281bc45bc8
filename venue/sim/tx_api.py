"""The simulator's transaction intake: REST `sendTx` / `sendTxBatch` and what the websocket's
`jsonapi/sendtx` / `jsonapi/sendtxbatch` share with them.

A request is refused whole before it is sequenced (HTTP 400, no nonce spent) when it is
malformed, or when a nonce is not the next one its (account, API key) expects (in a batch:
consecutive from it); HTTP 429 (code 23000, no nonce spent) when an account's tier allows no more
transactions this minute of event time (venue.sim.tiers; a batch counts one per transaction and
passes whole or not at all). Otherwise every transaction's nonce is spent and each is applied in
order, after its tier's speed bump: the answer comes once all have taken effect, each with the
engine's code (a refusal by the engine is HTTP 200 with its code, as on Lighter), and
`predicted_execution_time_ms` is the event time they took effect at.

A change of API key (tx type 8, alone in a sendTx) passes the same nonce and rate gates and sets
the key's public key in the simulator's registry (venue.sim.api_keys); it is not part of batches.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from aiohttp import web

from venue import codes
from venue.sim.api_keys import TX_TYPE_CHANGE_PUB_KEY, parse_change_pub_key, registry
from venue.sim.rest_api import SIM_KEY, error, ok
from venue.sim.txinfo import Tx, TxInfoError, parse_tx, parse_tx_type
from venue.sim.venue_protocol import SimVenue

MAX_BATCH_TXS = 15  # Lighter's sendTxBatch takes at most 15 transactions (DESIGN.md)
VOLUME_QUOTA_UNLIMITED = 2**31 - 1  # the simulator has no volume quota


def tx_hash(tx_info: str) -> str:
    return hashlib.blake2b(tx_info.encode(), digest_size=40).hexdigest()


def _info_text(tx_info: Any) -> Any:
    """The websocket takes a tx_info as an object too (Lighter's examples send one)."""
    return msgspec.json.encode(tx_info).decode() if isinstance(tx_info, dict) else tx_info


def _parse(tx_type: Any, tx_info: Any) -> Tx:
    parsed_type = parse_tx_type(tx_type)
    if not isinstance(tx_info, str):
        raise TxInfoError(codes.INVALID_TX_INFO, "tx_info is missing or not a JSON string")
    return parse_tx(parsed_type, tx_info)


def _json_list(raw: Any, name: str) -> list[Any]:
    if isinstance(raw, list):
        return raw
    try:
        value = msgspec.json.decode(raw) if isinstance(raw, (str, bytes)) else None
    except msgspec.DecodeError:
        value = None
    if not isinstance(value, list):
        raise TxInfoError(codes.INVALID_TX_INFO, f"{name} must be a JSON array")
    return value


def _malformed(sim: SimVenue, exc: TxInfoError) -> tuple[int, dict[str, Any]]:
    sim.counters.malformed_tx += 1
    return 400, {"code": exc.code, "message": f"{codes.message_for(exc.code)}: {exc}"}


async def _sequence(sim: SimVenue, txs: list[Tx], received_ns: int) -> tuple[int, dict[str, Any]] | list[Any]:
    """The gate (nonces, rate limit), then the transactions applied: their results, or the refusal."""
    expected: dict[tuple[int, int], int] = {}
    for tx in txs:
        key = (tx.account_index, tx.api_key_index)
        want = expected.get(key, sim.next_nonce(*key))
        if tx.nonce != want:
            sim.counters.invalid_nonce += 1
            got, want_now = tx.nonce, sim.next_nonce(*key)
            return 400, {"code": codes.INVALID_NONCE, "message": f"invalid nonce: expected {want_now}, got {got}"}
        expected[key] = want + 1
    if not sim.admit_txs(txs):
        sim.counters.rate_limited_txs += len(txs)
        return 429, {"code": codes.TOO_MANY_REQUESTS,
                     "message": f"{codes.message_for(codes.TOO_MANY_REQUESTS)}: the account tier's "
                                "transactions per minute are spent"}  # fmt: skip
    for tx in txs:
        sim.consume_nonce(tx.account_index, tx.api_key_index)
    delay = sim.faults.order_delay_s()
    if delay:
        await asyncio.sleep(delay)  # the delay-orders fault: these transactions reach the engine late
    return list(await sim.execute_txs(txs, received_ns // 1_000_000, received_ns))


async def submit_tx(sim: SimVenue, tx_type: Any, tx_info: Any, received_ns: int) -> tuple[int, dict[str, Any]]:
    """One signed transaction: (HTTP status, answer). `received_ns`: when the request reached the
    venue (wall clock), for the arrival audit."""
    tx_info = _info_text(tx_info)
    try:
        if parse_tx_type(tx_type) == TX_TYPE_CHANGE_PUB_KEY and isinstance(tx_info, str):
            return _change_api_key(sim, tx_info)
        tx = _parse(tx_type, tx_info)
    except TxInfoError as exc:
        return _malformed(sim, exc)
    outcome = await _sequence(sim, [tx], received_ns)
    if isinstance(outcome, tuple):
        return outcome
    result = outcome[0]
    if result.code != codes.OK:
        return 200, {"code": result.code, "message": result.message}
    return 200, {
        "code": codes.OK,
        "message": result.message,
        "tx_hash": tx_hash(tx_info),
        "predicted_execution_time_ms": result.effective_ms,
        "volume_quota_remaining": VOLUME_QUOTA_UNLIMITED,
    }


def _change_api_key(sim: SimVenue, tx_info: str) -> tuple[int, dict[str, Any]]:
    """Tx type 8: the key's next nonce and the account's rate window, then its new public key."""
    tx, public_key = parse_change_pub_key(tx_info)  # TxInfoError: answered as malformed
    want = sim.next_nonce(tx.account_index, tx.api_key_index)
    if tx.nonce != want:
        sim.counters.invalid_nonce += 1
        return 400, {"code": codes.INVALID_NONCE, "message": f"invalid nonce: expected {want}, got {tx.nonce}"}
    if not sim.admit_txs([tx]):  # type: ignore[list-item]  # the gate reads account_index alone
        sim.counters.rate_limited_txs += 1
        return 429, {"code": codes.TOO_MANY_REQUESTS, "message": codes.message_for(codes.TOO_MANY_REQUESTS)}
    sim.consume_nonce(tx.account_index, tx.api_key_index)
    registry(sim).set(tx.account_index, tx.api_key_index, public_key)
    return 200, {"code": codes.OK, "message": codes.message_for(codes.OK), "tx_hash": tx_hash(tx_info),
                 "predicted_execution_time_ms": sim.now_ms, "volume_quota_remaining": VOLUME_QUOTA_UNLIMITED}


async def submit_batch(sim: SimVenue, tx_types: Any, tx_infos: Any, received_ns: int) -> tuple[int, dict[str, Any]]:
    """Up to MAX_BATCH_TXS transactions in one request: (HTTP status, answer). The answer is
    Lighter's RespSendTxBatch (code, tx_hash list, predicted_execution_time_ms) plus `results`,
    each transaction's own code and message, in order."""
    try:
        types = _json_list(tx_types, "tx_types")
        infos = [_info_text(info) for info in _json_list(tx_infos, "tx_infos")]
        if len(types) != len(infos) or not types:
            raise TxInfoError(codes.INVALID_TX_INFO, "tx_types and tx_infos must be non-empty and of equal length")
        if len(types) > MAX_BATCH_TXS:
            raise TxInfoError(codes.INVALID_TX_INFO,
                              f"at most {MAX_BATCH_TXS} transactions per batch, got {len(types)}")  # fmt: skip
        txs = [_parse(t, info) for t, info in zip(types, infos, strict=True)]
    except TxInfoError as exc:
        return _malformed(sim, exc)
    outcome = await _sequence(sim, txs, received_ns)
    if isinstance(outcome, tuple):
        return outcome
    return 200, {
        "code": codes.OK,
        "message": codes.message_for(codes.OK),
        "tx_hash": [tx_hash(info) for info in infos],
        "predicted_execution_time_ms": max(r.effective_ms for r in outcome),
        "volume_quota_remaining": VOLUME_QUOTA_UNLIMITED,
        "results": [{"code": r.code, "message": r.message} for r in outcome],
    }


async def _form(request: web.Request) -> dict[str, Any]:
    if request.content_type == "application/json":
        try:
            body = await request.json(loads=msgspec.json.decode)
        except (msgspec.DecodeError, ValueError):
            raise TxInfoError(codes.INVALID_PARAM, "request body is not valid JSON") from None
        if not isinstance(body, dict):
            raise TxInfoError(codes.INVALID_PARAM, "request body must be a JSON object")
        return body
    return dict(await request.post())


async def send_tx(request: web.Request) -> web.Response:
    return await _submit_form(request, lambda sim, form, ns: submit_tx(sim, form.get("tx_type"), form.get("tx_info"), ns))


async def send_tx_batch(request: web.Request) -> web.Response:
    return await _submit_form(request, lambda sim, form, ns: submit_batch(sim, form.get("tx_types"),
                                                                           form.get("tx_infos"), ns))


async def _submit_form(request: web.Request,
                       submit: Callable[[Any, dict[str, Any], int], Awaitable[tuple[int, Any]]]) -> web.Response:
    """A sendTx / sendTxBatch form: a malformed one is counted and answered with its code."""
    received_ns = time.time_ns()
    sim = request.app[SIM_KEY]
    try:
        form = await _form(request)
    except TxInfoError as exc:
        sim.counters.malformed_requests += 1
        return error(exc.code, str(exc))
    status, answer = await submit(sim, form, received_ns)
    return ok(answer, status=status)
