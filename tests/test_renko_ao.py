"""renko_ao: every entry and exit rule, each with a path that triggers it and a nearly identical
path that does not.

Paths: 16 minutes oscillating between P and P + R set the 1-minute ATR to exactly R (so the
brick size is 1.3 R and no brick forms meanwhile); then bricks are drawn one mid each, 500 ms
apart, all inside one minute so the ATR (and the brick size) stays put while the pattern forms.
A pattern is a string of brick directions ("U"/"D"); "UD" x 20 first gives the AO its 34 bricks
without a trend. The divergence patterns were chosen so that the rule under test is the only
one that differs between the two paths; each test checks that with entry_checks()."""

from __future__ import annotations

from typing import Any

import pytest

from strategies.registry import build
from strategies.renko_ao import BrickPoint, find_divergence
from tests.test_strategy_common import T0, Harness, bisect_boundary
from venue.markets import SOL_DEFAULT

pytestmark = pytest.mark.timeout(10)
PRE = "UD" * 20
MAIN = PRE + "D" * 12 + "U" * 6 + "D" * 9  # a lower low with a higher AO low; 3 up bricks follow


class Bricks(Harness):
    def __init__(self, preset: str = "default", over: dict[str, Any] | None = None, r: float = 0.1,
                 price: float = 150.0) -> None:
        super().__init__(build("renko_ao", "t", SOL_DEFAULT, preset=preset, overrides=over))
        for m in range(16):
            self.mid(T0 + m * 60_000 + 10_000, price)
            self.mid(T0 + m * 60_000 + 40_000, price + r)
        self.mid(T0 + 16 * 60_000 + 10_000, price)
        self.mid(T0 + 17 * 60_000, price)
        assert self.s._atr.value == pytest.approx(r) and self.s._brick_count <= 1

    def brick(self, direction: str) -> list[Any]:
        r = self.s._renko
        size = self.s._brick_size(self.price)
        target = r.top + size if direction == "U" else r.bottom - size
        before = self.s._brick_count
        out = self.mid(self.ts + 500, target)
        assert self.s._brick_count == before + 1
        return out

    def pattern(self, spec: str, *, entries_from: int = 0) -> None:
        """Draw the bricks; entries are halted before brick index `entries_from`."""
        for i, d in enumerate(spec):
            self.s.allow_entries(i >= entries_from)
            self.brick(d)

    def failing(self) -> list[str]:
        result = self.s.entry_checks()
        assert result is not None
        return [k for k, ok in result[1].items() if not ok]


def mirror(spec: str) -> str:
    return spec.translate(str.maketrans("UD", "DU"))


# ---------------------------------------------------------------------------------------------
# Entries
# ---------------------------------------------------------------------------------------------


def test_bullish_divergence_enters_long_on_the_third_brick_after_the_low() -> None:
    b = Bricks()
    b.pattern(MAIN + "UU")
    assert b.actions == [] and b.failing() == ["bricks_since"]  # 2 bricks since the low
    b.brick("U")
    assert b.reasons() == ["entry_long"]
    ctx = b.s._position.context
    assert ctx["bricks_since_divergence"] == 3.0 and ctx["divergence_strength"] >= 0.05
    assert ctx["ao_strength"] >= 0.10 and 2.0 <= ctx["atr_bps"] <= 12.0
    assert ctx["brick_size"] == pytest.approx(0.13) and "bb_pos" in ctx and ctx["ao"] < 0


def test_bearish_divergence_enters_short() -> None:
    b = Bricks()
    b.pattern(mirror(MAIN) + "DD")
    assert b.actions == [] and b.failing() == ["bricks_since"]
    b.brick("D")
    assert b.reasons() == ["entry_short"]


def test_no_entry_without_a_lower_low() -> None:
    b = Bricks()
    b.pattern(PRE + "D" * 12 + "U" * 6 + "D" * 5 + "UUU")  # the second dip stays above the first
    assert b.actions == []
    div, checks = b.s.entry_checks()
    assert div is None and checks["atr_range"] and checks["bb"]


def test_no_entry_when_the_ao_makes_a_lower_low_too() -> None:
    window = [BrickPoint(i, 10.0 - i, 9.0 - i, 9.5 - i, -float(i)) for i in range(10)]  # straight fall
    assert find_divergence(window) is None
    window[-1] = BrickPoint(9, 1.0, 0.0, 0.5, -7.5)  # the lowest low, with a higher AO than brick 8
    div = find_divergence(window)
    assert div is not None and div.side == "buy" and div.i2 == 9 and div.i1 == 8 and div.bricks_since == 0
    assert div.strength == pytest.approx(0.5 / 8.0) and div.ao_strength == pytest.approx(7.5 / 8.0)


def test_divergence_strength_must_reach_0_05() -> None:
    yes = Bricks()
    yes.pattern(PRE + "D" * 12 + "U" * 6 + "D" * 12 + "UUU")
    assert yes.reasons() == ["entry_long"] and 0.05 <= yes.s._position.context["divergence_strength"] < 0.06
    no = Bricks()
    no.pattern(PRE + "D" * 12 + "U" * 6 + "D" * 13 + "UUU")  # one brick more in the second dip
    assert no.actions == [] and no.failing() == ["divergence_strength"]


def test_ao_strength_must_reach_0_10() -> None:
    yes = Bricks()
    yes.pattern(MAIN + "U" * 7, entries_from=len(MAIN) + 6)
    assert yes.reasons() == ["entry_long"] and yes.s._position.context["ao_strength"] >= 0.10
    no = Bricks()
    no.pattern(MAIN + "U" * 8, entries_from=len(MAIN) + 7)  # the AO is crossing zero here
    assert no.actions == [] and no.failing() == ["ao_strength"]


def test_atr_must_be_at_least_2_bps() -> None:
    def entered(r: float) -> bool:
        b = Bricks(r=r)
        b.pattern(MAIN + "UUU")
        return b.reasons() == ["entry_long"]

    r_no, r_yes = bisect_boundary(entered, 0.025, 0.035)
    b = Bricks(r=r_no)
    b.pattern(MAIN + "UUU")
    assert b.actions == [] and b.failing() == ["atr_range"]
    assert b.s._atr.value / b.price * 1e4 == pytest.approx(2.0, abs=1e-6)


def test_atr_must_be_at_most_12_bps() -> None:
    def entered(x: float) -> bool:
        b = Bricks(r=0.3 - x)
        b.pattern(MAIN + "UUU")
        return b.reasons() == ["entry_long"]

    x_no, _ = bisect_boundary(entered, 0.1, 0.15)
    b = Bricks(r=0.3 - x_no)
    b.pattern(MAIN + "UUU")
    assert b.actions == [] and b.failing() == ["atr_range"]
    assert b.s._atr.value / b.price * 1e4 == pytest.approx(12.0, abs=1e-6)


def test_strict_preset_requires_the_bollinger_enhancement() -> None:
    base = PRE + "D" * 6 + "U" * 4 + "D" * 5
    no = Bricks(preset="strict")
    no.pattern(base + "UUDU", entries_from=len(base))
    assert no.actions == [] and no.failing() == ["bb"]
    assert no.s._bb_pos() > 0.4
    yes = Bricks(preset="strict")
    yes.pattern(base + "UUDUD", entries_from=len(base))
    assert yes.reasons() == ["entry_long"] and yes.s._position.context["bb_pos"] <= 0.4
    assert yes.s._position.context["bb_enhanced"] == 1.0
    default = Bricks()  # the default preset records it but does not require it
    default.pattern(base + "UUU", entries_from=len(base))
    assert default.reasons() == ["entry_long"] and default.s._position.context["bb_enhanced"] == 0.0


def test_one_divergence_is_traded_once() -> None:
    b = Bricks()
    b.pattern(MAIN + "UUU")
    b.mid(b.ts + 100, b.price * (1 + 14e-4))  # take profit (12 bps x the high-volatility 1.1)
    assert b.reasons() == ["entry_long", "take_profit"]
    b.brick("U")
    assert b.reasons() == ["entry_long", "take_profit"] and "not_traded" in b.failing()


def test_no_signal_before_34_bricks() -> None:
    b = Bricks()
    b.pattern("UD" * 16 + "D")  # 33 bricks
    assert b.s.entry_checks() is None and b.s._ao.value is None
    b.brick("U")
    assert b.s.entry_checks() is not None


# ---------------------------------------------------------------------------------------------
# Exits
# ---------------------------------------------------------------------------------------------


def entered_long(over: dict[str, Any] | None = None) -> Bricks:
    b = Bricks(over=over)
    b.pattern(MAIN + "UUU")
    assert b.reasons() == ["entry_long"]
    # the brick bursts make the 15-s volatility high: stop x1.2, take profit x1.1, fixed at entry
    assert b.s._position.plan["stop_mult"] == 1.2 and b.s._position.plan["tp_mult"] == 1.1
    return b


@pytest.mark.parametrize(
    ("move_bps", "expected"),
    [(12.0 * 1.1, ["take_profit"]), (12.0 * 1.1 - 0.01, []), (-8.0 * 1.2, ["stop_loss"]), (-8.0 * 1.2 + 0.01, [])],
)
def test_take_profit_and_stop_loss_from_entry(move_bps: float, expected: list[str]) -> None:
    b = entered_long()
    entry = b.s._position.entry_price
    b.mid(b.ts + 100, entry * (1 + move_bps / 1e4))
    assert b.reasons()[1:] == expected


def test_take_profit_and_stop_loss_without_the_adaptive_multipliers() -> None:
    for move_bps, expected in ((12.0, ["take_profit"]), (11.99, []), (-8.0, ["stop_loss"]), (-7.99, [])):
        b = Bricks(over={"adaptive": False})
        b.pattern(MAIN + "UUU")
        entry = b.s._position.entry_price
        b.mid(b.ts + 100, entry * (1 + move_bps / 1e4))
        assert b.reasons() == ["entry_long", *expected], move_bps


@pytest.mark.parametrize(("held_ms", "expected"), [(480_000, ["time_stop"]), (479_999, [])])
def test_time_stop_after_8_minutes(held_ms: int, expected: list[str]) -> None:
    b = entered_long()
    b.mid(b.s._position.entry_ts_ms + held_ms, b.s._position.entry_price)
    assert b.reasons()[1:] == expected


@pytest.mark.parametrize(
    ("after_entry", "exits"),
    [("DDDDDD", True), ("UUDUDDDD", True), ("UUDUDDDU", False), ("DUDUDU", False)],
)
def test_ao_reversal_exactly_when_two_consecutive_bricks_since_entry_turn_the_ao_against_a_long(
    after_entry: str, exits: bool
) -> None:
    # wide stop and target so the bricks reach the AO rule first; the AO of each brick is read
    # from the strategy and the exit must come on the first brick that makes the second
    # consecutive decline since entry, and on no brick before. "UUDUDDDU" declines on one brick
    # (the 7th) and rises on the next: no exit; "UUDUDDDD" declines on the 7th and 8th: exit.
    b = Bricks(over={"stop_loss_bps": 200.0, "take_profit_bps": 200.0})
    b.pattern(MAIN + "UUU")
    assert b.reasons() == ["entry_long"]
    prev = b.s._ao.value
    against = declines = 0
    for d in after_entry:
        b.brick(d)
        ao = b.s._ao.value
        declines += ao < prev
        against = against + 1 if ao < prev else 0
        prev = ao
        if against == 2:
            assert b.reasons() == ["entry_long", "ao_reversal"]
            break
        assert b.reasons() == ["entry_long"]
    assert (against == 2) == exits and declines >= 1 or after_entry == "DUDUDU"


def test_ao_reversal_mirror_for_a_short() -> None:
    b = Bricks(over={"stop_loss_bps": 200.0, "take_profit_bps": 200.0})
    b.pattern(mirror(MAIN) + "DDD")
    assert b.reasons() == ["entry_short"]
    prev, against = b.s._ao.value, 0
    for _ in range(8):
        b.brick("U")
        against = against + 1 if b.s._ao.value > prev else 0
        prev = b.s._ao.value
        if against == 2:
            break
        assert b.reasons() == ["entry_short"]
    assert b.reasons() == ["entry_short", "ao_reversal"]


def test_snapshot_keeps_bricks_and_recent_mids() -> None:
    b = entered_long()
    snap = b.s.snapshot()
    assert len(snap["features"]["bricks"]) >= 30 and len(snap["features"]["mids"]) > 30
    assert not b.s.snapshot_due()
    for k in range(100):
        b.mid(b.ts + 10, b.price)
        assert b.s.snapshot_due() == (k == 99)


def test_after_hours_without_a_mid_the_bricks_start_again_and_exits_still_run() -> None:
    """A feed outage closes hours of flat candles: the ATR, and the brick size with it, shrink to
    almost nothing. The next mid must not raise (the builder refuses millions of bricks), the
    bricks start again from it, and a position's stop loss is still judged on that mid."""
    b = entered_long()
    entry = b.s._position.entry_price
    before = b.s._brick_count
    back = entry * (1 - 20 / 1e4)  # 20 bps against the long: past its stop loss
    out = b.mid(b.ts + 6 * 3600_000, back)
    assert b.s._atr.value is not None and b.s._atr.value < 1e-3  # 360 flat candles
    assert [a.reason for a in out] == ["stop_loss"]
    assert (b.s._renko.top, b.s._renko.bottom, b.s._brick_count) == (back, back, before)
    assert b.s.status()["bricks_reanchored"] == 1
    restored = build("renko_ao", "t", SOL_DEFAULT)
    restored.restore(b.s.snapshot())
    assert restored.status()["bricks_reanchored"] == 1
    b.s.on_fill(b.ts, "sell", back, 0.1, 0.0, True)
    for k in range(1, 40):  # the ATR grows back over live candles and bricks form again
        b.mid(b.ts + 15_000, back * (1 + 0.0004 * (k % 5)))
    assert b.s._brick_count > before
