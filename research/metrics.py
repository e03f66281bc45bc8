"""A window's closed trades -> the figures a trader judges a strategy by (pure, no Ray).

    m = compute_metrics(trades, start_ms, end_ms)      # Metrics; m.as_dict() for JSON

Conventions (the figures are in quote currency; no capital is assumed, so every ratio is one
that does not depend on it):
- a trade counts when it closes (exit time); PnL is net of fees (TradeRecord.pnl_quote);
- the equity curve starts at 0 at the window's start and steps at each exit;
- max drawdown: the largest fall from a running peak (the start's 0 counts as a peak); its
  duration runs from that peak to the first exit back at or above it, else to the window's end;
- daily PnL: every UTC day the window touches, days without an exit at 0;
- Sharpe = mean / sample std of daily PnL x sqrt(365) (crypto trades every day);
  Sortino = mean / downside deviation (root mean square of the days below 0, over all days) x sqrt(365);
  Calmar = net PnL scaled to a year (x 365 / window days) / max drawdown;
  a ratio without a denominator (one day, no losing day, no drawdown) is None ("n/a"): a score
  without a measured risk is not one to trust, and the objective treats it so.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

DAY_MS = 86_400_000
NS_PER_MS = 1_000_000
YEAR_DAYS = 365.0


class TradeLike(Protocol):
    """What the figures read of a closed trade (messages.state.TradeRecord); times in ns."""

    @property
    def entry_ts(self) -> int: ...
    @property
    def exit_ts(self) -> int: ...
    @property
    def fees(self) -> float: ...
    @property
    def pnl_quote(self) -> float: ...
    @property
    def exit_reason(self) -> str: ...


@dataclass
class Metrics:
    trades: int = 0
    wins: int = 0
    losses: int = 0
    win_rate: float = 0.0
    net_pnl: float = 0.0
    gross_pnl: float = 0.0
    fees: float = 0.0
    avg_trade: float = 0.0
    profit_factor: float | None = None
    sharpe: float | None = None
    sortino: float | None = None
    calmar: float | None = None
    max_drawdown: float = 0.0
    max_drawdown_duration_s: float = 0.0
    avg_hold_s: float = 0.0
    days: float = 0.0
    by_exit_reason: dict[str, dict[str, float]] = field(default_factory=dict)
    per_day: dict[str, float] = field(default_factory=dict)
    per_month: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _day(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d")


def equity_points(trades: Sequence[TradeLike], start_ms: int) -> list[tuple[int, float]]:
    """(time ms, equity) at the start and after each exit, in exit order."""
    points = [(start_ms, 0.0)]
    equity = 0.0
    for t in sorted(trades, key=lambda t: t.exit_ts):
        equity += t.pnl_quote
        points.append((t.exit_ts // NS_PER_MS, equity))
    return points


def drawdown(points: list[tuple[int, float]], end_ms: int) -> tuple[float, float]:
    """(max drawdown, its duration in s) over an equity curve of (ms, equity) points."""
    peak, peak_ms = points[0][1], points[0][0]
    worst, worst_peak_ms, worst_recovered_ms = 0.0, peak_ms, None
    for ms, equity in points:
        if equity >= peak:
            if worst_recovered_ms is None and worst > 0 and peak_ms == worst_peak_ms:
                worst_recovered_ms = ms
            peak, peak_ms = equity, ms
            continue
        if peak - equity > worst:
            worst, worst_peak_ms, worst_recovered_ms = peak - equity, peak_ms, None
    if worst == 0:
        return 0.0, 0.0
    until = worst_recovered_ms if worst_recovered_ms is not None else end_ms
    return worst, (until - worst_peak_ms) / 1000


def daily_pnl(trades: Sequence[TradeLike], start_ms: int, end_ms: int) -> dict[str, float]:
    days: dict[str, float] = {}
    day_ms = start_ms - start_ms % DAY_MS
    while day_ms < end_ms:
        days[_day(day_ms)] = 0.0
        day_ms += DAY_MS
    for t in trades:
        key = _day(t.exit_ts // NS_PER_MS)
        days[key] = days.get(key, 0.0) + t.pnl_quote
    return dict(sorted(days.items()))


def sharpe(daily: list[float]) -> float | None:
    if len(daily) < 2:
        return None
    mean = sum(daily) / len(daily)
    var = sum((x - mean) ** 2 for x in daily) / (len(daily) - 1)
    return mean / math.sqrt(var) * math.sqrt(YEAR_DAYS) if var > 0 else None


def sortino(daily: list[float]) -> float | None:
    if len(daily) < 2:
        return None
    mean = sum(daily) / len(daily)
    downside = math.sqrt(sum(min(0.0, x) ** 2 for x in daily) / len(daily))
    return mean / downside * math.sqrt(YEAR_DAYS) if downside > 0 else None


def compute_metrics(trades: Sequence[TradeLike], start_ms: int, end_ms: int) -> Metrics:
    m = Metrics(trades=len(trades), days=(end_ms - start_ms) / DAY_MS)
    pnls = [t.pnl_quote for t in trades]
    m.wins = sum(p > 0 for p in pnls)
    m.losses = sum(p < 0 for p in pnls)
    m.win_rate = m.wins / len(trades) if trades else 0.0
    m.net_pnl = sum(pnls)
    m.fees = sum(t.fees for t in trades)
    m.gross_pnl = m.net_pnl + m.fees
    m.avg_trade = m.net_pnl / len(trades) if trades else 0.0
    won = sum(p for p in pnls if p > 0)
    lost = -sum(p for p in pnls if p < 0)
    m.profit_factor = won / lost if lost > 0 else None
    m.avg_hold_s = sum(t.exit_ts - t.entry_ts for t in trades) / len(trades) / 1e9 if trades else 0.0
    m.max_drawdown, m.max_drawdown_duration_s = drawdown(equity_points(trades, start_ms), end_ms)
    m.per_day = daily_pnl(trades, start_ms, end_ms)
    months: dict[str, float] = {}
    for day, pnl in m.per_day.items():
        months[day[:7]] = months.get(day[:7], 0.0) + pnl
    m.per_month = months
    daily = list(m.per_day.values())
    m.sharpe = sharpe(daily)
    m.sortino = sortino(daily)
    m.calmar = m.net_pnl * YEAR_DAYS / m.days / m.max_drawdown if m.max_drawdown > 0 and m.days > 0 else None
    for t in trades:
        row = m.by_exit_reason.setdefault(t.exit_reason, {"count": 0, "wins": 0, "pnl": 0.0})
        row["count"] += 1
        row["wins"] += t.pnl_quote > 0
        row["pnl"] += t.pnl_quote
    return m
