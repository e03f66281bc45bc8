"""The common base of every message: immutable, keyword-only, tagged, with event time and a seq.

Every concrete message sets an explicit short `tag` (the value of the `type` field on the wire),
unique across the whole vocabulary, so a single decoder can tell any message apart and a journal
record names its payload's kind. Tags are part of the storage format: never rename one.
"""

from __future__ import annotations

from typing import Literal

import msgspec

Side = Literal["buy", "sell"]
"""An order's or a position's direction; a position's "buy" is long."""


class Message(msgspec.Struct, frozen=True, kw_only=True, tag_field="type"):
    """Base of all messages (not itself sent).

    ts_event: when it happened, in ns since the epoch, in event time (the venue's clock for
        market data and order events; the sender's clock for decisions and control).
    seq: the sender's own sequence number, increasing by one per message on one channel, so that
        a receiver can drop duplicates (Ray retries calls) and log gaps.
    """

    ts_event: int
    seq: int


def tag_of(message: Message | type[Message]) -> str:
    """The wire tag of a message instance or class ("book_top", "order_filled", ...)."""
    cls = message if isinstance(message, type) else type(message)
    tag = cls.__struct_config__.tag
    if not isinstance(tag, str):
        raise TypeError(f"{cls.__name__} has no string tag")
    return tag
