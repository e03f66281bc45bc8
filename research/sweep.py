"""Walk-forward parameter search of a directional strategy, on Ray Tune with Optuna.

    python -m research.sweep --strategy rsi_bb [--preset P] --data CANDLES.csv.gz
        (--space research/spaces/rsi_bb.yaml | --param NAME=SPEC ...)
        [--folds 4] [--train-days 7] [--test-days 2] [--scheme rolling|anchored]
        [--trials 100] [--seed N] [--startup-trials 10] [--metric net_pnl|sharpe|sortino|calmar|...] [--min-trades 10]
        [--fee-bps 0] [--sample-ms 1000] [--warmup-hours 12] [--address RAY_ADDRESS | --num-cpus N]
        [--concurrency N]
        [--html report.html] [--json result.json]
    (also `lighter-trader sweep ...`)

For each fold (research.folds), --trials trials replay the train window with parameters sampled
from the space (research.space) and are scored by --metric with --min-trades (research.objective);
the best is replayed on the test window that follows, never seen by the search. The terminal gets
a progress bar (stderr), then each fold in-sample vs out-of-sample and the out-of-sample figures
(stdout); --html writes the same with charts as one self-contained file.
Every input is checked before Ray starts: a bad flag, an unknown parameter, a range the parameter
cannot take, a data file unsorted or with a gap, or fewer candles than the folds need is one line
on stderr and exit status 2. A trial that raises is reported in the table, not fatal.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from config.cli import OneLineParser
from research.data import load_sweep_candles
from research.errors import ResearchInputError
from research.folds import SCHEMES, Fold, make_folds
from research.objective import METRICS, check_metric, is_penalised
from research.progress import Progress
from research.report import sweep_json, sweep_table
from research.space import load_space
from research.trial import SearchSetup
from research.walk_forward import FoldResult, SweepResult, walk_forward
from strategies.registry import DEFAULT_PRESET, KINDS
from strategies.replay_args import ReplayInputError, check_market_options, minute_text
from venue.sim.candle_source import Candles

PROG = "python -m research.sweep"


def build_parser(prog: str = PROG) -> argparse.ArgumentParser:
    ap = OneLineParser(prog=prog, description=__doc__.split("\n\n")[0])
    ap.add_argument("--strategy", required=True, choices=sorted(KINDS))
    ap.add_argument("--preset", default=DEFAULT_PRESET, help="the parameters not searched (default: default)")
    ap.add_argument("--data", required=True, type=Path, help="1-minute candles CSV (gzip ok), sorted, no gap")
    ap.add_argument("--space", type=Path, help="YAML search space (research/spaces/*.yaml)")
    ap.add_argument("--param", action="append", default=[], metavar="NAME=SPEC",
                    help="a dimension: int:LOW:HIGH[:log], float:LOW:HIGH[:log], choice:A,B or bool")
    ap.add_argument("--folds", type=int, default=4)
    ap.add_argument("--train-days", type=float, default=7.0)
    ap.add_argument("--test-days", type=float, default=2.0)
    ap.add_argument("--scheme", default="rolling", choices=SCHEMES)
    ap.add_argument("--trials", type=int, default=50, help="trials per fold")
    ap.add_argument("--seed", type=int, help="seed the sampler; runs one trial at a time so it reproduces")
    ap.add_argument("--startup-trials", type=int, default=10,
                    help="trials a fold drawn at random before TPE samples from the results (default 10)")
    ap.add_argument("--metric", default="net_pnl", help=f"objective: {', '.join(METRICS)}")
    ap.add_argument("--min-trades", type=int, default=10, help="fewer trades in a train window scores as penalised")
    ap.add_argument("--fee-bps", type=float, default=0.0, help="taker and maker fee (premium taker: 1.96)")
    ap.add_argument("--sample-ms", type=int, default=1000, help="event time between mids in the replay")
    ap.add_argument("--warmup-hours", type=float, default=12.0,
                    help="replay this long before each window to warm the indicators up (no trade counted there)")
    ap.add_argument("--address", help="a Ray cluster to run on (default: Ray on this machine)")
    ap.add_argument("--num-cpus", type=int, help="CPUs for the local Ray (default: all)")
    ap.add_argument("--concurrency", type=int, help="trials at once (default: 1 with --seed, else the CPUs)")
    ap.add_argument("--html", type=Path, help="write the HTML report here")
    ap.add_argument("--json", type=Path, help="write the result as JSON here")
    return ap


def _check_out(flag: str, path: Path | None) -> None:
    if path is not None and (path.is_dir() or not path.parent.is_dir()):
        raise ResearchInputError(f"bad {flag} {path}: not a file in an existing directory")


def prepare(args: argparse.Namespace) -> tuple[SearchSetup, Candles, list[Fold]]:
    """Everything checked, before Ray: (setup, candles, folds); ResearchInputError otherwise."""
    if args.trials < 1:
        raise ResearchInputError(f"bad --trials {args.trials}: expected 1 or more")
    if args.min_trades < 0:
        raise ResearchInputError(f"bad --min-trades {args.min_trades}: expected 0 or more")
    if args.startup_trials < 1:
        raise ResearchInputError(f"bad --startup-trials {args.startup_trials}: expected 1 or more")
    if args.concurrency is not None and args.concurrency < 1:
        raise ResearchInputError(f"bad --concurrency {args.concurrency}: expected 1 or more")
    if args.num_cpus is not None and args.num_cpus < 1:
        raise ResearchInputError(f"bad --num-cpus {args.num_cpus}: expected 1 or more")
    try:
        check_market_options(args.sample_ms, args.fee_bps, 1.0)
    except ReplayInputError as exc:
        raise ResearchInputError(str(exc)) from None
    check_metric(args.metric)
    if not 0 <= args.warmup_hours <= 24 * 30:
        raise ResearchInputError(f"bad --warmup-hours {args.warmup_hours:g}: expected 0 to 720")
    _check_out("--html", args.html)
    _check_out("--json", args.json)
    space = load_space(args.strategy, args.preset, args.space, args.param)
    candles = load_sweep_candles(args.data)
    folds = make_folds(int(candles.open_time_ms[0]), int(candles.open_time_ms[-1]) + 60_000, n=args.folds,
                       train_days=args.train_days, test_days=args.test_days, scheme=args.scheme)
    setup = SearchSetup(kind=args.strategy, preset=args.preset, space=space, metric=args.metric,
                        min_trades=args.min_trades, fee_bps=args.fee_bps, sample_ms=args.sample_ms,
                        warmup_minutes=round(args.warmup_hours * 60))
    return setup, candles, folds


def run(args: argparse.Namespace) -> SweepResult:
    setup, candles, folds = prepare(args)
    from research import tune_runner  # Ray is imported only once the input is known good

    tune_runner.start_ray(args.address, args.num_cpus or os.cpu_count())
    bar = Progress(args.trials * len(folds), f"sweep {setup.kind}")
    state = {"fold": 0, "best": float("-inf")}  # for the bar: the fold searched and its best score so far

    def on_trial(score: float) -> None:
        if score == score:  # a trial that died in Tune reports NaN
            state["best"] = max(state["best"], score)
        shown = "-" if is_penalised(state["best"]) else f"{state['best']:+.4g}"
        bar.advance(note=f"fold {int(state['fold']) + 1}/{len(folds)} best {shown}")

    def on_fold(result: FoldResult) -> None:
        state["fold"], state["best"] = result.fold.index + 1, float("-inf")

    storage = Path(tempfile.mkdtemp(prefix="lt-sweep-"))
    began = time.monotonic()
    try:
        result = walk_forward(
            setup, candles, folds,
            search=lambda fold: tune_runner.search_fold(setup, candles, fold, trials=args.trials, seed=args.seed,
                                                        storage_dir=storage, concurrency=args.concurrency,
                                                        startup_trials=args.startup_trials,
                                                        on_trial=on_trial),
            on_fold=on_fold,
        )
    finally:
        bar.close()
        shutil.rmtree(storage, ignore_errors=True)
    replays = [t.seconds for r in result.folds for t in r.trials if t.seconds > 0]
    result.info = {"data": str(args.data), "scheme": args.scheme, "trials": args.trials, "seed": args.seed,
                   "seconds": time.monotonic() - began,
                   "trial_replay_s": sum(replays) / len(replays) if replays else 0.0,
                   "data_span": f"{minute_text(int(candles.open_time_ms[0]))} -> "
                                f"{minute_text(int(candles.open_time_ms[-1]) + 60_000)}"}
    return result


def main(argv: list[str] | None = None, prog: str = PROG) -> int:
    args = build_parser(prog).parse_args(argv)
    try:
        result = run(args)
    except ResearchInputError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr, flush=True)
        return 2
    print(sweep_table(result), flush=True)
    if args.json:
        args.json.write_text(sweep_json(result))
    if args.html:
        from research.html_report import sweep_html

        args.html.write_text(sweep_html(result))
        print(f"HTML report: {args.html}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
