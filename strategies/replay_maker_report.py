"""The maker replay's report: a summary of a MakerReplayResult, as a table or one JSON object.

Figures (event time throughout):
- fills per side and the maker/taker split (quote and hedge fills together; by role too);
- FIFO realized PnL net of fees twice: the strategy's own ledger, and recomputed here from the
  engine's fills by an independent FIFO (same convention: a fill's fee is realized when the
  inventory it opened is closed, a closing fill's fee at once). `pnl_check_ok` says they agree;
  the open inventory is marked at the last mid (`unrealized_quote`, net of its carried fees);
- inventory: after each fill; its maximum |inventory|, its time-weighted mean |inventory|, the end;
- quote uptime: the share of event time with a quote of ours resting on both sides;
- cancel discipline: Cancel and Modify sent (each is one, as the strategy counts them), the most in
  any rolling 60 s, and the mean per minute of the span; transactions of every kind likewise;
- spread captured: each fill's price against the external mid just before the event that filled
  it, in bps, positive when we bought below / sold above it (mean over fills);
- adverse selection: the external mid 1 s and 10 s after each fill against that mid, in bps,
  positive when it moved against us (down after a buy); fills too close to the end are left out.
"""

from __future__ import annotations

import json
from bisect import bisect_right
from collections import deque
from datetime import UTC, datetime
from typing import Any

from strategies.replay_maker import FillRecord, MakerReplayResult

HORIZONS_S = (1, 10)
PNL_TOLERANCE = 1e-6


def fifo_realized(fills: list[FillRecord]) -> tuple[float, float, list[tuple[float, float, float]]]:
    """(realized net of fees, fees paid, open lots as (signed size, price, fee per unit)) from fills."""
    lots: deque[list[float]] = deque()  # [signed size, price, fee per unit]
    realized = fees = 0.0
    for f in fills:
        signed = f.size if f.side == "buy" else -f.size
        fees += f.fee
        fee_per = f.fee / f.size
        left = signed
        while lots and left and (lots[0][0] > 0) != (left > 0):
            lot = lots[0]
            qty = min(abs(lot[0]), abs(left))
            direction = 1.0 if lot[0] > 0 else -1.0
            realized += (f.price - lot[1]) * qty * direction - qty * lot[2] - qty * fee_per
            lot[0] -= qty * direction
            left += qty * direction
            if abs(lot[0]) < 1e-12:
                lots.popleft()
            if abs(left) < 1e-12:
                left = 0.0
        if left:
            lots.append([left, f.price, fee_per])
    return realized, fees, [(lot[0], lot[1], lot[2]) for lot in lots]


def _mid_at(r: MakerReplayResult, ts_ms: int) -> float | None:
    """The external mid of the last book at or before ts_ms."""
    i = bisect_right(r.mid_ts, ts_ms)
    return r.mid_px[i - 1] if i else None


def _max_rolling(times: list[int], window_ms: int = 60_000) -> int:
    best = lo = 0
    for hi, t in enumerate(times):
        while times[lo] <= t - window_ms:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def summarize(r: MakerReplayResult) -> dict[str, Any]:
    fills = r.fills
    span_ms = max(r.end_ms - r.start_ms, 1)
    minutes = span_ms / 60_000
    realized, fees, lots = fifo_realized(fills)
    last_mid = r.mid_px[-1] if len(r.mid_px) else None
    unrealized = sum(size * ((last_mid or price) - price) - abs(size) * fee for size, price, fee in lots)
    st = r.strategy_status
    ledger = float(st.get("fifo_realized_quote", 0.0))

    inv_max = inv_area = 0.0
    inv, inv_ts = 0.0, r.start_ms
    for f in fills:
        inv_area += abs(inv) * (f.ts_ms - inv_ts)
        inv, inv_ts = f.inventory, f.ts_ms
        inv_max = max(inv_max, abs(inv))
    inv_area += abs(inv) * (r.end_ms - inv_ts)

    captured = [((f.mid - f.price) if f.side == "buy" else (f.price - f.mid)) / f.mid * 1e4
                for f in fills if f.mid]
    adverse: dict[int, list[float]] = {h: [] for h in HORIZONS_S}
    for f in fills:
        if not f.mid:
            continue
        for h in HORIZONS_S:
            if f.ts_ms + h * 1000 > r.end_ms:
                continue
            later = _mid_at(r, f.ts_ms + h * 1000)
            if later is not None:
                move = (later - f.mid) / f.mid * 1e4
                adverse[h].append(-move if f.side == "buy" else move)

    rejections = {str(code): n for code, n in sorted(r.rejections.items())}
    return {
        "strategy": r.strategy, "preset": r.preset, "tier": r.tier, "market": r.market, "source": r.source,
        "from": _time_text(r.start_ms), "to": _time_text(r.end_ms), "minutes": round(minutes, 3),
        "books": r.books, "prints": r.prints,
        "fills": len(fills),
        "fills_buy": sum(f.side == "buy" for f in fills),
        "fills_sell": sum(f.side == "sell" for f in fills),
        "volume_buy": sum(f.size for f in fills if f.side == "buy"),
        "volume_sell": sum(f.size for f in fills if f.side == "sell"),
        "maker_fills": sum(f.is_maker for f in fills),
        "taker_fills": sum(not f.is_maker for f in fills),
        "quote_fills": sum(f.role == "quote" for f in fills),
        "hedge_fills": sum(f.role == "hedge" for f in fills),
        "fifo_pnl_quote": realized,
        "fifo_pnl_ledger_quote": ledger,
        "pnl_check_ok": abs(realized - ledger) <= PNL_TOLERANCE,
        "fees_quote": fees,
        "unrealized_quote": unrealized,
        "total_pnl_quote": realized + unrealized,
        "max_abs_inventory": inv_max,
        "mean_abs_inventory": inv_area / span_ms,
        "inventory_end": inv,
        "inventory_path": [[f.ts_ms, f.inventory] for f in fills],
        "quote_uptime": r.both_quoted_ms / span_ms,
        "max_cancels_per_min": _max_rolling(r.cancel_times),
        "mean_cancels_per_min": len(r.cancel_times) / minutes,
        "max_tx_per_min": _max_rolling(r.tx_times),
        "mean_tx_per_min": len(r.tx_times) / minutes,
        "sent": dict(sorted(r.sent.items())),
        "rejections": rejections,
        "spread_captured_bps": _mean(captured),
        **{f"adverse_{h}s_bps": _mean(adverse[h]) for h in HORIZONS_S},
        **{f"adverse_{h}s_fills": len(adverse[h]) for h in HORIZONS_S},
        "max_quote_distance_entry_bps": r.max_quote_distance_entry_bps,
        "max_quote_distance_resting_bps": r.max_quote_distance_resting_bps,
        "checks": {
            "orphan_orders": r.orphan_orders,
            "pending_at_end": r.pending_at_end,
            "inventory_engine": r.engine_inventory,
            "inventory_strategy": st.get("inventory"),
            "fills_strategy": int(st.get("maker_fills", 0)) + int(st.get("taker_fills", 0)),
            "cancels_peak_minute_strategy": st.get("cancels_peak_minute"),
            **r.source_counters,
        },
        "params": r.params,
    }


def _time_text(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _bps(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+.2f} bps"


def format_summary(s: dict[str, Any]) -> str:
    c = s["checks"]
    lines = [
        f"{s['strategy']} (preset {s['preset']}, {s['tier']} tier) on {s['market']}, {s['source']}: "
        f"{s['from']} -> {s['to']} UTC, {s['minutes']:.1f} minutes, {s['books']} books, {s['prints']} prints",
        "",
        "| metric | value |",
        "|---|---|",
        f"| fills | {s['fills']}: {s['fills_buy']} buy / {s['fills_sell']} sell; {s['maker_fills']} maker / "
        f"{s['taker_fills']} taker; {s['quote_fills']} quote / {s['hedge_fills']} hedge |",
        f"| volume | {s['volume_buy']:g} bought / {s['volume_sell']:g} sold |",
        f"| FIFO realized PnL net of fees | {s['fifo_pnl_quote']:+.4f} quote (ledger {s['fifo_pnl_ledger_quote']:+.4f}, "
        f"{'agree' if s['pnl_check_ok'] else 'DISAGREE'}) |",
        f"| fees | {s['fees_quote']:.4f} quote |",
        f"| open inventory at the last mid | {s['unrealized_quote']:+.4f} quote (total {s['total_pnl_quote']:+.4f}) |",
        f"| inventory | max abs {s['max_abs_inventory']:g}, mean abs {s['mean_abs_inventory']:.5f}, "
        f"end {s['inventory_end']:g} |",
        f"| quote uptime (both sides) | {s['quote_uptime'] * 100:.1f}% |",
        f"| cancels + modifies per minute | max {s['max_cancels_per_min']} (rolling 60 s), "
        f"mean {s['mean_cancels_per_min']:.2f} |",
        f"| transactions per minute | max {s['max_tx_per_min']}, mean {s['mean_tx_per_min']:.2f}; sent {s['sent']} |",
        f"| rejections by code | {s['rejections'] or 'none'} |",
        f"| spread captured | {_bps(s['spread_captured_bps'])} |",
        f"| adverse selection 1 s / 10 s | {_bps(s['adverse_1s_bps'])} / {_bps(s['adverse_10s_bps'])} |",
        f"| quote distance from mid | max {s['max_quote_distance_entry_bps']:.2f} bps when placed, "
        f"{s['max_quote_distance_resting_bps']:.2f} bps while resting |",
        "",
        f"checks: {c['orphan_orders']} orders resting unknown to the strategy, {c['pending_at_end']} transactions "
        f"pending at the end, inventory {c['inventory_engine']:g} (engine) vs {c['inventory_strategy']} (strategy), "
        f"{c['fills_strategy']} fills counted by the strategy",
    ]
    return "\n".join(lines)


def to_json(s: dict[str, Any], *, path: bool = False) -> str:
    """One JSON object; the inventory path only when asked (it has a row per fill)."""
    return json.dumps(s if path else {k: v for k, v in s.items() if k != "inventory_path"})
