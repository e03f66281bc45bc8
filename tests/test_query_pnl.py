"""scripts/query_pnl.py and scripts/pnl_report.py against a real SQLite database written by StorageWriter.

The trades below have hand-chosen PnLs, reasons and exit times relative to NOW; every expected
number in these tests is computed by hand from that table (see the comments next to each).
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import json
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from messages.state import TradeRecord
from scripts import query_pnl
from scripts.pnl_report import EXPORT_COLUMNS, format_table, summarize
from scripts.pnl_window import Window, parse_duration, parse_instant, report_window
from storage.writer import StorageWriter

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "scripts" / "query_pnl.py"
NS = 1_000_000_000
HOUR = 3600 * NS
DAY = 24 * HOUR
NOW_ISO = "2025-06-03T12:00:00Z"
NOW = int(datetime(2025, 6, 3, 12, 0, tzinfo=UTC).timestamp()) * NS

# (strategy, exit_reason, pnl_quote, pnl_pct, exit time before NOW, hold)
TABLE: list[tuple[str, str, float, float, int, int]] = [
    ("rsi_bb", "take_profit", 3.0, 1.5, 1 * HOUR, 600 * NS),  # 1
    ("rsi_bb", "stop_loss", -1.0, -0.5, 2 * HOUR, 300 * NS),  # 2
    ("breakout", "take_profit", 1.0, 0.4, 3 * DAY, 1200 * NS),  # 3
    ("breakout", "stop_loss", -2.0, -0.8, 10 * DAY, 900 * NS),  # 4
    ("rsi_bb", "time_exit", 0.0, 0.0, 20 * DAY, 3600 * NS),  # 5 (breakeven)
    ("renko_ao", "take_profit", 2.0, 1.0, 40 * DAY, 60 * NS),  # 6 (older than 30d)
    ("rsi_bb", "take_profit", 0.5, 0.25, -1 * HOUR, 120 * NS),  # 7 (after NOW)
]


def make_trade(
    i: int, strategy: str, reason: str, pnl: float, pct: float, ago: int, hold: int
) -> TradeRecord:
    exit_ts = NOW - ago
    return TradeRecord(
        strategy=strategy,
        account_index=1001,
        market_id=2,
        side="long" if i % 2 else "short",
        entry_price=150.0 + i,
        exit_price=151.0 + i,
        entry_ts=exit_ts - hold,
        exit_ts=exit_ts,
        size=0.5,
        fees=0.01 * i,
        pnl_quote=pnl,
        pnl_pct=pct,
        exit_reason=reason,
        mfe_bps=10.0 + i,
        mae_bps=float(i),
        entry_context={"rsi": 30.0 + i, "bb_pos": 0.1 * i},
        ts_event=exit_ts,
        seq=i,
    )


TRADES = [make_trade(i, *row) for i, row in enumerate(TABLE, start=1)]


async def _write(path: Path, trades: list[TradeRecord]) -> None:
    async with StorageWriter(path, flush_interval_ms=20) as writer:
        for trade in trades:
            assert await writer.write_durable(trade)


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("pnl") / "paper.db"
    asyncio.run(_write(path, TRADES))
    return path


def run_main(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = query_pnl.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def section(out: str, title: str) -> list[list[str]]:
    """The data rows of the table under `title`, split into cells."""
    lines = out.splitlines()
    start = lines.index(title) + 3  # title, header, rule
    rows = []
    for line in lines[start:]:
        if not line.strip():
            break
        rows.append(re.split(r"\s{2,}", line.strip()))
    return rows


def summary(out: str) -> dict[str, str]:
    lines = out.splitlines()
    values = {}
    for line in lines[lines.index("SUMMARY") + 1 :]:
        if not line.strip():
            break
        name, value = re.split(r"\s{2,}", line, maxsplit=1)
        values[name] = value
    return values


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ---------------------------------------------------------------------------------------------
# Pure computations
# ---------------------------------------------------------------------------------------------


def test_summarize_matches_hand_computed_values() -> None:
    s = summarize(TRADES[:6])
    # pnls 3, -1, 1, -2, 0, 2: three wins, two losses, one breakeven
    assert (s.trades, s.wins, s.losses, s.breakeven) == (6, 3, 2, 1)
    assert s.win_rate == pytest.approx(0.5)
    assert s.pnl_quote == pytest.approx(3.0)
    assert s.avg_pnl_quote == pytest.approx(0.5)
    assert s.pnl_pct_sum == pytest.approx(1.6)  # 1.5 - 0.5 + 0.4 - 0.8 + 0 + 1.0
    assert s.avg_pnl_pct == pytest.approx(1.6 / 6)
    assert s.avg_win_quote == pytest.approx(2.0)  # (3 + 1 + 2) / 3
    assert s.avg_loss_quote == pytest.approx(-1.5)  # (-1 - 2) / 2
    assert s.reward_risk == pytest.approx(2.0 / 1.5)
    assert s.fees == pytest.approx(0.21)  # 0.01 * (1 + ... + 6)
    assert s.avg_hold_ns == pytest.approx((600 + 300 + 1200 + 900 + 3600 + 60) / 6 * NS)
    assert s.best is TRADES[0] and s.worst is TRADES[3]


def test_summarize_is_safe_on_empty_and_one_sided_sets() -> None:
    empty = summarize([])
    assert (empty.trades, empty.wins, empty.losses, empty.win_rate, empty.pnl_quote) == (0, 0, 0, 0.0, 0.0)
    assert empty.avg_pnl_quote == 0.0 and empty.reward_risk is None
    assert empty.best is None and empty.worst is None
    only_wins = summarize([TRADES[0], TRADES[2]])
    assert only_wins.reward_risk is None and only_wins.avg_loss_quote == 0.0
    assert only_wins.win_rate == 1.0


def test_parse_duration_and_instant() -> None:
    assert parse_duration("24h") == 24 * HOUR
    assert parse_duration("7d") == 7 * DAY
    assert parse_duration("30d") == 30 * DAY
    assert parse_duration("90m") == 90 * 60 * NS
    assert parse_duration("2w") == 14 * DAY
    for bad in ("", "3x", "h", "-1d", "1.5h", "0h", "24 hours"):
        with pytest.raises(ValueError, match="--since"):
            parse_duration(bad)
    assert parse_instant(NOW_ISO, "--now") == NOW
    assert parse_instant("2025-06-03T12:00:00", "--now") == NOW  # naive is UTC
    assert parse_instant("2025-06-03T14:00:00+02:00", "--now") == NOW
    assert parse_instant("2025-06-03", "--now") == NOW - 12 * HOUR  # a date is its midnight
    assert parse_instant(str(NOW), "--now") == NOW
    with pytest.raises(ValueError, match="bad --now 'yesterday'"):
        parse_instant("yesterday", "--now")
    # a bare number too small to be ns would silently be January 1970 (a span without its unit)
    with pytest.raises(ValueError, match="bad --since '24': .*too small"):
        parse_instant("24", "--since")


NEWEST = NOW + HOUR  # trade 7's exit, the newest in TABLE


def test_window_span_counts_back_from_the_newest_trade() -> None:
    w = report_window("24h", None, NEWEST)
    assert (w.start_ns, w.end_ns) == (NEWEST - DAY, NEWEST)
    assert (
        w.text
        == "trades from 2025-06-02 13:00:00 UTC to 2025-06-03 13:00:00 UTC (24h before the newest trade)"
    )
    assert w.holds(NEWEST - DAY) and w.holds(NEWEST) and not w.holds(NEWEST - DAY - 1)


def test_window_span_counts_back_from_now_when_given() -> None:
    w = report_window("7d", NOW_ISO, NEWEST)
    assert (w.start_ns, w.end_ns) == (NOW - 7 * DAY, NOW)
    assert w.text.endswith("(7d before --now)")
    assert not w.holds(NEWEST)  # after --now


def test_window_absolute_since_stays_absolute() -> None:
    since = NOW - 3 * DAY  # 2025-05-31 12:00
    for text in ("2025-05-31T12:00", "2025-05-31T14:00+02:00", str(since)):
        w = report_window(text, None, NEWEST)
        assert (w.start_ns, w.end_ns) == (since, None), text
        assert w.text == (
            "trades from 2025-05-31 12:00:00 UTC (--since) on, the newest trade exiting 2025-06-03 13:00:00 UTC"
        )
    # whatever the newest trade: an absolute start does not move with it
    assert report_window("2025-05-31", None, NEWEST + 30 * DAY).start_ns == NOW - 3 * DAY - 12 * HOUR
    w = report_window("2025-05-31T12:00", NOW_ISO, NEWEST)
    assert (w.start_ns, w.end_ns) == (since, NOW)
    assert w.text == "trades from 2025-05-31 12:00:00 UTC (--since) to 2025-06-03 12:00:00 UTC (--now)"


def test_window_without_since() -> None:
    assert report_window(None, None, NEWEST) == Window(
        0, None, "all trades, the newest exiting 2025-06-03 13:00:00 UTC"
    )
    assert report_window(None, NOW_ISO, NEWEST) == Window(
        0, NOW, "trades up to 2025-06-03 12:00:00 UTC (--now)"
    )
    assert report_window(None, None, None).text == "all trades (the database holds none)"


def test_window_of_an_empty_database() -> None:
    w = report_window("24h", None, None)
    assert w.text == "24h before the newest trade (the database holds none)"
    assert report_window("24h", NOW_ISO, None).start_ns == NOW - DAY  # --now needs no trade


@pytest.mark.parametrize(
    ("since", "now", "message"),
    [
        ("yesterday", None, "bad --since 'yesterday': expected a span (24h, 7d, 30d) or a UTC date"),
        ("3x", None, "bad --since '3x': expected a number and a unit"),
        ("-1d", None, "bad --since '-1d'"),
        ("0d", None, "bad --since '0d': the window must be longer than zero"),
        ("24", None, "bad --since '24'"),
        ("2025-06-04", NOW_ISO, "bad --since '2025-06-04': 2025-06-04 00:00:00 UTC is after --now"),
        ("24h", "soon", "bad --now 'soon'"),
        ("24h", "-5", "bad --now '-5'"),
    ],
)
def test_window_rejects_bad_flags(since: str, now: str | None, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        report_window(since, now, NEWEST)


def test_format_table_aligns_columns() -> None:
    lines = format_table(("name", "n"), [("a", "1"), ("longer", "100")], [False, True])
    assert lines == ["name      n", "------  ---", "a         1", "longer  100"]


# ---------------------------------------------------------------------------------------------
# The report
# ---------------------------------------------------------------------------------------------


def test_full_report_numbers_and_breakdowns(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_main(capsys, "--db", str(db), "--now", NOW_ISO)
    assert code == 0 and err == ""
    s = summary(out)  # trade 7 exits after --now and is excluded: trades 1-6
    assert s["trades"] == "6"
    assert s["wins / losses / even"] == "3 / 2 / 1"
    assert s["win rate"] == "50.0%"
    assert s["PnL (quote)"] == "+3.0000"
    assert s["PnL % (sum per trade)"] == "+1.600%"
    assert s["avg PnL"] == "+0.5000 (+0.267%)"
    assert s["avg win"] == "+2.0000"
    assert s["avg loss"] == "-1.5000"
    assert s["reward/risk"] == "1.33"
    assert s["fees"] == "0.2100"
    assert s["avg hold"] == "18m30s"  # (600+300+1200+900+3600+60)/6 = 1110 s
    assert s["best trade"].startswith("+3.0000 (+1.500%)  rsi_bb market 2 long, exit 2025-06-03 11:00:00 UTC")
    assert s["worst trade"].startswith("-2.0000 (-0.800%)  breakout market 2 short, exit 2025-05-24 12:00:00")

    # name, trades, wins, losses, win rate, PnL, avg PnL, PnL % sum, avg win, avg loss, R/R
    assert section(out, "BY STRATEGY") == [
        ["rsi_bb", "3", "1", "1", "33.3%", "+2.0000", "+0.6667", "+1.000%", "+3.0000", "-1.0000", "3.00"],
        ["breakout", "2", "1", "1", "50.0%", "-1.0000", "-0.5000", "-0.400%", "+1.0000", "-2.0000", "0.50"],
        ["renko_ao", "1", "1", "0", "100.0%", "+2.0000", "+2.0000", "+1.000%", "+2.0000", "n/a", "n/a"],
    ]
    assert section(out, "BY EXIT REASON") == [
        ["take_profit", "3", "3", "0", "100.0%", "+6.0000", "+2.0000", "+2.900%", "+2.0000", "n/a", "n/a"],
        ["stop_loss", "2", "0", "2", "0.0%", "-3.0000", "-1.5000", "-1.300%", "n/a", "-1.5000", "n/a"],
        ["time_exit", "1", "0", "0", "0.0%", "+0.0000", "+0.0000", "+0.000%", "n/a", "n/a", "n/a"],
    ]
    assert "LAST" not in out  # no --recent


@pytest.mark.parametrize(
    ("since", "expected"),
    [
        ("24h", ("2", "1 / 1 / 0", "+2.0000", "3.00")),  # trades 1, 2
        ("7d", ("3", "2 / 1 / 0", "+3.0000", "2.00")),  # 1, 2, 3: avg win 2, avg loss -1
        ("30d", ("5", "2 / 2 / 1", "+1.0000", "1.33")),  # 1-5: avg win 2, avg loss -1.5
    ],
)
def test_since_is_relative_to_now(
    db: Path, capsys: pytest.CaptureFixture[str], since: str, expected: tuple[str, str, str, str]
) -> None:
    code, out, _ = run_main(capsys, "--db", str(db), "--since", since, "--now", NOW_ISO)
    assert code == 0
    s = summary(out)
    assert (s["trades"], s["wins / losses / even"], s["PnL (quote)"], s["reward/risk"]) == expected
    assert f"({since} before --now)" in out


def test_since_counts_back_from_the_newest_trade_not_the_wall_clock(
    db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # the README's command: the trades are dated June 2025 (event time), the wall clock is later;
    # the newest trade (7) exits at NOW + 1h, so the last 24h hold trades 1, 2 and 7
    code, out, err = run_main(capsys, "--db", str(db), "--since", "24h")
    assert code == 0 and err == ""
    s = summary(out)
    assert (s["trades"], s["PnL (quote)"]) == ("3", "+2.5000")
    assert (
        "window:   trades from 2025-06-02 13:00:00 UTC to 2025-06-03 13:00:00 UTC (24h before the newest trade)"
        in out
    )
    code, out, _ = run_main(capsys, "--db", str(db), "--since", "2h")  # trades 1 (NOW - 1h) and 7
    assert summary(out)["trades"] == "2" and summary(out)["PnL (quote)"] == "+3.5000"


def test_absolute_since(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # exits on or after 2025-05-31 12:00 (NOW - 3d): trades 3 (exactly then), 2, 1 and 7
    code, out, _ = run_main(capsys, "--db", str(db), "--since", "2025-05-31T12:00")
    assert code == 0
    assert (summary(out)["trades"], summary(out)["PnL (quote)"]) == ("4", "+3.5000")
    assert "window:   trades from 2025-05-31 12:00:00 UTC (--since) on" in out


def test_the_newest_trade_of_any_strategy_is_the_clock(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # breakout's own newest trade is 3 days old: its last 24h of the run hold none
    code, out, _ = run_main(capsys, "--db", str(db), "--strategy", "breakout", "--since", "24h")
    assert code == 0 and "no trades in the selection" in out
    assert "(24h before the newest trade)" in out


def test_span_over_an_empty_database(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "empty.db"
    asyncio.run(_write(path, []))
    code, out, err = run_main(capsys, "--db", str(path), "--since", "24h")
    assert code == 0 and err == ""
    assert "window:   24h before the newest trade (the database holds none)" in out
    assert "no trades in the selection" in out


def test_strategy_filter(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_main(capsys, "--db", str(db), "--strategy", "breakout", "--now", NOW_ISO)
    assert code == 0
    s = summary(out)
    assert (s["trades"], s["PnL (quote)"], s["reward/risk"]) == ("2", "-1.0000", "0.50")
    assert [row[0] for row in section(out, "BY STRATEGY")] == ["breakout"]
    assert "strategy: breakout" in out

    code, out, _ = run_main(
        capsys, "--db", str(db), "--strategy", "rsi_bb", "--since", "24h", "--now", NOW_ISO
    )
    assert summary(out)["trades"] == "2"


def test_recent_lists_the_last_trades_newest_first(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_main(capsys, "--db", str(db), "--recent", "2", "--now", NOW_ISO)
    assert code == 0
    assert "LAST 2 TRADES (newest first)" in out
    rows = section(out, "LAST 2 TRADES (newest first)")
    # exit, strategy, market, side, entry, exit, size, PnL, PnL %, reason, hold
    assert rows == [
        [
            "2025-06-03 11:00:00",
            "rsi_bb",
            "2",
            "long",
            "151",
            "152",
            "0.5",
            "+3.0000",
            "+1.500%",
            "take_profit",
            "10m00s",
        ],
        [
            "2025-06-03 10:00:00",
            "rsi_bb",
            "2",
            "short",
            "152",
            "153",
            "0.5",
            "-1.0000",
            "-0.500%",
            "stop_loss",
            "5m00s",
        ],
    ]
    code, out, _ = run_main(capsys, "--db", str(db), "--recent", "50", "--now", NOW_ISO)
    assert len(section(out, "LAST 6 TRADES (newest first)")) == 6


def test_empty_selection_prints_a_no_trades_report(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_main(capsys, "--db", str(db), "--strategy", "nope", "--recent", "5")
    assert code == 0 and err == ""
    assert "no trades in the selection" in out
    assert "SUMMARY" not in out


# ---------------------------------------------------------------------------------------------
# Export
# ---------------------------------------------------------------------------------------------


def test_csv_export(db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "trades.csv"
    code, out, _ = run_main(
        capsys,
        "--db",
        str(db),
        "--since",
        "7d",
        "--now",
        NOW_ISO,
        "--recent",
        "1",
        "--export",
        "csv",
        "--output",
        str(target),
    )
    assert code == 0
    assert f"exported 3 trade(s) as csv to {target}" in out  # all selected, not only --recent
    with target.open(newline="") as fh:
        reader = csv.DictReader(fh)
        assert tuple(reader.fieldnames or ()) == EXPORT_COLUMNS
        rows = list(reader)
    expected = [TRADES[2], TRADES[1], TRADES[0]]  # oldest exit first
    assert [r["strategy"] for r in rows] == [t.strategy for t in expected]
    assert [float(r["pnl_quote"]) for r in rows] == [1.0, -1.0, 3.0]
    assert [float(r["pnl_pct"]) for r in rows] == [0.4, -0.5, 1.5]
    assert [int(r["exit_ts"]) for r in rows] == [t.exit_ts for t in expected]
    assert [int(r["entry_ts"]) for r in rows] == [t.entry_ts for t in expected]
    assert rows[2]["exit_time_utc"] == "2025-06-03 11:00:00"
    assert json.loads(rows[2]["entry_context"]) == {"rsi": 31.0, "bb_pos": 0.1}
    assert rows[0]["exit_reason"] == "take_profit" and rows[0]["side"] == "long"


def test_json_export(db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "trades.json"
    code, _, _ = run_main(
        capsys,
        "--db",
        str(db),
        "--strategy",
        "rsi_bb",
        "--now",
        NOW_ISO,
        "--export",
        "json",
        "--output",
        str(target),
    )
    assert code == 0
    data = json.loads(target.read_text())
    expected = [TRADES[4], TRADES[1], TRADES[0]]  # rsi_bb trades up to NOW, oldest exit first
    assert [list(d) for d in data] == [list(EXPORT_COLUMNS)] * 3
    for row, trade in zip(data, expected, strict=True):
        for field in TradeRecord.__struct_fields__:
            assert row[field] == getattr(trade, field), field


def test_export_of_an_empty_selection(db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    csv_path, json_path = tmp_path / "e.csv", tmp_path / "e.json"
    assert (
        run_main(capsys, "--db", str(db), "--strategy", "x", "--export", "csv", "--output", str(csv_path))[0]
        == 0
    )
    assert (
        run_main(capsys, "--db", str(db), "--strategy", "x", "--export", "json", "--output", str(json_path))[
            0
        ]
        == 0
    )
    assert csv_path.read_text().strip() == ",".join(EXPORT_COLUMNS)
    assert json.loads(json_path.read_text()) == []


# ---------------------------------------------------------------------------------------------
# Errors and read-only behaviour
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "3x"], "bad --since '3x'"),
        (["--since", "0d"], "bad --since '0d'"),
        (["--now", "soon"], "bad --now 'soon'"),
        (["--since", "24"], "bad --since '24'"),
        (["--since", "2025-06-04", "--now", NOW_ISO], "is after --now"),
        (["--recent", "-1"], "bad --recent -1"),
        (["--export", "csv"], "--export and --output go together"),
    ],
)
def test_usage_errors_exit_2_with_one_line(
    db: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    code, out, err = run_main(capsys, "--db", str(db), *args)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("query_pnl: ") and message in err


def test_unreadable_databases_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_main(capsys, "--db", str(tmp_path / "missing.db"), "--since", "24h")
    assert (code, out) == (2, "") and err == f"query_pnl: no database at {tmp_path / 'missing.db'}\n"
    assert not (tmp_path / "missing.db").exists()  # looked at, not created
    code, _, err = run_main(capsys, "--db", str(tmp_path / "no_such_dir" / "paper.db"))
    assert code == 2 and err == f"query_pnl: no database at {tmp_path / 'no_such_dir' / 'paper.db'}\n"
    assert not (tmp_path / "no_such_dir").exists()
    code, _, err = run_main(capsys, "--db", str(tmp_path))  # a directory
    assert code == 2 and err == f"query_pnl: no database at {tmp_path}\n"
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not sqlite at all, just some bytes" * 10)
    code, _, err = run_main(capsys, "--db", str(garbage))
    assert code == 2 and err.startswith(f"query_pnl: cannot read {garbage}:") and err.count("\n") == 1
    empty = tmp_path / "empty.db"
    empty.touch()
    code, _, err = run_main(capsys, "--db", str(empty))
    assert code == 2 and "not a lighter-trader database" in err
    assert empty.stat().st_size == 0


def test_refuses_to_export_over_the_database(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = sha256(db)
    code, _, err = run_main(capsys, "--db", str(db), "--export", "json", "--output", str(db))
    assert code == 2 and "refusing to export over the database" in err
    assert sha256(db) == before


def test_millisecond_timestamps_are_flagged(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "ms.db"
    ms_trade = make_trade(1, "rsi_bb", "take_profit", 1.0, 0.5, 0, 1)
    ms_trade = TradeRecord(
        **{
            f: getattr(ms_trade, f) for f in TradeRecord.__struct_fields__ if f not in ("entry_ts", "exit_ts")
        },
        entry_ts=NOW // 1_000_000 - 60_000,
        exit_ts=NOW // 1_000_000,
    )
    asyncio.run(_write(path, [ms_trade]))
    code, out, err = run_main(capsys, "--db", str(path))
    assert code == 0 and summary(out)["trades"] == "1"
    assert "warning: 1 trade(s) have entry/exit times too small to be ns" in err


def test_subprocess_run_leaves_the_database_unchanged(db: Path, tmp_path: Path) -> None:
    files_before = {p.name: sha256(p) for p in db.parent.iterdir() if p.name.startswith(db.name)}
    mtime = db.stat().st_mtime_ns
    target = tmp_path / "out.csv"
    result = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--db",
            str(db),
            "--since",
            "30d",
            "--now",
            NOW_ISO,
            "--recent",
            "3",
            "--export",
            "csv",
            "--output",
            str(target),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    s = summary(result.stdout)
    assert (s["trades"], s["win rate"], s["PnL (quote)"]) == ("5", "40.0%", "+1.0000")
    assert len(target.read_text().splitlines()) == 1 + 5
    assert sha256(db) == files_before[db.name] and db.stat().st_mtime_ns == mtime
    # a read-only reader may leave an empty -wal/-shm pair behind, but never content in the WAL
    wal = db.parent / f"{db.name}-wal"
    assert not wal.exists() or wal.stat().st_size == 0

    # the README's command as written: a span counts back from the newest trade, not the wall clock
    readme = subprocess.run(
        [sys.executable, str(SCRIPT), "--db", str(db), "--since", "24h"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert readme.returncode == 0, readme.stderr
    assert summary(readme.stdout)["trades"] == "3"
    assert "(24h before the newest trade)" in readme.stdout

    missing = subprocess.run(
        [sys.executable, str(SCRIPT), "--db", str(tmp_path / "nope.db")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert missing.returncode == 2 and missing.stdout == ""
    assert missing.stderr.strip().splitlines() == [f"query_pnl: no database at {tmp_path / 'nope.db'}"]
    assert not (tmp_path / "nope.db").exists()
    bad_since = subprocess.run(
        [sys.executable, str(SCRIPT), "--db", str(db), "--since", "yesterday"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad_since.returncode == 2 and len(bad_since.stderr.strip().splitlines()) == 1
    assert sha256(db) == files_before[db.name]


def test_a_reader_that_leaves_early_gets_no_traceback(db: Path) -> None:
    # `query_pnl ... | head -1`: the pipe's reader is gone before the report is written
    proc = subprocess.Popen(
        [sys.executable, str(SCRIPT), "--db", str(db), "--since", "30d"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    assert proc.wait(timeout=60) == 1
    assert proc.stderr.read() == ""
