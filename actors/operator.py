"""The operator actor: the operator API over HTTP on 127.0.0.1 (operator_api/ is its pure core).

Serves, with aiohttp, on `operator.port` (0: a free port): GET /api/v1/status, /api/v1/trades,
/api/v1/equity, POST /api/v1/halt, /flatten, /resume (bearer token), GET /metrics (Prometheus
text, bearer token) and GET /health (no token). It asks the strategies, risk and the router
through Ray, as `System.status()` does, reads trades from SQLite read-only, sends kill-switch
commands to risk's `control`, and learns the actors' health from the supervisor, which pushes its
table every poll (`on_health`). At start it writes `<db>.operator.json` (URL and token file).

The token (operator_api.token.prepare_token) and Telegram's bot token and chat id come from the
supervisor's secret hand-off (actors.secret_handoff), fetched at every start of this actor by its
own worker: never in its constructor arguments or environment (Ray shows or inherits those), never
logged.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from aiohttp import web

from actors.common import ActorContext, ActorShell, wall_ns
from actors.metrics import TICK_TO_ORDER_BOUNDARIES_MS
from actors.secret_handoff import OPERATOR_TOKEN_ENV, TELEGRAM_CHAT_ENV, TELEGRAM_TOKEN_ENV, fetch_secrets
from alerts.senders import AlertDispatcher
from alerts.watch import AlertWatch
from messages.codec import CONTROL
from messages.control import Flatten, Halt, Resume
from operator_api import health as health_rules
from operator_api import prometheus, routes, shaping
from operator_api.token import write_info

HOST = "127.0.0.1"
CALL_TIMEOUT_S = 3.0
CONTROL_TIMEOUT_S = 30.0


class OperatorActor(ActorShell):
    def __init__(self, ctx: ActorContext) -> None:
        super().__init__(ctx)
        self.token = ""  # from the hand-off, at start
        self.token_file = self.options.pop("token_file", "") or None
        self._telegram_env: dict[str, str] = {}  # LT_TELEGRAM_BOT_TOKEN / _CHAT_ID, from the hand-off
        self.report: dict[str, Any] | None = None
        self.report_at = 0.0
        self.requests = 0
        self.url = ""
        self._runner: web.AppRunner | None = None
        self.backend = OperatorBackend(self)
        self.alerts: AlertDispatcher | None = None  # with its watch, when settings.alerts.enabled
        self.alert_watch: AlertWatch | None = None
        self._alert_check: asyncio.Task[None] | None = None

    async def _start(self) -> None:
        if self.ctx.secrets_socket:
            handed = await fetch_secrets(self.ctx.secrets_socket, "operator")
            self.token = handed.pop(OPERATOR_TOKEN_ENV, "")
            self._telegram_env = {k: v for k, v in handed.items() if k in (TELEGRAM_TOKEN_ENV, TELEGRAM_CHAT_ENV)}
        if not self.token:
            raise RuntimeError("no operator token (the supervisor hands one over)")
        app = web.Application(client_max_size=64 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._serve)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, HOST, self.settings.operator.port)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://{HOST}:{port}"
        write_info(self.settings.storage.db_path, self.url, None if self.token_file is None else Path(self.token_file))
        self.log.info("operator API at {}", self.url)
        await self._start_alerts()

    async def _serve(self, request: web.Request) -> web.Response:
        self.requests += 1
        req = routes.Request(method=request.method, path=request.path, query=dict(request.query),
                             authorization=request.headers.get("Authorization"), body=await request.read())
        resp = await routes.dispatch(req, self.token, self.backend)
        return web.Response(status=resp.status, body=resp.body, headers=dict(resp.headers),
                            content_type=resp.content_type.split(";")[0],
                            charset="utf-8" if resp.content_type.startswith("text/") else None)

    # --- what the supervisor and the CLI call through Ray --------------------------------------
    async def address(self) -> str:
        await self.ready()
        return self.url

    async def on_health(self, report: dict[str, Any]) -> None:
        self.report = report
        self.report_at = time.monotonic()
        if self.alert_watch is not None and (self._alert_check is None or self._alert_check.done()):
            # in the background: a slow risk or strategy delays the alerts, never this call
            self._alert_check = asyncio.create_task(self._check_alerts(report))

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        await self._stop_alerts()

    def stats(self) -> dict[str, float]:
        return {"requests": float(self.requests)}

    # --- alerts (alerts.watch decides, alerts.senders delivers) ---------------------------------
    async def _start_alerts(self) -> None:
        config = self.settings.alerts
        if not config.enabled:
            return
        # the bot token and chat id are not in the settings an actor is handed (the dump excludes
        # them): the supervisor's hand-off; checked as the loader checks them
        from config.loader import _attach_telegram

        alerts = _attach_telegram(self.settings, self._telegram_env).alerts
        self.alerts = AlertDispatcher.from_settings(alerts)
        await self.alerts.start()
        self.alert_watch = AlertWatch(feed_stale_alert_s=config.feed_stale_alert_s,
                                      restart_period_s=self.settings.supervisor.period_s)
        self.log.info("alerts to {}", ", ".join(self.alerts.channels) or "no channel")

    async def _check_alerts(self, report: dict[str, Any]) -> None:
        """One round: risk's and the strategies' status beside the health table, through the watch;
        what it raises is queued (AlertDispatcher.send never awaits the network)."""
        if self.alert_watch is None or self.alerts is None:
            return
        try:
            enabled = self.settings.enabled_strategies
            answers = await asyncio.gather(self.backend._ask("risk", "status"),
                                           *[self.backend._ask(s.actor_name, "status") for s in enabled])
            statuses = {s.name: st for s, st in zip(enabled, answers[1:], strict=True)}
            for alert in self.alert_watch.observe(report, answers[0], statuses, time.time()):
                self.log.info("alert {}: {}", alert.kind, alert.text.splitlines()[0])
                self.alerts.send(alert)
        except Exception as exc:  # a bad snapshot: the next round looks again
            self.note_error(f"alerts not checked: {type(exc).__name__}: {exc}")

    async def alert_stats(self) -> dict[str, dict[str, Any]]:
        """Per channel: sent, failed, dropped, waiting and the last error (redacted); {} when off."""
        if self.alerts is None:
            return {}
        return {name: {"sent": st.sent, "failed": st.failed, "dropped": st.dropped,
                       "waiting": self.alerts.waiting(name), "last_error": st.last_error}
                for name, st in self.alerts.stats.items()}

    async def _stop_alerts(self) -> None:
        if self._alert_check is not None:
            self._alert_check.cancel()
        if self.alerts is not None:
            await self.alerts.close()



class OperatorBackend:
    """operator_api.routes.Backend over the running system, for one operator actor."""

    def __init__(self, actor: OperatorActor) -> None:
        self.actor = actor
        self.settings = actor.settings
        self.peers = actor.peers
        self.log = actor.log
        # the router's tick-to-order latencies since this operator started, fed at each scrape
        # with those recorded since the last (the router counts them; `latency_seen` is its count)
        self.tick_to_order = prometheus.Histogram(TICK_TO_ORDER_BOUNDARIES_MS)
        self.latency_seen = 0
        self._latency_lock = asyncio.Lock()

    def strategy_names(self) -> list[str]:
        return [s.name for s in self.settings.enabled_strategies]

    async def _ask(self, name: str, method: str, *args: Any) -> Any:
        """The actor's answer, or None if it is missing or does not answer in time."""
        handle = self.peers.get(name)
        if handle is None:
            return None
        try:
            return await asyncio.wait_for(_await(getattr(handle, method).remote(*args)), CALL_TIMEOUT_S)
        except Exception:
            return None

    async def status(self) -> dict[str, Any]:
        enabled = self.settings.enabled_strategies
        answers = await asyncio.gather(self._ask("router", "open_orders"), self._ask("risk", "status"),
                                       *[self._ask(s.actor_name, "status") for s in enabled])
        open_orders, risk = answers[0] or {}, answers[1]
        risk_strategies = (risk or {}).get("strategies", {})
        strategies = {}
        for s, st in zip(enabled, answers[2:], strict=True):
            rk = risk_strategies.get(s.name)
            row = {"account": s.account_index, "open_orders": open_orders.get(s.name, 0), "strategy": st, "risk": rk}
            row["view"] = shaping.strategy_view(s.account_index, row["open_orders"], st, rk)
            strategies[s.name] = row
        report = self.actor.report or {}
        actors = {name: {k: row.get(k) for k in ("state", "restarts", "lag_ms", "last_error")}
                  for name, row in report.get("actors", {}).items()}
        return {"strategies": strategies, "actors": actors, "halted": report.get("halted"),
                "risk": None if risk is None else {k: risk.get(k) for k in ("net_notional", "feed_alive", "counts")}}

    def _trades(self) -> list[Any]:
        from storage.loaders import StorageReader

        with StorageReader(self.settings.storage.db_path) as db:
            return db.trades_since(0)

    async def trades(self, limit: int) -> list[dict[str, Any]]:
        return shaping.trade_rows(await asyncio.to_thread(self._trades), limit)

    async def equity(self) -> dict[str, Any]:
        return {"equity": shaping.equity_curves(await asyncio.to_thread(self._trades))}

    async def control(self, kind: str, scope: str, reason: str) -> list[str]:
        kinds: dict[str, type[Halt | Resume | Flatten]] = {"halt": Halt, "resume": Resume, "flatten": Flatten}
        command = kinds[kind](reason=reason, scope=scope, issued_by="operator", ts_event=wall_ns(),
                              seq=time.time_ns() // 1000)
        handle = self.peers.get("risk")
        if handle is None:
            raise LookupError("the risk actor is not running")
        names: list[str] = await asyncio.wait_for(_await(handle.control.remote(CONTROL.encode(command))),
                                                  CONTROL_TIMEOUT_S)
        self.log.warning("operator {} {} ({}): {}", kind, scope, reason, ", ".join(names) or "no strategy")
        return names

    def health(self) -> tuple[bool, list[str]]:
        max_age = max(5.0, 5 * self.settings.supervisor.heartbeat_interval_s)
        return health_rules.verdict(self.actor.report, time.monotonic() - self.actor.report_at, max_age)

    async def _gather_latencies(self) -> None:
        async with self._latency_lock:  # two scrapes at once must not count a batch twice
            answer = await self._ask("router", "latencies_since", self.latency_seen)
            if answer is not None:
                self.latency_seen, new = answer
                self.tick_to_order.observe(new)

    async def metrics(self) -> str:
        status, _ = await asyncio.gather(self.status(), self._gather_latencies())
        counts = (status.get("risk") or {}).get("counts") or {}
        return prometheus.render(status, self.actor.report, counts, self.tick_to_order)


async def _await(ref: Any) -> Any:
    return await ref
