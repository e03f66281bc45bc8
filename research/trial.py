"""One trial of a search, without Ray: replay a window with the sampled parameters and score it.

    outcome = run_trial(setup, candles, start_ms, end_ms, {"rsi_period": 9})

A trial that raises (a combination the strategy refuses, a bug) does not stop the search: its
outcome carries the error's one-line text and the FAILED score, and the sweep reports it.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from messages.state import TradeRecord
from research import data
from research.metrics import compute_metrics
from research.objective import FAILED, score
from research.replay_adapter import replay_window
from research.space import Dimension
from venue.sim.candle_source import Candles


@dataclass(frozen=True)
class SearchSetup:
    """What every trial of a sweep shares (sent to the Ray workers once)."""

    kind: str
    preset: str
    space: dict[str, Dimension]
    metric: str = "net_pnl"
    min_trades: int = 10
    fee_bps: float = 0.0
    sample_ms: int = 1_000
    warmup_minutes: int = 0


@dataclass
class TrialOutcome:
    params: dict[str, Any]
    score: float
    metrics: dict[str, Any] | None = None
    error: str | None = None
    seconds: float = 0.0
    number: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def report(self) -> dict[str, Any]:
        """The flat dict a Tune trial reports (nested data as JSON text, which Tune leaves alone)."""
        return {
            "score": self.score,
            "trades": (self.metrics or {}).get("trades", 0),
            "seconds": self.seconds,
            "error": self.error or "",
            "metrics_json": json.dumps(self.metrics) if self.metrics is not None else "",
        }

    @classmethod
    def from_report(cls, params: dict[str, Any], reported: dict[str, Any], number: int) -> TrialOutcome:
        metrics_json = reported.get("metrics_json") or ""
        return cls(
            params=params,
            score=float(reported.get("score", FAILED)),
            metrics=json.loads(metrics_json) if metrics_json else None,
            error=reported.get("error") or None,
            seconds=float(reported.get("seconds", 0.0)),
            number=number,
        )


def window_trades(setup: SearchSetup, candles: Candles, start_ms: int, end_ms: int,
                  params: dict[str, Any]) -> list[TradeRecord]:
    """The trades entered in [start_ms, end_ms), the strategy warmed up on the minutes before.

    The replay starts `warmup_minutes` earlier (as far as the data goes) so the indicators of a
    slow strategy (breakout's 15-minute candles) are ready when the window opens; trades entered
    in the warm-up are not the window's and are left out.
    """
    first = max(int(candles.open_time_ms[0]), start_ms - setup.warmup_minutes * 60_000)
    run = replay_window(setup.kind, setup.preset, params, data.window(candles, first, end_ms),
                        fee_bps=setup.fee_bps, sample_ms=setup.sample_ms)
    return [t for t in run.trades if t.entry_ts >= start_ms * 1_000_000]


def run_trial(setup: SearchSetup, candles: Candles, start_ms: int, end_ms: int,
              params: dict[str, Any]) -> TrialOutcome:
    began = time.perf_counter()
    try:
        metrics = compute_metrics(window_trades(setup, candles, start_ms, end_ms, params), start_ms, end_ms)
    except Exception as exc:  # reported as the trial's outcome; the search goes on
        text = str(exc).splitlines()[0] if str(exc) else ""
        return TrialOutcome(params=dict(params), score=FAILED, error=f"{type(exc).__name__}: {text}",
                            seconds=time.perf_counter() - began)
    return TrialOutcome(params=dict(params), score=score(metrics, setup.metric, setup.min_trades),
                        metrics=metrics.as_dict(), seconds=time.perf_counter() - began)


def best_of(outcomes: list[TrialOutcome]) -> TrialOutcome | None:
    """The highest score; the earliest trial wins a tie (so equal runs choose the same)."""
    best: TrialOutcome | None = None
    for o in sorted(outcomes, key=lambda o: o.number):
        if o.error is None and (best is None or o.score > best.score):
            best = o
    return best
