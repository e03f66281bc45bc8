"""The fault campaign's paper venue: `python -m scripts.chaos_venue [venue.sim flags]`.

The same simulator as `python -m venue.sim` (same flags, same `LIGHTER_SIM_URL=...` line once it
listens, SIGINT/SIGTERM to stop), run as a process of its own outside any Ray cluster, so that it
outlives a whole-node crash of the trading system. It keeps the venue-sim actor's audit of create
transactions (actors.venue_sim.RecordingSimServer) and serves it at GET /sim/created as
[[account, client_order_index, arrival wall ns, code], ...]: scripts/chaos.py reads it to count
orders sent twice and entries sent while risk or the feed was down.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from typing import Any

from aiohttp import web
from loguru import logger

from actors.venue_sim import RecordingSimServer
from venue.markets import SOL_DEFAULT
from venue.sim.__main__ import build_server, parse_args
from venue.sim.lighter_mirror import mirrored_markets
from venue.sim.server import check_loopback


class AuditedSim(RecordingSimServer):
    def build_web_app(self) -> web.Application:
        app = super().build_web_app()

        async def created(_request: web.Request) -> web.Response:
            return web.json_response([list(row) for row in self.created])

        app.router.add_get("/sim/created", created)
        return app


async def serve(args: Any) -> int:
    try:
        sim = build_server(args, await mirrored_markets(args.source, [SOL_DEFAULT.market_id]), server_cls=AuditedSim)
        await sim.start()
    except (ValueError, OSError) as exc:
        print(f"chaos_venue: {exc}", file=sys.stderr, flush=True)
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


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logger.remove()
    logger.add(sys.stderr, level=args.log_level.upper())
    try:
        check_loopback(args.host)
    except ValueError as exc:
        print(f"chaos_venue: {exc}", file=sys.stderr, flush=True)
        return 2
    return asyncio.run(serve(args))


if __name__ == "__main__":
    sys.exit(main())
