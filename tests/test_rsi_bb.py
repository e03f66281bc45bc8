"""rsi_bb: every entry and exit rule, each with a path that triggers it and a nearly identical
path that does not.

Paths are one mid per 15-second candle (so each candle is that mid), returns in bps. For the
entry rules a family of paths differs only in one number x (the last candle's return, a volume,
or a scale); bisection finds the two x a hair apart where the entry flips, and the test checks
that on the side that does not enter every rule holds except the one under test. Entries are
halted (allow_entries(False), the risk halt) until the candle under test, so the prefix cannot
trade."""

from __future__ import annotations

from typing import Any

import pytest

from strategies.registry import build
from tests.test_strategy_common import T0, Harness, bisect_boundary
from venue.markets import SOL_DEFAULT

pytestmark = pytest.mark.timeout(10)
C = 15_000  # candle interval


def feed(returns_bps: list[float], *, volumes: list[float] | None = None, preset: str = "default",
         over: dict[str, Any] | None = None, start: float = 150.0) -> tuple[Harness, float, int]:
    """One mid per candle; entries allowed only on the event that closes the last candle.
    Returns the harness, the last price and the time of that closing event."""
    h = Harness(build("rsi_bb", "t", SOL_DEFAULT, preset=preset, overrides=over))
    h.s.allow_entries(False)
    p = start
    h.mid(T0 + 1_000, p)
    for i, r in enumerate(returns_bps):
        t = T0 + (i + 1) * C + 1_000
        p *= 1 + r / 1e4
        h.mid(t, p)
        if volumes is not None:
            h.s.on_trade(t + 1, p, volumes[i])
    h.s.allow_entries(True)
    t_close = T0 + (len(returns_bps) + 1) * C + 1_000
    h.mid(t_close, p)
    return h, p, t_close


def failing(h: Harness, side: str = "buy") -> list[str]:
    checks = h.s.entry_checks(side)
    assert checks is not None
    return [k for k, ok in checks.items() if not ok]


def check_family(make: Any, lo: float, hi: float, rule: str, side: str = "buy") -> None:
    reason = "entry_long" if side == "buy" else "entry_short"

    def entered(x: float) -> bool:
        h = make(x)[0]
        return h.reasons() == [reason]

    x_no, x_yes = bisect_boundary(entered, lo, hi)
    h_no, h_yes = make(x_no)[0], make(x_yes)[0]
    assert h_no.actions == [] and failing(h_no, side) == [rule]
    assert h_yes.reasons() == [reason] and failing(h_yes, side) == []


RSI_FAMILY = [3.0, -2.0] * 20


def test_long_needs_rsi_above_65() -> None:
    check_family(lambda x: feed(RSI_FAMILY + [x]), 0.0, 12.0, "rsi")
    h = feed(RSI_FAMILY + [6.0])[0]
    assert h.s.features()["rsi"] <= 65.0


def test_short_is_the_mirror_with_rsi_below_35() -> None:
    check_family(lambda x: feed([-r for r in RSI_FAMILY] + [-x]), 0.0, 12.0, "rsi", side="sell")


def test_long_needs_ema_fast_above_slow_by_2_bps() -> None:
    cycle = [8.0] + [0.0] * 5 + [-3.0] + [0.0] * 5
    prefix = (cycle * 6)[:60]
    check_family(lambda x: feed(prefix + [x]), 1.0, 20.0, "ema_trend")


def test_long_needs_volatility_of_at_least_2_bps() -> None:
    check_family(lambda x: feed([6.0] * 12 + [2.0, -2.0] * 10 + [x]), 0.0, 3.0, "volatility")


def test_long_needs_volatility_of_at_most_25_bps() -> None:
    # the same shape scaled up: only the volatility changes its verdict
    shape = RSI_FAMILY + [10.0]
    check_family(lambda x: feed([r * (20.0 - x) for r in shape]), 8.0, 19.0, "volatility")


def test_long_needs_bb_pos_at_or_above_the_threshold() -> None:
    # With RSI > 65 the close sits high in the band, so the default bound (bb_pos >= 0.2) cannot
    # be the one that fails; a threshold of -0.3 moves the bound to 0.8 where a small last-candle
    # dip crosses it while every other rule still holds. The rule is the same code at 0.3.
    over = {"bb_position_threshold": -0.3}
    check_family(lambda x: feed([8.0, 0.0] * 20 + [x], over=over), -30.0, 0.0, "bb_pos")


def test_selective_preset_needs_bb_pos_inside_its_band() -> None:
    h = feed(RSI_FAMILY + [30.0], preset="selective")[0]
    assert h.actions == [] and "bb_pos" in failing(h)  # bb_pos above 0.3: outside the band
    assert h.s.features()["bb_pos"] > 0.3


def test_long_needs_volume_above_its_average_when_the_feed_has_trades() -> None:
    shape = RSI_FAMILY + [10.0]

    def make(v: float) -> tuple[Harness, float, int]:
        return feed(shape, volumes=[1.0] * (len(shape) - 1) + [v])

    check_family(make, 0.5, 2.0, "volume")
    assert feed(shape)[0].reasons() == ["entry_long"]  # no trades at all: the filter is skipped


# ---------------------------------------------------------------------------------------------
# Exits
# ---------------------------------------------------------------------------------------------


def entered_long(over: dict[str, Any] | None = None) -> tuple[Harness, float, int]:
    h, p, t = feed(RSI_FAMILY + [10.0], over=over)
    assert h.reasons() == ["entry_long"]
    pos = h.s._position
    assert pos.plan["stop_mult"] == 1.0 and pos.plan["tp_mult"] == 1.0  # normal volatility
    return h, p, t


@pytest.mark.parametrize(("move_bps", "expected"), [(4.5, ["take_profit"]), (4.49, []), (-9.0, ["stop_loss"]), (-8.99, [])])
def test_take_profit_and_stop_loss_from_entry(move_bps: float, expected: list[str]) -> None:
    h, p, t = entered_long()
    h.mid(t + 1_000, p * (1 + move_bps / 1e4))  # inside the same candle: no candle closes
    assert h.reasons()[1:] == expected


@pytest.mark.parametrize(("held_ms", "expected"), [(480_000, ["time_stop"]), (479_999, [])])
def test_time_stop_after_8_minutes(held_ms: int, expected: list[str]) -> None:
    h, p, t = entered_long()
    h.mid(t + held_ms, p)  # flat candles in between keep RSI's ratio: no trend reversal
    assert h.reasons()[1:] == expected


def test_trend_reversal_when_rsi_closes_below_50() -> None:
    def exited(y: float) -> bool:
        h, p, t = entered_long()
        h.mid(t + 20 * C, p)  # 20 flat candles
        h.mid(t + 21 * C, p * (1 - y / 1e4))  # one down candle ...
        h.mid(t + 22 * C, p * (1 - y / 1e4))  # ... closed here
        return h.reasons()[1:] == ["trend_reversal"]

    y_no, y_yes = bisect_boundary(exited, 0.0, 8.9)
    assert y_yes < 9.0  # the reversal fires before the stop loss could
    h, p, t = entered_long()
    h.mid(t + 20 * C, p)
    h.mid(t + 21 * C, p * (1 - y_no / 1e4))
    h.mid(t + 22 * C, p * (1 - y_no / 1e4))
    assert h.reasons() == ["entry_long"] and h.s._rsi.value >= 50.0


@pytest.mark.parametrize(("peak_bps", "expected"), [(3.0, ["trailing_stop"]), (2.99, [])])
def test_trailing_stop_when_enabled(peak_bps: float, expected: list[str]) -> None:
    h, p, t = entered_long(over={"trailing_stop": True})
    h.mid(t + 1_000, p * (1 + peak_bps / 1e4))
    h.mid(t + 2_000, p * (1 + (peak_bps - 2.0) / 1e4))  # 2 bps back from the best
    assert h.reasons()[1:] == expected


def test_trailing_stop_is_off_by_default() -> None:
    h, p, t = entered_long()
    h.mid(t + 1_000, p * (1 + 4.0 / 1e4))
    h.mid(t + 2_000, p * (1 + 1.0 / 1e4))
    assert h.reasons() == ["entry_long"]
