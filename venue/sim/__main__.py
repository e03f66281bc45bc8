"""Run the paper venue: `python -m venue.sim --source synthetic --speed 1 --port 0`.

Prints `LIGHTER_SIM_URL=http://127.0.0.1:NNNNN` on one flushed line once it listens, then serves
until SIGINT/SIGTERM. Configuration errors (a non-loopback host, a bad source, bad numbers) stop
start-up with one clear line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

from loguru import logger

from config.cli import SPEED_HELP, OneLineParser, parse_speed
from venue.markets import SOL_DEFAULT, MarketSpec
from venue.sim.faults import FaultConfig
from venue.sim.lighter_mirror import mirrored_markets
from venue.sim.server import SimServer, check_loopback
from venue.sim.tiers import TIER_NAMES


def _hours(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"history hours must be a number, got {raw!r}") from None
    if not 0 <= value <= 744:
        raise argparse.ArgumentTypeError(f"history hours must be in 0..744 (a month), got {raw!r}")
    return value


def _codes(raw: str) -> list[int]:
    try:
        return [int(part) for part in raw.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"reject codes must be comma-separated integers, got {raw!r}") from None


def _account_tier(raw: str) -> tuple[int, str]:
    account, sep, tier = raw.partition("=")
    try:
        index = int(account)
    except ValueError:
        index = -1
    if not sep or index < 0 or tier not in TIER_NAMES:
        raise argparse.ArgumentTypeError(
            f"--account-tier takes ACCOUNT=TIER with ACCOUNT >= 0 and TIER one of {', '.join(TIER_NAMES)}, got {raw!r}")
    return index, tier


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = OneLineParser(prog="python -m venue.sim", description="Local Lighter-compatible venue simulator")
    p.add_argument("--source", default="synthetic",
                   help="synthetic | candles:PATH | binance:PATH | lighter:WS_URL (mirror a live Lighter market)")
    p.add_argument("--speed", type=parse_speed, default=1.0, help=SPEED_HELP)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--history-hours", type=_hours, default=0.0,
                   help="hours of past candles served from the start (synthetic: generated before it; "
                        "candles: the file's first hours); 0 = none")
    p.add_argument("--host", default="127.0.0.1", help="loopback only")
    p.add_argument("--port", type=int, default=0, help="0 picks a free port")
    p.add_argument("--collateral", type=float, default=10_000.0, help="USDC of each account on first use")
    p.add_argument("--maker-fee", type=float, default=0.0, help="fraction of notional (0.0002 = 2 bps)")
    p.add_argument("--taker-fee", type=float, default=0.0, help="fraction of notional")
    p.add_argument("--max-leverage", type=float, default=10.0)
    p.add_argument("--funding-rate", type=float, default=0.0,
                   help="hourly funding on open positions at every whole hour of event time, a fraction per "
                        "hour (> 0: longs pay; 0.0000125 is Lighter's baseline); 0 = none")
    p.add_argument("--tier", choices=TIER_NAMES, default="paper",
                   help="every account's tier: standard (200/300 ms speed bumps, 60 tx a minute, no fees), "
                        "premium (0/150 ms, maker 0.28 / taker 1.96 bps), paper (none of it; --maker-fee/--taker-fee)")
    p.add_argument("--account-tier", type=_account_tier, action="append", default=[], metavar="ACCOUNT=TIER",
                   help="one account's tier instead of --tier (repeatable)")
    p.add_argument("--fill-at-touch", action="store_true", help="a print at a resting order's price fills it")
    p.add_argument("--initial-nonce", type=int, default=0, help="first expected nonce of every (account, key)")
    p.add_argument("--ping-interval", type=float, default=30.0, help="seconds between server pings")
    p.add_argument("--idle-timeout", type=float, default=120.0, help="close websockets silent this long")
    faults = p.add_argument_group("fault injection (also settable at runtime: POST /sim/faults)")
    faults.add_argument("--drop-prob", type=float, default=0.0, help="per websocket, per second")
    faults.add_argument("--delay-fraction", type=float, default=0.0, help="of order transactions")
    faults.add_argument("--delay-ms", type=float, default=0.0)
    faults.add_argument("--reject-fraction", type=float, default=0.0, help="of create-order transactions")
    faults.add_argument("--reject-codes", type=_codes, default=None, help="comma-separated codes (default 29999)")
    faults.add_argument("--http-429-fraction", type=float, default=0.0, help="of /api/v1 requests")
    faults.add_argument("--freeze-feed", action="store_true", help="start with the market-data feed frozen")
    p.add_argument("--log-level", default="INFO")
    return p.parse_args(argv)


def build_server(args: argparse.Namespace, markets: list[MarketSpec] | None = None,
                 server_cls: type[SimServer] = SimServer) -> SimServer:
    config = FaultConfig(
        drop_connections_prob_per_s=args.drop_prob,
        delay_fraction=args.delay_fraction,
        delay_ms=args.delay_ms,
        reject_fraction=args.reject_fraction,
        http_429_fraction=args.http_429_fraction,
        freeze_feed=args.freeze_feed,
    )
    if args.reject_codes:
        config.reject_codes = args.reject_codes
    return server_cls(
        args.source,
        speed=args.speed,
        seed=args.seed,
        history_hours=args.history_hours,
        default_tier=args.tier,
        account_tiers=dict(args.account_tier),
        host=args.host,
        port=args.port,
        markets=markets or [SOL_DEFAULT],  # the source drives SOL, market 2 (a mirror: as its upstream says)
        collateral=args.collateral,
        maker_fee=args.maker_fee,
        taker_fee=args.taker_fee,
        max_leverage=args.max_leverage,
        funding_rate_per_hour=args.funding_rate,
        fill_at_touch=args.fill_at_touch,
        initial_nonce=args.initial_nonce,
        faults=config,
        ping_interval_s=args.ping_interval,
        idle_timeout_s=args.idle_timeout,
    )


async def serve(args: argparse.Namespace, server_cls: type[SimServer] = SimServer, prog: str = "venue.sim") -> int:
    try:
        sim = build_server(args, await mirrored_markets(args.source, [SOL_DEFAULT.market_id]), server_cls=server_cls)
        await sim.start()
    except (ValueError, OSError) as exc:
        print(f"{prog}: {exc}", file=sys.stderr, flush=True)
        return 2
    print(f"LIGHTER_SIM_URL={sim.url}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await sim.stop()
    return 0


def main(argv: list[str] | None = None, server_cls: type[SimServer] = SimServer, prog: str = "venue.sim") -> int:
    """The paper venue until SIGINT/SIGTERM; server_cls and prog let a tool run a subclass of it
    (scripts/chaos_venue.py)."""
    args = parse_args(argv)
    logger.remove()
    logger.add(sys.stderr, level=args.log_level.upper())
    try:
        check_loopback(args.host)
    except ValueError as exc:
        print(f"{prog}: {exc}", file=sys.stderr, flush=True)
        return 2
    return asyncio.run(serve(args, server_cls, prog))


if __name__ == "__main__":
    sys.exit(main())
