"""The research replay's input: --from/--to against the data's own range, and its other flags.

The pure checks (strategies/replay_args.py) are tested on small candles built here; the command
(strategies.replay.main) on small temporary CSV files and on the shared SOL month, where each bad
input must be one line on stderr naming the flag (and for a time the data's range), exit status 2,
with nothing replayed and nothing printed on stdout.
"""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from strategies.replay import main, replay
from strategies.replay_args import (
    DataRange,
    ReplayInputError,
    check_market_options,
    check_output,
    data_range,
    parse_bound,
    parse_overrides,
    select_minutes,
)
from venue.sim.sources import Candles

REPO = Path(__file__).resolve().parent.parent
MIN = 60_000
T0 = int(datetime(2025, 5, 6, 12, 0, tzinfo=UTC).timestamp() * 1000)
HEADER = "open_time_ms,open,high,low,close,volume"
SOL_RANGE = "the data covers 2025-05-04 15:33 -> 2025-06-03 15:33 UTC"


def candles_at(minutes: list[int]) -> Candles:
    """Flat candles at T0 + m minutes (the prices do not matter to the range checks)."""
    n = len(minutes)
    return Candles(
        open_time_ms=np.array([T0 + m * MIN for m in minutes], dtype=np.int64),
        open=np.full(n, 150.0),
        high=np.full(n, 150.5),
        low=np.full(n, 149.5),
        close=np.full(n, 150.0),
        volume=np.full(n, 10.0),
    )


def write_candles(path: Path, minutes: list[int], extra_rows: tuple[str, ...] = ()) -> Path:
    """A small candles CSV whose price walks up and down, so a strategy sees real mids."""
    rows = [HEADER]
    for i, m in enumerate(minutes):
        mid = 150.0 + 0.05 * ((i % 20) - 10)
        rows.append(f"{T0 + m * MIN},{mid},{mid + 0.06},{mid - 0.06},{mid + 0.01},{5 + i % 7}")
    rows.extend(extra_rows)
    path.write_text("\n".join(rows) + "\n")
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code: int, out: str, err: str, *fragments: str) -> None:
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("replay: "), err
    for fragment in fragments:
        assert fragment in err, (fragment, err)


# ---------------------------------------------------------------------------------------------
# Pure checks
# ---------------------------------------------------------------------------------------------

TEN = candles_at(list(range(10)))  # 12:00 .. 12:09, so the data ends at 12:10
TEN_RANGE = DataRange(T0, T0 + 10 * MIN)


def test_data_range_ends_a_minute_after_the_last_open() -> None:
    assert data_range(TEN, "f.csv") == TEN_RANGE
    assert str(TEN_RANGE) == "the data covers 2025-05-06 12:00 -> 2025-05-06 12:10 UTC"
    with pytest.raises(
        ReplayInputError, match=r"--candles f.csv: no valid candle in the file \(0 malformed rows\)"
    ):
        data_range(candles_at([]), "f.csv")


def test_parse_bound() -> None:
    assert parse_bound("--from", None, TEN_RANGE) is None
    assert parse_bound("--from", "2025-05-06T12:03", TEN_RANGE) == T0 + 3 * MIN  # naive is UTC
    assert parse_bound("--to", "2025-05-06T14:03+02:00", TEN_RANGE) == T0 + 3 * MIN
    assert parse_bound("--to", "2025-05-06", TEN_RANGE) == T0 - 12 * 60 * MIN
    with pytest.raises(ReplayInputError) as info:
        parse_bound("--to", "tomorrow", TEN_RANGE)
    assert str(info.value) == (
        "bad --to 'tomorrow': expected a UTC date or time such as 2025-05-06 or 2025-05-06T12:00 "
        "(the data covers 2025-05-06 12:00 -> 2025-05-06 12:10 UTC)"
    )


def test_select_minutes_keeps_from_inclusive_to_exclusive() -> None:
    picked = select_minutes(TEN, T0 + 2 * MIN, T0 + 5 * MIN, TEN_RANGE)
    assert list(picked.open_time_ms) == [T0 + 2 * MIN, T0 + 3 * MIN, T0 + 4 * MIN]
    assert (
        len(picked.open)
        == len(picked.high)
        == len(picked.low)
        == len(picked.close)
        == len(picked.volume)
        == 3
    )
    assert len(select_minutes(TEN, None, None, TEN_RANGE)) == 10
    assert len(select_minutes(TEN, T0, T0 + 10 * MIN, TEN_RANGE)) == 10  # the data's own bounds
    assert len(select_minutes(TEN, T0 + 9 * MIN, None, TEN_RANGE)) == 1  # the last minute alone
    assert len(select_minutes(TEN, T0 + 30_000, None, TEN_RANGE)) == 9  # mid-minute: from the next


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        (10, None, "--from 2025-05-06 12:10 is outside the data"),  # the data's end is exclusive
        (-1, None, "--from 2025-05-06 11:59 is outside the data"),
        (None, 0, "--to 2025-05-06 12:00 is outside the data"),  # nothing before the first minute
        (None, 11, "--to 2025-05-06 12:11 is outside the data"),
        (5, 5, "--from 2025-05-06 12:05 is not before --to 2025-05-06 12:05"),
        (6, 3, "--from 2025-05-06 12:06 is not before --to 2025-05-06 12:03"),
    ],
)
def test_select_minutes_refuses_a_range_outside_the_data(
    start: int | None, end: int | None, message: str
) -> None:
    start_ms = None if start is None else T0 + start * MIN
    end_ms = None if end is None else T0 + end * MIN
    with pytest.raises(ReplayInputError) as info:
        select_minutes(TEN, start_ms, end_ms, TEN_RANGE)
    assert str(info.value).startswith(message)
    assert str(info.value).endswith("(the data covers 2025-05-06 12:00 -> 2025-05-06 12:10 UTC)")


def test_select_minutes_in_a_gap_of_the_file() -> None:
    gappy = candles_at([0, 1, 2, 7, 8])
    data = data_range(gappy, "g.csv")
    assert len(select_minutes(gappy, T0 + 2 * MIN, T0 + 8 * MIN, data)) == 2  # 12:02 and 12:07
    with pytest.raises(
        ReplayInputError, match=r"no candle from 2025-05-06 12:03 to 2025-05-06 12:07 \(a gap"
    ):
        select_minutes(gappy, T0 + 3 * MIN, T0 + 7 * MIN, data)


def test_market_options() -> None:
    check_market_options(1000, 0.0, 1.0)
    check_market_options(15_000, 1000.0, 0.0)
    for sample_ms in (0, -1000, 7, 30_000):  # 30 s is only 2 samples a minute
        with pytest.raises(ReplayInputError, match=f"bad --sample-ms {sample_ms}: "):
            check_market_options(sample_ms, 0.0, 1.0)
    for fee in (-0.5, float("nan"), float("inf"), 1000.5):
        with pytest.raises(ReplayInputError, match="bad --fee-bps .*expected 0 to 1000 bps"):
            check_market_options(1000, fee, 1.0)
    for spread in (-1.0, float("nan"), 5000.0):
        with pytest.raises(ReplayInputError, match="bad --spread-bps .*expected 0 to 1000 bps"):
            check_market_options(1000, 0.0, spread)


def test_parse_overrides() -> None:
    assert parse_overrides(["rsi_period=14", "trailing_stop=true", "bb_std=2.5"]) == {
        "rsi_period": 14,
        "trailing_stop": True,
        "bb_std": 2.5,
    }
    with pytest.raises(ReplayInputError, match=r"bad --set 'rsi_period': expected NAME=JSON"):
        parse_overrides(["rsi_period"])
    with pytest.raises(ReplayInputError, match=r"bad --set '=3': expected NAME=JSON"):
        parse_overrides(["=3"])
    with pytest.raises(ReplayInputError, match=r"bad --set 'rsi_period=fast': the value is not JSON"):
        parse_overrides(["rsi_period=fast"])


def test_check_output(tmp_path: Path) -> None:
    assert check_output(None) is None
    assert check_output(tmp_path / "t.csv") == tmp_path / "t.csv"
    with pytest.raises(ReplayInputError, match="it is a directory"):
        check_output(tmp_path)
    with pytest.raises(ReplayInputError, match=f"no directory {tmp_path / 'nope'}"):
        check_output(tmp_path / "nope" / "t.csv")


# ---------------------------------------------------------------------------------------------
# The command, on the shared SOL month
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flags", "fragments"),
    [
        (["--from", "2026-01-01"], ["--from 2026-01-01 00:00 is outside the data", SOL_RANGE]),
        (["--to", "2025-05-01"], ["--to 2025-05-01 00:00 is outside the data", SOL_RANGE]),
        (["--from", "2025-05-04"], ["--from 2025-05-04 00:00 is outside the data"]),  # before 15:33
        (
            ["--from", "2025-05-10", "--to", "2025-05-09"],
            ["--from 2025-05-10 00:00 is not before --to", SOL_RANGE],
        ),
        (["--from", "2025-05-10", "--to", "2025-05-10"], ["is not before --to 2025-05-10 00:00"]),
        (["--from", "May 10"], ["bad --from 'May 10': expected a UTC date or time", SOL_RANGE]),
        (["--to", "2025-13-01"], ["bad --to '2025-13-01'", SOL_RANGE]),
    ],
)
def test_a_range_outside_the_sol_month_is_an_error(
    sol_candles_path: Path, capsys: pytest.CaptureFixture[str], flags: list[str], fragments: list[str]
) -> None:
    code, out, err = run(capsys, "--strategy", "rsi_bb", "--candles", str(sol_candles_path), *flags)
    assert_one_line_error(code, out, err, *fragments)


def test_the_last_minute_of_the_sol_month_replays(
    sol_candles_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(
        capsys,
        "--strategy",
        "rsi_bb",
        "--candles",
        str(sol_candles_path),
        "--from",
        "2025-06-03T15:32",
        "--json",
    )
    assert code == 0 and err == ""
    summary = json.loads(out)
    assert (summary["from"], summary["to"], summary["minutes"]) == ("2025-06-03 15:32", "2025-06-03 15:33", 1)


def test_the_library_call_refuses_a_range_outside_the_data_too(sol_candles_path: Path) -> None:
    with pytest.raises(ReplayInputError, match="--from 2026-01-01 00:00 is outside the data"):
        replay("rsi_bb", sol_candles_path, start=datetime(2026, 1, 1, tzinfo=UTC))


# ---------------------------------------------------------------------------------------------
# The command, on small files
# ---------------------------------------------------------------------------------------------


def test_a_small_file_replays_and_reports_its_malformed_rows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_candles(tmp_path / "c.csv", list(range(30)), extra_rows=("not,a,candle", f"{T0},1,1,1,1,1"))
    code, out, err = run(capsys, "--strategy", "rsi_bb", "--candles", str(path), "--to", "2025-05-06T12:20")
    assert code == 0 and err == ""
    first = out.splitlines()[0]
    assert "2025-05-06 12:00 -> 2025-05-06 12:20 UTC, 20 minutes (2 malformed rows dropped)" in first
    code, out, _ = run(capsys, "--strategy", "rsi_bb", "--candles", str(path), "--json")
    assert json.loads(out)["malformed_rows"] == 2 and json.loads(out)["minutes"] == 30


@pytest.mark.parametrize(
    ("flags", "fragments"),
    [
        (["--fee-bps", "-2"], ["bad --fee-bps -2: expected 0 to 1000 bps"]),
        (["--fee-bps", "nan"], ["bad --fee-bps nan"]),
        (["--spread-bps", "-1"], ["bad --spread-bps -1"]),
        (["--sample-ms", "-1000"], ["bad --sample-ms -1000"]),
        (["--sample-ms", "7"], ["bad --sample-ms 7"]),
        (["--set", "rsi_period"], ["bad --set 'rsi_period': expected NAME=JSON"]),
        (["--set", "rsi_period=fast"], ["bad --set 'rsi_period=fast': the value is not JSON"]),
        (
            ["--set", "no_such_param=1"],
            ["bad --set: rsi_bb params: Object contains unknown field `no_such_param`"],
        ),
        (["--preset", "nope"], ["unknown preset 'nope' for rsi_bb"]),
        (
            ["--from", "2025-05-06T13:00"],
            ["--from 2025-05-06 13:00 is outside the data", "12:00 -> 2025-05-06 12:30"],
        ),
    ],
)
def test_bad_flags_are_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flags: list[str], fragments: list[str]
) -> None:
    path = write_candles(tmp_path / "c.csv", list(range(30)))
    code, out, err = run(capsys, "--strategy", "rsi_bb", "--candles", str(path), *flags)
    assert_one_line_error(code, out, err, *fragments)


def test_bad_files_are_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = write_candles(tmp_path / "c.csv", list(range(5)))

    missing = tmp_path / "missing.csv"
    assert_one_line_error(
        *run(capsys, "--strategy", "rsi_bb", "--candles", str(missing)), f"--candles {missing}: no such file"
    )
    assert_one_line_error(*run(capsys, "--strategy", "rsi_bb", "--candles", str(tmp_path)), "no such file")

    only_header = tmp_path / "empty.csv"
    only_header.write_text(HEADER + "\nnot,a,candle\n")
    assert_one_line_error(
        *run(capsys, "--strategy", "rsi_bb", "--candles", str(only_header)),
        f"--candles {only_header}: no valid candle in the file (1 malformed rows)",
    )

    wrong = tmp_path / "wrong.csv"
    wrong.write_text("time,price\n1,2\n")
    assert_one_line_error(
        *run(capsys, "--strategy", "rsi_bb", "--candles", str(wrong)), "expected CSV header"
    )

    truncated = tmp_path / "cut.csv.gz"
    truncated.write_bytes(gzip.compress(good.read_bytes())[:40])
    assert_one_line_error(
        *run(capsys, "--strategy", "rsi_bb", "--candles", str(truncated)),
        f"--candles {truncated}: cannot read it",
    )

    out_file = tmp_path / "no_dir" / "t.csv"
    assert_one_line_error(
        *run(capsys, "--strategy", "rsi_bb", "--candles", str(good), "--out", str(out_file)),
        f"bad --out {out_file}: no directory {tmp_path / 'no_dir'}",
    )
    assert not out_file.parent.exists()


def test_a_reader_that_leaves_early_gets_no_traceback(tmp_path: Path) -> None:
    # `python -m strategies.replay ... | head -1`: the pipe's reader is gone before the summary is written
    path = write_candles(tmp_path / "c.csv", list(range(10)))
    proc = subprocess.Popen(
        [sys.executable, "-m", "strategies.replay", "--strategy", "rsi_bb", "--candles", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    assert proc.wait(timeout=60) == 1
    assert proc.stderr.read() == ""
