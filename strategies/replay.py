"""Research replay: one pure strategy over 1-minute candles, orders through the simulator's engine.

    python -m strategies.replay --strategy rsi_bb|renko_ao|breakout [--preset P] --candles PATH
        [--from DATE] [--to DATE] [--out trades.csv] [--html report.html] [--figures] [--fee-bps X] [--sample-ms MS] [--json]
        [--fast]
    python -m strategies.replay --strategy market_maker [--recording PATH | --candles PATH | --synthetic HOURS]
        [--tier standard|premium] [--market sol|btc] [--set NAME=JSON] [--json]

The quoting strategies (the market maker) are replayed by strategies.replay_maker over a market
source's books and prints, with the account tier's speed bump; the rest of this docstring is about
the directional ones.

Range: --from (inclusive) and --to (exclusive) are UTC dates or times (2025-05-06, 2025-05-06T12:00)
inside the file's own minutes; without them the whole file is replayed. A time outside the data,
--from not before --to, an unparsable time or any other bad flag is one line on stderr (naming the
flag, and for a time the data's range), exit status 2, before a minute is replayed.

Market path: each minute is walked along the simulator's candle rule
(`venue.sim.sources.intraminute_path`: open, the extreme against the close first, the other
extreme, close), sampled every `sample_ms` of event time (default 1000 ms: 60 mids a minute,
2.6 million for the 30-day file, which takes 20 to 25 s per strategy on the 2-core
machine; every minute's high and low are hit exactly), rounded to the market's tick. Each sample
is a mid for the strategy. The minute's volume is printed to the strategy as trades, split
evenly over the samples where the price moves (the middle sample when it does not).

Orders: a `MatchingEngine` is used as a library (no Ray, no sockets). On every mid it receives
an external book around that mid: `spread_bps` wide (default 1 bp), `levels` levels a side
`spread_bps` apart, each deep enough (`level_size`) that a 0.1 SOL order fills at the
touch. Every Action becomes an OrderRequest submitted at the mid's event time; its fills and a
"canceled" (IOC rest) or "rejected" outcome go back to the strategy as an actor would deliver
them. The strategies only send IOC market orders, so nothing rests in the engine and the
external prints are not replayed into it.

--fast runs strategies.fast_replay instead: the same trades (tests/test_fast_replay.py), the mids
a strategy cannot act on skipped (about 1-2.5 s per strategy for the month instead of 20-25 s).

The summary reports closed trades only; a position still open at the end is reported as such.
Its cross-checks (fills seen by the strategy == the engine's trades for the account, realized
PnL gross of fees == the engine's) are part of the summary so a bookkeeping error is visible.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
import zlib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import msgspec

from messages.state import TradeRecord
from strategies.base import Action, Strategy
from strategies.registry import DEFAULT_PRESET, KINDS, QUOTING_KINDS, build, make_params, params_dict
from strategies.replay_args import (
    ReplayInputError,
    check_directional_flags,
    check_market_options,
    check_output,
    data_range,
    ms_of,
    parse_bound,
    parse_overrides,
    select_minutes,
)
from strategies.replay_maker_cli import run as maker_run
from strategies.replay_maker_report import format_summary as maker_format
from strategies.replay_maker_report import summarize as maker_summary
from strategies.replay_maker_report import to_json as maker_json
from strategies.replay_report import format_summary, summarize, write_csv
from venue import codes
from venue.markets import SOL_DEFAULT, MarketSpec
from venue.sim.engine import MatchingEngine
from venue.sim.sources import Candles, intraminute_path, read_candles
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
    malformed: int = 0  # rows of the candles file counted and dropped
    seconds: float = 0.0
    params: dict[str, Any] = field(default_factory=dict)
    state: dict[str, Any] = field(default_factory=dict)  # the strategy's snapshot() at the end


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


def load_candles(path: str | Path) -> Candles:
    """Every valid minute of a candles file; ReplayInputError when it is missing or unreadable."""
    path = Path(path)
    if not path.is_file():
        raise ReplayInputError(f"--candles {path}: no such file")
    try:
        return read_candles(path)
    except (OSError, EOFError, zlib.error) as exc:  # a truncated or corrupt gzip among them
        raise ReplayInputError(f"--candles {path}: cannot read it ({exc})") from None


def replay(
    kind: str,
    candles_path: str | Path,
    *,
    preset: str = DEFAULT_PRESET,
    start: datetime | None = None,
    end: datetime | None = None,
    **options: Any,
) -> ReplayResult:
    """replay_candles over the minutes start <= open < end of a file (naive datetimes are UTC).

    A start or end outside the file's own range raises ReplayInputError naming that range.
    """
    candles = load_candles(candles_path)
    selected = select_minutes(candles, ms_of(start), ms_of(end), data_range(candles, candles_path))
    return replay_candles(kind, selected, preset=preset, **options)


def replay_candles(
    kind: str,
    candles: Candles,
    *,
    preset: str = DEFAULT_PRESET,
    fee_bps: float = 0.0,
    sample_ms: int = DEFAULT_SAMPLE_MS,
    spread_bps: float = 1.0,
    levels: int = 5,
    level_size: float = 1_000.0,
    overrides: dict[str, Any] | None = None,
    market: MarketSpec = SOL_DEFAULT,
) -> ReplayResult:
    check_market_options(sample_ms, fee_bps, spread_bps)
    if len(candles) == 0:
        raise ReplayInputError("no candle to replay")
    market = msgspec.structs.replace(market, taker_fee=fee_bps / 1e4, maker_fee=fee_bps / 1e4)
    strategy = build(kind, f"replay-{kind}", market, preset=preset, overrides=overrides, account_index=ACCOUNT)
    driver = _Driver(strategy, market, spread_bps=spread_bps, levels=levels, level_size=level_size)
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
        span=(int(candles.open_time_ms[0]), int(candles.open_time_ms[-1]) + 60_000),
        malformed=candles.malformed,
        seconds=time.perf_counter() - began,
        params=params_dict(strategy.params),
        state=strategy.snapshot(),
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m strategies.replay", description=__doc__.split("\n\n")[0])
    ap.add_argument("--strategy", required=True, choices=sorted([*KINDS, *QUOTING_KINDS]))
    ap.add_argument("--preset", default=DEFAULT_PRESET)
    ap.add_argument("--candles", type=Path, help="1-minute candles CSV (gzip ok)")
    ap.add_argument("--recording", type=Path, help="quoting strategies: a Binance L2 websocket recording (gzip ok)")
    ap.add_argument("--synthetic", type=float, metavar="HOURS", help="quoting strategies: hours of the synthetic market")
    ap.add_argument("--tier", help="quoting strategies: the account tier, standard (default) or premium")
    ap.add_argument("--market", help="quoting strategies: sol or btc (default btc for --recording, else sol)")
    ap.add_argument("--seed", type=int, help="quoting strategies: seed of the candle and synthetic sources (default 1)")
    ap.add_argument("--from", dest="start", metavar="DATE", help="UTC date/time, inclusive (ISO), within the data")
    ap.add_argument("--to", dest="end", metavar="DATE", help="UTC date/time, exclusive (ISO), within the data")
    ap.add_argument("--out", type=Path, help="write the closed trades here (CSV)")
    ap.add_argument("--fee-bps", type=float, default=0.0, help="maker and taker fee, 0 to 1000 bps of notional")
    ap.add_argument("--sample-ms", type=int, default=DEFAULT_SAMPLE_MS, help="event time between mids; divides a minute into 4 or more")
    ap.add_argument("--spread-bps", type=float, default=1.0, help="the simulated book's spread, 0 to 1000 bps")
    ap.add_argument("--set", action="append", default=[], metavar="NAME=JSON", help="override a parameter")
    ap.add_argument("--json", action="store_true", help="print the summary as JSON")
    ap.add_argument("--html", type=Path, help="directional strategies: write the HTML report here (research.report)")
    ap.add_argument("--figures", action="store_true",
                    help="directional strategies: also print Sharpe, Sortino, Calmar, drawdown duration, PnL per day/month")
    ap.add_argument("--fast", action="store_true", help="directional: skip the mids that cannot change anything "
                    "(strategies.fast_replay; same trades)")
    args = ap.parse_args(argv)
    if args.strategy in QUOTING_KINDS:
        if args.fast:
            print(f"replay: bad --fast: it is for the directional strategies, not {args.strategy}", file=sys.stderr)
            return 2
        return _main_quoting(args)
    try:
        result = _run(args)
    except ValueError as exc:  # ReplayInputError, and a bad preset or parameter from the registry
        print(f"replay: {exc}", file=sys.stderr)
        return 2
    if args.out:
        try:
            write_csv(result.trades, args.out)
        except OSError as exc:
            print(f"replay: cannot write --out {args.out}: {exc.strerror or exc}", file=sys.stderr)
            return 2
    if args.html:
        from research.report import write_replay_html

        try:
            write_replay_html(result, args.html)
        except OSError as exc:
            print(f"replay: cannot write --html {args.html}: {exc.strerror or exc}", file=sys.stderr)
            return 2
    summary = summarize(result)
    if args.figures and not args.json:
        from research.report import figures_text

        return _print(format_summary(summary) + "\n\n" + figures_text(result))
    return _print(json.dumps(summary, indent=2) if args.json else format_summary(summary))


def _main_quoting(args: argparse.Namespace) -> int:
    try:
        s = maker_summary(maker_run(args))
    except ValueError as exc:
        print(f"replay: {exc}", file=sys.stderr)
        return 2
    return _print(maker_json(s) if args.json else maker_format(s))


def _print(text: str) -> int:
    try:
        print(text, flush=True)
    except BrokenPipeError:  # the reader left early (`| head`): no traceback, now or at exit's flush
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    return 0


def _run(args: argparse.Namespace) -> ReplayResult:
    """Every flag is checked before the file is read, and the range before a minute is replayed."""
    check_directional_flags(args)
    check_market_options(args.sample_ms, args.fee_bps, args.spread_bps)
    overrides = parse_overrides(args.set)
    make_params(args.strategy, args.preset)  # a bad --preset says so itself
    try:
        make_params(args.strategy, args.preset, overrides)
    except ValueError as exc:
        raise ReplayInputError(f"bad --set: {exc}") from None
    check_output(args.out)
    candles = load_candles(args.candles)
    data = data_range(candles, args.candles)
    start_ms, end_ms = parse_bound("--from", args.start, data), parse_bound("--to", args.end, data)
    if args.fast:
        from strategies.fast_replay import fast_replay  # it imports this module

        return fast_replay(
            args.strategy,
            select_minutes(candles, start_ms, end_ms, data),
            preset=args.preset,
            params=overrides,
            fee_bps=args.fee_bps,
            sample_ms=args.sample_ms,
            spread_bps=args.spread_bps,
        )
    return replay_candles(
        args.strategy,
        select_minutes(candles, start_ms, end_ms, data),
        preset=args.preset,
        fee_bps=args.fee_bps,
        sample_ms=args.sample_ms,
        spread_bps=args.spread_bps,
        overrides=overrides,
    )


if __name__ == "__main__":
    raise SystemExit(main())
