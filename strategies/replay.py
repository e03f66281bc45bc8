"""Research replay: one pure strategy over 1-minute candles, orders through the simulator's engine.

    python -m strategies.replay --strategy rsi_bb|renko_ao|breakout [--preset P] --candles PATH
        [--from DATE] [--to DATE] [--out trades.csv] [--fee-bps X] [--sample-ms MS] [--json]

Market path: each minute is walked along the simulator's candle rule
(`venue.sim.sources.intraminute_path`: open, the extreme against the close first, the other
extreme, close), sampled every `sample_ms` of event time (default 1000 ms: 60 mids a minute,
2.6 million for the 30-day file, which takes about one minute per strategy on the 2-core
machine; every minute's high and low are hit exactly), rounded to the market's tick. Each sample
is a mid for the strategy. The minute's volume is printed to the strategy as trades, split
evenly over the samples where the price moves (the middle sample when it does not).

Orders: a `MatchingEngine` is used as a library (no Ray, no sockets). On every mid it receives
an external book around that mid: `spread_bps` wide (default 1 bp), `levels` levels a side
`spread_bps / 2` apart, each deep enough (`level_size`) that a 0.1 SOL order fills at the
touch. Every Action becomes an OrderRequest submitted at the mid's event time; its fills and a
"canceled" (IOC rest) or "rejected" outcome go back to the strategy as an actor would deliver
them. The strategies only send IOC market orders, so nothing rests in the engine and the
external prints are not replayed into it.

The summary reports closed trades only; a position still open at the end is reported as such.
Its cross-checks (fills seen by the strategy == the engine's trades for the account, realized
PnL gross of fees == the engine's) are part of the summary so a bookkeeping error is visible.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec

from messages.state import TradeRecord
from strategies.base import Action, Strategy
from strategies.registry import DEFAULT_PRESET, KINDS, build, params_dict
from venue import codes
from venue.markets import SOL_DEFAULT, MarketSpec
from venue.sim.engine import MatchingEngine
from venue.sim.sources import intraminute_path, read_candles
from venue.sim.types import OrderRequest, OrderStatus, OrderType, TimeInForce

ACCOUNT = 1
DEFAULT_SAMPLE_MS = 1_000

_TIF = {"ioc": TimeInForce.IOC, "gtt": TimeInForce.GTT, "post_only": TimeInForce.POST_ONLY}


@dataclass
class ReplayResult:
    strategy: str
    preset: str
    trades: list[TradeRecord]
    minutes: int
    mids: int
    actions: int = 0
    fills: int = 0
    engine_trades: int = 0
    rejections: int = 0
    unfilled: int = 0
    engine_realized_gross: float = 0.0
    engine_fees: float = 0.0
    open_position: dict[str, Any] | None = None
    span: tuple[int, int] = (0, 0)
    seconds: float = 0.0
    params: dict[str, Any] = field(default_factory=dict)


class _Driver:
    """Feeds one strategy and routes its actions through the engine."""

    def __init__(self, strategy: Strategy, market: MarketSpec, *, spread_bps: float, levels: int, level_size: float):
        self.strategy = strategy
        self.market = market
        self.engine = MatchingEngine({market.market_id: market}, default_collateral=100_000.0)
        self.half_spread = spread_bps / 2e4
        self.levels = levels
        self.level_units = market.size_to_int(level_size)
        self.price_scale = market.price_scale
        self.next_client_index = 1
        self.actions = self.fills = self.rejections = self.unfilled = 0
        self.trades: list[TradeRecord] = []

    def feed_book(self, mid: float, ts_ms: int) -> None:
        scale = self.price_scale
        bid = math.floor(mid * (1 - self.half_spread) * scale + 1e-6)
        ask = math.ceil(mid * (1 + self.half_spread) * scale - 1e-6)
        step = max(1, ask - bid)
        bids = [(bid - i * step, self.level_units) for i in range(self.levels)]
        asks = [(ask + i * step, self.level_units) for i in range(self.levels)]
        self.engine.on_book(self.market.market_id, bids, asks, ts_ms)

    def execute(self, actions: list[Action], mid: float, ts_ms: int) -> None:
        while actions:
            action = actions.pop(0)
            self.actions += 1
            req = OrderRequest(
                account_index=ACCOUNT,
                market_id=self.market.market_id,
                client_order_index=self.next_client_index,
                base_amount=self.market.size_to_int(action.size),
                price=self.market.price_to_int(action.price),
                is_ask=action.side == "sell",
                order_type=OrderType.MARKET if action.kind == "market" else OrderType.LIMIT,
                time_in_force=_TIF[action.tif],
                reduce_only=action.reduce_only,
            )
            self.next_client_index += 1
            result = self.engine.submit(req, ts_ms)
            if result.code != codes.OK or result.order is None:
                self.rejections += 1
                self.strategy.on_order_done("rejected", result.code)
                continue
            for trade in result.trades:
                we_are_taker = (trade.bid_account_id == ACCOUNT) == trade.is_maker_ask
                fee = trade.taker_fee if we_are_taker else trade.maker_fee
                self.fills += 1
                actions.extend(
                    self.strategy.on_fill(
                        ts_ms,
                        action.side,
                        self.market.price_from_int(trade.price),
                        self.market.size_from_int(trade.size),
                        fee,
                        action.is_exit,
                    )
                )
            if result.order.status != OrderStatus.FILLED:
                self.unfilled += 1
                self.strategy.on_order_done("canceled", codes.NO_LIQUIDITY)
            self.trades.extend(self.strategy.closed_trades())


def replay(
    kind: str,
    candles_path: str | Path,
    *,
    preset: str = DEFAULT_PRESET,
    start: datetime | None = None,
    end: datetime | None = None,
    fee_bps: float = 0.0,
    sample_ms: int = DEFAULT_SAMPLE_MS,
    spread_bps: float = 1.0,
    levels: int = 5,
    level_size: float = 1_000.0,
    overrides: dict[str, Any] | None = None,
    market: MarketSpec = SOL_DEFAULT,
) -> ReplayResult:
    if sample_ms <= 0 or 60_000 % sample_ms or 60_000 // sample_ms < 4:
        raise ValueError(f"sample_ms must divide a minute into at least 4 samples, got {sample_ms}")
    market = msgspec.structs.replace(market, taker_fee=fee_bps / 1e4, maker_fee=fee_bps / 1e4)
    strategy = build(kind, f"replay-{kind}", market, preset=preset, overrides=overrides, account_index=ACCOUNT)
    driver = _Driver(strategy, market, spread_bps=spread_bps, levels=levels, level_size=level_size)
    candles = read_candles(candles_path, start, end)
    steps = 60_000 // sample_ms
    scale = market.price_scale
    began = time.perf_counter()
    mids = 0
    on_mid, on_trade, execute, feed_book = strategy.on_mid, strategy.on_trade, driver.execute, driver.feed_book
    for m in range(len(candles)):
        open_ms = int(candles.open_time_ms[m])
        path = intraminute_path(
            float(candles.open[m]), float(candles.high[m]), float(candles.low[m]), float(candles.close[m]), steps
        )
        prices = [round(p * scale) / scale for p in path]
        moving = [k for k in range(1, steps) if prices[k] != prices[k - 1]] or [steps // 2]
        per_trade = float(candles.volume[m]) / len(moving)
        trade_at = set(moving) if per_trade > 0 else set()
        for k, mid in enumerate(prices):
            ts = open_ms + k * sample_ms
            feed_book(mid, ts)
            actions = on_mid(ts, mid)
            if actions:
                execute(actions, mid, ts)
            if k in trade_at:
                on_trade(ts, mid, per_trade)
        mids += steps
    position = driver.engine.account(ACCOUNT).positions.get(market.market_id)
    status = strategy.status()
    return ReplayResult(
        strategy=kind,
        preset=preset,
        trades=driver.trades + strategy.closed_trades(),
        minutes=len(candles),
        mids=mids,
        actions=driver.actions,
        fills=driver.fills,
        engine_trades=len(driver.engine.account_trades(ACCOUNT)),
        rejections=driver.rejections,
        unfilled=driver.unfilled,
        engine_realized_gross=position.realized_pnl if position is not None else 0.0,
        engine_fees=position.fees_paid if position is not None else 0.0,
        open_position=status["position"],
        span=(int(candles.open_time_ms[0]), int(candles.open_time_ms[-1]) + 60_000) if len(candles) else (0, 0),
        seconds=time.perf_counter() - began,
        params=params_dict(strategy.params),
    )


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
        "from": _iso(result.span[0]),
        "to": _iso(result.span[1]),
        "minutes": result.minutes,
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
    lines = [
        f"strategy {s['strategy']} (preset {s['preset']}), {s['from']} -> {s['to']}, "
        f"{s['minutes']} minutes, {s['mids']} mids, {s['seconds']} s",
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
            writer.writerow([*(repr(v) if isinstance(v, float) else v for v in row), json.dumps(t.entry_context)])


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M")


def _date(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m strategies.replay", description=__doc__.split("\n\n")[0])
    ap.add_argument("--strategy", required=True, choices=sorted(KINDS))
    ap.add_argument("--preset", default=DEFAULT_PRESET)
    ap.add_argument("--candles", required=True, type=Path, help="1-minute candles CSV (gzip ok)")
    ap.add_argument("--from", dest="start", type=_date, help="UTC date/time, inclusive (ISO)")
    ap.add_argument("--to", dest="end", type=_date, help="UTC date/time, exclusive (ISO)")
    ap.add_argument("--out", type=Path, help="write the closed trades here (CSV)")
    ap.add_argument("--fee-bps", type=float, default=0.0, help="maker and taker fee, bps of notional")
    ap.add_argument("--sample-ms", type=int, default=DEFAULT_SAMPLE_MS, help="event time between mids")
    ap.add_argument("--spread-bps", type=float, default=1.0, help="the simulated book's spread")
    ap.add_argument("--set", action="append", default=[], metavar="NAME=JSON", help="override a parameter")
    ap.add_argument("--json", action="store_true", help="print the summary as JSON")
    args = ap.parse_args(argv)
    if not args.candles.is_file():
        print(f"candles file not found: {args.candles}", file=sys.stderr)
        return 2
    overrides: dict[str, Any] = {}
    for item in args.set:
        name, _, value = item.partition("=")
        overrides[name] = json.loads(value)
    try:
        result = replay(
            args.strategy,
            args.candles,
            preset=args.preset,
            start=args.start,
            end=args.end,
            fee_bps=args.fee_bps,
            sample_ms=args.sample_ms,
            spread_bps=args.spread_bps,
            overrides=overrides,
        )
    except ValueError as exc:
        print(f"replay: {exc}", file=sys.stderr)
        return 2
    if args.out:
        write_csv(result.trades, args.out)
    summary = summarize(result)
    print(json.dumps(summary, indent=2) if args.json else format_summary(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
