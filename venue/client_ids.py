"""Deterministic client order indices, in a module that does not import lighter-sdk.

Importing the SDK costs about 0.9 s, which a restarting strategy actor cannot afford, so the
index scheme lives here and venue.order_client re-exports it.

Layout (48 bits, Lighter's cap): bit 47 set, bits 32-46 a stable tag of the strategy's name,
bits 0-31 the strategy's order sequence number. The same (strategy, seq) gives the same index in
every process, so a retried send reuses it and the venue cannot double the order.
"""

from __future__ import annotations

import hashlib

SEQ_BITS = 32
TAG_BITS = 15
SEQ_MASK = (1 << SEQ_BITS) - 1
_OURS_BIT = 1 << (SEQ_BITS + TAG_BITS)  # bit 47: never 0, always <= 2**48 - 1


def strategy_tag(strategy: str) -> int:
    """A stable 15-bit tag of a strategy name (blake2b, not Python's per-process salted hash())."""
    digest = hashlib.blake2b(strategy.encode("utf-8"), digest_size=4).digest()
    return int.from_bytes(digest, "big") & ((1 << TAG_BITS) - 1)


def client_order_index_for(strategy: str, seq: int) -> int:
    """The client_order_index of the strategy's seq-th order."""
    if not 0 <= seq <= SEQ_MASK:
        raise ValueError(f"seq must be in [0, 2**32), got {seq}")
    return _OURS_BIT | (strategy_tag(strategy) << SEQ_BITS) | seq
