"""research/ without Ray: folds, metrics on hand-computed examples, the objective, search spaces,
the candles checks, the reports, and the sweep command's bad input (one line, exit status 2)."""

from __future__ import annotations

import gzip
import math
import subprocess
import sys
from pathlib import Path

import pytest

from messages.state import TradeRecord
from research import svg
from research.data import load_sweep_candles
from research.errors import ResearchInputError
from research.folds import DAY_MS, MINUTE_MS, make_folds
from research.html_report import sweep_html
from research.metrics import compute_metrics
from research.objective import FAILED, PENALTY, score
from research.report import metrics_table, sweep_table
from research.space import load_space
from research.sweep import main as sweep_main
from research.trial import SearchSetup, TrialOutcome, best_of, run_trial
from research.walk_forward import walk_forward

REPO = Path(__file__).resolve().parent.parent
S = 1_746_316_800_000  # 2025-05-04 00:00 UTC
H = 3_600_000


def trade(entry_ms: int, exit_ms: int, pnl: float, reason: str, fees: float = 0.5) -> TradeRecord:
    return TradeRecord(strategy="t", account_index=1, market_id=2, side="long", entry_price=100.0, exit_price=100.0,
                       entry_ts=entry_ms * 1_000_000, exit_ts=exit_ms * 1_000_000, size=0.1, fees=fees,
                       pnl_quote=pnl, pnl_pct=0.0, exit_reason=reason, mfe_bps=0.0, mae_bps=0.0,
                       ts_event=exit_ms * 1_000_000, seq=0)


# --- folds --------------------------------------------------------------------------------------

@pytest.mark.parametrize("scheme", ["rolling", "anchored"])
@pytest.mark.parametrize(("n", "train", "test"), [(1, 7, 2), (4, 7, 2), (5, 3.5, 0.75), (10, 1, 1)])
def test_folds_never_test_on_what_they_trained_on(scheme: str, n: int, train: float, test: float) -> None:
    start, end = S, S + 30 * DAY_MS
    folds = make_folds(start, end, n=n, train_days=train, test_days=test, scheme=scheme)
    assert len(folds) == n
    assert folds[-1].test_end_ms == end  # laid against the end of the data
    for i, f in enumerate(folds):
        assert start <= f.train_start_ms < f.train_end_ms == f.test_start_ms < f.test_end_ms <= end
        assert f.test_minutes == round(test * 1440)
        # no test window overlaps a train window of the same fold, and it follows it
        assert f.test_start_ms >= f.train_end_ms
        if i:
            assert f.test_start_ms == folds[i - 1].test_end_ms  # test windows follow one another, no overlap
        if scheme == "rolling":
            assert f.train_minutes == round(train * 1440)
            assert f.train_start_ms == folds[0].train_start_ms + i * f.test_minutes * MINUTE_MS
        else:
            assert f.train_start_ms == folds[0].train_start_ms
            assert f.train_minutes == round(train * 1440) + i * f.test_minutes * 1


def test_folds_need_enough_candles() -> None:
    make_folds(S, S + 15 * DAY_MS, n=4, train_days=7, test_days=2)  # exactly enough
    with pytest.raises(ResearchInputError, match=r"not enough candles: 4 folds of 7 train \+ 2 test days need 21600"):
        make_folds(S, S + 15 * DAY_MS - MINUTE_MS, n=4, train_days=7, test_days=2)
    for kwargs, flag in (({"n": 0}, "--folds"), ({"train_days": 0}, "--train-days"), ({"test_days": -1}, "--test-days"),
                         ({"scheme": "expanding"}, "--scheme")):
        args = {"n": 2, "train_days": 1.0, "test_days": 1.0, "scheme": "rolling", **kwargs}
        with pytest.raises(ResearchInputError, match=flag):
            make_folds(S, S + 30 * DAY_MS, **args)  # type: ignore[arg-type]


# --- metrics ------------------------------------------------------------------------------------

def test_metrics_on_a_hand_computed_window() -> None:
    trades = [
        trade(S + 1 * H, S + 2 * H, +3.0, "take_profit"),
        trade(S + 3 * H, S + 4 * H, -5.0, "stop_loss"),
        trade(S + 25 * H, S + 26 * H, +1.0, "take_profit"),
        trade(S + 51 * H, S + 53 * H, +4.0, "time_stop"),
    ]
    m = compute_metrics(trades, S, S + 3 * DAY_MS)
    assert (m.trades, m.wins, m.losses, m.win_rate) == (4, 3, 1, 0.75)
    assert m.net_pnl == pytest.approx(3.0) and m.fees == pytest.approx(2.0) and m.gross_pnl == pytest.approx(5.0)
    assert m.profit_factor == pytest.approx(8 / 5)
    assert m.avg_hold_s == pytest.approx(4500.0)
    # equity 0 -> 3 (peak, S+2h) -> -2 -> -1 -> 3 (back at the peak at S+53h): 5 deep, 51 h long
    assert m.max_drawdown == pytest.approx(5.0)
    assert m.max_drawdown_duration_s == pytest.approx(51 * 3600)
    assert m.per_day == {"2025-05-04": -2.0, "2025-05-05": 1.0, "2025-05-06": 4.0}
    assert m.per_month == {"2025-05": pytest.approx(3.0)}
    # daily mean 1, sample std 3; downside deviation sqrt(4/3)
    assert m.sharpe == pytest.approx(1 / 3 * math.sqrt(365))
    assert m.sortino == pytest.approx(1 / math.sqrt(4 / 3) * math.sqrt(365))
    assert m.calmar == pytest.approx(3.0 * 365 / 3 / 5.0)
    assert m.by_exit_reason["take_profit"] == {"count": 2, "wins": 2, "pnl": 4.0}
    assert m.by_exit_reason["stop_loss"] == {"count": 1, "wins": 0, "pnl": -5.0}


def test_metrics_without_a_measured_risk_are_not_available() -> None:
    m = compute_metrics([trade(S + H, S + 2 * H, 1.0, "take_profit"), trade(S + 25 * H, S + 26 * H, 2.0, "tp")],
                        S, S + 2 * DAY_MS)
    assert m.max_drawdown == 0.0 and m.max_drawdown_duration_s == 0.0
    assert m.calmar is None and m.sortino is None and m.profit_factor is None
    assert m.sharpe == pytest.approx(1.5 / math.sqrt(0.5) * math.sqrt(365))
    empty = compute_metrics([], S, S + DAY_MS)
    assert empty.trades == 0 and empty.sharpe is None and empty.per_day == {"2025-05-04": 0.0}


def test_an_unrecovered_drawdown_lasts_until_the_window_ends() -> None:
    m = compute_metrics([trade(S, S + H, 2.0, "tp"), trade(S + H, S + 2 * H, -3.0, "sl")], S, S + DAY_MS)
    assert m.max_drawdown == pytest.approx(3.0)
    assert m.max_drawdown_duration_s == pytest.approx(23 * 3600)  # peak at S+1h, never back


def test_objective_penalises_too_few_trades_and_missing_ratios() -> None:
    trades = [trade(S + H, S + 2 * H, 1.0, "tp"), trade(S + 25 * H, S + 26 * H, -0.5, "sl")]
    m = compute_metrics(trades, S, S + 2 * DAY_MS)
    assert score(m, "net_pnl", 2) == pytest.approx(0.5)
    assert score(m, "max_drawdown", 2) == pytest.approx(-0.5)
    assert score(m, "net_pnl", 5) == PENALTY - 3 < score(m, "net_pnl", 3) == PENALTY - 1 < -1e8
    assert score(compute_metrics(trades[:1], S, S + 2 * DAY_MS), "calmar", 0) == PENALTY  # no drawdown: n/a
    failed = TrialOutcome(params={"a": 1}, score=FAILED, error="boom", number=0)
    low = TrialOutcome(params={"a": 2}, score=PENALTY, number=1)
    tie = TrialOutcome(params={"a": 3}, score=PENALTY, number=2)
    assert best_of([tie, failed, low]) is low  # failures never chosen; the earliest of a tie


# --- search spaces ------------------------------------------------------------------------------

def test_space_from_yaml_and_flags(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("strategy: rsi_bb\nparams:\n  rsi_period: int:5:30\n  take_profit_bps: {type: float, low: 2, high: 20,"
                    " log: true}\n  candle_interval_s: {choice: [15, 30]}\n  trailing_stop: bool\n")
    space = load_space("rsi_bb", "selective", path, ["rsi_period=int:3:9"])
    assert space["rsi_period"].describe() == "int:3:9"  # the flag wins over the file
    assert space["take_profit_bps"].describe() == "float:2:20:log"
    assert space["candle_interval_s"].choices == (15, 30)
    assert space["trailing_stop"].kind == "bool"
    for kind in ("rsi_bb", "renko_ao", "breakout"):  # the shipped spaces are valid
        assert load_space(kind, "default", REPO / "research" / "spaces" / f"{kind}.yaml", [])


@pytest.mark.parametrize(("flag", "message"), [
    ("rsi_perod=int:2:10", "unknown parameter 'rsi_perod' for rsi_bb (did you mean rsi_period?)"),
    ("rsi_period=float:2:10", "bad range for rsi_period: float:2:10 does not fit its type (int)"),
    ("trailing_stop=int:0:1", "does not fit its type (bool)"),
    ("take_profit_bps=bool", "does not fit its type (float)"),
    ("rsi_period=int:5.5:9", "'5.5' is not an integer"),
    ("take_profit_bps=float:5:5", "LOW must be below HIGH"),
    ("take_profit_bps=float:0:5:log", "a log scale needs LOW > 0"),
    ("rsi_period=int:0:10", "rsi_bb does not accept rsi_period=0"),
    ("bb_std=choice:1.5,\"x\"", "does not accept bb_std=\"x\""),
    ("rsi_period", "expected NAME=SPEC"),
    ("rsi_period=range:1:2", "expected int:LOW:HIGH"),
])
def test_space_refuses_what_the_strategy_cannot_take(flag: str, message: str) -> None:
    with pytest.raises(ResearchInputError) as err:
        load_space("rsi_bb", "default", None, [flag])
    assert message in str(err.value) and "\n" not in str(err.value)


# --- the candles file ---------------------------------------------------------------------------

def write_candles(path: Path, times: list[int]) -> Path:
    rows = ["open_time_ms,open,high,low,close,volume"]
    rows += [f"{t},150.0,150.2,149.9,150.1,10" for t in times]
    with gzip.open(path, "wt") as fh:
        fh.write("\n".join(rows) + "\n")
    return path


def test_candles_must_be_sorted_and_without_gaps(tmp_path: Path) -> None:
    times = [S + i * MINUTE_MS for i in range(10)]
    assert len(load_sweep_candles(write_candles(tmp_path / "ok.csv.gz", times))) == 10
    swapped = times[:4] + [times[5], times[4]] + times[6:]
    with pytest.raises(ResearchInputError, match=r"rows not sorted by time: line 7 opens at 2025-05-04 00:04"):
        load_sweep_candles(write_candles(tmp_path / "unsorted.csv.gz", swapped))
    with pytest.raises(ResearchInputError, match=r"gap in the candles: 2 minute\(s\) missing between 2025-05-04 00:03"):
        load_sweep_candles(write_candles(tmp_path / "gap.csv.gz", times[:4] + times[6:]))
    with pytest.raises(ResearchInputError, match="no such file"):
        load_sweep_candles(tmp_path / "absent.csv.gz")


# --- the command's bad input --------------------------------------------------------------------

@pytest.fixture
def small_candles(tmp_path: Path) -> Path:
    return write_candles(tmp_path / "day.csv.gz", [S + i * MINUTE_MS for i in range(1440)])


@pytest.mark.parametrize(("extra", "message"), [
    (["--param", "nope=int:1:2"], "unknown parameter 'nope' for rsi_bb"),
    (["--param", "rsi_period=float:1:2"], "does not fit its type (int)"),
    (["--param", "rsi_period=int:5:9", "--folds", "4", "--train-days", "1"], "not enough candles"),
    (["--param", "rsi_period=int:5:9", "--metric", "luck"], "bad --metric 'luck'"),
    (["--param", "rsi_period=int:5:9", "--html", "/no/such/dir/r.html"], "bad --html"),
    ([], "empty search space"),
])
def test_bad_input_is_one_line_and_exit_2(small_candles: Path, capsys: pytest.CaptureFixture[str],
                                          extra: list[str], message: str) -> None:
    code = sweep_main(["--strategy", "rsi_bb", "--data", str(small_candles), "--folds", "2",
                       "--train-days", "0.25", "--test-days", "0.25", *extra])
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1, err


def test_bad_data_through_python_m_and_lighter_trader(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    times = [S + i * MINUTE_MS for i in range(100)]
    gap = write_candles(tmp_path / "gap.csv.gz", times[:50] + times[51:])
    args = ["--strategy", "rsi_bb", "--data", str(gap), "--param", "rsi_period=int:5:9", "--folds", "1",
            "--train-days", "0.01", "--test-days", "0.01"]
    done = subprocess.run([sys.executable, "-m", "research.sweep", *args], capture_output=True, text=True,
                          timeout=60, cwd=REPO, env={"PATH": "/usr/bin:/bin", "RAY_USAGE_STATS_ENABLED": "0"})
    assert done.returncode == 2 and "gap in the candles: 1 minute(s) missing" in done.stderr
    assert done.stderr.count("\n") == 1 and not done.stdout
    from lighter_cli.main import main as cli_main

    assert cli_main(["sweep", *args]) == 2  # the same check through `lighter-trader sweep`
    with pytest.raises(SystemExit) as exit_info:
        cli_main(["sweep", "--strategy", "rsi_bb", "--data", str(gap), "--folds", "x"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.splitlines()
    assert "lighter-trader sweep: error: --data" in err[0] and "gap in the candles" in err[0]
    assert err[1] == "lighter-trader sweep: error: argument --folds: invalid int value: 'x'"


# --- walk-forward and the reports, searched here by a small grid instead of Tune ----------------

def test_walk_forward_reports_each_fold_and_a_failed_trial(sol_candles_path: Path) -> None:
    from research.data import window

    candles = load_sweep_candles(sol_candles_path)
    start = int(candles.open_time_ms[0])
    candles = window(candles, start, start + DAY_MS // 2)
    space = load_space("rsi_bb", "default", None, ["rsi_period=int:3:9", "rsi_momentum_strength=float:0:10"])
    setup = SearchSetup(kind="rsi_bb", preset="default", space=space, min_trades=1)
    folds = make_folds(start, start + DAY_MS // 2, n=2, train_days=0.125, test_days=0.125)
    grid = [{"rsi_period": 5, "rsi_momentum_strength": 2.0}, {"rsi_period": 9, "rsi_momentum_strength": 0.0},
            {"rsi_period": 4, "rsi_momentum_strength": "strong"}]  # the last one raises in the replay

    def search(fold):  # type: ignore[no-untyped-def]
        outcomes = [run_trial(setup, candles, fold.train_start_ms, fold.train_end_ms, p) for p in grid]
        for i, o in enumerate(outcomes):
            o.number = i
        return outcomes

    result = walk_forward(setup, candles, folds, search)
    assert [len(r.failed_trials) for r in result.folds] == [1, 1]
    assert "ValueError" in (result.folds[0].failed_trials[0].error or "")
    for r in result.folds:
        assert r.best is not None and r.best.params in grid[:2]
        assert r.best.score == max(o.score for o in r.trials)
        assert r.test_metrics is not None and r.test_metrics.trades > 0
        for t in r.test_trades:  # test trades come from the test window only
            assert r.fold.test_start_ms * 1_000_000 <= t.entry_ts < r.fold.test_end_ms * 1_000_000
    assert result.oos_metrics.trades == sum(len(r.test_trades) for r in result.folds)
    result.info = {"trials": 3, "seed": None, "scheme": "rolling"}
    table = sweep_table(result)
    assert "| 1 | " in table and "| 2 | " in table and "1 trial(s) failed" not in table and "2 trial(s) failed" in table
    page = sweep_html(result)
    assert page.count("<svg") >= 5 and 'id="folds"' in page and "<script" not in page and "http" not in page.replace(
        'xmlns="http://www.w3.org/2000/svg"', "")
    assert "in-sample PnL" in page and "rsi_period=" in page
    assert "| exit reason |" in metrics_table(result.oos_metrics)


def test_svg_charts_scale_to_their_data() -> None:
    chart = svg.bar_chart(["a", "b"], [2.0, -1.0], title="t")
    assert chart.startswith("<svg") and chart.count("<rect") == 3  # background + two bars
    assert svg.POS in chart and svg.NEG in chart
    hist = svg.histogram([1.0, 1.0, 2.0, -3.0], bins=3, title="h")
    assert "<title>-3 to -1.333: 1</title>" in hist and "<title>0.3333 to 2: 3</title>" in hist
    assert "(no data)" in svg.line_chart([], title="x")


def test_the_adapter_replays_the_same_trades_as_the_plain_replay(sol_candles_path: Path) -> None:
    from research.data import window
    from research.replay_adapter import replay_window
    from strategies.replay import replay_candles

    candles = load_sweep_candles(sol_candles_path)
    start = int(candles.open_time_ms[0])
    w = window(candles, start, start + DAY_MS // 4)
    params = {"rsi_period": 5, "rsi_momentum_strength": 2.0}
    fast = replay_window("rsi_bb", "default", params, w, fee_bps=2.0, sample_ms=1000)
    plain = replay_candles("rsi_bb", w, overrides=params, fee_bps=2.0, sample_ms=1000)
    assert len(fast.trades) > 10 and fast.trades == plain.trades


def test_progress_bar_off_a_terminal_writes_a_line_per_tenth() -> None:
    import io

    from research.progress import Progress

    stream = io.StringIO()
    bar = Progress(20, "sweep x", stream=stream)
    for _ in range(20):
        bar.advance(note="fold 1/1")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 11 and lines[-1].startswith("sweep x [" + "#" * 30 + "] 20/20")


def test_replay_writes_its_html_report(sol_candles_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from strategies.replay import main as replay_main

    out = tmp_path / "replay.html"
    args = ["--strategy", "rsi_bb", "--candles", str(sol_candles_path), "--from", "2025-05-05", "--to",
            "2025-05-05T03:00", "--set", "rsi_momentum_strength=2", "--fee-bps", "2", "--html", str(out)]
    assert replay_main(args) == 0
    trades = int(capsys.readouterr().out.split("| trades | ")[1].split()[0])
    page = out.read_text()
    assert trades > 0 and f">{trades} (" in page  # the summary table: "N (W W / L L)"
    for title in ("Equity", "Drawdown (quote)", f"Trade PnL distribution ({trades} trades)", "PnL by exit reason",
                  "PnL per day"):
        assert title in page
    assert page.count("<svg") == 5 and "<script" not in page
    assert replay_main([*args[:-1], str(tmp_path / "no" / "r.html")]) == 2
    assert "cannot write --html" in capsys.readouterr().err
    assert replay_main([*args[:-2], "--figures"]) == 0
    figures = capsys.readouterr().out.split("figures (research.metrics):")[1]
    assert f"| trades | {trades} (" in figures and "| Sortino (daily, annualised) |" in figures
    assert "| 2025-05-05 |" in figures and "| 2025-05 |" in figures  # per day, per month


def test_a_window_is_warmed_up_on_the_minutes_before_it_and_counts_only_its_own_trades(sol_candles_path: Path) -> None:
    from research.trial import window_trades

    candles = load_sweep_candles(sol_candles_path)
    start = int(candles.open_time_ms[0]) + 6 * H
    end = start + 3 * H
    # 1-minute candles and a 30-candle band: cold, nothing can be entered in the window's first 30 minutes
    params = {"candle_interval_s": 60, "bb_period": 30, "rsi_momentum_strength": 0.0, "volatility_min_bps": 0.0,
              "trend_confirmation_bps": 0.0}
    cold = window_trades(SearchSetup(kind="rsi_bb", preset="default", space={}), candles, start, end, params)
    warm = window_trades(SearchSetup(kind="rsi_bb", preset="default", space={}, warmup_minutes=120), candles, start,
                         end, params)
    assert cold and min(t.entry_ts for t in cold) >= (start + 30 * MINUTE_MS) * 1_000_000
    assert warm and all(start * 1_000_000 <= t.entry_ts < end * 1_000_000 for t in warm)
    assert min(t.entry_ts for t in warm) < (start + 30 * MINUTE_MS) * 1_000_000  # ready when the window opens
    # a warm-up reaching before the data starts from the data's first minute
    first = window_trades(SearchSetup(kind="rsi_bb", preset="default", space={}, warmup_minutes=600), candles,
                          start - 6 * H, start, params)
    assert all(t.entry_ts >= (start - 6 * H) * 1_000_000 for t in first)
