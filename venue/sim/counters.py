"""What the simulator counts (served by /sim/state): events, transactions, refusals, clients."""

from __future__ import annotations

import msgspec


class Counters(msgspec.Struct, kw_only=True):
    source_events: int = 0
    source_malformed: int = 0  # events or levels dropped (non-finite, non-positive, time going back)
    book_updates: int = 0
    trade_messages: int = 0
    txs: int = 0
    orders: int = 0  # create-order transactions the engine accepted
    modifies: int = 0  # modify-order transactions the engine accepted
    rejects: int = 0  # create/cancel/modify transactions answered with a code != 200
    injected_rejects: int = 0
    fills: int = 0  # simulator trades (fills involving a simulator account)
    cancels: int = 0
    expired: int = 0
    invalid_nonce: int = 0
    malformed_tx: int = 0
    malformed_requests: int = 0
    http_429: int = 0
    rate_limited_txs: int = 0  # transactions refused by their account tier's rate limit
    delayed_txs: int = 0  # transactions that waited for their tier's speed bump
    ws_malformed: int = 0
    ws_txs: int = 0  # transactions received over the websocket (jsonapi/sendtx, jsonapi/sendtxbatch)
