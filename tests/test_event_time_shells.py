"""Where wall time and event time meet in the feed and risk actors (DESIGN invariant 6), tested on
the actor classes themselves, in this process and without Ray: their start-up against the venue
is replaced (risk builds its engine from the settings, the feed opens no websocket) and their
peers are recorders, so what they send can be read back.

The failure these guard against: the feed stamped a market's first fresh/stale status with the
wall clock before any data came, risk took the batch's ts_event into its clock, and a clock in
the present stays later than every event of a 2025 replay: the order-rate window stopped sliding
(every order refused after the limit) and the breakers' UTC day stopped rolling.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest

from actors.common import ActorContext, Peers, settings_dump, wall_ns
from actors.feed import FeedActor
from actors.risk import RiskActor
from actors.strategy import StrategyActor
from messages.codec import CONTROL, INTENTS, MARKET, ORDER_EVENTS, STATE
from messages.control import Halt, Resume
from messages.market import BookTop, FeedStatus, MarketBatch, MarketEventType, Trade
from messages.orders import OrderIntent, OrderRejected
from messages.state import TradeRecord
from risk.checks import RiskEngine, StrategyLimits
from tests.ray_fixtures import make_settings, strategy_entry
from venue.markets import SOL_DEFAULT
from venue.rest import AccountInfo, AccountPosition
from venue.wire import BookUpdated, Fresh, Stale

S = 10**9
DAY_NS = 86_400 * S
DAY0_NS = 20_212 * DAY_NS  # 2025-05-04 00:00 UTC: the first day of the shared SOL candles
ACCOUNT = 2001


class _Call:
    def __init__(self, calls: list[tuple[str, str, tuple[Any, ...]]], target: str, method: str) -> None:
        self.calls, self.target, self.method = calls, target, method

    def remote(self, *args: Any) -> asyncio.Future[Any]:
        self.calls.append((self.target, self.method, args))
        answer: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        answer.set_result(True)  # persistence's "written", the router's and strategies' "done"
        return answer


class _Peer:
    def __init__(self, calls: list[tuple[str, str, tuple[Any, ...]]], name: str) -> None:
        self._calls, self._name = calls, name

    def __getattr__(self, method: str) -> _Call:
        return _Call(self._calls, self._name, method)


class RecordingPeers(Peers):
    """Every peer exists and answers at once; the calls are kept in order."""

    def __init__(self) -> None:
        super().__init__("test-event-time")
        self.calls: list[tuple[str, str, tuple[Any, ...]]] = []

    def get(self, name: str) -> Any:
        return _Peer(self.calls, name)

    def sent(self, target: str, method: str) -> list[tuple[Any, ...]]:
        return [args for t, m, args in self.calls if (t, m) == (target, method)]


class OfflineRisk(RiskActor):
    """The risk actor with its venue start-up replaced: limits from the settings, accounts taken
    as reconciled (this test is about clocks, not the venue)."""

    async def _start(self) -> None:
        limits = {s.name: StrategyLimits(account_index=s.account_index, market_id=s.market_id,
                                         size_max=s.size_max, equity=1000.0) for s in self.strategies.values()}
        self.engine = RiskEngine(limits, {2: SOL_DEFAULT}, self.limits, self.breaker_limits)
        self.reconciled_at = {account: time.monotonic() for account in self.accounts}


class OfflineFeed(FeedActor):
    async def _start(self) -> None:
        """No websocket: the test hands the venue's events to _on_ws itself."""


def run(test: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(test())


def settings(tmp_path: Path, **risk: Any) -> dict[str, Any]:
    data = make_settings(tmp_path, strategies=[strategy_entry("fast", ACCOUNT)],
                         risk={"order_rate_per_min": 3, **risk})
    return settings_dump(data)


async def started_risk(tmp_path: Path, **risk: Any) -> tuple[OfflineRisk, RecordingPeers]:
    actor = OfflineRisk(ActorContext(name="risk", settings=settings(tmp_path, **risk)))
    peers = RecordingPeers()
    actor.peers = actor.sender.peers = peers
    await actor.ready()
    return actor, peers


class Batches:
    def __init__(self) -> None:
        self.seq = 0

    def encode(self, *events: MarketEventType) -> bytes:
        self.seq += 1
        ts = max((e.ts_event for e in events), default=0)
        return MARKET.encode(MarketBatch(ts_event=ts, seq=self.seq, ts_init=wall_ns(), events=list(events),
                                         market_seqs={}))


def top(ts_ns: int, seq: int = 0) -> BookTop:
    return BookTop(market_id=2, ts_event=ts_ns, ts_init=wall_ns(), seq=seq, bid=149.99, bid_size=5.0,
                   ask=150.01, ask_size=5.0)


def wall_status(stale: bool = False) -> FeedStatus:
    """A status as the feed stamped it before the fix: with the wall clock (later than 2025)."""
    return FeedStatus(market_id=2, ts_event=wall_ns(), ts_init=wall_ns(), seq=0, stale=stale, silent_for_s=0.0)


def entry(coi: int, ts_ns: int) -> bytes:
    return INTENTS.encode(OrderIntent(strategy="fast", account_index=ACCOUNT, market_id=2, client_order_index=coi,
                                      side="buy", size=0.1, kind="limit", tif="gtt", reason="test", price=150.0,
                                      ts_event=ts_ns, seq=coi))


@pytest.mark.timeout(30)
def test_a_wall_clock_status_does_not_stop_risks_clock_or_its_order_rate_window(tmp_path: Path) -> None:
    async def test() -> None:
        risk, peers = await started_risk(tmp_path)
        batches = Batches()
        await risk.on_batch(batches.encode(wall_status(), top(DAY0_NS)))  # a market's first "fresh"
        answers: list[str] = []
        for minute in range(4):  # 3 orders a minute, the limit, for 4 minutes of event time
            for k in range(3):
                ts = DAY0_NS + minute * 60 * S + k * 15 * S + S
                await risk.on_batch(batches.encode(top(ts), Trade(market_id=2, ts_event=ts, ts_init=wall_ns(), seq=0,
                                                                  trade_id=ts, price=150.0, size=1.0,
                                                                  taker_is_buyer=True)))
                answers.append(await risk.on_intent(entry(len(answers) + 1, ts)))
        assert answers == ["approved"] * 12
        assert (await risk.status())["event_time_ns"] == DAY0_NS + 3 * 60 * S + 31 * S
        # the fourth in a minute is refused, and the refusal carries the event time it was judged at
        late = DAY0_NS + 3 * 60 * S + 40 * S
        assert await risk.on_intent(entry(100, late)) == "rate_limit"
        refusal = ORDER_EVENTS.decode(peers.sent("strategy:fast", "on_order_event")[-1][0])
        assert isinstance(refusal, OrderRejected) and refusal.ts_event == late

    run(test)


@pytest.mark.timeout(30)
def test_kill_switch_commands_and_statuses_never_move_risks_clock(tmp_path: Path) -> None:
    async def test() -> None:
        risk, _peers = await started_risk(tmp_path)
        batches = Batches()
        await risk.on_batch(batches.encode(top(DAY0_NS)))
        await risk.control(CONTROL.encode(Halt(reason="test", scope="fast", ts_event=wall_ns(), seq=1)))
        await risk.control(CONTROL.encode(Resume(scope="fast", ts_event=wall_ns(), seq=2)))
        await risk.on_batch(batches.encode(wall_status(stale=True)))
        await risk.on_batch(batches.encode(wall_status(stale=False)))
        await risk.on_batch(batches.encode())  # a keepalive
        assert (await risk.status())["event_time_ns"] == DAY0_NS

    run(test)


@pytest.mark.timeout(30)
def test_a_daily_loss_trip_clears_when_event_time_reaches_the_next_utc_day(tmp_path: Path) -> None:
    async def test() -> None:
        risk, peers = await started_risk(tmp_path, order_rate_per_min=60,
                                         breakers={"daily_loss_pct": 2.0, "max_consecutive_losses": 99,
                                                   "max_drawdown_pct": 99.0})
        batches = Batches()
        noon = DAY0_NS + DAY_NS // 2
        await risk.on_batch(batches.encode(wall_status(), top(noon)))
        trade = TradeRecord(strategy="fast", account_index=ACCOUNT, market_id=2, side="long", entry_price=150.0,
                            exit_price=149.0, entry_ts=noon, exit_ts=noon + 60 * S, size=0.1, fees=0.0,
                            pnl_quote=-25.0, pnl_pct=-0.7, exit_reason="stop_loss", mfe_bps=0.0, mae_bps=70.0,
                            ts_event=noon + 60 * S, seq=1)
        assert await risk.on_trade_closed(STATE.encode(trade)) == "daily_loss"  # 25 >= 2% of 1000
        assert await risk.on_intent(entry(1, noon + 120 * S)) == "breaker"
        await risk.on_batch(batches.encode(top(DAY0_NS + DAY_NS - S)))
        assert await risk.on_intent(entry(2, DAY0_NS + DAY_NS - S)) == "breaker"  # 23:59:59, the same day
        await risk.on_batch(batches.encode(top(DAY0_NS + DAY_NS + S)))
        assert await risk.on_intent(entry(3, DAY0_NS + DAY_NS + S)) == "approved"
        controls = [CONTROL.decode(args[0]) for args in peers.sent("strategy:fast", "on_control")]
        assert [type(c).__name__ for c in controls] == ["Halt", "Resume"]  # the strategy may enter again

    run(test)


@pytest.mark.timeout(30)
def test_the_feed_stamps_a_status_with_market_time_never_the_wall_clock(tmp_path: Path) -> None:
    async def test() -> None:
        feed = OfflineFeed(ActorContext(name="feed", settings=settings(tmp_path), options={"subscribers": ["risk"]}))
        peers = RecordingPeers()
        feed.peers = feed.sender.peers = peers
        await feed.ready()
        sub = feed.subscribers["risk"]

        def send() -> MarketBatch:
            assert feed._send(sub, 0.0) is not None
            batch = MARKET.decode(peers.sent("risk", "on_batch")[-1][0])
            assert isinstance(batch, MarketBatch)
            return batch

        feed._on_ws(Fresh(market_id=2))  # the client's "fresh" precedes the first data it reports
        first = send()
        assert [(type(e).__name__, e.ts_event) for e in first.events] == [("FeedStatus", 0)]
        assert first.ts_event == 0
        book_ms = DAY0_NS // 1_000_000 + 5_000
        feed._on_ws(BookUpdated(market_id=2, ts_ms=book_ms, offset=1, best_bid=149.99, best_ask=150.01,
                                bids=[(149.99, 5.0)], asks=[(150.01, 5.0)], is_snapshot=True))
        feed._on_ws(Stale(market_id=2, silent_for_s=5.0))
        batch = send()
        assert [(type(e).__name__, e.ts_event) for e in batch.events] == \
            [("BookTop", book_ms * 1_000_000), ("FeedStatus", book_ms * 1_000_000)]
        assert batch.ts_event == book_ms * 1_000_000
        keepalive = send()
        assert keepalive.events == [] and keepalive.ts_event == book_ms * 1_000_000

    run(test)


class OfflineStrategy(StrategyActor):
    """The strategy actor with its start-up replaced: a fresh strategy, no storage, no market time."""

    async def _start(self) -> None:
        from indicators.candles import CandleBuilder
        from strategies.registry import build

        self.strategy = build("rsi_bb", "fast", SOL_DEFAULT, overrides={"size_min": 0.1, "size_max": 0.1},
                              account_index=ACCOUNT)
        self.candles = CandleBuilder(self.strategy.candle_interval_ms)


class VenueHolding:
    """The venue's account answer: a long position the strategy never heard of."""

    async def account(self, account_index: int) -> AccountInfo:
        return AccountInfo(account_index=account_index, collateral=1000.0, available_balance=1000.0,
                           total_asset_value=1000.0,
                           positions=[AccountPosition(market_id=2, symbol="SOL", size=0.1, avg_entry_price=150.0,
                                                      position_value=15.0, unrealized_pnl=0.0, realized_pnl=0.0,
                                                      liquidation_price=0.0, allocated_margin=0.0,
                                                      open_order_count=0, margin_mode=0)])


@pytest.mark.timeout(30)
def test_a_position_taken_from_the_venue_before_any_market_data_gets_the_first_event_s_time(tmp_path: Path) -> None:
    """Taken at start-up it was stamped with the wall clock: a 2026 entry whose time stop never fires
    in a 2025 replay, and a trade that closes before it opened."""
    async def test() -> None:
        actor = OfflineStrategy(ActorContext(name="strategy:fast", settings=settings(tmp_path)))
        actor.peers = actor.sender.peers = RecordingPeers()
        await actor.ready()
        actor.rest = VenueHolding()  # type: ignore[assignment]  # the one call this test needs
        assert await actor._adopt_venue_position() is False  # no market time yet: nothing taken
        assert actor.strategy.status()["position"] is None
        first = DAY0_NS + 3_600 * S
        await actor.on_batch(Batches().encode(top(first)))
        position = actor.strategy.status()["position"]
        assert position is not None and position["side"] == "long" and position["entry_ts_ms"] == first // 10**6

    run(test)


def test_the_feed_treats_offset_jumps_as_gaps_only_on_the_paper_venue(tmp_path: Path) -> None:
    """Lighter's book offsets are not contiguous per market: a live feed that resubscribed on every
    forward jump would spend its day resynchronising (venue/book.py)."""
    paper = settings(tmp_path)
    live = dict(paper, mode="live", strategies=[dict(s, mode="live") for s in paper["strategies"]],
                venue=dict(paper["venue"], url="https://lighter.invalid", ws_url="wss://lighter.invalid/stream"))
    pinned = dict(live, feed=dict(live["feed"], strict_offsets=True))

    async def strictness(data: dict[str, Any]) -> bool:
        return OfflineFeed(ActorContext(name="feed", settings=data)).strict_offsets

    assert asyncio.run(strictness(paper)) is True
    assert asyncio.run(strictness(live)) is False
    assert asyncio.run(strictness(pinned)) is True
