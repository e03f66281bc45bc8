"""The status table and exit summary say what each strategy is doing, with units on money figures
and the reason the last entry was skipped (pure: no Ray)."""

from __future__ import annotations

from typing import Any

import pytest

from actors.status_view import duration_text, status_table, strategy_state, summary_table

RUNNING = {"mode": "running", "halt_reason": "", "breaker": "ok", "breaker_tripped": False}


def strategy(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "position": None, "trades": 3, "wins": 2, "realized_pnl": 0.0123, "entries_allowed": True,
        "warmup_needed": 0, "candle_interval_ms": 900_000, "mark": 146.5, "last_ts_ms": 1_000_000,
        "paused_until_ms": 0, "last_skip": "long: rsi; short: ema_trend",
    }
    base.update(changes)
    return base


def row(st: dict[str, Any] | None, risk: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"account": 1003, "open_orders": 1, "strategy": st, "risk": RUNNING if risk is None else risk}


LONG = {"side": "buy", "size": 0.1, "entry_price": 146.23, "unrealized_pnl": 0.027, "entry_ts_ms": 0, "closing": None}


@pytest.mark.parametrize(("st", "risk", "expected"), [
    (None, None, "no answer"),
    (strategy(), {**RUNNING, "breaker_tripped": True, "breaker": "daily_loss"}, "breaker tripped"),
    (strategy(), {**RUNNING, "mode": "halted", "halt_reason": "operator"}, "halted"),
    (strategy(warmup_needed=34), None, "warming up, ~8h 30m left"),
    (strategy(warmup_needed=3, candle_interval_ms=15_000), None, "warming up, ~45s left"),
    (strategy(position=LONG), None, "long"),
    (strategy(position={**LONG, "side": "sell"}), None, "short"),
    (strategy(paused_until_ms=1_000_000 + 300_000), None, "paused 5m (losing streak)"),
    (strategy(), None, "flat"),
])
def test_the_state_of_a_strategy_in_one_phrase(st: dict[str, Any] | None, risk: dict[str, Any] | None,
                                               expected: str) -> None:
    assert strategy_state(row(st, risk)) == expected


def test_durations_read_as_market_time() -> None:
    assert [duration_text(ms) for ms in (0, 45_000, 720_000, 3 * 3_600_000 + 5 * 60_000, 2 * 86_400_000 + 4 * 3_600_000)] \
        == ["0s", "45s", "12m", "3h 05m", "2d 4h"]


def status(**strategies: dict[str, Any]) -> dict[str, Any]:
    return {"strategies": strategies, "halted": None,
            "actors": {"risk": {"state": "alive", "restarts": 1, "lag_ms": 0.4, "last_error": "a\nb"},
                       "feed": {"state": "alive", "restarts": 0, "lag_ms": 1.0, "last_error": ""}}}


def test_the_table_shows_position_mark_unrealized_pnl_in_usdc_and_the_skip_reason() -> None:
    text = status_table(status(breakout=row(strategy(position=LONG)), rsi_bb=row(strategy())))
    head, long_row, flat_row = text.splitlines()[:3]
    assert "uPnL USDC" in head and "net USDC" in head and "last entry skipped because" in head
    assert long_row.split()[:6] == ["breakout", "1003", "long", "+0.1", "@", "146.23"]
    assert "146.5" in long_row and "+0.0270" in long_row and "+0.0123" in long_row
    assert flat_row.split()[:3] == ["rsi_bb", "1003", "flat"] and flat_row.endswith("long: rsi; short: ema_trend")
    assert "a b" in text  # a multi-line actor error stays on its row


def test_a_halt_or_breaker_is_the_reason_shown_instead_of_the_strategy_s_skip() -> None:
    halted = {**RUNNING, "mode": "halted", "halt_reason": "operator: lunch"}
    text = status_table(status(one=row(strategy(), halted)))
    assert text.splitlines()[1].endswith("operator: lunch")


def test_the_summary_is_a_table_with_a_total() -> None:
    text = summary_table(status(breakout=row(strategy(position=LONG, realized_pnl=-0.5)),
                                rsi_bb=row(strategy(realized_pnl=1.25))))
    lines = text.splitlines()
    assert lines[0].split()[:4] == ["strategy", "trades", "wins", "net"]
    assert lines[1].split()[:6] == ["breakout", "3", "2", "-0.5000", "+0.1", "@"]
    assert lines[2].split()[:5] == ["rsi_bb", "3", "2", "+1.2500", "flat"]
    assert lines[3].split() == ["total", "+0.7500"]
    assert lines[4] == "actor restarts: risk 1"
    assert all(len(line) < 120 for line in lines)


def maker(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "inventory": 0.128, "average_entry": 150.02, "mark": 150.1, "unrealized_pnl": 0.0102,
        "fifo_realized_quote": -0.031, "regime": "aggressive", "maker_fills": 7, "taker_fills": 2,
        "pauses": {"entries_allowed": True, "high_vol": False, "low_vol": False, "cancel_throttled": False},
        "orders": [{"role": "quote", "side": "buy", "status": "live"}, {"role": "quote", "side": "sell", "status": "live"}],
        "skip": {"buy": "", "sell": ""},
    }
    base.update(changes)
    return base


def test_a_maker_row_shows_inventory_fifo_pnl_quotes_and_why_a_side_is_off() -> None:
    text = status_table(status(mm=row(maker())))
    cells = text.splitlines()[1].split()
    assert cells[:5] == ["mm", "1003", "quoting", "2", "sides"] and "+0.128" in cells and "-0.0310" in cells
    paused = maker(orders=[], pauses={"entries_allowed": True, "low_vol": True}, skip={"buy": "low_vol", "sell": "low_vol"})
    line = status_table(status(mm=row(paused))).splitlines()[1]
    assert "paused: low volatility" in line and line.endswith("buy: low_vol; sell: low_vol")
    hedging = maker(orders=[{"role": "quote", "side": "sell", "status": "live"}, {"role": "hedge", "side": "sell"}])
    assert strategy_state(row(hedging)) == "quoting 1 side (aggressive) + hedge"
    summary = summary_table(status(mm=row(maker()))).splitlines()
    assert summary[1].split()[:6] == ["mm", "9", "-", "-0.0310", "+0.128", "@"]
