"""Walk-forward, without Ray: search each fold's train window, replay its best on the test window.

    result = walk_forward(setup, candles, folds, search=lambda fold: [...TrialOutcome...])

`search` is the Tune shell in a sweep (research.tune_runner.search_fold); anything returning the
trials' outcomes works. The test window is replayed here with the chosen parameters only: it is
never seen by the search (its warm-up, research.trial.window_trades, replays
minutes before it but counts no trade entered there). The out-of-sample result of the sweep is every fold's test trades
together, over the span of the test windows (they follow one another).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from messages.state import TradeRecord
from research.folds import Fold
from research.metrics import Metrics, compute_metrics
from research.trial import SearchSetup, TrialOutcome, best_of, window_trades
from venue.sim.candle_source import Candles


@dataclass
class FoldResult:
    fold: Fold
    trials: list[TrialOutcome]
    best: TrialOutcome | None
    test_metrics: Metrics | None = None
    test_trades: list[TradeRecord] = field(default_factory=list)
    test_error: str | None = None

    @property
    def failed_trials(self) -> list[TrialOutcome]:
        return [t for t in self.trials if t.error is not None]


@dataclass
class SweepResult:
    setup: SearchSetup
    folds: list[FoldResult]
    oos_metrics: Metrics
    oos_trades: list[TradeRecord]
    oos_span: tuple[int, int]
    info: dict[str, Any] = field(default_factory=dict)


def replay_test_window(setup: SearchSetup, candles: Candles, fold: Fold, params: dict[str, Any]) -> tuple[list[TradeRecord], Metrics]:
    trades = window_trades(setup, candles, fold.test_start_ms, fold.test_end_ms, params)
    return trades, compute_metrics(trades, fold.test_start_ms, fold.test_end_ms)


def walk_forward(setup: SearchSetup, candles: Candles, folds: list[Fold],
                 search: Callable[[Fold], list[TrialOutcome]],
                 on_fold: Callable[[FoldResult], None] | None = None) -> SweepResult:
    results = []
    for fold in folds:
        trials = search(fold)
        best = best_of(trials)
        result = FoldResult(fold=fold, trials=trials, best=best)
        if best is None:
            result.test_error = "every trial failed: nothing to test"
        else:
            try:
                result.test_trades, result.test_metrics = replay_test_window(setup, candles, fold, best.params)
            except Exception as exc:  # reported in the fold's row, the other folds still run
                result.test_error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        results.append(result)
        if on_fold is not None:
            on_fold(result)
    span = (folds[0].test_start_ms, folds[-1].test_end_ms)
    oos = [t for r in results for t in r.test_trades]
    return SweepResult(setup=setup, folds=results, oos_metrics=compute_metrics(oos, *span), oos_trades=oos,
                       oos_span=span)
