"""The message vocabulary: round trips on every channel, tagged-union decoding, invariants."""

from __future__ import annotations

from typing import Any

import msgspec
import msgspec.inspect as mi
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from messages import (
    BookDepth,
    BookTop,
    CancelAllIntent,
    Candle,
    Fill,
    Halt,
    Heartbeat,
    MarketBatch,
    OrderCommand,
    OrderFilled,
    OrderIntent,
    OrderRejected,
    Trade,
    TradeRecord,
    conflate,
    tag_of,
)
from messages.base import Message
from messages.codec import (
    ALL_MESSAGE_TYPES,
    ANY,
    CHANNELS,
    COMMANDS,
    CONTROL,
    INTENTS,
    MARKET,
    ORDER_EVENTS,
    DecodeError,
    journal_record,
    open_journal_record,
)
from messages.market import MarketEvent, MarketEventType
from messages.orders import ModifyIntent, OrderKind

# ---------------------------------------------------------------------------------------------
# Hypothesis strategies derived from the Structs' own type information, so a field added later
# is covered without touching this file. JSON has no NaN/inf, hence finite floats only.
# ---------------------------------------------------------------------------------------------

_INTS = st.integers(min_value=-(2**63), max_value=2**63 - 1)
_FLOATS = st.floats(allow_nan=False, allow_infinity=False)
_POSITIVE = st.floats(min_value=1e-9, max_value=1e9, allow_nan=False, allow_infinity=False)


def _for_type(info: mi.Type) -> st.SearchStrategy[Any]:
    if isinstance(info, mi.IntType):
        return _INTS
    if isinstance(info, mi.FloatType):
        return _FLOATS
    if isinstance(info, mi.StrType):
        return st.text(max_size=20)
    if isinstance(info, mi.BoolType):
        return st.booleans()
    if isinstance(info, mi.BytesType):
        return st.binary(max_size=64)
    if isinstance(info, mi.NoneType):
        return st.none()
    if isinstance(info, mi.LiteralType):
        return st.sampled_from(info.values)
    if isinstance(info, mi.UnionType):
        return st.one_of([_for_type(member) for member in info.types])
    if isinstance(info, mi.ListType):
        return st.lists(_for_type(info.item_type), max_size=4)
    if isinstance(info, mi.TupleType):
        return st.tuples(*[_for_type(item) for item in info.item_types])
    if isinstance(info, mi.DictType):
        return st.dictionaries(_for_type(info.key_type), _for_type(info.value_type), max_size=4)
    if isinstance(info, mi.StructType):
        return message_strategy(info.cls)
    raise NotImplementedError(f"no hypothesis strategy for {info!r}")


@st.composite
def _order_intents(draw: st.DrawFn) -> OrderIntent:
    kinds: list[OrderKind] = ["limit", "market"]
    kind = draw(st.sampled_from(kinds))
    return OrderIntent(
        strategy=draw(st.text(max_size=10)),
        account_index=draw(_INTS),
        market_id=draw(_INTS),
        client_order_index=draw(st.integers(min_value=0, max_value=2**48)),
        side=draw(st.sampled_from(["buy", "sell"])),
        size=draw(_POSITIVE),
        kind=kind,
        tif="ioc" if kind == "market" else draw(st.sampled_from(["gtt", "post_only", "ioc"])),
        reason=draw(st.text(max_size=10)),
        price=draw(_POSITIVE) if kind == "limit" else None,
        worst_price=draw(_POSITIVE) if kind == "market" else None,
        reduce_only=draw(st.booleans()),
        is_exit=draw(st.booleans()),
        expiry_ms=draw(st.none() | st.integers(min_value=0, max_value=2**50)),
        ts_event=draw(_INTS),
        seq=draw(_INTS),
    )


def _fields(cls: type, **overrides: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    info = mi.type_info(cls)
    assert isinstance(info, mi.StructType)
    fields = {field.name: _for_type(field.type) for field in info.fields}
    return st.builds(cls, **{**fields, **overrides})


_OVERRIDES: dict[type, st.SearchStrategy[Any]] = {
    OrderIntent: _order_intents(),
    ModifyIntent: _fields(ModifyIntent, price=_POSITIVE, size=_POSITIVE),  # checked on construction
}


def message_strategy(cls: type) -> st.SearchStrategy[Any]:
    if cls in _OVERRIDES:
        return _OVERRIDES[cls]
    return _fields(cls)


# ---------------------------------------------------------------------------------------------
# Round trips
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("cls", ALL_MESSAGE_TYPES, ids=lambda cls: cls.__name__)
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_every_message_round_trips_on_its_channel_and_any(cls: type, data: st.DataObject) -> None:
    message = data.draw(message_strategy(cls))
    channels = [codec for codec in CHANNELS if cls in codec.types]
    assert len(channels) == 1, f"{cls.__name__} must belong to exactly one channel"
    for codec in (channels[0], ANY):
        decoded = codec.decode(codec.encode(message))
        assert type(decoded) is cls
        assert decoded == message
        assert codec.decode_json(codec.encode_json(message)) == message


@settings(max_examples=30, deadline=None)
@given(message=st.sampled_from(ALL_MESSAGE_TYPES).flatmap(message_strategy))
def test_journal_records_wrap_and_unwrap_any_message(message: Message) -> None:
    record = journal_record(message, actor="router", seq=3, ts_init=99)  # type: ignore[arg-type]
    assert record.kind == tag_of(message)
    assert record.ts_event == message.ts_event
    assert open_journal_record(record) == message


def test_journal_record_whose_kind_lies_is_refused() -> None:
    halt = Halt(reason="operator", ts_event=1, seq=1)
    record = journal_record(halt, actor="cli", seq=1, ts_init=2)
    with pytest.raises(DecodeError, match="says 'resume' but holds 'halt'"):
        open_journal_record(msgspec.structs.replace(record, kind="resume"))


# ---------------------------------------------------------------------------------------------
# The vocabulary's shape
# ---------------------------------------------------------------------------------------------


def test_tags_are_short_explicit_and_unique() -> None:
    tags = [tag_of(cls) for cls in ALL_MESSAGE_TYPES]
    assert len(tags) == len(set(tags))
    for cls, tag in zip(ALL_MESSAGE_TYPES, tags, strict=True):
        assert tag != cls.__name__, f"{cls.__name__} must set an explicit short tag"
        assert tag.islower() and len(tag) <= 24


@pytest.mark.parametrize("cls", ALL_MESSAGE_TYPES, ids=lambda cls: cls.__name__)
def test_every_message_is_frozen_kw_only_with_event_time_and_seq(cls: type[Message]) -> None:
    config = cls.__struct_config__
    assert config.frozen
    assert config.tag_field == "type"
    names = set(cls.__struct_fields__)
    assert {"ts_event", "seq"} <= names
    if issubclass(cls, MarketEvent) or cls is MarketBatch:
        assert "ts_init" in names
    # keyword-only: positional construction is refused. The call is ill-typed on purpose (the
    # runtime check is what is tested), so it goes through an untyped reference to the class.
    untyped: Any = cls
    with pytest.raises(TypeError):
        untyped(1, 2)


def test_messages_cannot_be_mutated() -> None:
    top = BookTop(market_id=2, bid=1.0, bid_size=1.0, ask=2.0, ask_size=1.0, ts_event=1, ts_init=2, seq=1)
    with pytest.raises(AttributeError):
        top.bid = 3.0  # type: ignore[misc]
    assert top.mid == 1.5


# ---------------------------------------------------------------------------------------------
# Tagged-union decoding
# ---------------------------------------------------------------------------------------------


def _fill_event() -> OrderFilled:
    return OrderFilled(
        strategy="rsi_bb",
        account_index=1001,
        market_id=2,
        client_order_index=42,
        side="buy",
        fill=Fill(trade_id=9, price=150.1, size=0.1, fee=0.0, is_maker=False),
        filled_total=0.1,
        ts_event=5,
        seq=8,
    )


def test_union_decoding_picks_the_concrete_type_by_tag() -> None:
    rejected = OrderRejected(
        strategy="s",
        account_index=1,
        market_id=2,
        client_order_index=3,
        code=21720,
        reason="x",
        ts_event=1,
        seq=1,
    )
    decoded = [ORDER_EVENTS.decode(ORDER_EVENTS.encode(event)) for event in (_fill_event(), rejected)]
    assert [type(event) for event in decoded] == [OrderFilled, OrderRejected]
    assert b'"type":"order_filled"' in ORDER_EVENTS.encode_json(_fill_event())


def test_market_batch_decodes_mixed_events_in_order() -> None:
    events: list[MarketEventType] = [
        BookTop(market_id=2, bid=1.0, bid_size=2.0, ask=1.1, ask_size=3.0, ts_event=1, ts_init=2, seq=1),
        Trade(
            market_id=2, trade_id=7, price=1.05, size=0.5, taker_is_buyer=True, ts_event=1, ts_init=2, seq=2
        ),
        BookDepth(
            market_id=2, bids=[(1.0, 2.0)], asks=[(1.1, 3.0), (1.2, 1.0)], ts_event=1, ts_init=2, seq=3
        ),
        Candle(
            market_id=2,
            interval_s=60,
            open_time_ms=0,
            open=1,
            high=2,
            low=0.5,
            close=1.5,
            volume=3,
            ts_event=1,
            ts_init=2,
            seq=4,
        ),
    ]
    batch = MarketBatch(seq=1, ts_event=1, ts_init=3, events=events, market_seqs={2: 4})
    decoded = MARKET.decode(MARKET.encode(batch))
    assert isinstance(decoded, MarketBatch)
    assert [type(event) for event in decoded.events] == [BookTop, Trade, BookDepth, Candle]
    assert decoded.events[2].asks[1] == (1.2, 1.0)  # type: ignore[union-attr]
    assert MARKET.decode_json(MARKET.encode_json(batch)).market_seqs == {2: 4}  # type: ignore[union-attr]


def test_a_message_from_another_channel_is_refused_both_ways() -> None:
    halt = Halt(reason="x", ts_event=1, seq=1)
    with pytest.raises(TypeError, match="not a message of the 'order_events' channel"):
        ORDER_EVENTS.encode(halt)  # type: ignore[arg-type]
    with pytest.raises(msgspec.ValidationError):
        ORDER_EVENTS.decode(CONTROL.encode(halt))
    assert ANY.decode(CONTROL.encode(halt)) == halt


def test_unknown_tag_and_garbage_raise_decode_errors() -> None:
    with pytest.raises(DecodeError):
        CONTROL.decode_json(b'{"type":"nope","ts_event":1,"seq":1}')
    with pytest.raises(DecodeError):
        CONTROL.decode(b"\xc1\xc1")


def test_unknown_fields_are_ignored_for_forward_compatibility() -> None:
    newer = b'{"type":"heartbeat","ts_event":1,"seq":2,"actor":"feed","added_later":5}'
    assert CONTROL.decode_json(newer) == Heartbeat(actor="feed", ts_event=1, seq=2)


# ---------------------------------------------------------------------------------------------
# Order invariants
# ---------------------------------------------------------------------------------------------


def _intent(**changes: Any) -> OrderIntent:
    fields: dict[str, Any] = dict(
        strategy="rsi_bb",
        account_index=1001,
        market_id=2,
        client_order_index=1,
        side="buy",
        size=0.1,
        kind="limit",
        tif="gtt",
        reason="entry_long",
        price=150.0,
        ts_event=1,
        seq=1,
    )
    fields.update(changes)
    return OrderIntent(**fields)


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"size": 0.0}, "size must be a positive"),
        ({"size": float("nan")}, "size must be a positive"),
        ({"price": None}, "price of a limit order"),
        ({"worst_price": 151.0}, "worst_price applies to market orders only"),
        ({"kind": "market", "tif": "ioc", "price": None}, "worst_price of a market order"),
        ({"kind": "market", "tif": "ioc", "worst_price": 151.0}, "a market order has no price"),
        ({"kind": "market", "tif": "gtt", "price": None, "worst_price": 151.0}, "immediate-or-cancel"),
        ({"client_order_index": -1}, "client_order_index must be >= 0"),
    ],
)
def test_malformed_intents_are_refused_on_construction(changes: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        _intent(**changes)


def test_malformed_intent_is_refused_when_decoded() -> None:
    raw = msgspec.json.decode(INTENTS.encode_json(_intent()))
    raw["price"] = -1.0
    with pytest.raises(msgspec.ValidationError, match="price of a limit order"):
        INTENTS.decode_json(msgspec.json.encode(raw))


def test_command_wraps_any_intent_and_exposes_its_identity() -> None:
    cancel_all = CancelAllIntent(strategy="breakout", account_index=1003, reason="flatten", ts_event=1, seq=2)
    for intent in (_intent(), cancel_all):
        command = OrderCommand(intent=intent, ts_event=10, seq=77)
        decoded = COMMANDS.decode(COMMANDS.encode(command))
        assert decoded == command and type(decoded.intent) is type(intent)
        assert (decoded.strategy, decoded.account_index) == (intent.strategy, intent.account_index)


def test_trade_record_keeps_entry_context() -> None:
    record = TradeRecord(
        strategy="rsi_bb",
        account_index=1001,
        market_id=2,
        side="long",
        entry_price=150.0,
        exit_price=150.1,
        entry_ts=1,
        exit_ts=2,
        size=0.1,
        fees=0.0,
        pnl_quote=0.01,
        pnl_pct=0.0667,
        exit_reason="take_profit",
        mfe_bps=7.0,
        mae_bps=1.5,
        entry_context={"rsi": 66.2, "bb_pos": 0.4},
        ts_event=2,
        seq=1,
    )
    decoded = ANY.decode(ANY.encode(record))
    assert isinstance(decoded, TradeRecord) and decoded.entry_context == {"rsi": 66.2, "bb_pos": 0.4}


# ---------------------------------------------------------------------------------------------
# Conflation
# ---------------------------------------------------------------------------------------------


def _top(market: int, bid: float, seq: int) -> BookTop:
    return BookTop(
        market_id=market, bid=bid, bid_size=1, ask=bid + 1, ask_size=1, ts_event=seq, ts_init=0, seq=seq
    )


def _trade(market: int, trade_id: int) -> Trade:
    return Trade(
        market_id=market,
        trade_id=trade_id,
        price=1.0,
        size=1.0,
        taker_is_buyer=False,
        ts_event=0,
        ts_init=0,
        seq=0,
    )


def test_conflate_keeps_the_latest_top_per_market_and_every_trade() -> None:
    events = [_top(2, 1.0, 1), _trade(2, 1), _top(1, 5.0, 1), _top(2, 2.0, 2), _trade(2, 2), _top(2, 3.0, 3)]
    kept = conflate(events)  # type: ignore[arg-type]
    assert kept == [_trade(2, 1), _top(1, 5.0, 1), _trade(2, 2), _top(2, 3.0, 3)]


@given(st.lists(st.tuples(st.sampled_from([1, 2, 3]), st.booleans()), max_size=30))
def test_conflate_never_drops_a_trade_and_leaves_one_top_per_market(spec: list[tuple[int, bool]]) -> None:
    events = [_trade(m, i) if is_trade else _top(m, float(i), i) for i, (m, is_trade) in enumerate(spec)]
    kept = conflate(events)  # type: ignore[arg-type]
    assert [e for e in kept if isinstance(e, Trade)] == [e for e in events if isinstance(e, Trade)]
    tops = [e for e in kept if isinstance(e, BookTop)]
    assert len(tops) == len({e.market_id for e in events if isinstance(e, BookTop)})
    for top in tops:
        assert top == [e for e in events if isinstance(e, BookTop) and e.market_id == top.market_id][-1]
