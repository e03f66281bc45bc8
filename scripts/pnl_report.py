"""Pure computations and formatting behind `scripts/query_pnl.py` (no I/O here).

    stats = summarize(trades)                  # counts, win rate, averages, reward/risk, best/worst
    rows = breakdown(trades, lambda t: t.strategy)
    print(format_report(trades, header_lines))

Conventions:
- Timestamps are ns since the epoch, like every TradeRecord timestamp (messages/state.py).
- A win is pnl_quote > 0, a loss pnl_quote < 0; a trade at exactly 0 is breakeven (neither), so
  wins + losses can be less than trades. The win rate is wins / trades.
- pnl_pct is each trade's own percent return on its entry notional (net of fees). There is no
  account balance in the trades table, so "PnL %" is the sum of the per-trade percentages and
  "avg PnL %" their mean; neither is a return on equity.
- reward/risk = average win / |average loss|, None (shown "n/a") without both wins and losses.
- Funding (FundingPayment.change: > 0 received) is paid hourly on open positions, so no round trip
  carries it: the FUNDING section shows it per strategy beside the trades' PnL and their sum.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from messages.funding import FundingPayment
from messages.state import TradeRecord

NS_PER_S = 1_000_000_000
# below this an epoch timestamp cannot be ns of a real trade (1e15 ns is 1970-01-12); ms-era
# values (~1.7e12) fall far below it
PLAUSIBLE_NS_MIN = 10**15


def iso_utc(ts_ns: int) -> str:
    """ns since the epoch -> "2025-05-04 12:00:00" (UTC, to the second)."""
    try:
        return datetime.fromtimestamp(ts_ns // NS_PER_S, UTC).strftime("%Y-%m-%d %H:%M:%S")
    except (OverflowError, OSError, ValueError):  # far outside the calendar: show the raw value
        return str(ts_ns)


def format_span(ns: float) -> str:
    """A duration for humans: "45s", "12m30s", "3h05m", "2d04h"."""
    seconds = int(round(ns / NS_PER_S))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    if seconds < 86400:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 86400}d{seconds % 86400 // 3600:02d}h"


def implausible_timestamps(trades: Sequence[TradeRecord]) -> int:
    """How many trades have an entry or exit time too small to be ns (e.g. written in ms)."""
    return sum(1 for t in trades if t.exit_ts < PLAUSIBLE_NS_MIN or t.entry_ts < PLAUSIBLE_NS_MIN)


@dataclass(frozen=True, slots=True)
class Stats:
    trades: int
    wins: int
    losses: int
    breakeven: int
    win_rate: float  # 0..1; 0 when there are no trades
    pnl_quote: float
    pnl_pct_sum: float
    avg_pnl_quote: float
    avg_pnl_pct: float
    avg_win_quote: float  # 0 when there are no wins
    avg_loss_quote: float  # <= 0; 0 when there are no losses
    reward_risk: float | None
    fees: float
    avg_hold_ns: float
    best: TradeRecord | None
    worst: TradeRecord | None


def summarize(trades: Sequence[TradeRecord]) -> Stats:
    """The headline numbers; safe on an empty sequence (zeros, no best/worst, reward/risk None)."""
    n = len(trades)
    wins = [t.pnl_quote for t in trades if t.pnl_quote > 0]
    losses = [t.pnl_quote for t in trades if t.pnl_quote < 0]
    avg_win = sum(wins) / len(wins) if wins else 0.0
    avg_loss = sum(losses) / len(losses) if losses else 0.0
    pnl = sum(t.pnl_quote for t in trades)
    pct = sum(t.pnl_pct for t in trades)
    # first occurrence wins a tie, so best/worst are stable for a given (oldest-first) order
    best = max(trades, key=lambda t: t.pnl_quote) if trades else None
    worst = min(trades, key=lambda t: t.pnl_quote) if trades else None
    return Stats(
        trades=n,
        wins=len(wins),
        losses=len(losses),
        breakeven=n - len(wins) - len(losses),
        win_rate=len(wins) / n if n else 0.0,
        pnl_quote=pnl,
        pnl_pct_sum=pct,
        avg_pnl_quote=pnl / n if n else 0.0,
        avg_pnl_pct=pct / n if n else 0.0,
        avg_win_quote=avg_win,
        avg_loss_quote=avg_loss,
        reward_risk=avg_win / -avg_loss if wins and losses else None,
        fees=sum(t.fees for t in trades),
        avg_hold_ns=sum(t.exit_ts - t.entry_ts for t in trades) / n if n else 0.0,
        best=best,
        worst=worst,
    )


def breakdown(trades: Sequence[TradeRecord], key: Callable[[TradeRecord], str]) -> list[tuple[str, Stats]]:
    """Stats per group, most trades first, then by name."""
    groups: dict[str, list[TradeRecord]] = {}
    for t in trades:
        groups.setdefault(key(t), []).append(t)
    return sorted(
        ((name, summarize(group)) for name, group in groups.items()), key=lambda kv: (-kv[1].trades, kv[0])
    )


# ---------------------------------------------------------------------------------------------
# Formatting
# ---------------------------------------------------------------------------------------------


def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[bool]) -> list[str]:
    """Aligned plain-text table lines: header, a rule, then the rows (right-aligned where asked)."""
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]

    def line(cells: Sequence[str]) -> str:
        parts = [c.rjust(w) if r else c.ljust(w) for c, w, r in zip(cells, widths, right, strict=True)]
        return "  ".join(parts).rstrip()

    return [line(headers), "  ".join("-" * w for w in widths), *(line(row) for row in rows)]


def _q(value: float) -> str:
    return f"{value:+.4f}"


def _pct(value: float) -> str:
    return f"{value:+.3f}%"


def _rr(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def _trade_line(t: TradeRecord) -> str:
    return (
        f"{_q(t.pnl_quote)} ({_pct(t.pnl_pct)})  {t.strategy} market {t.market_id} {t.side}, "
        f"exit {iso_utc(t.exit_ts)} UTC, {t.exit_reason}"
    )


def format_summary(s: Stats) -> list[str]:
    rows = [
        ("trades", f"{s.trades}"),
        ("wins / losses / even", f"{s.wins} / {s.losses} / {s.breakeven}"),
        ("win rate", f"{s.win_rate * 100:.1f}%"),
        ("PnL (quote)", _q(s.pnl_quote)),
        ("PnL % (sum per trade)", _pct(s.pnl_pct_sum)),
        ("avg PnL", f"{_q(s.avg_pnl_quote)} ({_pct(s.avg_pnl_pct)})"),
        ("avg win", _q(s.avg_win_quote) if s.wins else "n/a"),
        ("avg loss", _q(s.avg_loss_quote) if s.losses else "n/a"),
        ("reward/risk", _rr(s.reward_risk)),
        ("fees", f"{s.fees:.4f}"),
        ("avg hold", format_span(s.avg_hold_ns)),
        ("best trade", _trade_line(s.best) if s.best else "n/a"),
        ("worst trade", _trade_line(s.worst) if s.worst else "n/a"),
    ]
    width = max(len(name) for name, _ in rows)
    return [f"{name.ljust(width)}  {value}" for name, value in rows]


BREAKDOWN_HEADERS = (
    "trades",
    "wins",
    "losses",
    "win rate",
    "PnL",
    "avg PnL",
    "PnL % sum",
    "avg win",
    "avg loss",
    "R/R",
)


def format_breakdown(title: str, groups: Sequence[tuple[str, Stats]]) -> list[str]:
    rows = [
        (
            name,
            str(s.trades),
            str(s.wins),
            str(s.losses),
            f"{s.win_rate * 100:.1f}%",
            _q(s.pnl_quote),
            _q(s.avg_pnl_quote),
            _pct(s.pnl_pct_sum),
            _q(s.avg_win_quote) if s.wins else "n/a",
            _q(s.avg_loss_quote) if s.losses else "n/a",
            _rr(s.reward_risk),
        )
        for name, s in groups
    ]
    headers = (title, *BREAKDOWN_HEADERS)
    return format_table(headers, rows, [False, *([True] * len(BREAKDOWN_HEADERS))])


RECENT_HEADERS = (
    "exit (UTC)",
    "strategy",
    "market",
    "side",
    "entry",
    "exit",
    "size",
    "PnL",
    "PnL %",
    "reason",
    "hold",
)


def format_recent(trades: Sequence[TradeRecord]) -> list[str]:
    """The given trades, newest first."""
    rows = [
        (
            iso_utc(t.exit_ts),
            t.strategy,
            str(t.market_id),
            t.side,
            f"{t.entry_price:g}",
            f"{t.exit_price:g}",
            f"{t.size:g}",
            _q(t.pnl_quote),
            _pct(t.pnl_pct),
            t.exit_reason,
            format_span(t.exit_ts - t.entry_ts),
        )
        for t in reversed(trades)
    ]
    right = [False, False, True, False, True, True, True, True, True, False, True]
    return format_table(RECENT_HEADERS, rows, right)


FUNDING_HEADERS = ("hours", "funding", "trades PnL", "PnL with funding")


def format_funding(trades: Sequence[TradeRecord], funding: Sequence[FundingPayment]) -> list[str]:
    """Hourly funding per strategy beside its trades' PnL: funding is not in any round trip's PnL
    (it is paid while a position is open, whoever closes it), so it is a line of its own."""
    names = sorted({p.strategy for p in funding} | {t.strategy for t in trades})
    rows = []
    for name in names:
        paid = [p.change for p in funding if p.strategy == name]
        trades_pnl = sum(t.pnl_quote for t in trades if t.strategy == name)
        rows.append((name or "(no strategy)", str(len(paid)), _q(sum(paid)), _q(trades_pnl),
                     _q(trades_pnl + sum(paid))))
    total = sum(p.change for p in funding)
    trades_total = sum(t.pnl_quote for t in trades)
    rows.append(("all", str(len(funding)), _q(total), _q(trades_total), _q(trades_total + total)))
    return format_table(("strategy", *FUNDING_HEADERS), rows, [False, True, True, True, True])


def format_report(
    trades: Sequence[TradeRecord], header: Sequence[str], *, recent: int = 0,
    funding: Sequence[FundingPayment] = (),
) -> str:
    """The whole operator report: header lines, summary, breakdowns, hourly funding (when any was
    paid) and (if recent > 0) the last trades."""
    lines = list(header)
    lines.append("")
    funding_lines = ["", "FUNDING (hourly, > 0 received)", *format_funding(trades, funding)] if funding else []
    if not trades:
        lines.append("no trades in the selection: nothing to report")
        return "\n".join(lines + funding_lines)
    lines += ["SUMMARY", *format_summary(summarize(trades)), ""]
    lines += ["BY STRATEGY", *format_breakdown("strategy", breakdown(trades, lambda t: t.strategy)), ""]
    lines += ["BY EXIT REASON", *format_breakdown("exit reason", breakdown(trades, lambda t: t.exit_reason))]
    lines += funding_lines
    if recent > 0:
        shown = trades[-recent:]
        lines += ["", f"LAST {len(shown)} TRADES (newest first)", *format_recent(shown)]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Export
# ---------------------------------------------------------------------------------------------

EXPORT_COLUMNS = (
    "strategy",
    "account_index",
    "market_id",
    "side",
    "entry_time_utc",
    "exit_time_utc",
    "entry_ts",
    "exit_ts",
    "entry_price",
    "exit_price",
    "size",
    "fees",
    "pnl_quote",
    "pnl_pct",
    "exit_reason",
    "mfe_bps",
    "mae_bps",
    "entry_context",
    "ts_event",
    "seq",
)


def export_row(t: TradeRecord) -> dict[str, Any]:
    """One trade as plain values, in EXPORT_COLUMNS order (times as ns ints plus UTC ISO text)."""
    row: dict[str, Any] = {}
    for column in EXPORT_COLUMNS:
        if column == "entry_time_utc":
            row[column] = iso_utc(t.entry_ts)
        elif column == "exit_time_utc":
            row[column] = iso_utc(t.exit_ts)
        elif column == "entry_context":
            row[column] = dict(t.entry_context)
        else:
            row[column] = getattr(t, column)
    return row


def csv_cell(value: Any) -> Any:
    """entry_context (a dict) becomes compact JSON text in a CSV cell; the rest is unchanged."""
    return json.dumps(value, sort_keys=True) if isinstance(value, dict) else value
