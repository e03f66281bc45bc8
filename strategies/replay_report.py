"""The research replay's report: the summary of a ReplayResult, as a table or JSON, and its trades as CSV."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from messages.state import TradeRecord
from strategies.replay_args import minute_text

if TYPE_CHECKING:  # replay.py imports this module to print its result
    from strategies.replay import ReplayResult

# ---------------------------------------------------------------------------------------------
# Summary
# ---------------------------------------------------------------------------------------------


def summarize(result: ReplayResult) -> dict[str, Any]:
    trades = result.trades
    pnls = [t.pnl_quote for t in trades]
    wins = [p for p in pnls if p > 0]
    losses = [p for p in pnls if p < 0]
    equity = peak = drawdown = 0.0
    for p in pnls:
        equity += p
        peak = max(peak, equity)
        drawdown = max(drawdown, peak - equity)
    by_reason: dict[str, dict[str, float]] = {}
    for t in trades:
        row = by_reason.setdefault(t.exit_reason, {"count": 0, "wins": 0, "pnl_quote": 0.0})
        row["count"] += 1
        row["wins"] += t.pnl_quote > 0
        row["pnl_quote"] += t.pnl_quote
    avg_win = sum(wins) / len(wins) if wins else 0.0
    avg_loss = sum(losses) / len(losses) if losses else 0.0
    gross = sum(t.pnl_quote + t.fees for t in trades)
    return {
        "strategy": result.strategy,
        "preset": result.preset,
        "from": minute_text(result.span[0]),
        "to": minute_text(result.span[1]),
        "minutes": result.minutes,
        "malformed_rows": result.malformed,
        "mids": result.mids,
        "trades": len(trades),
        "longs": sum(t.side == "long" for t in trades),
        "shorts": sum(t.side == "short" for t in trades),
        "wins": len(wins),
        "losses": len(losses),
        "win_rate": len(wins) / len(trades) if trades else 0.0,
        "pnl_quote": sum(pnls),
        "pnl_pct_sum": sum(t.pnl_pct for t in trades),
        "fees": sum(t.fees for t in trades),
        "avg_win": avg_win,
        "avg_loss": avg_loss,
        "reward_risk": avg_win / -avg_loss if avg_loss < 0 else None,
        "max_drawdown_quote": drawdown,
        "avg_hold_s": sum(t.exit_ts - t.entry_ts for t in trades) / len(trades) / 1e9 if trades else 0.0,
        "avg_mfe_bps": sum(t.mfe_bps for t in trades) / len(trades) if trades else 0.0,
        "avg_mae_bps": sum(t.mae_bps for t in trades) / len(trades) if trades else 0.0,
        "by_exit_reason": by_reason,
        "open_position_at_end": result.open_position,
        "checks": {
            "actions": result.actions,
            "fills_to_strategy": result.fills,
            "engine_trades": result.engine_trades,
            "rejections": result.rejections,
            "unfilled": result.unfilled,
            "realized_gross_strategy": gross,
            "realized_gross_engine": result.engine_realized_gross,
            "fees_engine": result.engine_fees,
        },
        "seconds": round(result.seconds, 1),
    }


def format_summary(s: dict[str, Any]) -> str:
    rr = "n/a" if s["reward_risk"] is None else f"{s['reward_risk']:.2f}"
    dropped = f" ({s['malformed_rows']} malformed rows dropped)" if s["malformed_rows"] else ""
    lines = [
        f"strategy {s['strategy']} (preset {s['preset']}), {s['from']} -> {s['to']} UTC, "
        f"{s['minutes']} minutes{dropped}, {s['mids']} mids, {s['seconds']} s",
        "",
        "| metric | value |",
        "|---|---|",
        f"| trades | {s['trades']} ({s['longs']} long, {s['shorts']} short) |",
        f"| win rate | {s['win_rate'] * 100:.1f}% ({s['wins']} W / {s['losses']} L) |",
        f"| PnL net of fees | {s['pnl_quote']:+.4f} quote ({s['pnl_pct_sum']:+.3f}% summed per trade) |",
        f"| fees | {s['fees']:.4f} |",
        f"| average win / loss | {s['avg_win']:+.4f} / {s['avg_loss']:+.4f} |",
        f"| reward/risk | {rr} |",
        f"| max drawdown | {s['max_drawdown_quote']:.4f} quote |",
        f"| average hold | {s['avg_hold_s']:.0f} s |",
        f"| average MFE / MAE | {s['avg_mfe_bps']:.1f} / {s['avg_mae_bps']:.1f} bps |",
        "",
        "| exit reason | trades | wins | PnL |",
        "|---|---|---|---|",
    ]
    for reason, row in sorted(s["by_exit_reason"].items(), key=lambda kv: -kv[1]["count"]):
        lines.append(f"| {reason} | {int(row['count'])} | {int(row['wins'])} | {row['pnl_quote']:+.4f} |")
    c = s["checks"]
    lines += [
        "",
        f"checks: {c['actions']} actions, {c['fills_to_strategy']} fills to the strategy, "
        f"{c['engine_trades']} engine trades, {c['rejections']} rejected, {c['unfilled']} unfilled; "
        f"realized gross {c['realized_gross_strategy']:+.6f} (strategy) vs {c['realized_gross_engine']:+.6f} "
        f"(engine); open at end: {s['open_position_at_end'] or 'none'}",
    ]
    return "\n".join(lines)


CSV_COLUMNS = (
    "strategy",
    "side",
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
)


def write_csv(trades: list[TradeRecord], path: str | Path) -> None:
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(CSV_COLUMNS)
        for t in trades:
            row = [getattr(t, c) for c in CSV_COLUMNS[:-1]]
            writer.writerow(
                [*(repr(v) if isinstance(v, float) else v for v in row), json.dumps(t.entry_context)]
            )
