"""breakout: every entry and exit rule, each with a path that triggers it and a nearly identical
path that does not.

Paths are one mid per 15-minute candle, returns in bps, 63 candles (the strategy needs 50).
Each entry family differs only in the last candle's return x (or a scale of the whole path);
bisection finds the two x a hair apart where the entry flips, and on the side that does not
enter every rule holds except the one under test (entry_checks()). The prefixes were found by a
search over zig-zag segments (up, down) x count; entries are halted until the candle under
test so the prefix cannot trade."""

from __future__ import annotations

from typing import Any

import pytest

from strategies.registry import build
from tests.test_strategy_common import T0, Harness, bisect_boundary
from venue.markets import SOL_DEFAULT

pytestmark = pytest.mark.timeout(10)
INTERVAL = 900_000


def zigzag(*segments: tuple[float, float, int]) -> list[float]:
    out: list[float] = []
    for up, down, n in segments:
        out += [up, down] * n
    return out[-62:]


FAMILIES = {
    "rsi": zigzag((-3, 1, 13), (10, -8, 13), (3, -3, 14)),
    "ema_trend": zigzag((4, -2, 13), (-4, 3, 12), (3, -3, 13)),
    "breakout": zigzag((2, -1, 10), (6, -4, 7), (2, -1, 15), (6, -4, 11)),
    "atr_expanding": zigzag((2, -1, 9), (12, -2, 12), (-6, 2, 8), (4, -2, 15)),
    "macd": [8.0, -3.0] * 15 + [5.0, -5.0] * 15,
}
BOUNDS = {"rsi": (12, 15), "ema_trend": (27, 30), "breakout": (3, 6), "atr_expanding": (3, 6), "macd": (20, 30)}


def feed(returns_bps: list[float], *, over: dict[str, Any] | None = None, start: float = 150.0) -> Harness:
    h = Harness(build("breakout", "t", SOL_DEFAULT, overrides=over))
    h.s.allow_entries(False)
    p = start
    h.mid(T0 + 1_000, p)
    for i, r in enumerate(returns_bps):
        p *= 1 + r / 1e4
        h.mid(T0 + (i + 1) * INTERVAL + 1_000, p)
    h.s.allow_entries(True)
    h.mid(T0 + (len(returns_bps) + 1) * INTERVAL + 1_000, p)  # closes the last candle
    return h


def failing(h: Harness, side: str = "buy") -> list[str]:
    checks = h.s.entry_checks(side)
    assert checks is not None
    return [k for k, ok in checks.items() if not ok]


def check_family(make: Any, lo: float, hi: float, rule: str, side: str = "buy") -> None:
    reason = "entry_long" if side == "buy" else "entry_short"
    x_no, x_yes = bisect_boundary(lambda x: make(x).reasons() == [reason], lo, hi)
    h_no, h_yes = make(x_no), make(x_yes)
    assert h_no.actions == [] and failing(h_no, side) == [rule]
    assert h_yes.reasons() == [reason] and failing(h_yes, side) == []


@pytest.mark.parametrize("rule", sorted(FAMILIES))
def test_each_long_rule_is_required(rule: str) -> None:
    lo, hi = BOUNDS[rule]
    check_family(lambda x: feed(FAMILIES[rule] + [x]), lo, hi, rule)


def test_the_breakout_is_the_close_above_the_highest_high_of_the_previous_30() -> None:
    h = feed(FAMILIES["rsi"] + [15.0])
    f = h.s._last
    assert h.reasons() == ["entry_long"] and f["close"] > f["level_high"]
    assert h.s._position.plan["level"] == f["level_high"] and h.s._position.plan["atr"] == f["atr"]


@pytest.mark.parametrize("rule", ["breakout", "rsi", "macd"])
def test_short_is_the_mirror(rule: str) -> None:
    lo, hi = BOUNDS[rule]
    check_family(lambda x: feed([-r for r in FAMILIES[rule]] + [-x]), lo, hi, rule, side="sell")


def test_atr_must_be_at_least_3_bps() -> None:
    shape = FAMILIES["rsi"] + [15.0]
    check_family(lambda k: feed([r * k for r in shape]), 0.1, 1.0, "atr_range")


def test_atr_must_be_at_most_15_bps() -> None:
    shape = FAMILIES["rsi"] + [15.0]
    check_family(lambda k: feed([r * (6.0 - k) for r in shape]), 1.0, 5.0, "atr_range")


def test_no_signal_before_50_candles() -> None:
    h = feed(FAMILIES["rsi"][-47:] + [15.0])  # 49 closed candles
    assert h.actions == [] and h.s.entry_checks("buy") is None and h.s.warmup_needed() == 1


# ---------------------------------------------------------------------------------------------
# Exits
# ---------------------------------------------------------------------------------------------


def entered() -> tuple[Harness, float, float, float, dict[str, float]]:
    h = feed(FAMILIES["rsi"] + [15.0])
    assert h.reasons() == ["entry_long"]
    pos = h.s._position
    return h, pos.entry_price, pos.plan["level"], pos.plan["atr"], pos.plan


@pytest.mark.parametrize(("frac", "expected"), [(1.0, ["stop_loss"]), (0.999, [])])
def test_stop_loss_at_the_breakout_level_minus_1_5_atr(frac: float, expected: list[str]) -> None:
    h, entry, level, atr, plan = entered()
    h.mid(h.ts + 1_000, level - frac * 1.5 * atr * plan["stop_mult"])
    assert h.reasons()[1:] == expected


@pytest.mark.parametrize(("frac", "expected"), [(1.0, ["take_profit"]), (0.999, [])])
def test_take_profit_at_entry_plus_2_5_atr(frac: float, expected: list[str]) -> None:
    h, entry, level, atr, plan = entered()
    h.mid(h.ts + 1_000, entry + frac * 2.5 * atr * plan["tp_mult"])
    assert h.reasons()[1:] == expected


@pytest.mark.parametrize(("peak_atr", "expected"), [(1.0, ["trailing_stop"]), (0.999, [])])
def test_trailing_stop_once_1_atr_in_profit_by_0_5_atr(peak_atr: float, expected: list[str]) -> None:
    h, entry, level, atr, plan = entered()
    h.mid(h.ts + 1_000, entry + peak_atr * atr)
    h.mid(h.ts + 2_000, entry + (peak_atr - 0.5) * atr)
    assert h.reasons()[1:] == expected


def test_trailing_needs_the_full_half_atr_pullback() -> None:
    h, entry, level, atr, plan = entered()
    h.mid(h.ts + 1_000, entry + 1.2 * atr)
    h.mid(h.ts + 2_000, entry + 0.701 * atr)
    assert h.reasons() == ["entry_long"]
    h.mid(h.ts + 3_000, entry + 0.7 * atr)
    assert h.reasons() == ["entry_long", "trailing_stop"]


@pytest.mark.parametrize(("offset", "expected"), [(-1e-3, ["breakout_failure"]), (0.0, ["breakout_failure"]), (1e-3, [])])
def test_breakout_failure_when_a_candle_closes_back_inside_the_level(offset: float, expected: list[str]) -> None:
    h, entry, level, atr, plan = entered()
    candle_start = h.ts - h.ts % INTERVAL
    h.mid(candle_start + INTERVAL - 1_000, level + offset)  # the candle's last mid: its close
    assert h.reasons() == ["entry_long"]  # nothing until the candle closes
    h.mid(candle_start + INTERVAL + 1_000, entry)  # the next candle opens back up: the close counts
    assert h.reasons()[1:] == expected


@pytest.mark.parametrize(("held_ms", "expected"), [(3_600_000, ["time_stop"]), (3_599_999, [])])
def test_time_stop_after_60_minutes(held_ms: int, expected: list[str]) -> None:
    h, entry, level, atr, plan = entered()
    t0 = h.s._position.entry_ts_ms
    h.mid(t0 + 1_000, entry + 0.6 * atr)  # progress made, below the trailing activation
    h.mid(t0 + held_ms, entry + 0.6 * atr)
    assert h.reasons()[1:] == expected


@pytest.mark.parametrize(
    ("progress_atr", "held_ms", "expected"),
    [(0.4, 1_800_000, ["no_progress"]), (0.4, 1_799_999, []), (0.5, 1_800_000, []), (0.499, 1_800_000, ["no_progress"])],
)
def test_no_progress_after_30_minutes(progress_atr: float, held_ms: int, expected: list[str]) -> None:
    h, entry, level, atr, plan = entered()
    t0 = h.s._position.entry_ts_ms
    h.mid(t0 + 1_000, entry + progress_atr * atr)
    h.mid(t0 + held_ms, entry + 0.1 * atr)
    assert h.reasons()[1:] == expected
