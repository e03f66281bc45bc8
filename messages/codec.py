"""One codec per channel: msgpack on the wire, JSON for the journal's debug view and tools.

Channels (each a tagged union; `Codec.decode` returns the concrete Struct):

    MARKET        MarketBatch, BookTop, BookDepth, Trade, Candle, FeedStatus   feed -> strategies, risk
    INTENTS       OrderIntent, CancelIntent, CancelAllIntent                   strategy -> risk
    COMMANDS      OrderCommand                                                 risk -> router
    ORDER_EVENTS  OrderAccepted, OrderRejected, OrderPartiallyFilled,          router -> risk, strategy,
                  OrderFilled, OrderCanceled, OrderExpired                     persistence
    CONTROL       Halt, Resume, Flatten, Heartbeat                             operator, risk, every actor
    STATE         StrategySnapshot, PositionSnapshot, BreakerState,            actors -> persistence
                  TradeRecord, ParameterChange
    JOURNAL       JournalRecord                                                actors -> persistence
    FUNDING       FundingPayment                                               router -> risk, persistence
    ANY           every message above (journal payloads, persistence, tools)

Usage::

    data = ORDER_EVENTS.encode(event)          # bytes; TypeError if event is not on this channel
    event = ORDER_EVENTS.decode(data)          # msgspec.DecodeError / ValidationError if malformed
    record = journal_record(event, actor="router", seq=7, ts_init=now_ns)
    assert open_journal_record(record) == event

Decoding ignores unknown fields (msgspec's default), so a newer sender can add optional fields
without breaking an older receiver. JSON has no NaN or infinity: send finite floats only.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar, get_args

import msgspec

from messages.base import Message, tag_of
from messages.control import ControlMessage, Heartbeat
from messages.funding import FundingPayment
from messages.journal import JournalRecord
from messages.market import BookDepth, BookTop, Candle, FeedStatus, MarketBatch, Trade
from messages.orders import Intent, OrderCommand, OrderEventMessage
from messages.state import StateMessage

DecodeError = msgspec.DecodeError  # ValidationError is a subclass: catch this one

T = TypeVar("T")

MarketMessage = MarketBatch | BookTop | BookDepth | Trade | Candle | FeedStatus
AnyMessage = (
    MarketMessage
    | Intent
    | OrderCommand
    | OrderEventMessage
    | ControlMessage
    | StateMessage
    | JournalRecord
    | FundingPayment
)

ALL_MESSAGE_TYPES: tuple[type[Message], ...] = get_args(AnyMessage)


class Codec(Generic[T]):
    """The Encoder/Decoder pair of one channel (msgpack), plus a JSON pair for humans."""

    def __init__(self, name: str, union: Any) -> None:
        self.name = name
        self.types: tuple[type[Message], ...] = get_args(union) or (union,)
        self.tags: frozenset[str] = frozenset(tag_of(cls) for cls in self.types)
        self._encoder = msgspec.msgpack.Encoder()
        self._decoder: msgspec.msgpack.Decoder[Any] = msgspec.msgpack.Decoder(union)
        self._json_encoder = msgspec.json.Encoder()
        self._json_decoder: msgspec.json.Decoder[Any] = msgspec.json.Decoder(union)

    def _check(self, message: object) -> None:
        if not isinstance(message, self.types):
            raise TypeError(f"{type(message).__name__} is not a message of the {self.name!r} channel")

    def encode(self, message: T) -> bytes:
        self._check(message)
        return self._encoder.encode(message)

    def decode(self, data: bytes | bytearray | memoryview) -> T:
        decoded: T = self._decoder.decode(data)
        return decoded

    def encode_json(self, message: T) -> bytes:
        self._check(message)
        return self._json_encoder.encode(message)

    def decode_json(self, data: bytes | str) -> T:
        decoded: T = self._json_decoder.decode(data)
        return decoded

    def __repr__(self) -> str:
        return f"Codec({self.name!r}, {sorted(self.tags)})"


MARKET: Codec[MarketMessage] = Codec("market", MarketMessage)
INTENTS: Codec[Intent] = Codec("intents", Intent)
COMMANDS: Codec[OrderCommand] = Codec("commands", OrderCommand)
ORDER_EVENTS: Codec[OrderEventMessage] = Codec("order_events", OrderEventMessage)
CONTROL: Codec[ControlMessage] = Codec("control", ControlMessage)
STATE: Codec[StateMessage] = Codec("state", StateMessage)
JOURNAL: Codec[JournalRecord] = Codec("journal", JournalRecord)
FUNDING: Codec[FundingPayment] = Codec("funding", FundingPayment)
ANY: Codec[AnyMessage] = Codec("any", AnyMessage)

CHANNELS: tuple[Codec[Any], ...] = (MARKET, INTENTS, COMMANDS, ORDER_EVENTS, CONTROL, STATE, JOURNAL, FUNDING)


def as_heartbeat(message: ControlMessage) -> Heartbeat:
    """The control message as a Heartbeat; TypeError if it is another control message."""
    if not isinstance(message, Heartbeat):
        raise TypeError(f"expected a heartbeat on the {CONTROL.name!r} channel, got {tag_of(message)!r}")
    return message


def decode_heartbeat(data: bytes | bytearray | memoryview) -> Heartbeat:
    """A Heartbeat from CONTROL bytes (an actor's `heartbeat()` reply); DecodeError if malformed,
    TypeError if the bytes hold another control message."""
    return as_heartbeat(CONTROL.decode(data))


def journal_record(message: AnyMessage, *, actor: str, seq: int, ts_init: int) -> JournalRecord:
    """Wrap a message for the journal (its payload is the msgpack of the ANY codec)."""
    return JournalRecord(
        kind=tag_of(message),
        actor=actor,
        seq=seq,
        ts_event=message.ts_event,
        ts_init=ts_init,
        payload=ANY.encode(message),
    )


def open_journal_record(record: JournalRecord) -> AnyMessage:
    """The message inside a journal record; DecodeError if the payload is not what kind says."""
    message = ANY.decode(record.payload)
    if tag_of(message) != record.kind:
        raise DecodeError(f"journal record says {record.kind!r} but holds {tag_of(message)!r}")
    return message
