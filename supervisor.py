"""The entry point: `python supervisor.py [--config PATH] [--duration S] [--source SRC] [--speed X]
[--db PATH] [--dashboard | --no-dashboard] [--address ADDR] [--json-logs]`.

Starts Ray (locally, or joins --address) with usage stats off and the dashboard, when asked for,
on 127.0.0.1 only; in paper mode starts the simulator as the `venue-sim` actor (not with
`venue.sim.external: true`: then a paper venue run apart, `python -m venue.sim`, serves venue.url
and outlives the system, as an exchange does; preflight wants it reachable); spawns the named
actors of the configuration's child specs (namespace "trader", max_restarts=-1) and one
`strategy:<name>` per enabled strategy; watches them; prints a status table every 10 s and a
summary at the end. SIGINT/SIGTERM (or --duration) shut down cleanly: open orders are cancelled
when `cancel_on_exit`, the journal is flushed, exit status 0. A bad configuration prints one line
and exits 2; an actor that cannot start prints one line and exits 1.

Supervision (after Erlang/OTP; rules in actors/health.py):
- Ray restarts a crashed actor at once (max_restarts=-1) and the actor rehydrates itself from
  SQLite and the venue (actors/common.py). The supervisor polls every actor's `heartbeat()`
  every `supervisor.heartbeat_interval_s`; restarts are counted per child from Ray's actor table
  (so two restarts between polls count twice), else from a new incarnation in the heartbeat.
- An actor silent for `heartbeat_timeout_s` (hung), or whose start-up failed, is killed so that
  Ray starts it afresh, after an exponential back-off per child. One that Ray has restarted since
  its last heartbeat is starting, not hung: it gets `restart_timeout_s` to answer.
- Restart intensity: more than `max_restarts` restarts of one child within `period_s` means the
  system is not healing itself: trading is halted through the risk actor (Halt scope "all",
  persisted, so it survives restarts) and the supervisor says so; an operator resumes.

The `System` class below does all of this for one configuration; tests drive it in-process.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import secrets
import signal
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from loguru import logger

from actors import status_view
from actors.common import NAMESPACE, ActorContext, configure_logging, settings_dump, wall_ns
from actors.health import Backoff, HeartbeatWatch, RestartIntensity
from actors.preflight import PreflightError, preflight
from config.settings import AppSettings, ChildSpec

STATUS_INTERVAL_S = 10.0
START_TIMEOUT_S = 120.0
CALL_TIMEOUT_S = 10.0
HANDOFF_WAIT_S = 20.0  # how long a secret request waits for Ray to record the asking worker
FLATTEN_ON_EXIT_WAIT_S = 20.0  # at most this long for the venue to show every position closed
FLATTEN_RESEND_S = 3.0


class StartError(RuntimeError):
    """An actor could not start: str() is one line naming it and why."""


def _import_class(path: str) -> type:
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def absolute_paths(settings: AppSettings) -> AppSettings:
    """The same settings with every file path absolute (actors may run in another directory)."""
    data = settings.model_dump()
    storage = data["storage"]
    storage["db_path"] = Path(storage["db_path"]).expanduser().resolve()
    storage["backup_dir"] = Path(storage["backup_dir"]).expanduser().resolve()
    sim = data["venue"]["sim"]
    if sim.get("source_path") is not None:
        sim["source_path"] = Path(sim["source_path"]).expanduser().resolve()
    for strategy in data["strategies"]:
        if strategy.get("key_file") is not None:
            strategy["key_file"] = Path(strategy["key_file"]).expanduser().resolve()
    out = AppSettings.model_validate(data)
    # Telegram's secrets are excluded from the dump: carried over (the operator actor gets them)
    secrets = {"bot_token": settings.alerts.telegram.bot_token, "chat_id": settings.alerts.telegram.chat_id}
    telegram = out.alerts.telegram.model_copy(update=secrets)
    return out.model_copy(update={"alerts": out.alerts.model_copy(update={"telegram": telegram})})


class _Child:
    def __init__(self, spec: ChildSpec, handle: Any, intensity: RestartIntensity, backoff: Backoff) -> None:
        self.spec = spec
        self.handle = handle
        self.intensity = intensity
        self.backoff = backoff
        self.pending: Any = None  # the heartbeat call in flight
        self.pending_since = 0.0
        self.incarnation: float | None = None
        self.pid: int | None = None
        self.restarts = 0
        self.kill_at: float | None = None
        self.escalated = False
        self.stats: dict[str, float] = {}


class System:
    """One running system: its actors, their health, status and shutdown."""

    def __init__(self, settings: AppSettings, *, namespace: str = NAMESPACE, config_path: str | None = None,
                 json_logs: bool = False, options: dict[str, dict[str, Any]] | None = None,
                 cluster: bool = False, secret_env: Mapping[str, str] | None = None) -> None:
        from actors.secret_handoff import HandoffServer, grants_for, secret_values

        # the secrets to hand out (actors.secret_handoff): main() took them out of the environment
        # before ray.init; without them (tests), this process's environment is read, not changed
        taken = dict(secret_values(os.environ) if secret_env is None else secret_env)
        taken.update(_settings_secrets(settings))
        self.handoff = HandoffServer(grants_for(taken), self._is_worker_of)
        self._secrets_env = {k: v for k, v in taken.items() if k == "LT_OPERATOR_TOKEN"}
        self.settings = absolute_paths(settings)
        self.namespace = namespace
        self.config_path = config_path
        self.json_logs = json_logs or settings.json_logs
        self.options = options or {}
        self.cluster = cluster  # actors may be on other nodes: lanes listen on the node's address
        # one token per run, known only to the actors this supervisor creates: a process that
        # cannot present it gets no call served on a lane
        self.lane_token = secrets.token_hex(16) if self.settings.supervisor.data_lane else ""
        sup = self.settings.supervisor
        self.watch = HeartbeatWatch(timeout_s=sup.heartbeat_timeout_s, start_timeout_s=sup.restart_timeout_s)
        self.children: dict[str, _Child] = {}
        self._node_id = ""
        self.operator_token_file: Path | None = None
        self.halted_by_supervisor: str | None = None
        self.started_at = time.monotonic()
        self.log = logger.bind(actor="supervisor")

    # --- start ---------------------------------------------------------------------------------
    def start(self, timeout_s: float = START_TIMEOUT_S) -> None:
        import ray

        sup = self.settings.supervisor
        dump = settings_dump(self.settings)
        specs = self.settings.child_specs()
        if any(spec.name == "operator" for spec in specs):
            self._prepare_operator()
        socket_path = self.handoff.start()
        self._node_id = ray.get_runtime_context().get_node_id()
        for spec in specs:
            cls = _import_class(spec.actor)
            ctx = ActorContext(name=spec.name, settings=dump, namespace=self.namespace,
                               config_path=self.config_path if spec.name == "router" else None,
                               json_logs=self.json_logs, log_level=self.settings.log_level,
                               options=self.options.get(spec.name, {}), lane_token=self.lane_token,
                               lane_on_node_ip=self.cluster,
                               secrets_socket=socket_path if spec.name in ("router", "operator") else "")
            retries = getattr(cls, "MAX_TASK_RETRIES", 0)
            placement: dict[str, Any] = {}
            if self.cluster and spec.name in ("router", "operator"):
                # the hand-off is a unix socket on this node: the actors it serves run here
                from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

                placement["scheduling_strategy"] = NodeAffinitySchedulingStrategy(self._node_id, soft=False)
            handle: Any = ray.remote(cls).options(
                name=spec.name, namespace=self.namespace, max_restarts=-1, max_task_retries=retries,
                num_cpus=spec.num_cpus, max_concurrency=1000, **placement,
            ).remote(ctx)
            self.children[spec.name] = _Child(spec, handle, RestartIntensity(sup.max_restarts, sup.period_s),
                                              Backoff(sup.backoff_base_s, sup.backoff_max_s))
        deadline = time.monotonic() + timeout_s
        for spec in specs:  # in start order: each is ready before the next one is awaited
            child = self.children[spec.name]
            try:
                info = ray.get(child.handle.start.remote(), timeout=max(1.0, deadline - time.monotonic()))
            except Exception as exc:
                raise StartError(f"actor {spec.name} failed to start: {_one_line(exc)}") from None
            child.pid = info["pid"]
            child.incarnation = float(info["incarnation_ns"] // 1_000_000)
            self.log.info("{} started (pid {})", spec.name, child.pid)
        # silence is counted from now, when polling begins: a child that came up early in a long
        # start has not been asked for a heartbeat yet and must not look silent since its start
        self.started_at = time.monotonic()
        for spec in specs:
            self.watch.add(spec.name, self.started_at)

    def _prepare_operator(self) -> None:
        """The operator API's token (operator_api.token): a new one in `<db>.operator-token`
        (0600) unless LT_OPERATOR_TOKEN gives it; handed to the operator actor only, through the
        secret hand-off (never in its constructor arguments, which Ray's state API shows)."""
        from actors.secret_handoff import OPERATOR_TOKEN_ENV
        from operator_api.token import prepare_token

        token, self.operator_token_file = prepare_token(self.settings.storage.db_path, self._secrets_env)
        self.handoff.grant("operator", OPERATOR_TOKEN_ENV, token)
        own = self.options.get("operator", {})
        self.options = {**self.options, "operator": {**own, "token_file": str(self.operator_token_file or "")}}

    def _is_worker_of(self, role: str, pid: int, wait_s: float = HANDOFF_WAIT_S) -> bool:
        """Is pid the worker process hosting the actor `role` on this node, by Ray's actor table?
        Waits up to wait_s: a (re)started actor may ask before Ray has recorded its new worker."""
        from ray._private.state import actors

        deadline = time.monotonic() + wait_s
        while True:
            child = self.children.get(role)
            if child is not None:
                try:
                    info = actors(child.handle._actor_id.hex())
                except Exception:  # GCS busy: asked again until the deadline
                    info = {}
                if info.get("Pid") == pid and info.get("Address", {}).get("NodeID") == self._node_id:
                    return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.1)  # polling Ray's record of the actor's worker

    def operator_note(self) -> str | None:
        """Where the operator API listens and where its token is (None without an operator)."""
        if "operator" not in self.children:
            return None
        url = self._call("operator", "address", timeout_s=10.0)
        where = self.operator_token_file or "$LT_OPERATOR_TOKEN"
        return (f"operator API: {url} (token in {where}; `lighter-trader status` finds both); "
                f"{url}/health, {url}/metrics")

    def _push_health(self) -> None:
        """The health table to the operator actor (its /health and /metrics), fire and forget."""
        child = self.children.get("operator")
        if child is None:
            return
        actors = {}
        for name, health in self.watch.children.items():
            stats = {k: v for k, v in self.children[name].stats.items() if not k.startswith("lane.")}
            actors[name] = {"state": health.state, "restarts": self.children[name].restarts,
                            "lag_ms": health.lag_ms, "last_error": health.last_error, "stats": stats}
        try:
            child.handle.on_health.remote({"actors": actors, "halted": self.halted_by_supervisor})
        except Exception as exc:  # the operator restarting: the next poll sends the next table
            self.log.debug("health not pushed to the operator: {}", _one_line(exc))

    def handle(self, name: str) -> Any:
        return self.children[name].handle

    # --- health --------------------------------------------------------------------------------
    def poll(self, wait_s: float = 1.0) -> None:
        """One round of heartbeats: liveness, restarts, intensity, hung actors."""
        import ray

        from messages.codec import CONTROL, as_heartbeat

        now = time.monotonic()
        patience = max(2.0 * self.settings.supervisor.heartbeat_interval_s, 1.0)
        for child in self.children.values():
            if child.pending is not None and now - child.pending_since > patience:
                child.pending = None  # a call lost with a dead incarnation: ask the new one afresh
            if child.pending is None:
                child.pending = child.handle.heartbeat.remote()
                child.pending_since = now
        refs = {child.pending: child for child in self.children.values()}
        ready, _ = ray.wait(list(refs), num_returns=len(refs), timeout=wait_s)
        now = time.monotonic()
        for ref in ready:
            child = refs[ref]
            child.pending = None
            try:
                message = CONTROL.decode(ray.get(ref, timeout=CALL_TIMEOUT_S))
            except Exception:
                continue  # died with the call in flight: the next poll reaches the new incarnation
            beat = as_heartbeat(message)  # heartbeat() always answers a Heartbeat: anything else is a bug
            stats = dict(beat.stats)
            child.stats = stats
            name = child.spec.name
            incarnation = stats.get("incarnation_ms")
            new_incarnation = child.incarnation is not None and incarnation is not None \
                and incarnation != child.incarnation
            counted = _ray_restarts(child.handle)  # Ray's own count: no restart is missed between polls
            if counted is not None and counted > child.restarts:
                for _ in range(counted - child.restarts):
                    self._restarted(child, now, int(stats.get("pid", 0)) if new_incarnation else 0)
                if not new_incarnation:
                    # the answer of the incarnation that died, sent before it did: the new one is
                    # still coming up and has not been heard from
                    self.watch.restarting(name, now)
                    continue
            elif counted is None and new_incarnation:
                self._restarted(child, now, int(stats.get("pid", 0)))
            child.incarnation = incarnation
            child.pid = int(stats.get("pid", 0)) or child.pid
            self.watch.beat(name, beat.seq, beat.lag_ms, beat.last_error or "", now)
            health = self.watch.children[name]
            health.restarts = child.restarts
            if stats.get("ready", 0.0) < 1.0:
                health.state = "starting"
            if stats.get("start_failed") and child.kill_at is None:
                child.kill_at = now + child.backoff.next_delay(now)
                self.log.error("{} failed to start ({}); restarting it", name, beat.last_error)
        for name in self.watch.missing(now):
            child = self.children[name]
            counted = _ray_restarts(child.handle)
            if counted is not None and counted > child.restarts:  # silent because it is coming up again
                for _ in range(counted - child.restarts):
                    self._restarted(child, now, 0)
                self.watch.restarting(name, now)
                continue
            if child.kill_at is None:
                child.kill_at = now + child.backoff.next_delay(now)
                self.log.error("{} sent no heartbeat for {:g} s: restarting it", name, self.watch.timeout_s)
        for child in self.children.values():
            if child.kill_at is not None and now >= child.kill_at:
                child.kill_at = None
                child.pending = None
                try:
                    ray.kill(child.handle, no_restart=False)
                except Exception as exc:
                    self.log.error("cannot restart {}: {}", child.spec.name, _one_line(exc))
                self.watch.restarting(child.spec.name, now)
        self._push_health()

    def _restarted(self, child: _Child, now: float, pid: int) -> None:
        child.restarts += 1
        name = child.spec.name
        within = child.intensity.record(now)
        self.log.warning("{} restarted (now pid {}; {} restarts, {} in the last {:g} s)", name, pid or "?",
                         child.restarts, child.intensity.recent, child.intensity.period_s)
        if not within and not child.escalated:
            child.escalated = True
            self.escalate(f"restart intensity exceeded: {name} restarted {child.intensity.recent} times "
                          f"in {child.intensity.period_s:g} s")
        elif within:
            child.escalated = False

    def escalate(self, reason: str) -> None:
        """Halt all trading through risk (persisted) and say so loudly."""
        import ray

        from messages.codec import CONTROL
        from messages.control import Halt

        self.halted_by_supervisor = reason
        self.log.critical("HALTING TRADING: {}", reason)
        halt = Halt(reason=reason, scope="all", issued_by="supervisor", ts_event=wall_ns(), seq=int(time.time()))
        try:
            ray.get(self.handle("risk").control.remote(CONTROL.encode(halt)), timeout=30.0)
        except Exception as exc:
            self.log.critical("the halt did not reach risk ({}); risk refuses entries while it is down",
                              _one_line(exc))

    def control(self, kind: str, reason: str, scope: str = "all") -> list[str]:
        import ray

        from messages.codec import CONTROL
        from messages.control import Flatten, Halt, Resume

        kinds: dict[str, type[Halt | Resume | Flatten]] = {"halt": Halt, "resume": Resume, "flatten": Flatten}
        cls = kinds[kind]
        command = cls(reason=reason, scope=scope, issued_by="operator", ts_event=wall_ns(), seq=int(time.time()))
        return ray.get(self.handle("risk").control.remote(CONTROL.encode(command)), timeout=30.0)

    # --- status --------------------------------------------------------------------------------
    def _call(self, name: str, method: str, *args: Any, timeout_s: float = 3.0) -> Any:
        import ray

        child = self.children.get(name)
        if child is None:
            return None
        try:
            return ray.get(getattr(child.handle, method).remote(*args), timeout=timeout_s)
        except Exception:
            return None

    def status(self) -> dict[str, Any]:
        """Per strategy its own status and risk's view of it; per actor its health."""
        open_orders = self._call("router", "open_orders") or {}
        risk = (self._call("risk", "status") or {}).get("strategies", {})
        strategies = {}
        for s in self.settings.enabled_strategies:
            strategies[s.name] = {"account": s.account_index, "open_orders": open_orders.get(s.name, 0),
                                  "strategy": self._call(s.actor_name, "status"), "risk": risk.get(s.name)}
        actors = {}
        for name, health in self.watch.children.items():
            actors[name] = {"state": health.state, "restarts": self.children[name].restarts,
                            "lag_ms": health.lag_ms, "last_error": health.last_error}
        return {"strategies": strategies, "actors": actors, "halted": self.halted_by_supervisor}

    def status_table(self) -> str:
        return status_view.status_table(self.status())

    # --- shutdown ------------------------------------------------------------------------------
    def stop(self, cancel_orders: bool | None = None, kill: bool = True) -> dict[str, Any]:
        """Clean shutdown: positions flattened (when `flatten_on_exit`), snapshots, cancel open orders,
        flush storage, stop the venue, kill actors."""
        import ray

        cancel = self.settings.cancel_on_exit if cancel_orders is None else cancel_orders
        if self.settings.flatten_on_exit:
            self._flatten_on_exit()
        summary = self.status()
        # the market first: no new tick can start a decision that storage, closed below, would miss
        self._call("feed", "stop", timeout_s=10.0)
        writers = [s.actor_name for s in self.settings.enabled_strategies]
        for name in writers:
            self._call(name, "flush", timeout_s=15.0)
        result = self._call("router", "shutdown", cancel, timeout_s=30.0)
        if cancel and result is not None:
            self.log.info("open orders cancelled on exit: {}", result)
        # what the router's settling told risk and the strategies, journaled before storage closes
        for name in ("risk", *writers, "router"):
            self._call(name, "flush", timeout_s=15.0)
        self._call("persistence", "close", timeout_s=30.0)
        self._call("venue-sim", "stop", timeout_s=10.0)
        if kill:
            for child in self.children.values():
                try:
                    ray.kill(child.handle, no_restart=True)
                except Exception:  # already gone
                    pass
            self.handoff.close()
        return summary

    def _flatten_on_exit(self, wait_s: float = FLATTEN_ON_EXIT_WAIT_S) -> bool:
        """Flatten every strategy through risk (not persisted: the next start trades as before)
        and wait, bounded, until the venue shows every strategy's position at zero; the Flatten
        is sent again every few seconds meanwhile (risk's netted view may trail the venue's)."""
        from messages.codec import CONTROL
        from messages.control import Flatten

        books = sorted({(s.account_index, s.market_id) for s in self.settings.enabled_strategies})
        deadline = time.monotonic() + wait_s
        sent_at = -FLATTEN_RESEND_S
        open_positions: dict[tuple[int, int], float] | None = None
        while time.monotonic() < deadline:
            if time.monotonic() - sent_at >= FLATTEN_RESEND_S:
                command = Flatten(reason="flatten on exit", scope="all", issued_by="supervisor",
                                  ts_event=time.time_ns(), seq=0)
                self._call("risk", "control", CONTROL.encode(command), False, timeout_s=10.0)
                sent_at = time.monotonic()
            open_positions = _venue_positions(self.settings.venue.url, books)
            if open_positions is not None and not open_positions:
                self.log.info("flattened on exit: no position left at the venue")
                return True
            time.sleep(0.2)  # the closes travel risk -> router -> venue: poll the venue's answer
        self.log.warning("flatten on exit: positions still open at the venue after {:g} s: {}", wait_s,
                         open_positions)
        return False

    # --- the CLI loop --------------------------------------------------------------------------
    def run(self, duration_s: float | None, stop_event: threading.Event,
            status_interval_s: float = STATUS_INTERVAL_S) -> None:
        interval = self.settings.supervisor.heartbeat_interval_s
        end = None if not duration_s else time.monotonic() + duration_s
        next_status = time.monotonic() + status_interval_s
        while not stop_event.is_set() and (end is None or time.monotonic() < end):
            began = time.monotonic()
            self.poll(wait_s=interval)
            if time.monotonic() >= next_status:
                next_status = time.monotonic() + status_interval_s
                print(self.status_table(), flush=True)
            rest = interval - (time.monotonic() - began)
            if rest > 0:
                stop_event.wait(rest if end is None else min(rest, max(0.0, end - time.monotonic())))


def _settings_secrets(settings: AppSettings) -> dict[str, str]:
    """The secrets a loaded configuration holds (env keys, key_file keys, Telegram's), by the
    variable name that carries each: what the hand-off grants beside the environment's."""
    from config.loader import api_key_env_name

    out = {api_key_env_name(s.account_index, s.api_key_index): s.private_key.get_secret_value()
           for s in settings.strategies if s.private_key is not None}
    telegram = settings.alerts.telegram
    for name, value in (("LT_TELEGRAM_BOT_TOKEN", telegram.bot_token), ("LT_TELEGRAM_CHAT_ID", telegram.chat_id)):
        if value is not None:
            out[name] = value.get_secret_value()
    return out


def _venue_positions(url: str, books: list[tuple[int, int]]) -> dict[tuple[int, int], float] | None:
    """The venue's non-zero positions among (account, market) books; None if it cannot be read."""
    import asyncio

    from venue.rest import LighterRest

    async def read() -> dict[tuple[int, int], float]:
        out: dict[tuple[int, int], float] = {}
        async with LighterRest(url) as rest:
            for account in sorted({a for a, _ in books}):
                info = await rest.account(account)
                for market_id in (m for a, m in books if a == account):
                    position = info.position(market_id)
                    if position is not None and position.size != 0:
                        out[(account, market_id)] = position.size
        return out

    try:
        return asyncio.run(read())
    except Exception:  # the venue is away: the caller's deadline bounds the wait
        return None


def _ray_restarts(handle: Any) -> int | None:
    """How many times Ray restarted the actor (GCS actor table; None if it cannot tell)."""
    try:
        from ray._private.state import actors

        info = actors(handle._actor_id.hex())
        return int(info["NumRestarts"])
    except Exception:
        return None


def _one_line(exc: BaseException) -> str:
    cause = getattr(exc, "cause", None)  # a RayTaskError carries the actor's own exception
    if isinstance(cause, BaseException):
        exc = cause
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:400]}"


# ---------------------------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------------------------


DESCRIPTION = """Run the trading system: the paper venue (in paper mode), the market-data feed, one actor
per strategy on its own account, risk, the order router and persistence, supervised until Ctrl-C
or --duration. Prints a status table every 10 s and a summary at exit."""


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    from config.cli import SPEED_HELP, OneLineParser, parse_speed, port_number, positive_seconds

    parser = OneLineParser(prog="python supervisor.py", description=DESCRIPTION)
    parser.add_argument("--config", help="YAML profile (default: $LT_CONFIG, else config/paper.yaml)")
    parser.add_argument("--duration", type=positive_seconds, default=None,
                        help="stop after S seconds, S > 0 (default: run until Ctrl-C or SIGTERM)")
    parser.add_argument("--source", help='paper venue market source: "synthetic", "candles:PATH" or "binance:PATH"')
    parser.add_argument("--speed", type=parse_speed, help=f"paper venue replay speed: {SPEED_HELP}")
    parser.add_argument("--sim-port", type=port_number, default=None,
                        help="paper venue port (overrides venue.sim.port and the venue URLs); 0 = a free one, "
                             "for a second paper run on this machine")
    parser.add_argument("--operator-port", type=port_number, default=None,
                        help="the operator API's port (overrides operator.port); 0 = a free one")
    parser.add_argument("--db", help="SQLite database path (overrides storage.db_path; its directory must exist)")
    parser.add_argument("--fresh", action="store_true",
                        help="start with an empty database: the existing one is moved into storage.backup_dir")
    dash = parser.add_mutually_exclusive_group()
    dash.add_argument("--dashboard", dest="dashboard", action="store_true", default=None,
                      help="start the Ray dashboard on 127.0.0.1 (token authentication stays on)")
    dash.add_argument("--no-dashboard", dest="dashboard", action="store_false")
    parser.add_argument("--address", help="join this Ray cluster instead of starting one")
    parser.add_argument("--json-logs", action="store_true", default=None, help="log JSON lines")
    parser.add_argument("--status-interval", type=positive_seconds, default=STATUS_INTERVAL_S, help=argparse.SUPPRESS)
    parser.add_argument("--namespace", default=NAMESPACE, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def apply_overrides(settings: AppSettings, args: argparse.Namespace) -> AppSettings:
    """The CLI's overrides on top of the profile (validated again: ConfigError on a bad value)."""
    from pydantic import ValidationError

    from config.loader import ConfigError

    data = settings.model_dump()
    if args.source is not None:
        kind, sep, path = args.source.partition(":")
        kinds = {"synthetic": "synthetic", "candles": "candles", "binance": "recording", "recording": "recording"}
        if kind not in kinds or (kind != "synthetic" and not path) or (kind == "synthetic" and sep):
            raise ConfigError(f'--source: expected "synthetic", "candles:PATH" or "binance:PATH", got {args.source!r}')
        if path and not Path(path).expanduser().is_file():
            raise ConfigError(f"--source: file not found: {path}")
        data["venue"]["sim"]["source"] = kinds[kind]
        data["venue"]["sim"]["source_path"] = path or None
    if args.speed is not None:
        data["venue"]["sim"]["speed"] = args.speed
    if getattr(args, "sim_port", None) is not None:
        if settings.mode != "paper":
            raise ConfigError("--sim-port: only in paper mode (live trading talks to Lighter)")
        port = args.sim_port or _free_sim_port()
        data["venue"]["sim"]["port"] = port
        data["venue"]["url"] = _with_port(data["venue"]["url"], port)
        data["venue"]["ws_url"] = _with_port(data["venue"]["ws_url"], port)
    if getattr(args, "operator_port", None) is not None:
        data["operator"]["port"] = args.operator_port
    if args.db is not None:
        if not Path(args.db).expanduser().parent.is_dir():
            raise ConfigError(f"--db: directory not found: {Path(args.db).expanduser().parent}")
        data["storage"]["db_path"] = args.db
    if args.dashboard is not None:
        data["dashboard"] = args.dashboard
    if args.json_logs:
        data["json_logs"] = True
    try:
        return AppSettings.model_validate(data)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        field = ".".join(str(p) for p in first["loc"])
        raise ConfigError(first["msg"], field=field or None) from None


def _free_sim_port() -> int:
    from venue.sim.ports import free_static_port

    return free_static_port()


def _with_port(url: str, port: int) -> str:
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=f"{parts.hostname}:{port}"))


def _init_ray(settings: AppSettings, address: str | None, namespace: str) -> Any:
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    import ray

    # logging.WARNING: ray.init types logging_level as int (a level name is turned into this same int)
    if address:
        return ray.init(address=address, namespace=namespace, log_to_driver=True, logging_level=logging.WARNING)
    return ray.init(include_dashboard=settings.dashboard, dashboard_host="127.0.0.1", namespace=namespace,
                    log_to_driver=True, logging_level=logging.WARNING)


def _dashboard_note(context: Any) -> str | None:
    url = getattr(context, "dashboard_url", None)
    if not url:
        return None
    token_path = Path(os.environ.get("RAY_AUTH_TOKEN_PATH", Path.home() / ".ray" / "auth_token"))
    auth = os.environ.get("RAY_AUTH_MODE", "token")
    if auth == "disabled":
        how = "authentication is DISABLED (RAY_AUTH_MODE=disabled)"
    else:
        how = f"token authentication: send 'Authorization: Bearer <token>' with the token from {token_path}"
    return f"Ray dashboard: http://{url} ({how})"


def main(argv: Sequence[str] | None = None) -> int:
    from config.loader import ConfigError, exit_on_config_error, load_config, resolve_profile
    from config.ray_address import unreachable
    from venue.sim.ports import ephemeral_port_warning

    args = _parse(argv)
    configure_logging(json_logs=bool(args.json_logs))
    with exit_on_config_error():
        settings = absolute_paths(apply_overrides(load_config(args.config), args))
    configure_logging(json_logs=settings.json_logs, level=settings.log_level)
    log = logger.bind(actor="supervisor")
    profile = str(resolve_profile(args.config).resolve())
    port_warning = ephemeral_port_warning(settings.venue.sim.port)
    if settings.mode == "paper" and port_warning:
        log.warning(port_warning)
    why = unreachable(args.address) if args.address else None
    if why:  # ray.init would wait minutes on it
        print(f"cannot start: --address {args.address}: {why}", file=sys.stderr, flush=True)
        return 2
    try:
        db_lock = preflight(settings, fresh=args.fresh)
    except PreflightError as exc:
        print(f"cannot start: {exc}", file=sys.stderr, flush=True)
        return 2

    stop_event = threading.Event()

    def _on_signal(signum: int, _frame: Any) -> None:
        log.warning("{} received: shutting down", signal.Signals(signum).name)
        stop_event.set()

    import ray

    from actors.secret_handoff import take_secrets

    # out of the environment before Ray starts: its processes inherit this one's environment
    taken = take_secrets(os.environ)
    try:
        context = _init_ray(settings, args.address, args.namespace)
    except Exception as exc:  # Ray's node did not come up (a loaded machine, a bad --address): one line
        print(f"cannot start Ray: {_one_line(exc)}", file=sys.stderr, flush=True)
        ray.shutdown()  # whatever part of the node did start
        db_lock.release()
        return 1
    # after ray.init, which installs handlers of its own
    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    note = _dashboard_note(context)
    if note:
        print(note, flush=True)
    system = System(settings, namespace=args.namespace, config_path=profile, json_logs=settings.json_logs,
                    cluster=bool(args.address), secret_env=taken)
    del taken
    try:
        try:
            system.start()
        except (StartError, ConfigError) as exc:
            print(str(exc), file=sys.stderr, flush=True)
            # a start that failed half-way has not shown that the venue is ours: send it nothing
            system.stop(cancel_orders=False, kill=True)
            return 1
        operator = system.operator_note()
        if operator:
            print(operator, flush=True)
        log.info("trading ({} mode, {} strategies); status every {:g} s", settings.mode,
                 len(settings.enabled_strategies), args.status_interval)
        system.run(args.duration, stop_event, status_interval_s=args.status_interval)
        print(system.status_table(), flush=True)
        summary = system.stop()
        print("\nsummary\n" + status_view.summary_table(summary), flush=True)
        return 0
    finally:
        system.handoff.close()
        if not args.address:
            ray.shutdown()
        db_lock.release()


if __name__ == "__main__":
    sys.exit(main())
