"""The risk actor's pure core: pre-trade checks, kill switch, breakers, positions."""

from __future__ import annotations

import json
from pathlib import Path

import msgspec
import pytest

from risk.breakers import BreakerLimits, CircuitBreaker
from risk.checks import RiskEngine, RiskLimits, StrategyLimits
from risk.positions import PositionBook
from venue.markets import SOL_DEFAULT

DAY_MS = 86_400_000


class Intent(msgspec.Struct, kw_only=True):
    strategy: str = "a"
    account_index: int = 1001
    market_id: int = 2
    side: str = "buy"
    size: float = 0.1
    price: float | None = 150.0
    kind: str = "limit"
    tif: str = "gtt"
    reduce_only: bool = False
    is_exit: bool = False
    worst_price: float | None = None


def engine(**limits) -> RiskEngine:
    risk = RiskEngine(
        {"a": StrategyLimits(account_index=1001, market_id=2, size_max=0.2),
         "b": StrategyLimits(account_index=1002, market_id=2, size_max=0.2)},
        {2: SOL_DEFAULT},
        RiskLimits(**limits),
    )
    risk.on_book_top(2, 149.99, 150.01)
    return risk


def test_a_plain_entry_is_approved() -> None:
    assert engine().check(Intent(), 0.0).approved


def test_a_strategy_only_trades_on_its_own_account() -> None:
    risk = engine()
    decision = risk.check(Intent(account_index=1002), 0.0)
    assert (decision.approved, decision.code) == (False, "wrong_account")
    # even an exit on the wrong account is refused
    risk.on_fill(1002, 2, "buy", 150.0, 0.1)
    assert risk.check(Intent(account_index=1002, side="sell", is_exit=True), 0.0).code == "wrong_account"
    assert risk.check(Intent(strategy="nobody"), 0.0).code == "unknown_strategy"


def test_halt_refuses_entries_but_not_exits_and_resume_restores() -> None:
    risk = engine()
    risk.on_fill(1001, 2, "buy", 150.0, 0.1)
    risk.halt("all", "operator says stop")
    entry = risk.check(Intent(), 0.0)
    assert (entry.code, "operator says stop" in entry.reason) == ("halted", True)
    assert risk.check(Intent(side="sell", is_exit=True, kind="market", tif="ioc",
                             worst_price=149.5, price=None), 0.0).approved
    risk.resume("all")
    assert risk.check(Intent(), 0.0).approved


def test_halting_one_strategy_leaves_the_other_alone() -> None:
    risk = engine()
    risk.halt("a")
    assert risk.check(Intent(), 0.0).code == "halted"
    assert risk.check(Intent(strategy="b", account_index=1002), 0.0).approved


def test_fail_closed_without_a_fresh_book() -> None:
    risk = engine()
    risk.on_feed_status(2, stale=True)
    assert risk.check(Intent(), 0.0).code == "feed_stale"
    risk.on_feed_status(2, stale=False)
    assert risk.check(Intent(), 0.0).approved
    fresh = RiskEngine({"a": StrategyLimits(account_index=1001, market_id=2, size_max=1)}, {2: SOL_DEFAULT})
    assert fresh.check(Intent(), 0.0).code == "feed_stale"


def test_sizes_minimums_and_exits_larger_than_the_position() -> None:
    risk = engine()
    assert risk.check(Intent(size=0.3), 0.0).code == "size"
    assert risk.check(Intent(size=0.06), 0.0).code == "min_size"  # 9 USDC notional
    assert risk.check(Intent(side="sell", is_exit=True), 0.0).code == "not_an_exit"
    risk.on_fill(1001, 2, "buy", 150.0, 0.1)
    assert risk.check(Intent(side="sell", is_exit=True, size=0.2), 0.0).code == "size"
    assert risk.check(Intent(side="buy", is_exit=True), 0.0).code == "not_an_exit"


def test_price_band_post_only_and_slippage() -> None:
    risk = engine(price_band_bps=50, max_slippage_bps=20)
    assert risk.check(Intent(price=150.0 * 1.006), 0.0).code == "price_band"
    assert risk.check(Intent(tif="post_only", price=150.01), 0.0).code == "post_only_cross"
    assert risk.check(Intent(tif="post_only", side="sell", price=149.99), 0.0).code == "post_only_cross"
    assert risk.check(Intent(tif="post_only", price=150.0), 0.0).approved
    market = Intent(kind="market", tif="ioc", price=None, worst_price=150.0 * 1.003)
    assert risk.check(market, 0.0).code == "slippage"
    assert risk.check(Intent(kind="market", tif="ioc", price=None, worst_price=150.2), 0.0).approved


def test_net_exposure_cap_counts_every_account_but_lets_reductions_through() -> None:
    risk = engine(max_net_notional=40.0)
    risk.on_fill(1002, 2, "buy", 150.0, 0.2)  # strategy b is long 30 USDC
    decision = risk.check(Intent(size=0.1), 0.0)  # a would add 15 more: 45 > 40
    assert decision.code == "net_exposure"
    assert risk.check(Intent(side="sell", size=0.1), 0.0).approved  # a short nets it down


def test_order_rate_limit_per_account_in_a_sliding_minute() -> None:
    risk = engine(order_rate_per_min=3)
    assert all(risk.check(Intent(), t).approved for t in (0.0, 1.0, 2.0))
    assert risk.check(Intent(), 3.0).code == "rate_limit"
    assert risk.check(Intent(strategy="b", account_index=1002), 3.0).approved  # another account
    assert risk.check(Intent(), 60.5).approved  # the first send left the window


def test_breaker_trips_on_consecutive_losses_and_only_blocks_entries() -> None:
    risk = RiskEngine({"a": StrategyLimits(account_index=1001, market_id=2, size_max=1)}, {2: SOL_DEFAULT},
                      breaker_limits=BreakerLimits(max_consecutive_losses=3))
    risk.on_book_top(2, 149.99, 150.01)
    reasons = [risk.on_trade_closed("a", -1.0, 1_000 + i) for i in range(3)]
    assert reasons == [None, None, "consecutive_losses"]
    assert risk.check(Intent(), 0.0).code == "breaker"
    risk.on_fill(1001, 2, "buy", 150.0, 0.1)
    assert risk.check(Intent(side="sell", is_exit=True), 0.0).approved
    risk.resume("a")
    assert risk.check(Intent(), 0.0).approved


def test_daily_loss_resets_at_utc_midnight_but_drawdown_does_not() -> None:
    breaker = CircuitBreaker("a", 1000.0, BreakerLimits(daily_loss_pct=2.0, max_drawdown_pct=5.0,
                                                         max_consecutive_losses=99))
    day0 = 20_000 * DAY_MS
    assert breaker.on_trade_closed(-15.0, day0 + 1) is None
    assert breaker.on_trade_closed(-6.0, day0 + 2) == "daily_loss"  # 21 >= 2% of 1000
    breaker.on_time(day0 + DAY_MS)  # next UTC day: the daily loss trip clears
    assert not breaker.tripped
    assert breaker.on_trade_closed(-19.0, day0 + DAY_MS + 1) is None  # day loss 19 < 2% of 979
    assert breaker.on_trade_closed(-11.0, day0 + DAY_MS + 2) == "daily_loss"
    breaker.on_time(day0 + 2 * DAY_MS)
    assert breaker.on_trade_closed(-5.0, day0 + 2 * DAY_MS + 1) == "drawdown"  # 949 <= 950
    breaker.on_time(day0 + 3 * DAY_MS)
    assert breaker.tripped_reason == "drawdown"


def test_breakers_and_kill_switch_survive_a_restart() -> None:
    risk = engine()
    for i in range(5):
        risk.on_trade_closed("a", -1.0, 1_000 + i)
    risk.halt("b", "manual")
    risk.on_fill(1001, 2, "buy", 150.0, 0.1)
    state = json.loads(json.dumps(risk.to_state()))
    again = engine()
    again.restore(state)
    assert again.check(Intent(), 0.0).code == "breaker"
    assert again.check(Intent(strategy="b", account_index=1002), 0.0).code == "halted"
    assert again.positions.get(1001, 2).size == pytest.approx(0.1)


def test_flatten_halts_and_returns_reduce_only_closes() -> None:
    risk = engine()
    risk.on_fill(1001, 2, "buy", 150.0, 0.1)
    risk.on_fill(1002, 2, "sell", 150.0, 0.2)
    closes = {c["strategy"]: c for c in risk.flatten("all")}
    assert closes["a"]["side"] == "sell" and closes["a"]["size"] == pytest.approx(0.1)
    assert closes["a"]["worst_price"] < 150.0 < closes["b"]["worst_price"]
    assert closes["b"]["side"] == "buy" and closes["b"]["size"] == pytest.approx(0.2)
    assert risk.check(Intent(), 0.0).code == "halted"


def test_positions_from_fills_average_realize_flip_and_dedupe() -> None:
    book = PositionBook()
    book.on_fill(1, 2, True, 100.0, 1.0, trade_id=1)
    book.on_fill(1, 2, True, 110.0, 1.0, trade_id=2)
    assert not book.on_fill(1, 2, True, 110.0, 1.0, trade_id=2)  # a duplicate trade id
    pos = book.get(1, 2)
    assert (pos.size, pos.avg_entry) == (2.0, 105.0)
    book.on_fill(1, 2, False, 120.0, 3.0, trade_id=3)  # closes 2 at +15 each, opens 1 short
    assert pos.realized_pnl == pytest.approx(30.0)
    assert (pos.size, pos.avg_entry) == (-1.0, 120.0)


def test_reconcile_adopts_the_venue_and_reports_each_mismatch() -> None:
    book = PositionBook()
    book.on_fill(1, 2, True, 100.0, 1.0)
    mismatches = book.reconcile(1, {2: (0.5, 101.0), 0: (-0.01, 2000.0)})
    assert {(m.market_id, m.ours, m.venue) for m in mismatches} == {(2, 1.0, 0.5), (0, 0.0, -0.01)}
    assert (book.get(1, 2).size, book.get(1, 2).avg_entry) == (0.5, 101.0)
    assert book.reconcile(1, {2: (0.5, 101.0), 0: (-0.01, 2000.0)}) == []


def test_a_breaker_tripped_before_the_day_rolled_reads_the_same_after_a_restart() -> None:
    # the risk actor stores the daily loss (= -daily pnl) and restores daily pnl = -loss: a fresh
    # day's 0.0 must not come back as -0.0 ("day pnl -0.00"): SQLite keeps a REAL -0.0 as 0
    from actors.risk import breaker_from_message, breaker_to_message
    from risk.breakers import MS_PER_DAY

    limits = BreakerLimits(max_consecutive_losses=1)
    breaker = CircuitBreaker("a", 1000.0, limits)
    day0 = 20_000 * MS_PER_DAY
    breaker.on_time(day0)
    assert breaker.on_trade_closed(-3.0, day0 + 1_000) == CircuitBreaker.CONSECUTIVE_LOSSES
    breaker.on_time(day0 + MS_PER_DAY)  # the next UTC day: the day's pnl is 0.0, the trip stays
    stored = breaker_to_message(breaker, ts_event=1, seq=1)
    for daily_loss in (stored.daily_loss, 0.0, -0.0):  # as sent, and as SQLite may give it back
        restored = breaker_from_message(msgspec.structs.replace(stored, daily_loss=daily_loss), limits)
        assert restored.describe() == breaker.describe() == \
            "consecutive_losses (equity 997.00, peak 1000.00, day pnl 0.00, losses in a row 1)"


# --- event time (DESIGN invariant 6) -----------------------------------------------------------
WALL_2026_S = 1_780_000_000.0  # a wall clock of 2026: later than every event of the 2025 data
EVENT_2025_S = 1_746_316_800.0  # 2025-05-04 00:00 UTC, the start of the shared SOL candles


def test_a_wall_clock_stamp_in_the_rate_window_does_not_freeze_it_for_event_time() -> None:
    # one order judged at the wall clock (as a wall-stamped status once made risk's clock) must
    # not hold its place in the window for the rest of a 2025 replay
    risk = engine(order_rate_per_min=3)
    assert risk.check(Intent(), WALL_2026_S).approved
    approved = [risk.check(Intent(), EVENT_2025_S + 30.0 * i).approved for i in range(20)]  # 2 a minute
    assert all(approved), approved


def test_the_rate_window_still_counts_when_event_time_steps_back_a_little() -> None:
    risk = engine(order_rate_per_min=2)
    assert risk.check(Intent(), EVENT_2025_S + 10.0).approved
    assert risk.check(Intent(), EVENT_2025_S + 20.0).approved
    assert risk.check(Intent(), EVENT_2025_S + 15.0).code == "rate_limit"  # out of order, same minute
    assert risk.check(Intent(), EVENT_2025_S + 70.5).approved


def test_a_loss_reported_after_midnight_counts_toward_the_new_day_without_restarting_the_old() -> None:
    breaker = CircuitBreaker("a", 1000.0, BreakerLimits(daily_loss_pct=2.0, max_consecutive_losses=99,
                                                         max_drawdown_pct=99.0))
    day1 = 20_000 * DAY_MS + DAY_MS
    breaker.on_time(day1 + 5_000)  # market data of the new day arrived first
    assert breaker.on_trade_closed(-15.0, day1 - 2_000) is None  # closed at 23:59:58 the day before
    assert breaker.day == day1 // DAY_MS
    assert breaker.on_trade_closed(-6.0, day1 + 10_000) == "daily_loss"  # 21 in the day >= 2% of 1000


def test_the_daily_loss_trip_clears_on_the_event_days_roll_and_says_so() -> None:
    breaker = CircuitBreaker("a", 1000.0, BreakerLimits(daily_loss_pct=2.0))
    day0 = 20_000 * DAY_MS
    assert breaker.on_trade_closed(-25.0, day0 + 1) == "daily_loss"
    assert breaker.on_time(day0 + DAY_MS - 1) is False  # the same day
    assert breaker.on_time(day0 + DAY_MS) is True and not breaker.tripped
    assert breaker.on_time(day0 + 2 * DAY_MS) is False  # nothing left to clear


def test_state_from_a_later_timeline_yields_to_the_first_event_time_after_a_restore() -> None:
    # a breaker stored while trading in 2026, restored for a replay of 2025: the replay's days count
    breaker = CircuitBreaker("a", 1000.0, BreakerLimits(daily_loss_pct=2.0))
    breaker.on_trade_closed(-25.0, int(WALL_2026_S * 1000))
    restored = CircuitBreaker.from_state(json.loads(json.dumps(breaker.to_state())))
    assert restored.tripped_reason == "daily_loss"
    event_ms = int(EVENT_2025_S * 1000)
    assert restored.on_time(event_ms) is True and restored.day == event_ms // DAY_MS
    restored.on_trade_closed(-5.0, event_ms + 1_000)
    restored.on_time(event_ms - DAY_MS)  # once running, the day never goes back
    assert restored.day == event_ms // DAY_MS and restored.daily_pnl == -5.0


def test_risk_engine_reports_whose_daily_trip_a_new_day_cleared() -> None:
    risk = engine()
    day0 = 20_000 * DAY_MS
    risk.on_time(day0)
    assert risk.on_trade_closed("a", -250.0, day0 + 1) == "daily_loss"
    assert risk.on_time(day0 + 1_000) == []
    assert risk.on_time(day0 + DAY_MS) == ["a"]
    assert risk.check(Intent(), 0.0).approved


def test_a_strategy_with_breakers_of_its_own_keeps_them_and_the_others_keep_the_engines() -> None:
    own = BreakerLimits(max_consecutive_losses=50)
    risk = RiskEngine({"maker": StrategyLimits(account_index=1001, market_id=2, size_max=1, breakers=own),
                       "other": StrategyLimits(account_index=1002, market_id=2, size_max=1)}, {2: SOL_DEFAULT},
                      breaker_limits=BreakerLimits(max_consecutive_losses=3))
    for name in ("maker", "other"):
        reasons = [risk.on_trade_closed(name, -0.001, 1_000 + i) for i in range(3)]
        assert reasons[-1] == (None if name == "maker" else "consecutive_losses")
    assert risk.breakers["maker"].limits is own


def test_a_tiered_account_spends_one_budget_a_minute_on_orders_and_cancels_alike() -> None:
    risk = RiskEngine({"a": StrategyLimits(account_index=1001, market_id=2, size_max=0.2, tx_per_minute=3),
                       "b": StrategyLimits(account_index=1002, market_id=2, size_max=0.2)},
                      {2: SOL_DEFAULT}, RiskLimits(order_rate_per_min=2, cancel_rate_per_min=2))
    risk.on_book_top(2, 149.99, 150.01)
    answers = [risk.check(Intent(), 1.0).code, risk.check_cancel("a", 1001, 2.0).code, risk.check(Intent(), 3.0).code]
    assert answers == ["", "", ""]  # three transactions: the tier's budget, not risk's two orders a minute
    assert risk.check_cancel("a", 1001, 4.0).code == "rate_limit"
    assert risk.check(Intent(), 62.0).approved  # a minute on, the budget is back
    other = [risk.check(Intent(strategy="b", account_index=1002), t).code for t in (1.0, 2.0, 3.0)]
    assert other == ["", "", "rate_limit"]  # an account without a tier keeps risk's own limits


def test_the_tier_of_an_account_comes_from_the_paper_venue_or_the_live_strategy() -> None:
    from config.settings import AppSettings
    from tests.ray_fixtures import settings_data, strategy_entry

    data = settings_data(Path("/tmp"), strategies=[strategy_entry("a", 2001), strategy_entry("b", 2002)])
    data["venue"]["sim"].update(default_tier="standard", account_tiers={2002: "premium"})
    paper = AppSettings.model_validate(data)
    assert (paper.account_tier(2001), paper.account_tier(2002)) == ("standard", "premium")
    live = dict(data, mode="live", venue={"url": "https://mainnet.zklighter.elliot.ai",
                                          "ws_url": "wss://mainnet.zklighter.elliot.ai/stream"})
    live["strategies"] = [dict(strategy_entry("a", 2001), account_tier="premium", mode="live"),
                          dict(strategy_entry("b", 2002), mode="live")]  # a live profile runs live strategies
    settings = AppSettings.model_validate(live)
    assert (settings.account_tier(2001), settings.account_tier(2002)) == ("premium", "standard")
