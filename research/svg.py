"""Small inline SVG charts drawn in Python (no JavaScript, nothing fetched): lines, bars, histograms.

    line_chart([(t_ms, equity), ...], title="Equity", x_is_time=True)
    bar_chart(["stop_loss", "take_profit"], [12.0, -3.5], title="PnL by exit reason")
    histogram([pnl, ...], bins=30, title="Trade PnL")
    grouped_bars(["fold 1", "fold 2"], {"in-sample": [...], "out-of-sample": [...]}, title=...)

Each returns one <svg> element with its axes' extremes labelled; negative bars are red.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime
from html import escape

W, H = 720, 260
PAD_L, PAD_R, PAD_T, PAD_B = 70, 16, 28, 40
POS, NEG, LINE, GRID = "#2e7d32", "#c62828", "#1565c0", "#dddddd"
SERIES = ("#1565c0", "#ef6c00", "#6a1b9a", "#00838f")


def _fmt(v: float) -> str:
    return f"{v:.4g}" if abs(v) < 1e4 else f"{v:.3e}"


def _frame(title: str, lo: float, hi: float, body: list[str], x_labels: tuple[str, str] = ("", "")) -> str:
    y0 = PAD_T + (H - PAD_T - PAD_B) * hi / (hi - lo) if hi != lo and lo < 0 < hi else None
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" '
        f'role="img" aria-label="{escape(title)}">',
        f'<rect x="0" y="0" width="{W}" height="{H}" fill="white"/>',
        f'<text x="{PAD_L}" y="18" font-size="14" font-family="sans-serif">{escape(title)}</text>',
        f'<line x1="{PAD_L}" y1="{PAD_T}" x2="{PAD_L}" y2="{H - PAD_B}" stroke="#888"/>',
        f'<line x1="{PAD_L}" y1="{H - PAD_B}" x2="{W - PAD_R}" y2="{H - PAD_B}" stroke="#888"/>',
        f'<text x="{PAD_L - 6}" y="{PAD_T + 4}" font-size="11" text-anchor="end" font-family="sans-serif">{_fmt(hi)}</text>',
        f'<text x="{PAD_L - 6}" y="{H - PAD_B}" font-size="11" text-anchor="end" font-family="sans-serif">{_fmt(lo)}</text>',
        f'<text x="{PAD_L}" y="{H - PAD_B + 16}" font-size="11" font-family="sans-serif">{escape(x_labels[0])}</text>',
        f'<text x="{W - PAD_R}" y="{H - PAD_B + 16}" font-size="11" text-anchor="end" font-family="sans-serif">'
        f"{escape(x_labels[1])}</text>",
    ]
    if y0 is not None:
        parts.append(f'<line x1="{PAD_L}" y1="{y0:.1f}" x2="{W - PAD_R}" y2="{y0:.1f}" stroke="{GRID}"/>')
    return "\n".join([*parts, *body, "</svg>"])


def _range(values: list[float]) -> tuple[float, float]:
    lo, hi = min([0.0, *values]), max([0.0, *values])
    if lo == hi:
        hi = lo + 1.0
    return lo, hi


def _y(v: float, lo: float, hi: float) -> float:
    return PAD_T + (H - PAD_T - PAD_B) * (hi - v) / (hi - lo)


def _time(ms: float) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M")


def line_chart(points: Sequence[tuple[float, float]], *, title: str, x_is_time: bool = True, color: str = LINE,
               fill: bool = False) -> str:
    if not points:
        return _frame(f"{title} (no data)", 0.0, 1.0, [])
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    lo, hi = _range(ys)
    x0, x1 = min(xs), max(xs)
    span = (x1 - x0) or 1.0
    width = W - PAD_L - PAD_R
    coords = [(PAD_L + width * (x - x0) / span, _y(y, lo, hi)) for x, y in points]
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
    body = []
    if fill:
        base = _y(0.0, lo, hi)
        body.append(f'<polygon points="{coords[0][0]:.1f},{base:.1f} {path} {coords[-1][0]:.1f},{base:.1f}" '
                    f'fill="{color}" fill-opacity="0.25" stroke="none"/>')
    body.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="1.5"/>')
    labels = (_time(x0), _time(x1)) if x_is_time else (_fmt(x0), _fmt(x1))
    return _frame(title, lo, hi, body, labels)


def bar_chart(labels: list[str], values: list[float], *, title: str) -> str:
    if not values:
        return _frame(f"{title} (no data)", 0.0, 1.0, [])
    lo, hi = _range(values)
    slot = (W - PAD_L - PAD_R) / len(values)
    base = _y(0.0, lo, hi)
    body = []
    for i, (label, v) in enumerate(zip(labels, values, strict=True)):
        y = _y(v, lo, hi)
        x = PAD_L + i * slot + slot * 0.1
        body.append(f'<rect x="{x:.1f}" y="{min(y, base):.1f}" width="{slot * 0.8:.1f}" height="{abs(base - y):.1f}" '
                    f'fill="{POS if v >= 0 else NEG}"><title>{escape(label)}: {_fmt(v)}</title></rect>')
        if len(values) <= 16:
            body.append(f'<text x="{x + slot * 0.4:.1f}" y="{H - PAD_B + 28}" font-size="10" text-anchor="middle" '
                        f'font-family="sans-serif">{escape(label[:14])}</text>')
    return _frame(title, lo, hi, body)


def histogram(values: list[float], *, bins: int = 30, title: str) -> str:
    if not values:
        return _frame(f"{title} (no data)", 0.0, 1.0, [])
    lo, hi = min(values), max(values)
    if lo == hi:
        lo, hi = lo - 0.5, hi + 0.5
    width = (hi - lo) / bins
    counts = [0] * bins
    for v in values:
        counts[min(bins - 1, int((v - lo) / width))] += 1
    top = max(counts)
    slot = (W - PAD_L - PAD_R) / bins
    body = []
    for i, n in enumerate(counts):
        left = lo + i * width
        y = _y(n, 0.0, top)
        body.append(f'<rect x="{PAD_L + i * slot:.1f}" y="{y:.1f}" width="{slot * 0.95:.1f}" '
                    f'height="{H - PAD_B - y:.1f}" fill="{POS if left + width / 2 >= 0 else NEG}">'
                    f"<title>{_fmt(left)} to {_fmt(left + width)}: {n}</title></rect>")
    return _frame(title, 0.0, float(top), body, (_fmt(lo), _fmt(hi)))


def grouped_bars(labels: list[str], series: dict[str, list[float]], *, title: str) -> str:
    values = [v for vs in series.values() for v in vs if math.isfinite(v)]
    if not labels or not values:
        return _frame(f"{title} (no data)", 0.0, 1.0, [])
    lo, hi = _range(values)
    slot = (W - PAD_L - PAD_R) / len(labels)
    bar = slot * 0.8 / len(series)
    base = _y(0.0, lo, hi)
    body = []
    for s, (name, vs) in enumerate(series.items()):
        color = SERIES[s % len(SERIES)]
        legend_x = W - PAD_R - 150 * (len(series) - s)  # side by side, under the fold labels
        body.append(f'<rect x="{legend_x}" y="{H - 14}" width="10" height="10" fill="{color}"/>'
                    f'<text x="{legend_x + 14}" y="{H - 5}" font-size="11" font-family="sans-serif">'
                    f"{escape(name)}</text>")
        for i, v in enumerate(vs):
            if not math.isfinite(v):
                continue
            y = _y(v, lo, hi)
            x = PAD_L + i * slot + slot * 0.1 + s * bar
            body.append(f'<rect x="{x:.1f}" y="{min(y, base):.1f}" width="{bar:.1f}" height="{abs(base - y):.1f}" '
                        f'fill="{color}"><title>{escape(labels[i])} {escape(name)}: {_fmt(v)}</title></rect>')
    for i, label in enumerate(labels):
        body.append(f'<text x="{PAD_L + i * slot + slot / 2:.1f}" y="{H - PAD_B + 14}" font-size="10" '
                    f'text-anchor="middle" font-family="sans-serif">{escape(label)}</text>')
    return _frame(title, lo, hi, body)
