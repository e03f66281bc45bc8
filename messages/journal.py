"""The journal: an append-only record of what every actor sent, for audit and replay.

A `JournalRecord` wraps one encoded message (msgpack, from `messages.codec.ANY`): kind is the
payload's tag, actor the sender's name, seq the actor's journal counter, ts_event the payload's
event time and ts_init when the record was made. Build and open records with
`messages.codec.journal_record` / `messages.codec.open_journal_record`.
"""

from __future__ import annotations

from messages.base import Message


class JournalRecord(Message, frozen=True, kw_only=True, tag="journal"):
    kind: str
    actor: str
    ts_init: int
    payload: bytes
