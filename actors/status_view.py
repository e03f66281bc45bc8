"""What the supervisor prints: the status table every few seconds and the summary at exit.

Pure (no Ray): `System.status()` gathers one dict per strategy from the strategy's own status and
risk's view of it; these functions turn that into what a trader reads. Each strategy's state is one
phrase: unreachable, breaker tripped, halted, warming up (with the market time left), in a position
(side, size, entry, mark, unrealized PnL) or flat, and, beside it, why the last entry was skipped.
Every money figure is in the quote currency, USDC.
"""

from __future__ import annotations

from typing import Any

QUOTE = "USDC"


def duration_text(ms: float) -> str:
    """A span of market time, as a trader says it: 45s, 12m, 3h 05m, 2d 4h."""
    s = max(0, int(round(ms / 1000)))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m"
    if s < 86_400:
        return f"{s // 3600}h {s % 3600 // 60:02d}m"
    return f"{s // 86_400}d {s % 86_400 // 3600}h"


def strategy_state(row: dict[str, Any]) -> str:
    """One phrase for what the strategy is doing. row: System.status()'s entry for it."""
    st = row.get("strategy")
    risk = row.get("risk") or {}
    if st is None:
        return "no answer"
    if risk.get("breaker_tripped"):
        return "breaker tripped"
    mode = risk.get("mode", "running")
    if mode != "running":
        return mode  # halted, flattening
    if "inventory" in st:
        return _maker_state(st)
    if not st.get("entries_allowed", True):
        return "entries off"
    needed = int(st.get("warmup_needed") or 0)
    if needed > 0:
        interval = st.get("candle_interval_ms")
        left = f", ~{duration_text(needed * interval)} left" if interval else f", {needed} candles left"
        return f"warming up{left}"
    pos = st.get("position")
    if pos:
        return "long" if pos.get("side") == "buy" else "short"
    last_ts, paused_until = st.get("last_ts_ms") or 0, st.get("paused_until_ms") or 0
    if paused_until > last_ts:
        return f"paused {duration_text(paused_until - last_ts)} (losing streak)"
    return "flat"


def _position_text(pos: dict[str, Any]) -> str:
    """Signed size @ entry price: +0.1 @ 146.23."""
    return f"{pos['size'] * (1 if pos['side'] == 'buy' else -1):+g} @ {pos['entry_price']:.6g}"


def _maker_state(st: dict[str, Any]) -> str:
    """A quoting strategy: how many quotes rest, or why it is not quoting."""
    pauses = st.get("pauses") or {}
    if not pauses.get("entries_allowed", True):
        return "entries off"
    quotes = [o for o in st.get("orders", []) if o.get("role") == "quote" and o.get("status") != "canceling"]
    for name, phrase in (("high_vol", "paused: high volatility"), ("low_vol", "paused: low volatility"),
                         ("cancel_throttled", "paused: cancel cap")):
        if pauses.get(name) and not quotes:
            return phrase
    hedging = " + hedge" if any(o.get("role") == "hedge" for o in st.get("orders", [])) else ""
    return f"quoting {len(quotes)} side{'s' if len(quotes) != 1 else ''} ({st.get('regime', '?')}){hedging}"


def _money(value: float | None) -> str:
    return "-" if value is None else f"{value:+.4f}"


def status_rows(status: dict[str, Any]) -> list[dict[str, str]]:
    """The status table's cells, one dict per strategy (also what `--json` would print)."""
    rows = []
    for name, row in status["strategies"].items():
        st = row.get("strategy") or {}
        if "inventory" in st:
            rows.append(_maker_cells(name, row, st))
            continue
        pos = st.get("position")
        position = _position_text(pos) if pos else "-"
        mark = st.get("mark")
        rows.append({
            "strategy": name,
            "account": str(row["account"]),
            "state": strategy_state(row),
            "position": position,
            "mark": "-" if mark is None else f"{mark:.6g}",
            "upnl": _money(pos.get("unrealized_pnl")) if pos else "-",
            "pnl": _money(st.get("realized_pnl")),
            "trades": str(st.get("trades", "-")),
            "orders": str(row.get("open_orders", 0)),
            "skipped": _skip_text(st, row),
        })
    return rows


def _maker_cells(name: str, row: dict[str, Any], st: dict[str, Any]) -> dict[str, str]:
    """A quoting strategy's row: inventory for position, FIFO realized PnL for net, its fills for
    trades, and per side why it is not quoting (if it is not)."""
    inventory = float(st.get("inventory") or 0.0)
    mark = st.get("mark")
    skips = {side: why for side, why in (st.get("skip") or {}).items() if why}
    return {
        "strategy": name, "account": str(row["account"]), "state": strategy_state(row),
        "position": "flat" if abs(inventory) < 1e-12 else f"{inventory:+g} @ {st.get('average_entry', 0.0):.6g}",
        "mark": "-" if mark is None else f"{mark:.6g}", "upnl": _money(st.get("unrealized_pnl")),
        "pnl": _money(st.get("fifo_realized_quote")),
        "trades": str(int(st.get("maker_fills", 0)) + int(st.get("taker_fills", 0))),
        "orders": str(row.get("open_orders", 0)),
        "skipped": "; ".join(f"{side}: {why}" for side, why in sorted(skips.items())) or "-",
    }


def _skip_text(st: dict[str, Any], row: dict[str, Any]) -> str:
    risk = row.get("risk") or {}
    if risk.get("breaker_tripped"):
        return str(risk.get("breaker", ""))
    if risk.get("mode", "running") != "running" and risk.get("halt_reason"):
        return str(risk["halt_reason"])
    return str(st.get("last_skip") or "-")


COLUMNS = (("strategy", "<", 12), ("account", ">", 8), ("state", "<", 30), ("position", "<", 18),
           ("mark", ">", 9), ("upnl", ">", 10), ("pnl", ">", 10), ("trades", ">", 6), ("orders", ">", 6),
           ("skipped", "<", 0))
HEADERS = {"upnl": f"uPnL {QUOTE}", "pnl": f"net {QUOTE}", "skipped": "last entry skipped because"}


def _line(cells: dict[str, str], width: int) -> str:
    parts = []
    for key, align, size in COLUMNS:
        text = cells[key]
        if size == 0:
            parts.append(text)
        elif align == "<":
            parts.append(text[:size].ljust(size))  # words may be cut, numbers never are
        else:
            parts.append(text.rjust(size))
    return " ".join(parts)[:width].rstrip()


def status_table(status: dict[str, Any], *, width: int = 160) -> str:
    head = {key: HEADERS.get(key, key) for key, _, _ in COLUMNS}
    lines = [_line(head, width)]
    lines += [_line(cells, width) for cells in status_rows(status)]
    lines.append("")
    names = max([len("actor"), *map(len, status["actors"])])
    lines.append(f"{'actor':<{names}} {'state':<9} {'restarts':>8} {'lag ms':>8}  last error")
    for name, row in status["actors"].items():
        error = " ".join((row.get("last_error") or "-").split())
        lines.append(f"{name:<{names}} {row['state']:<9} {row['restarts']:>8} {row['lag_ms']:>8.1f}  {error}"[:width])
    if status.get("halted"):
        lines.append(f"TRADING HALTED by the supervisor: {status['halted']}")
    return "\n".join(lines)


def summary_table(status: dict[str, Any]) -> str:
    """The summary printed at exit: per strategy its trades, wins, net PnL and what it holds."""
    lines = [f"{'strategy':<12} {'trades':>6} {'wins':>5} {'net ' + QUOTE:>12}  {'position at exit':<20} state"]
    total = 0.0
    for name, row in status["strategies"].items():
        st = row.get("strategy") or {}
        if "inventory" in st:  # a maker: its fills and FIFO PnL, its inventory
            st = {"trades": int(st.get("maker_fills", 0)) + int(st.get("taker_fills", 0)), "wins": "-",
                  "realized_pnl": st.get("fifo_realized_quote"),
                  "position": None if abs(float(st.get("inventory") or 0.0)) < 1e-12 else
                  {"size": abs(st["inventory"]), "side": "buy" if st["inventory"] > 0 else "sell",
                   "entry_price": st.get("average_entry", 0.0)}}
        pnl = st.get("realized_pnl")
        total += pnl or 0.0
        pos = st.get("position")
        held = "?" if not st else _position_text(pos) if pos else "flat"
        lines.append(f"{name:<12} {st.get('trades', '?'):>6} {st.get('wins', '?'):>5} {_money(pnl):>12}  "
                     f"{held:<20} {strategy_state(row)}")
    lines.append(f"{'total':<12} {'':>6} {'':>5} {_money(total):>12}")
    restarts = {name: row["restarts"] for name, row in status["actors"].items() if row["restarts"]}
    lines.append("actor restarts: " + (", ".join(f"{n} {c}" for n, c in restarts.items()) if restarts else "none"))
    return "\n".join(lines)
