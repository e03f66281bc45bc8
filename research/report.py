"""Reports a trader reads, in the terminal: a window's figures, and a sweep's folds.

    print(metrics_table(metrics))                  # trades, win rate, PnL, ratios, drawdown, exits, days, months
    print(sweep_table(result))                     # each fold in-sample vs out-of-sample, its parameters
    write_replay_html(replay_result, "out.html")   # the HTML of research.html_report for a replay
    figures_text(replay_result)                    # metrics_table of a replay (`replay --figures`)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from research.metrics import Metrics, compute_metrics
from research.objective import METRICS, is_penalised
from strategies.replay_args import minute_text

if TYPE_CHECKING:
    from research.walk_forward import SweepResult
    from strategies.replay import ReplayResult


def _ratio(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def _duration(seconds: float) -> str:
    if seconds >= 86_400:
        return f"{seconds / 86_400:.1f} d"
    if seconds >= 3_600:
        return f"{seconds / 3_600:.1f} h"
    return f"{seconds / 60:.0f} min"


def summary_rows(m: Metrics) -> list[tuple[str, str]]:
    return [
        ("trades", f"{m.trades} ({m.wins} W / {m.losses} L)"),
        ("win rate", f"{m.win_rate * 100:.1f}%"),
        ("PnL net of fees", f"{m.net_pnl:+.4f} quote"),
        ("fees", f"{m.fees:.4f}"),
        ("PnL per trade", f"{m.avg_trade:+.4f}"),
        ("profit factor", _ratio(m.profit_factor)),
        ("Sharpe (daily, annualised)", _ratio(m.sharpe)),
        ("Sortino (daily, annualised)", _ratio(m.sortino)),
        ("Calmar", _ratio(m.calmar)),
        ("max drawdown", f"{m.max_drawdown:.4f} quote over {_duration(m.max_drawdown_duration_s)}"),
        ("average hold", f"{m.avg_hold_s:.0f} s"),
    ]


def metrics_table(m: Metrics, *, max_days: int = 40) -> str:
    lines = ["| metric | value |", "|---|---|", *(f"| {k} | {v} |" for k, v in summary_rows(m))]
    lines += ["", "| exit reason | trades | wins | PnL |", "|---|---|---|---|"]
    for reason, row in sorted(m.by_exit_reason.items(), key=lambda kv: -kv[1]["count"]):
        lines.append(f"| {reason} | {int(row['count'])} | {int(row['wins'])} | {row['pnl']:+.4f} |")
    days = list(m.per_day.items())
    lines += ["", "| day (UTC) | PnL |", "|---|---|"]
    shown = days if len(days) <= max_days else days[-max_days:]
    if len(shown) < len(days):
        lines.append(f"| ({len(days) - len(shown)} earlier days) | |")
    lines += [f"| {d} | {p:+.4f} |" for d, p in shown]
    lines += ["", "| month | PnL |", "|---|---|", *(f"| {k} | {v:+.4f} |" for k, v in m.per_month.items())]
    return "\n".join(lines)


def _score(value: float) -> str:
    return "penalised" if is_penalised(value) else f"{value:+.4f}"


def params_text(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items())


def fold_rows(result: SweepResult) -> list[dict[str, Any]]:
    """One row per fold: windows, the chosen parameters, in-sample and out-of-sample figures."""
    rows = []
    for r in result.folds:
        f, best = r.fold, r.best
        ins = (best.metrics or {}) if best else {}
        oos = r.test_metrics
        rows.append({
            "fold": f.index + 1,
            "train": f"{minute_text(f.train_start_ms)} -> {minute_text(f.train_end_ms)}",
            "test": f"{minute_text(f.test_start_ms)} -> {minute_text(f.test_end_ms)}",
            "trials": len(r.trials),
            "failed": len(r.failed_trials),
            "is_score": best.score if best else None,
            "is_trades": ins.get("trades"),
            "is_net_pnl": ins.get("net_pnl"),
            "oos_trades": oos.trades if oos else None,
            "oos_net_pnl": oos.net_pnl if oos else None,
            "oos_sharpe": oos.sharpe if oos else None,
            "oos_win_rate": oos.win_rate if oos else None,
            "params": best.params if best else {},
            "error": r.test_error,
        })
    return rows


def sweep_table(result: SweepResult) -> str:
    s = result.setup
    info = result.info
    lines = [
        f"sweep {s.kind} (preset {s.preset}): metric {s.metric} ({METRICS[s.metric]}), min trades {s.min_trades}, "
        f"fees {s.fee_bps:g} bps, {info.get('trials', '?')} trials a fold, seed {info.get('seed')}, "
        f"{len(result.folds)} {info.get('scheme', '')} folds, {info.get('seconds', 0):.0f} s "
        f"({info.get('trial_replay_s', 0):.2f} s a trial's replay on average)",
        "",
        "| fold | train (UTC) | test (UTC) | in-sample score | IS trades | IS PnL | OOS trades | OOS PnL | OOS Sharpe | parameters |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in fold_rows(result):
        def num(v: Any, fmt: str = "+.4f") -> str:
            return "-" if v is None else format(v, fmt)
        score = "-" if row["is_score"] is None else _score(row["is_score"])
        params = params_text(row["params"]) if row["params"] else (row["error"] or "-")
        lines.append(
            f"| {row['fold']} | {row['train']} | {row['test']} | {score} | {num(row['is_trades'], 'd')} | "
            f"{num(row['is_net_pnl'])} | {num(row['oos_trades'], 'd')} | {num(row['oos_net_pnl'])} | "
            f"{_ratio(row['oos_sharpe'])} | {params} |"
        )
    failures = [(r.fold.index + 1, t) for r in result.folds for t in r.failed_trials]
    if failures:
        lines += ["", f"{len(failures)} trial(s) failed (reported, not fatal):"]
        lines += [f"  fold {fold}: {t.error} with {params_text(t.params)}" for fold, t in failures[:10]]
    a, b = result.oos_span
    lines += ["", f"out of sample, every test window together ({minute_text(a)} -> {minute_text(b)} UTC):", "",
              metrics_table(result.oos_metrics)]
    return "\n".join(lines)


def sweep_json(result: SweepResult) -> str:
    return json.dumps({
        "setup": {"strategy": result.setup.kind, "preset": result.setup.preset, "metric": result.setup.metric,
                  "min_trades": result.setup.min_trades, "fee_bps": result.setup.fee_bps,
                  "sample_ms": result.setup.sample_ms,
                  "space": {n: d.describe() for n, d in result.setup.space.items()}},
        "info": result.info,
        "folds": [{**row, "trial_scores": [t.score for t in r.trials],
                   "trials": [{"params": t.params, "score": t.score, "trades": (t.metrics or {}).get("trades"),
                               "net_pnl": (t.metrics or {}).get("net_pnl"), "seconds": t.seconds, "error": t.error}
                              for t in r.trials]}
                  for row, r in zip(fold_rows(result), result.folds, strict=True)],
        "out_of_sample": result.oos_metrics.as_dict(),
    }, indent=2, default=str)


def figures_text(result: ReplayResult) -> str:
    """The replay's figures (research.metrics) as the terminal tables, for `replay --figures`."""
    return "figures (research.metrics):\n\n" + metrics_table(compute_metrics(result.trades, *result.span))


def write_replay_html(result: ReplayResult, path: str | Path) -> Path:
    """The replay's HTML report (equity, drawdown, trade PnL, exits; one self-contained file)."""
    from research.html_report import replay_html

    metrics = compute_metrics(result.trades, *result.span)
    title = f"{result.strategy} (preset {result.preset}) {minute_text(result.span[0])} -> {minute_text(result.span[1])} UTC"
    out = Path(path)
    out.write_text(replay_html(title, metrics, result.trades, result.span, result.params))
    return out
