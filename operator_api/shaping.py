"""What the API answers, shaped from the actors' own reports (pure).

`strategy_view` flattens one strategy's status and risk's view of it into what a trader reads
(position, entry, PnL net of fees, open orders, halt and breaker, last skip); `trade_rows` and
`equity_curves` read storage's trades (event time, ns -> ms in the answers).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

NS_PER_MS = 1_000_000


def strategy_view(account: int, open_orders: int, strategy: Mapping[str, Any] | None,
                  risk: Mapping[str, Any] | None) -> dict[str, Any]:
    st = strategy or {}
    rk = risk or {}
    if "inventory" in st:  # a quoting strategy: inventory and FIFO PnL
        position = float(st.get("inventory") or 0.0)
        entry = st.get("average_entry") if abs(position) > 1e-12 else None
        unrealized = st.get("unrealized_pnl")
        realized = st.get("fifo_realized_quote")
        skips = {side: why for side, why in (st.get("skip") or {}).items() if why}
        last_skip = "; ".join(f"{side}: {why}" for side, why in sorted(skips.items())) or None
    else:
        pos = st.get("position")
        position = 0.0 if not pos else pos["size"] * (1 if pos["side"] == "buy" else -1)
        entry = pos["entry_price"] if pos else None
        unrealized = pos.get("unrealized_pnl") if pos else 0.0 if st else None
        realized = st.get("realized_pnl")
        last_skip = st.get("last_skip")
    return {
        "account": account,
        "reachable": strategy is not None,
        "position": position,
        "entry_price": entry,
        "mark": st.get("mark"),
        "unrealized_pnl": unrealized,
        "realized_pnl": realized,  # net of fees
        "trades": st.get("trades"),
        "open_orders": open_orders,
        "mode": rk.get("mode", "unknown" if risk is None else "running"),
        "halt_reason": rk.get("halt_reason") or None,
        "breaker": rk.get("breaker") or None,
        "breaker_tripped": bool(rk.get("breaker_tripped", False)),
        "last_skip": last_skip,
    }


def trade_rows(trades: Iterable[Any], limit: int) -> list[dict[str, Any]]:
    """The newest `limit` trades (storage TradeRecords), newest first."""
    rows = sorted(trades, key=lambda t: t.exit_ts, reverse=True)[:limit]
    return [{"strategy": t.strategy, "account": t.account_index, "market_id": t.market_id, "side": t.side,
             "size": t.size, "entry_price": t.entry_price, "exit_price": t.exit_price,
             "entry_ms": t.entry_ts // NS_PER_MS, "exit_ms": t.exit_ts // NS_PER_MS, "fees": t.fees,
             "pnl": t.pnl_quote, "exit_reason": t.exit_reason} for t in rows]


def equity_curves(trades: Iterable[Any]) -> dict[str, list[list[float]]]:
    """Per strategy [exit time ms, cumulative realized PnL net of fees] after each trade, oldest first."""
    curves: dict[str, list[list[float]]] = {}
    totals: dict[str, float] = {}
    for t in sorted(trades, key=lambda t: t.exit_ts):
        totals[t.strategy] = totals.get(t.strategy, 0.0) + t.pnl_quote
        curves.setdefault(t.strategy, []).append([float(t.exit_ts // NS_PER_MS), totals[t.strategy]])
    return curves
