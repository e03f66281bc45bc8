"""The research replay: pure strategy + the simulator's matching engine over real SOL minutes.

The full 30-day replay is a script (python -m strategies.replay, results in
docs/strategy_results.md); here a few hours (fast) and two days (slow) must finish with
consistent books: one CSV row per closed trade, the PnL of the rows equal to the summary's, every
fill the strategy saw produced by the engine, and the strategy's realized PnL gross of fees equal
to the engine's own accounting of the same account."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from strategies.replay import main, replay
from strategies.replay_report import summarize, write_csv


def check_consistency(result, tmp_path: Path) -> dict:  # type: ignore[no-untyped-def]
    s = summarize(result)
    out = tmp_path / "trades.csv"
    write_csv(result.trades, out)
    with open(out, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == s["trades"] == len(result.trades)
    assert sum(float(r["pnl_quote"]) for r in rows) == pytest.approx(s["pnl_quote"], abs=1e-9)
    assert sum(row["count"] for row in s["by_exit_reason"].values()) == s["trades"]
    assert s["wins"] + s["losses"] <= s["trades"]
    c = s["checks"]
    assert c["fills_to_strategy"] == c["engine_trades"]  # every fill went through the engine
    assert c["rejections"] == 0
    # every trade is an entry and an exit order; an open position at the end has its entry only
    assert c["actions"] == 2 * s["trades"] + (1 if s["open_position_at_end"] else 0)
    if s["open_position_at_end"] is None:
        assert c["realized_gross_strategy"] == pytest.approx(c["realized_gross_engine"], abs=1e-9)
        assert s["fees"] == pytest.approx(c["fees_engine"], abs=1e-9)
    for r in rows:
        json.loads(r["entry_context"])
    return s


@pytest.mark.timeout(60)
def test_replay_a_few_hours_with_fees(sol_candles_path: Path, tmp_path: Path) -> None:
    result = replay(
        "rsi_bb", sol_candles_path, start=datetime(2025, 5, 6, tzinfo=UTC), end=datetime(2025, 5, 6, 6, tzinfo=UTC),
        fee_bps=2.0,
    )
    s = check_consistency(result, tmp_path)
    assert s["trades"] > 0 and s["minutes"] == 360 and s["mids"] == 360 * 60
    assert s["fees"] == pytest.approx(sum(t.size * (t.entry_price + t.exit_price) * 2e-4 for t in result.trades))


@pytest.mark.slow
@pytest.mark.timeout(60)
@pytest.mark.parametrize("kind", ["rsi_bb", "renko_ao", "breakout"])
def test_replay_two_days(sol_candles_path: Path, tmp_path: Path, kind: str) -> None:
    result = replay(kind, sol_candles_path, start=datetime(2025, 5, 10, tzinfo=UTC), end=datetime(2025, 5, 12, tzinfo=UTC))
    s = check_consistency(result, tmp_path)
    assert s["minutes"] == 2 * 24 * 60


def test_cli_writes_the_csv_and_prints_the_summary(sol_candles_path: Path, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "t.csv"
    code = main(["--strategy", "renko_ao", "--candles", str(sol_candles_path), "--from", "2025-05-06T00:00",
                 "--to", "2025-05-06T03:00", "--out", str(out), "--json"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    with open(out, newline="") as fh:
        assert len(list(csv.DictReader(fh))) == summary["trades"]
    assert main(["--strategy", "rsi_bb", "--candles", str(tmp_path / "missing.csv")]) == 2
    assert main(["--strategy", "rsi_bb", "--candles", str(sol_candles_path), "--preset", "nope"]) == 2
