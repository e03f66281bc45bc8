"""The shared strategy machinery: sizing, slippage prices, adaptive rules, streaks, the trade
record, the one-position/one-pending-order loop. Also the small path helpers the strategy tests
import (feeding mids at chosen event times and filling every action at once)."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

import msgspec
import pytest

from indicators.candles import Candle
from strategies.base import Action
from strategies.common import (
    CommonParams,
    DirectionalStrategy,
    EntrySignal,
    LosingStreak,
    OpenPosition,
    adaptive_adjustment,
    bps_stop_or_target,
    quantize_entry_size,
    worst_price,
)
from venue.markets import SOL_DEFAULT

pytestmark = pytest.mark.timeout(10)

T0 = 1_746_000_000_000 - 1_746_000_000_000 % 900_000  # aligned to every candle interval used


# ---------------------------------------------------------------------------------------------
# Helpers shared with the strategy tests
# ---------------------------------------------------------------------------------------------


class Harness:
    """Feeds a strategy and fills each action at once, at the mid (or `fill_price`), fee 0."""

    def __init__(self, strategy: Any, *, fill: bool = True, fee: float = 0.0) -> None:
        self.s = strategy
        self.fill = fill
        self.fee = fee
        self.actions: list[tuple[int, Action]] = []
        self.ts = 0
        self.price = 0.0

    def mid(self, ts: int, price: float, fill_price: float | None = None) -> list[Action]:
        self.ts, self.price = ts, price
        out = self.s.on_mid(ts, price)
        for a in out:
            self.actions.append((ts, a))
            if self.fill:
                self.s.on_fill(ts, a.side, fill_price if fill_price is not None else price, a.size, self.fee, a.is_exit)
        return out

    def reasons(self) -> list[str]:
        return [a.reason for _, a in self.actions]


def bisect_boundary(entered: Callable[[float], bool], lo: float, hi: float, iterations: int = 40) -> tuple[float, float]:
    """(x_no, x_yes) a hair apart where entered() flips from False (at lo) to True (at hi)."""
    assert not entered(lo), f"the family already enters at {lo}"
    assert entered(hi), f"the family does not enter at {hi}"
    for _ in range(iterations):
        mid = (lo + hi) / 2
        if entered(mid):
            hi = mid
        else:
            lo = mid
    return lo, hi


# ---------------------------------------------------------------------------------------------
# A minimal strategy to drive the machinery: enters when told, bps exits
# ---------------------------------------------------------------------------------------------


class ScriptParams(CommonParams, frozen=True, kw_only=True):
    take_profit_bps: float = 10.0
    stop_loss_bps: float = 10.0
    max_hold_s: int = 300


class ScriptStrategy(DirectionalStrategy):
    kind = "script"
    params_type = ScriptParams
    params: ScriptParams

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.want: str | None = None  # "buy"/"sell": enter on the next event

    @property
    def candle_interval_ms(self) -> int:
        return 15_000

    def _on_candle(self, candle: Candle) -> None:
        pass

    def warmup_needed(self) -> int:
        return 0

    def _entry_signal(self, ts_ms: int, mid: float) -> EntrySignal | None:
        if self.want is None:
            return None
        return EntrySignal(self.want, {"marker": 1.0}, {})  # type: ignore[arg-type]

    def _exit_reason(self, ts_ms: int, mid: float, pos: OpenPosition) -> str | None:
        p = self.params
        hit = bps_stop_or_target(pos, mid, p.stop_loss_bps, p.take_profit_bps)
        if hit:
            return hit
        if ts_ms - pos.entry_ts_ms >= p.max_hold_s * 1000:
            return "time_stop"
        return None

    def _features_state(self) -> dict[str, Any]:
        return {"want": self.want}

    def _load_features_state(self, state: dict[str, Any]) -> None:
        self.want = state["want"]


def script(**overrides: Any) -> ScriptStrategy:
    return ScriptStrategy("script", SOL_DEFAULT, msgspec.convert(overrides, ScriptParams), account_index=7)


def feed_volatility(h: Harness, returns_bps: list[float], start: int = T0, price: float = 150.0) -> int:
    """One mid per 15-s volatility candle with the given returns; returns the next free time."""
    t = start
    h.mid(t, price)
    for r in returns_bps:
        price *= 1 + r / 1e4
        t += 15_000
        h.mid(t, price)
    return t + 15_000


# ---------------------------------------------------------------------------------------------
# Sizing and prices
# ---------------------------------------------------------------------------------------------


def test_worst_price_is_within_the_slippage_cap_on_the_tick() -> None:
    buy = worst_price(SOL_DEFAULT, "buy", 150.0, 10.0)
    sell = worst_price(SOL_DEFAULT, "sell", 150.0, 10.0)
    assert buy == 150.15 and sell == 149.85
    odd = worst_price(SOL_DEFAULT, "buy", 150.0007, 10.0)  # 150.1507.. rounds down, never above the cap
    assert odd == 150.150 and odd <= 150.0007 * 1.001
    assert worst_price(SOL_DEFAULT, "sell", 150.0007, 10.0) == 149.851


def test_entry_size_is_clamped_quantised_and_never_below_the_market_minimums() -> None:
    assert quantize_entry_size(SOL_DEFAULT, 0.1234, 0.05, 0.2, 150.0) == 0.123
    assert quantize_entry_size(SOL_DEFAULT, 0.5, 0.05, 0.2, 150.0) == 0.2
    assert quantize_entry_size(SOL_DEFAULT, 0.01, 0.1, 0.2, 150.0) == 0.1
    # 0.06 SOL is above min_base_amount 0.05 but 9 quote is below min_quote_amount 10
    assert quantize_entry_size(SOL_DEFAULT, 0.06, 0.01, 0.2, 150.0) is None
    assert quantize_entry_size(SOL_DEFAULT, 0.067, 0.01, 0.2, 150.0) == 0.067  # 10.05 quote
    assert quantize_entry_size(SOL_DEFAULT, 0.049, 0.01, 0.2, 1000.0) is None  # below 0.05 SOL


# ---------------------------------------------------------------------------------------------
# Adaptive rules
# ---------------------------------------------------------------------------------------------


def test_volatility_bands_including_the_gaps_and_boundaries() -> None:
    p = CommonParams()
    assert adaptive_adjustment(8.01, p)[:4] == ("high", 1.0, 1.2, 1.1)
    assert adaptive_adjustment(1.99, p)[:4] == ("low", 0.7, 0.9, 1.0)
    for normal in (2.0, 2.5, 3.0, 4.5, 6.0, 7.0, 8.0):
        assert adaptive_adjustment(normal, p)[:4] == ("normal", 1.0, 1.0, 1.0), normal
    assert adaptive_adjustment(None, p).regime == "unknown"
    assert adaptive_adjustment(20.0, CommonParams(adaptive=False))[1:] == (1.0, 1.0, 1.0)


def test_losing_streak_sizes_pauses_and_resets() -> None:
    p = CommonParams()
    st = LosingStreak()
    st.record(-1.0, 1_000, p)
    assert st.size_mult(p) == 1.0 and not st.in_streak(p)
    st.record(-1.0, 2_000, p)
    assert st.size_mult(p) == 0.8 and st.in_streak(p) and not st.paused(2_000)
    st.record(0.0, 2_500, p)  # breakeven: neither win nor loss
    assert st.losses == 2
    st.record(-1.0, 3_000, p)
    assert st.paused(3_000 + 299_999) and not st.paused(3_000 + 300_000)
    st.record(0.5, 400_000, p)
    assert st.losses == 0 and st.size_mult(p) == 1.0


# ---------------------------------------------------------------------------------------------
# The event loop through a scripted strategy
# ---------------------------------------------------------------------------------------------


def _round_trip(h: Harness, t: int, entry: float, exit_price: float, side: str = "buy") -> int:
    h.s.want = side
    assert h.mid(t, entry)[0].reason == ("entry_long" if side == "buy" else "entry_short")
    h.s.want = None
    out = h.mid(t + 1_000, exit_price)
    assert out and out[0].is_exit
    return t + 2_000


def test_trade_record_pnl_fees_mfe_mae_and_context() -> None:
    s = script()
    h = Harness(s, fee=0.01)
    s.want = "buy"
    t = T0
    (entry,) = h.mid(t, 150.0)
    assert (entry.side, entry.size, entry.kind, entry.tif, entry.reduce_only, entry.is_exit) == (
        "buy", 0.1, "market", "ioc", False, False
    )
    assert entry.price == 150.15  # the mid plus 10 bps
    s.want = None
    h.mid(t + 1_000, 150.09)  # +6 bps best
    h.mid(t + 2_000, 149.94)  # -4 bps worst
    (exit_,) = h.mid(t + 3_000, 150.15)  # +10 bps: take profit
    assert exit_.reason == "take_profit" and exit_.reduce_only and exit_.is_exit and exit_.side == "sell"
    (rec,) = s.closed_trades()
    assert s.closed_trades() == []  # drained
    assert rec.side == "long" and rec.entry_price == 150.0 and rec.exit_price == 150.15
    assert rec.entry_ts == t * 1_000_000 and rec.exit_ts == rec.ts_event == (t + 3_000) * 1_000_000
    assert rec.fees == pytest.approx(0.02)
    assert rec.pnl_quote == pytest.approx(0.015 - 0.02)
    assert rec.pnl_pct == pytest.approx((0.015 - 0.02) / 15.0 * 100)
    assert rec.mfe_bps == pytest.approx(10.0) and rec.mae_bps == pytest.approx(4.0)
    assert rec.exit_reason == "take_profit" and rec.account_index == 7 and rec.market_id == 2
    assert rec.entry_context["marker"] == 1.0 and "size_mult" in rec.entry_context
    json.loads(msgspec.json.encode(rec))  # the record is valid JSON (no NaN)


def test_short_round_trip_pnl() -> None:
    s = script()
    h = Harness(s)
    _round_trip(h, T0, 150.0, 150.15, side="sell")  # +10 bps against a short: stop loss
    (rec,) = s.closed_trades()
    assert rec.side == "short" and rec.exit_reason == "stop_loss"
    assert rec.pnl_quote == pytest.approx(-0.015) and rec.mae_bps == pytest.approx(10.0)


def test_stop_loss_is_measured_from_entry_not_from_the_peak() -> None:
    s = script(take_profit_bps=1000.0)
    h = Harness(s)
    s.want = "buy"
    h.mid(T0, 150.0)
    s.want = None
    assert h.mid(T0 + 1_000, 150.45) == []  # +30 bps peak
    assert h.mid(T0 + 2_000, 150.0 * (1 - 9.9e-4)) == []  # 40 bps off the peak, 9.9 from entry
    (out,) = h.mid(T0 + 3_000, 150.0 * (1 - 10e-4))
    assert out.reason == "stop_loss"


def test_no_new_action_while_pending_and_done_clears_it_after_the_backoff() -> None:
    s = script()
    h = Harness(s, fill=False)
    s.want = "buy"
    assert len(h.mid(T0, 150.0)) == 1
    assert h.mid(T0 + 1_000, 150.0) == []  # pending
    s.on_order_done("rejected", 21730)
    assert h.mid(T0 + 1_999, 150.0) == []  # back-off of 1 s from the last event (T0 + 1 s)
    assert len(h.mid(T0 + 2_000, 150.0)) == 1
    assert s.status()["pending"]["reason"] == "entry_long"


def test_partial_fills_keep_the_order_pending_and_an_exit_is_resent_until_flat() -> None:
    s = script(size_min=0.2, size_max=0.2)
    s.want = "buy"
    (a,) = s.on_mid(T0, 150.0)
    s.on_fill(T0, "buy", 150.0, 0.15, 0.0, False)
    assert s.status()["pending"] is not None and s.on_mid(T0 + 1, 150.0) == []
    s.on_fill(T0 + 2, "buy", 150.3, 0.05, 0.0, False)  # the rest, at another price
    assert s.status()["pending"] is None
    assert s.status()["position"]["entry_price"] == pytest.approx((150.0 * 0.15 + 150.3 * 0.05) / 0.2)
    s.want = None
    (ex,) = s.on_mid(T0 + 1_000, 148.0)
    assert ex.reason == "stop_loss" and ex.size == 0.2
    s.on_fill(T0 + 1_000, "sell", 148.0, 0.12, 0.0, True)
    s.on_order_done("canceled", 0)  # the IOC rest
    assert s.on_mid(T0 + 1_500, 160.0) == []  # back-off
    (again,) = s.on_mid(T0 + 2_000, 160.0)  # far in profit now, but the stop is still being executed
    assert again.reason == "stop_loss" and again.size == 0.08
    s.on_fill(T0 + 2_000, "sell", 160.0, 0.08, 0.0, True)
    (rec,) = s.closed_trades()
    assert rec.size == 0.2 and rec.exit_price == pytest.approx((148.0 * 0.12 + 160.0 * 0.08) / 0.2)
    assert rec.exit_reason == "stop_loss"


def test_allow_entries_false_blocks_entries_but_not_exits() -> None:
    s = script()
    h = Harness(s)
    s.want = "buy"
    h.mid(T0, 150.0)
    s.allow_entries(False)
    s.want = None
    (ex,) = h.mid(T0 + 1_000, 150.15)
    assert ex.reason == "take_profit"
    s.want = "buy"
    assert h.mid(T0 + 2_000, 150.0) == [] and s.status()["last_skip"] == "entries_halted"
    s.allow_entries(True)
    assert h.mid(T0 + 3_000, 150.0)[0].reason == "entry_long"


def test_exits_come_before_entries_and_one_position_at_a_time() -> None:
    s = script()
    h = Harness(s)
    s.want = "buy"
    h.mid(T0, 150.0)
    assert h.mid(T0 + 1_000, 150.01) == []  # an entry signal while in a position: nothing
    (ex,) = h.mid(T0 + 2_000, 150.15)  # exit and entry both due: the exit goes
    assert ex.is_exit
    assert len(s.closed_trades()) == 1


def test_losing_streak_reduces_size_then_pauses_for_five_minutes_of_event_time() -> None:
    s = script(size_min=0.05, size_max=0.2)
    h = Harness(s)
    t = _round_trip(h, T0, 150.0, 149.85)
    t = _round_trip(h, t, 150.0, 149.85)
    s.want = "buy"
    (a,) = h.mid(t, 150.0)
    assert a.size == 0.16  # 0.2 x 0.8
    s.want = None
    h.mid(t + 1_000, 149.85)  # third loss at t + 1 s
    s.want = "buy"
    assert h.mid(t + 1_000 + 299_999, 150.0) == [] and s.status()["last_skip"] == "streak_pause"
    (b,) = h.mid(t + 1_000 + 300_000, 150.0)
    assert b.size == 0.16
    s.want = None
    h.mid(t + 302_000, 150.15)  # a win resets
    s.want = "buy"
    (c,) = h.mid(t + 303_000, 150.0)
    assert c.size == 0.2


def test_low_volatility_shrinks_size_and_a_streak_skips_it() -> None:
    s = script(size_min=0.05, size_max=0.2)
    h = Harness(s)
    t = feed_volatility(h, [1.0, -1.0] * 12)  # std 1 bps: low
    assert s.status()["volatility_bps"] == pytest.approx(1.0, rel=1e-6)
    s.want = "buy"
    (a,) = h.mid(t, 150.0)
    assert a.size == 0.14  # 0.2 x 0.7
    s.want = None
    h.mid(t + 1_000, 150.0 * (1 - 9.0e-4))  # stop at 10 x 0.9 bps
    assert s.closed_trades()[0].exit_reason == "stop_loss"
    s.want = "buy"
    h.mid(t + 2_000, 150.0)
    s.want = None
    h.mid(t + 3_000, 149.0)
    s.want = "buy"
    assert h.mid(t + 4_000, 150.0) == [] and s.status()["last_skip"] == "streak_low_vol"


def test_high_volatility_widens_the_stop_by_1_2_and_the_take_profit_by_1_1() -> None:
    def run(move_bps: float) -> list[str]:
        s = script()
        h = Harness(s)
        t = feed_volatility(h, [10.0, -10.0] * 12)  # std 10 bps: high
        s.want = "buy"
        h.mid(t, 150.0)
        s.want = None
        h.mid(t + 1_000, 150.0 * (1 + move_bps / 1e4))
        return h.reasons()[1:]

    assert run(-11.99) == [] and run(-12.0) == ["stop_loss"]
    assert run(10.99) == [] and run(11.0) == ["take_profit"]


def test_time_stop() -> None:
    for dt, expected in ((299_999, []), (300_000, ["time_stop"])):
        s = script()
        h = Harness(s)
        s.want = "buy"
        h.mid(T0, 150.0)
        s.want = None
        h.mid(T0 + dt, 150.0)
        assert h.reasons()[1:] == expected


def test_bad_input_is_dropped_not_raised() -> None:
    s = script()
    assert s.on_mid(T0, math.nan) == [] and s.on_mid(T0, -1.0) == []
    s.on_mid(T0 + 1_000, 150.0)
    assert s.on_mid(T0, 150.0) == []  # older than the last event
    assert s.on_trade(T0 + 2_000, 150.0, math.inf) == []
    assert s.on_fill(T0, "buy", math.nan, 0.1, 0.0, False) == []
    assert s.status()["dropped_events"] == 5


def test_exit_below_the_market_minimum_is_not_emitted() -> None:
    s = script()
    s.want = "buy"
    s.on_mid(T0, 150.0)
    s.on_fill(T0, "buy", 150.0, 0.03, 0.0, False)  # partial entry below the minimum size
    s.on_order_done("canceled", 0)
    s.want = None
    assert s.on_mid(T0 + 5_000, 140.0) == []
    assert s.status()["last_skip"] == "exit_below_minimum" and s.status()["position"]["size"] == 0.03


def test_the_venues_position_is_adopted_when_ours_differs() -> None:
    s = script()
    h = Harness(s)
    s.want = "buy"
    h.mid(T0, 150.0)
    s.want = None
    assert s.status()["position"]["size"] == 0.1
    # the same position: nothing to do
    assert s.adopt_position(T0 + 1_000, 0.1, 150.0) is False
    # the venue holds more of it (a fill we never heard of): the size follows, the entry stays ours
    assert s.adopt_position(T0 + 1_000, 0.3, 151.0) is True
    assert s.status()["position"]["size"] == 0.3 and s.status()["position"]["entry_price"] == 150.0
    # flat at the venue (liquidated, closed by hand): gone, without a trade whose exit is unknown
    assert s.adopt_position(T0 + 2_000, 0.0, 0.0) is True
    assert s.status()["position"] is None and s.closed_trades() == []
    assert h.mid(T0 + 3_000, 140.0) == []  # no exit for a position that is not there
    # a short opened by hand: adopted at the venue's entry, and the strategy's exits manage it
    assert s.adopt_position(T0 + 4_000, -0.2, 140.0) is True
    assert s.status()["position"]["side"] == "short" and s.status()["position"]["entry_price"] == 140.0
    (stop,) = h.mid(T0 + 5_000, 140.0 * 1.0011)  # 11 bps against the short: its stop loss
    assert (stop.side, stop.size, stop.reason, stop.reduce_only) == ("buy", 0.2, "stop_loss", True)
    (rec,) = s.closed_trades()
    assert rec.side == "short" and rec.entry_price == 140.0 and rec.exit_reason == "stop_loss"
    assert s.status()["adopted"] == 3


def test_no_adoption_while_an_order_is_pending() -> None:
    s = script()
    s.want = "buy"
    (entry,) = s.on_mid(T0, 150.0)  # sent, no fill yet: its fill may still be on its way
    assert s.adopt_position(T0 + 1, 0.1, 150.0) is False and s.status()["position"] is None
    s.on_order_done("canceled")
    assert s.adopt_position(T0 + 2, 0.1, 150.0) is True


def test_a_breakout_position_it_did_not_open_gets_exits_from_its_entry() -> None:
    from strategies.registry import build

    s = build("breakout", "b", SOL_DEFAULT, account_index=7)
    assert s.warmup_needed() > 0  # no ATR yet: the widest one it would enter on stands in
    assert s.adopt_position(T0, 0.1, 150.0) is True
    assert s.on_mid(T0 + 1_000, 150.1) == []
    (stop,) = s.on_mid(T0 + 2_000, 150.0 * (1 - 1.5 * 15 / 1e4) - 0.01)  # 1.5 ATR of 15 bps below
    assert stop.reason == "stop_loss" and stop.side == "sell"


def test_snapshot_is_json_and_restores_identically() -> None:
    s = script()
    h = Harness(s)
    feed_volatility(h, [3.0, -2.0] * 12)
    s.want = "buy"
    h.mid(T0 + 400_000, 150.0)
    snap = json.loads(json.dumps(s.snapshot()))
    assert not s.snapshot_due()
    twin = script()
    twin.restore(snap)
    assert twin.snapshot() == s.snapshot()
    for t, p in ((T0 + 401_000, 150.05), (T0 + 420_000, 150.2)):
        assert twin.on_mid(t, p) == s.on_mid(t, p)
    with pytest.raises(ValueError):
        twin.restore({**snap, "kind": "other"})


# ---------------------------------------------------------------------------------------------
# Warm-up from closed candles (the venue's candles endpoint)
# ---------------------------------------------------------------------------------------------


def _candles(n: int, interval: int, start: int = T0, price: float = 150.0) -> list[Candle]:
    out = []
    for i in range(n):
        p = price * (1 + 0.01 * math.sin(i / 5))
        out.append(Candle(start + i * interval, p, p * 1.001, p * 0.999, p * 1.0002, 1.0))
    return out


def test_warmup_fills_the_candles_a_strategy_needs_and_checks_their_spacing() -> None:
    from strategies.breakout import BreakoutStrategy
    from strategies.registry import build

    s = build("breakout", "b", SOL_DEFAULT)
    assert isinstance(s, BreakoutStrategy)
    assert s.warmup_needed() == 50
    candles = _candles(50, 900_000)
    with pytest.raises(ValueError, match="900000 ms apart"):
        s.warmup(candles[:10] + candles[11:])
    s.warmup(candles[:30])
    assert s.warmup_needed() == 20
    s.warmup(candles)  # the 30 already seen are skipped
    assert s.warmup_needed() == 0 and s.status()["warmup_needed"] == 0
    assert s.entry_checks("buy") is not None


def test_renko_warmup_builds_bricks_and_the_atr_from_one_minute_candles() -> None:
    from strategies.registry import build
    from strategies.renko_ao import RenkoAoStrategy

    s = build("renko_ao", "r", SOL_DEFAULT)
    assert isinstance(s, RenkoAoStrategy)
    assert s.warmup_needed() == 240
    s.warmup(_candles(240, 60_000))
    assert s._atr.ready and s._brick_count > 34 and s._ao.ready
    assert s.warmup_needed() == 0
