"""One number a search maximises, from a window's Metrics.

    score(metrics, "net_pnl", min_trades=20)

Every metric here is better when higher (max_drawdown is negated). A window with fewer than
`min_trades` trades scores PENALTY minus the trades it lacks: below every real result, yet a
search still learns that more trades is closer. A ratio that is n/a (None: no risk measured, see
research.metrics) scores as PENALTY too, and a failed trial as FAILED, below all of them.
"""

from __future__ import annotations

import math

from research.errors import ResearchInputError
from research.metrics import Metrics

PENALTY = -1e9
FAILED = -2e9

METRICS: dict[str, str] = {
    "net_pnl": "PnL net of fees (quote)",
    "sharpe": "annualised Sharpe of daily PnL",
    "sortino": "annualised Sortino of daily PnL",
    "calmar": "yearly PnL / max drawdown",
    "profit_factor": "gross wins / gross losses",
    "avg_trade": "net PnL per trade (quote)",
    "win_rate": "share of trades won",
    "max_drawdown": "max drawdown, negated (smaller is better)",
}


def check_metric(name: str) -> str:
    if name not in METRICS:
        raise ResearchInputError(f"bad --metric {name!r}; known: {', '.join(METRICS)}")
    return name


def metric_value(metrics: Metrics, name: str) -> float | None:
    value = getattr(metrics, check_metric(name))
    if name == "max_drawdown":
        return -float(value)
    return None if value is None else float(value)


def score(metrics: Metrics, name: str, min_trades: int) -> float:
    if metrics.trades < min_trades:
        return PENALTY - (min_trades - metrics.trades)
    value = metric_value(metrics, name)
    if value is None or not math.isfinite(value):
        return PENALTY
    return value


def is_penalised(value: float) -> bool:
    return value <= PENALTY
