"""Fuzzing the websocket client's frame handling (issue 15 item 3): every Lighter websocket fixture,
and an account_all frame, fed to LighterWsClient's frame handler as they are, with their fields
edited at random, or with their bytes broken. Nothing may escape, no frame may reach the
handlers' bug path (`internal_errors`), and a frame that cannot be decoded is counted as malformed.

The handler is driven directly (no socket): it is the one function every received frame goes through.
"""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import LIGHTER_FIXTURES as LIGHTER
from tests.fuzzing import broken_bytes, fixture_docs, mutated
from venue.wire import decode_ws
from venue.ws_client import LighterWsClient

pytestmark = pytest.mark.timeout(120)

ACCOUNT = 7
ACCOUNT_ALL: dict[str, Any] = {
    "type": "update/account_all", "channel": f"account_all:{ACCOUNT}", "account": ACCOUNT,
    "trades": {"2": [{"trade_id": 55, "market_id": 2, "size": "0.100", "price": "151.000",
                      "ask_account_id": ACCOUNT, "bid_account_id": 9, "ask_client_id": 5, "is_maker_ask": True,
                      "timestamp": 2, "taker_fee": 0.0, "maker_fee": 0.0}]},
    "positions": {"2": {"market_id": 2, "symbol": "SOL", "sign": -1, "position": "1.25",
                        "avg_entry_price": "150.0", "unrealized_pnl": "0.1", "realized_pnl": "0.0"}},
    "orders": {},
}


def _frames() -> dict[str, Any]:
    if not LIGHTER.is_dir():
        pytest.skip(f"shared Lighter fixtures not found at {LIGHTER}")
    docs = fixture_docs(LIGHTER, "ws_")
    docs["account_all"] = ACCOUNT_ALL
    return docs


FRAMES = _frames() if LIGHTER.is_dir() else {"account_all": ACCOUNT_ALL}


def _client() -> tuple[LighterWsClient, list[Any]]:
    events: list[Any] = []
    client = LighterWsClient("ws://127.0.0.1:9/stream", markets=[0, 2], accounts=[ACCOUNT], on_event=events.append)
    # a book to apply deltas to: the fixture's snapshot, on market 0 and (relabelled) market 2
    snapshot = FRAMES.get("ws_order_book_subscribed.json")
    if snapshot is not None:
        for market in (0, 2):
            frame = dict(snapshot, channel=f"order_book:{market}")
            client._on_frame(json.dumps(frame).encode())
    return client, events


def _feed(client: LighterWsClient, raw: bytes) -> None:
    before = client.stats.malformed
    client._on_frame(raw)  # must not raise
    stats = client.stats
    assert stats.internal_errors == 0, "a frame reached the handlers' bug path"
    assert stats.callback_errors == 0
    try:
        decode_ws(raw)
    except msgspec.DecodeError:
        assert stats.malformed == before + 1, "an undecodable frame was not counted as malformed"


def test_every_fixture_is_handled_cleanly_as_it_is() -> None:
    client, events = _client()
    for name, doc in FRAMES.items():
        before = client.stats.malformed
        client._on_frame(json.dumps(doc).encode())
        assert client.stats.malformed == before, f"{name}: a valid frame counted as malformed"
    assert client.stats.internal_errors == 0
    assert events, "the fixtures produced no event at all"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), name=st.sampled_from(sorted(FRAMES)))
def test_frames_with_edited_fields_never_escape(data: st.DataObject, name: str) -> None:
    client, _events = _client()
    doc = data.draw(mutated(FRAMES[name]))
    _feed(client, json.dumps(doc).encode())


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), name=st.sampled_from(sorted(FRAMES)))
def test_frames_with_broken_bytes_never_escape(data: st.DataObject, name: str) -> None:
    client, _events = _client()
    raw = data.draw(broken_bytes(json.dumps(FRAMES[name]).encode()))
    _feed(client, raw)


@settings(max_examples=100, deadline=None)
@given(raw=st.one_of(st.binary(max_size=200), st.text(max_size=200)))
def test_arbitrary_input_never_escapes(raw: bytes | str) -> None:
    client, _events = _client()
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
    _feed(client, data)


def test_a_malformed_funding_row_is_dropped_alone_not_the_fills_beside_it() -> None:
    """Found in review: the funding rows were typed with the message, so one row of another shape
    dropped the whole account update, its fills included."""
    good = {"timestamp": 1_746_000_000, "market_id": 2, "funding_id": 1, "change": "-0.001", "rate": "0.0012",
            "position_size": "0.1", "position_side": "long"}
    frame = dict(ACCOUNT_ALL, funding_histories={"2": [good, {"timestamp": "soon", "change": None}, "x"]})
    client, events = _client()
    before = client.stats.malformed
    client._on_frame(json.dumps(frame).encode())
    updates = [e for e in events if getattr(e, "account_index", None) == ACCOUNT]
    assert len(updates) == 1 and [t.trade_id for t in updates[0].trades] == [55]
    assert len(updates[0].fundings) == 1 and updates[0].fundings[0].change == -0.001
    assert client.stats.malformed == before + 2 and client.stats.internal_errors == 0
