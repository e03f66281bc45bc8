"""The message vocabulary: every msgspec Struct that crosses an actor boundary or enters the journal.

Modules: `base` (Message, Side, tag_of), `market` (feed -> strategies), `orders` (intents,
commands, order events), `control` (kill switch, heartbeats), `state` (what is persisted for
rehydration), `journal` (JournalRecord) and `codec` (one Encoder/Decoder pair per channel).
All messages are frozen, keyword-only and tagged; see `messages.codec` for the channels.
No Ray here: this package is imported by pure code and by the actors alike.
"""

from messages.base import Message, Side, tag_of
from messages.control import Flatten, Halt, Heartbeat, Resume
from messages.journal import JournalRecord
from messages.market import BookDepth, BookTop, Candle, FeedStatus, MarketBatch, Trade, conflate
from messages.orders import (
    CancelAllIntent,
    CancelIntent,
    Fill,
    OrderAccepted,
    OrderCanceled,
    OrderCommand,
    OrderExpired,
    OrderFilled,
    OrderIntent,
    OrderPartiallyFilled,
    OrderRejected,
)
from messages.state import BreakerState, ParameterChange, PositionSnapshot, StrategySnapshot, TradeRecord

__all__ = [
    "BookDepth",
    "BookTop",
    "BreakerState",
    "CancelAllIntent",
    "CancelIntent",
    "Candle",
    "FeedStatus",
    "Fill",
    "Flatten",
    "Halt",
    "Heartbeat",
    "JournalRecord",
    "MarketBatch",
    "Message",
    "OrderAccepted",
    "OrderCanceled",
    "OrderCommand",
    "OrderExpired",
    "OrderFilled",
    "OrderIntent",
    "OrderPartiallyFilled",
    "OrderRejected",
    "ParameterChange",
    "PositionSnapshot",
    "Resume",
    "Side",
    "StrategySnapshot",
    "Trade",
    "TradeRecord",
    "conflate",
    "tag_of",
]
