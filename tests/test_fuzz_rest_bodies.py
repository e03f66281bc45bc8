"""Fuzzing the REST client's decoding (issue 15 item 3): each LighterRest call gets its Lighter
fixture's body as it is, with fields edited at random, or with its bytes broken, under any HTTP
status. A call returns typed values or raises VenueError (a typed rejection with a code); nothing
else may escape, and no venue answer may make a number that is not finite.

The network is replaced by a session that answers every GET with the drawn status and body: the
code under test is everything from the HTTP answer on.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import LIGHTER_FIXTURES
from tests.fuzzing import broken_bytes, fixture_docs, mutated
from venue.rest import LighterRest, VenueError

pytestmark = pytest.mark.timeout(120)

CALLS: dict[str, Callable[[LighterRest], Coroutine[Any, Any, Any]]] = {
    "http_order_book_details.json": lambda r: r.order_book_details(),
    "http_next_nonce.json": lambda r: r.next_nonce(7, 0),
    "http_account.json": lambda r: r.account(7),
    "http_orders.json": lambda r: r.active_orders(7, 2, auth="token"),
    "http_recent_trades.json": lambda r: r.recent_trades(2),
    "http_candles.json": lambda r: r.candles(2, "1m", 0, 10**13, 100),
    "http_order_book_orders.json": lambda r: r.order_book_orders(2),
}
DOCS = {name: doc for name, doc in fixture_docs(LIGHTER_FIXTURES, "http_").items() if name in CALLS} \
    if LIGHTER_FIXTURES.is_dir() else {}
if not DOCS:
    pytest.skip(f"shared Lighter fixtures not found at {LIGHTER_FIXTURES}", allow_module_level=True)


class _Answer:
    def __init__(self, status: int, body: bytes) -> None:
        self.status, self._body = status, body

    async def read(self) -> bytes:
        return self._body

    async def __aenter__(self) -> _Answer:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None


class _Session:
    """Answers every GET with one status and body."""

    def __init__(self, status: int, body: bytes) -> None:
        self.answer = _Answer(status, body)

    def get(self, *_args: Any, **_kwargs: Any) -> _Answer:
        return self.answer

    async def close(self) -> None:
        return None


def _finite_everywhere(value: Any) -> None:
    """No float anywhere in a decoded answer is NaN or infinite."""
    if isinstance(value, float):
        assert math.isfinite(value), f"a non-finite number came through: {value}"
    elif isinstance(value, dict):
        for v in value.values():
            _finite_everywhere(v)
    elif isinstance(value, list | tuple):
        for v in value:
            _finite_everywhere(v)
    elif hasattr(value, "__struct_fields__"):
        for field in value.__struct_fields__:
            _finite_everywhere(getattr(value, field))


def _call(name: str, status: int, body: bytes) -> None:
    rest = LighterRest("http://venue.invalid", session=_Session(status, body))  # type: ignore[arg-type]
    try:
        result = asyncio.run(CALLS[name](rest))
    except VenueError as exc:
        assert isinstance(exc.code, int) and isinstance(exc.message, str)
        return
    _finite_everywhere(result)


def test_every_fixture_decodes_as_it_is() -> None:
    for name, doc in DOCS.items():
        rest = LighterRest("http://venue.invalid", session=_Session(200, json.dumps(doc).encode()))  # type: ignore[arg-type]
        asyncio.run(CALLS[name](rest))


statuses = st.sampled_from([200, 200, 200, 400, 403, 404, 429, 500, 502, 503])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), name=st.sampled_from(sorted(DOCS)), status=statuses)
def test_bodies_with_edited_fields_are_values_or_venue_errors(data: st.DataObject, name: str, status: int) -> None:
    _call(name, status, json.dumps(data.draw(mutated(DOCS[name]))).encode())


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), name=st.sampled_from(sorted(DOCS)), status=statuses)
def test_bodies_with_broken_bytes_are_values_or_venue_errors(data: st.DataObject, name: str, status: int) -> None:
    _call(name, status, data.draw(broken_bytes(json.dumps(DOCS[name]).encode())))


@pytest.mark.parametrize("details", [[None], 7, "x", [{"market_id": None}], [[1, 2]]])
def test_order_book_details_of_the_wrong_shape_are_venue_errors(details: Any) -> None:
    """Found by the fuzzer: a null entry escaped as TypeError from the error message itself."""
    body = json.dumps({"code": 200, "order_book_details": details}).encode()
    rest = LighterRest("http://venue.invalid", session=_Session(200, body))  # type: ignore[arg-type]
    with pytest.raises(VenueError):
        asyncio.run(rest.order_book_details())
