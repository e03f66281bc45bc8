"""Batches of signed transactions (Lighter's sendTxBatch): the prepared operation and how the
venue's answer to a batch reads, one verdict per transaction. Pure: no I/O, no SDK import.

The venue takes or refuses a batch whole at its gate: a wrong nonce (21104), the rate limit
(HTTP 429 / 23000) or a malformed request (HTTP 4xx) refuse every transaction, none sequenced
(the nonces are unspent, except after 21104, which needs a refresh). Once taken, each transaction
has its own outcome: the simulator reports it in `results` (its code and message per
transaction); Lighter's RespSendTxBatch has only the hashes, so without `results` every
transaction counts as accepted (a later refusal reaches the account channels).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgspec

from venue import codes
from venue.rest import parse_status

NETWORK_ERROR = -1


@dataclass(frozen=True)
class BatchOp:
    """One transaction of a batch, checked and ready to sign: sign(nonce=, api_key_index=)."""

    tx_type: int
    client_order_index: int
    sign: Callable[..., Any]


@dataclass(frozen=True)
class TxVerdict:
    code: int  # codes.OK when accepted
    message: str
    tx_hash: str
    sent: bool


@dataclass(frozen=True)
class BatchVerdict:
    verdicts: list[TxVerdict]
    http_status: int
    release_nonces: bool = False  # refused at the gate: nothing sequenced
    invalid_nonce: bool = False  # refresh the nonces and retry once
    fate_unknown: bool = False  # a server fault: the venue may or may not have them


class _Answer(msgspec.Struct):
    tx_hash: list[str] | str | None = None
    results: list[dict[str, Any]] | None = None


def read_batch_answer(count: int, status: int, payload: bytes) -> BatchVerdict:
    code, message = parse_status(payload)
    message = message or codes.message_for(code)

    def every(code: int, message: str, sent: bool = True) -> list[TxVerdict]:
        return [TxVerdict(code=code, message=message, tx_hash="", sent=sent) for _ in range(count)]

    if status == 429 or code == codes.TOO_MANY_REQUESTS:
        return BatchVerdict(every(codes.TOO_MANY_REQUESTS, message), status, release_nonces=True)
    if code == codes.INVALID_NONCE or "invalid nonce" in message.lower():
        return BatchVerdict(every(codes.INVALID_NONCE, message), status, invalid_nonce=True)
    if status >= 500:
        return BatchVerdict(every(NETWORK_ERROR, f"HTTP {status}: {message}"), status, fate_unknown=True)
    if status != 200:
        return BatchVerdict(every(code if code != codes.OK else status, message), status, release_nonces=True)
    if code != codes.OK:
        return BatchVerdict(every(code, message), status)
    try:
        answer = msgspec.json.decode(payload, type=_Answer, strict=False)
    except (msgspec.DecodeError, msgspec.ValidationError):
        answer = _Answer()
    hashes = answer.tx_hash if isinstance(answer.tx_hash, list) else []
    hashes = hashes + [""] * (count - len(hashes))
    results = answer.results if answer.results is not None and len(answer.results) == count else None
    verdicts = []
    for i in range(count):
        one_code, one_message = codes.OK, codes.message_for(codes.OK)
        if results is not None:
            raw_code = results[i].get("code")
            one_code = raw_code if isinstance(raw_code, int) else codes.OK
            one_message = str(results[i].get("message") or codes.message_for(one_code))
        verdicts.append(TxVerdict(code=one_code, message=one_message, tx_hash=hashes[i], sent=True))
    return BatchVerdict(verdicts, status)
