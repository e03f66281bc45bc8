"""The HTML report: ONE self-contained file (inline CSS and SVG, no script, nothing fetched).

    replay_html(title, metrics, trades, span, params)   # a replay
    sweep_html(result)                                   # a sweep: the same for the out-of-sample
                                                         # trades, then each fold in vs out of sample
Charts: equity and drawdown curves, the distribution of trade PnL, PnL by exit reason, PnL by day.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from html import escape
from typing import TYPE_CHECKING, Any

from research import svg
from research.metrics import Metrics, TradeLike, equity_points
from research.objective import METRICS, is_penalised
from research.report import fold_rows, params_text, summary_rows
from strategies.replay_args import minute_text

if TYPE_CHECKING:
    from research.walk_forward import SweepResult

NUMBER = re.compile(r"^([+-]?[\d.]+( \(.*\))?|n/a|-|penalised)$")  # right-aligned like the numbers
CSS = """
body { font-family: sans-serif; margin: 24px; color: #222; max-width: 1300px; }
table { border-collapse: collapse; margin: 8px 0 20px; font-size: 13px; }
th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: right; }
th { background: #f3f3f3; } td.l, th.l { text-align: left; } td.w { min-width: 300px; } td.t { white-space: pre; }
.neg { color: #c62828; } .pos { color: #2e7d32; } h2 { margin-top: 28px; }
"""


def _table(headers: list[str], rows: list[list[Any]], css_id: str = "") -> str:
    head = "".join(f'<th class="l">{escape(h)}</th>' if i == 0 else f"<th>{escape(h)}</th>" for i, h in enumerate(headers))
    body = []
    for row in rows:
        cells = []
        for i, v in enumerate(row):
            text = isinstance(v, str) and not NUMBER.match(v)
            cls = ("l" if i == 0 or text else "") + (" w" if isinstance(v, str) and len(v) > 60 else "")
            cls += " t" if isinstance(v, str) and "\n" in v else ""
            if isinstance(v, float):
                cls += " neg" if v < 0 else " pos" if v > 0 else ""
                v = f"{v:+.4f}"
            cells.append(f'<td class="{cls.strip()}">{escape(str(v))}</td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    attr = f' id="{css_id}"' if css_id else ""
    return f"<table{attr}><tr>{head}</tr>{''.join(body)}</table>"


def drawdown_points(points: list[tuple[int, float]]) -> list[tuple[int, float]]:
    peak = points[0][1] if points else 0.0
    out = []
    for ms, equity in points:
        peak = max(peak, equity)
        out.append((ms, equity - peak))
    return out


def window_sections(metrics: Metrics, trades: Sequence[TradeLike], span: tuple[int, int]) -> str:
    points = equity_points(trades, span[0])
    points.append((span[1], points[-1][1]))
    reasons = sorted(metrics.by_exit_reason.items(), key=lambda kv: -kv[1]["count"])
    parts = [
        "<h2>Summary</h2>",
        _table(["metric", "value"], [[k, v] for k, v in summary_rows(metrics)], "summary"),
        svg.line_chart(points, title="Equity (PnL net of fees, quote)"),
        svg.line_chart(drawdown_points(points), title="Drawdown (quote)", color=svg.NEG, fill=True),
        svg.histogram([t.pnl_quote for t in trades], title=f"Trade PnL distribution ({len(trades)} trades)"),
        "<h2>Exits by reason</h2>",
        svg.bar_chart([r for r, _ in reasons], [row["pnl"] for _, row in reasons], title="PnL by exit reason"),
        _table(["exit reason", "trades", "wins", "PnL"],
               [[r, int(row["count"]), int(row["wins"]), float(row["pnl"])] for r, row in reasons], "exits"),
        "<h2>Per day and per month (UTC)</h2>",
        svg.bar_chart(list(metrics.per_day), list(metrics.per_day.values()), title="PnL per day"),
        _table(["month", "PnL"], [[k, float(v)] for k, v in metrics.per_month.items()], "months"),
        _table(["day", "PnL"], [[k, float(v)] for k, v in metrics.per_day.items()], "days"),
    ]
    return "\n".join(parts)


def _page(title: str, body: str) -> str:
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
            f"<style>{CSS}</style></head><body><h1>{escape(title)}</h1>\n{body}\n</body></html>\n")


def replay_html(title: str, metrics: Metrics, trades: Sequence[TradeLike], span: tuple[int, int],
                params: dict[str, Any]) -> str:
    body = window_sections(metrics, trades, span)
    body += "<h2>Parameters</h2>" + _table(["parameter", "value"], [[k, str(v)] for k, v in params.items()], "params")
    return _page(f"Replay: {title}", body)


def _span(text: str) -> str:
    """"A -> B" on two lines that never wrap (a cell holding a line break is laid out as written)."""
    return text.replace(" -> ", " →\n")


def sweep_html(result: SweepResult) -> str:
    s, info = result.setup, result.info
    rows = fold_rows(result)
    intro = (f"<p>Walk-forward sweep of <b>{escape(s.kind)}</b> (preset {escape(s.preset)}) on "
             f"{escape(str(info.get('data', '')))}: {len(rows)} {escape(str(info.get('scheme', '')))} folds, "
             f"{info.get('trials', '?')} trials each (Ray Tune, Optuna TPE, seed {info.get('seed')}), objective "
             f"<b>{escape(s.metric)}</b> ({escape(METRICS[s.metric])}) with at least {s.min_trades} trades, fees "
             f"{s.fee_bps:g} bps, {s.sample_ms} ms between mids. Search space: "
             f"{escape(', '.join(f'{n}={d.describe()}' for n, d in s.space.items()))}.</p>")

    def cell(v: Any, fmt: str = "+.4f") -> Any:
        return "-" if v is None else float(v) if fmt == "+.4f" else format(v, fmt)

    table = _table(
        ["fold", "train (UTC)", "test (UTC)", "trials (failed)", "in-sample score", "IS trades", "IS PnL",
         "OOS trades", "OOS PnL", "OOS Sharpe", "chosen parameters"],
        [[str(r["fold"]), _span(r["train"]), _span(r["test"]), f"{r['trials']} ({r['failed']})",
          "-" if r["is_score"] is None else "penalised" if is_penalised(r["is_score"]) else float(r["is_score"]),
          cell(r["is_trades"], "d"), cell(r["is_net_pnl"]), cell(r["oos_trades"], "d"), cell(r["oos_net_pnl"]),
          "n/a" if r["oos_sharpe"] is None else f"{r['oos_sharpe']:.2f}",
          params_text(r["params"]) if r["params"] else (r["error"] or "-")] for r in rows],
        "folds",
    )
    nan = float("nan")
    chart = svg.grouped_bars(
        [f"fold {r['fold']}" for r in rows],
        {"in-sample PnL": [nan if r["is_net_pnl"] is None else r["is_net_pnl"] for r in rows],
         "out-of-sample PnL": [nan if r["oos_net_pnl"] is None else r["oos_net_pnl"] for r in rows]},
        title="PnL net of fees per fold: in-sample (train) vs out-of-sample (test)",
    )
    a, b = result.oos_span
    body = "\n".join([
        intro, "<h2>Folds: in-sample vs out-of-sample</h2>", table, chart,
        f"<h2>Out of sample: every test window together ({minute_text(a)} -> {minute_text(b)} UTC)</h2>",
        window_sections(result.oos_metrics, result.oos_trades, result.oos_span),
    ])
    return _page(f"Sweep: {s.kind} ({s.metric})", body)
