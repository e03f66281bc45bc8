"""The fault campaign's paper venue: `python -m scripts.chaos_venue [venue.sim flags]`.

The same simulator as `python -m venue.sim` (same flags, same `LIGHTER_SIM_URL=...` line once it
listens, SIGINT/SIGTERM to stop), run as a process of its own outside any Ray cluster, so that it
outlives a whole-node crash of the trading system. It keeps the venue-sim actor's audit of create
transactions (actors.venue_sim.RecordingSimServer) and serves it at GET /sim/created as
[[account, client_order_index, arrival wall ns, code], ...]: scripts/chaos.py reads it to count
orders sent twice and entries sent while risk or the feed was down.
"""

from __future__ import annotations

import sys

from aiohttp import web

from actors.venue_sim import RecordingSimServer
from venue.sim.__main__ import main as sim_main


class AuditedSim(RecordingSimServer):
    def build_web_app(self) -> web.Application:
        app = super().build_web_app()

        async def created(_request: web.Request) -> web.Response:
            return web.json_response([list(row) for row in self.created])

        app.router.add_get("/sim/created", created)
        return app


def main(argv: list[str] | None = None) -> int:
    return sim_main(argv, server_cls=AuditedSim, prog="chaos_venue")


if __name__ == "__main__":
    sys.exit(main())
