"""Shared actor helpers: the actor shell (start gate, heartbeat, pid), seqs and dedupe, peers,
bounded fire-and-forget sends, batched outboxes, and the one loguru set-up.

Every actor of the system is an async Ray actor built on `ActorShell`:

- `__init__` only builds plain state and schedules `_start()` on the actor's event loop (Ray runs
  an async actor's `__init__` with that loop running), so an actor rehydrates itself after Ray
  restarts it, without waiting for anyone to call it. Handlers `await self.ready()` first: calls
  that arrive (or are retried by Ray) during start-up wait until the state is rebuilt.
- `start()` is what the supervisor calls after creating an actor: it returns once `_start()` is
  done and raises if it failed.
- Liveness is polled: the supervisor calls `heartbeat()` every `supervisor.heartbeat_interval_s`
  and gets a CONTROL-encoded `Heartbeat` (seq counts the beats of this incarnation, so a restart
  shows as seq going back; stats carry pid, incarnation, readiness and the actor's gauges).
  An actor whose event loop is stuck cannot answer, which the supervisor counts as missing.
- `pid()` gives the worker's process id (tests SIGKILL it).

Messages cross actors as bytes encoded with `messages.codec`; nothing here holds a secret.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Hashable
from typing import Any

import msgspec
import ray
from loguru import logger

from actors.lane import LaneClient, LaneServer
from actors.metrics import ActorMetrics
from config.settings import AppSettings
from messages.codec import CONTROL
from messages.control import Heartbeat
from venue.client_ids import client_order_index_for as client_order_index_for  # re-exported

NAMESPACE = "trader"
NS_PER_MS = 1_000_000
# start-up calls to the venue are retried this long (429s, an outage) before the actor gives up
START_RETRY_S = 300.0
RESTART_JUMP = 1_000_000  # a seq jump this large means the sender restarted (seqs start at wall-clock us)


def wall_ns() -> int:
    return time.time_ns()


# ---------------------------------------------------------------------------------------------
# logging
# ---------------------------------------------------------------------------------------------

_TEXT_FORMAT = (
    "<green>{time:HH:mm:ss.SSS}</green> | <level>{level: <7}</level> | <cyan>{extra[actor]}</cyan> | {message}"
)


def configure_logging(*, json_logs: bool = False, level: str = "INFO", actor: str = "supervisor") -> None:
    """The one loguru set-up (supervisor and every actor): stderr, text or JSON lines.

    diagnose is off so that a traceback never prints local variables (which could hold a key).
    """
    logger.remove()
    logger.configure(extra={"actor": actor})
    if json_logs:
        logger.add(sys.stderr, level=level, serialize=True, backtrace=False, diagnose=False)
    else:
        logger.add(sys.stderr, level=level, format=_TEXT_FORMAT, colorize=False, backtrace=False, diagnose=False)


# ---------------------------------------------------------------------------------------------
# the context every actor is created with (no secrets in it)
# ---------------------------------------------------------------------------------------------


class ActorContext(msgspec.Struct, frozen=True, kw_only=True):
    """What the supervisor hands an actor. settings is AppSettings.model_dump(mode="json"), which
    excludes the private keys; the router reads its keys itself (actors.router)."""

    name: str
    settings: dict[str, Any]
    namespace: str = NAMESPACE
    config_path: str | None = None
    json_logs: bool = False
    log_level: str = "INFO"
    options: dict[str, Any] = {}  # per-actor knobs (tests, benchmarks): documented by each actor
    lane_token: str = ""  # the system's data-lane token (actors.lane); "" = every call goes through Ray
    lane_on_node_ip: bool = False  # serve the lane on the node's address (a cluster), not 127.0.0.1
    secrets_socket: str = ""  # the supervisor's secret hand-off (actors.secret_handoff): a path, no secret


def settings_dump(settings: AppSettings) -> dict[str, Any]:
    dump = settings.model_dump(mode="json")
    for strategy in dump.get("strategies", []):
        strategy.pop("private_key", None)  # excluded already; never ship one by accident
    return dump


# ---------------------------------------------------------------------------------------------
# sequence numbers and dedupe
# ---------------------------------------------------------------------------------------------


class SeqCounter:
    """A sender's message seq: starts at the wall clock in us and counts up by one, so it keeps
    increasing across restarts of the sender and a receiver's dedupe survives them."""

    def __init__(self) -> None:
        self.value = time.time_ns() // 1000

    def next(self) -> int:
        self.value += 1
        return self.value


class SeqTracker:
    """What a receiver knows of each sender's (or market's) seq: duplicates, gaps, sender restarts."""

    def __init__(self, owner: str) -> None:
        self.owner = owner
        self.last: dict[Hashable, int] = {}
        self.duplicates = 0
        self.gaps = 0
        self.restarts = 0
        self._last_gap_log = 0.0

    def observe(self, key: Hashable, seq: int) -> str:
        """"ok", "duplicate" (seq not above the last seen), "gap" or "restart" (a big jump)."""
        last = self.last.get(key)
        if last is not None and seq <= last:
            self.duplicates += 1
            return "duplicate"
        self.last[key] = seq
        if last is None or seq == last + 1:
            return "ok"
        if seq - last >= RESTART_JUMP:
            self.restarts += 1
            return "restart"
        self.gaps += 1
        now = time.monotonic()
        if now - self._last_gap_log > 5.0:
            self._last_gap_log = now
            logger.bind(actor=self.owner).warning("seq gap from {}: {} after {}", key, seq, last)
        return "gap"


class BoundedSet:
    """A set that forgets its oldest members beyond `capacity` (for dedupe by id)."""

    def __init__(self, capacity: int = 100_000) -> None:
        self.capacity = capacity
        self._items: dict[Hashable, None] = {}

    def add(self, item: Hashable) -> bool:
        """True if the item is new."""
        if item in self._items:
            return False
        self._items[item] = None
        if len(self._items) > self.capacity:
            del self._items[next(iter(self._items))]
        return True

    def __contains__(self, item: Hashable) -> bool:
        return item in self._items

    def __len__(self) -> int:
        return len(self._items)


# ---------------------------------------------------------------------------------------------
# peers and sends
# ---------------------------------------------------------------------------------------------


class Peers:
    """Named actor handles of the namespace, looked up once (a named handle survives restarts)."""

    def __init__(self, namespace: str) -> None:
        self.namespace = namespace
        self._handles: dict[str, Any] = {}

    def get(self, name: str) -> Any | None:
        handle = self._handles.get(name)
        if handle is None:
            try:
                handle = ray.get_actor(name, namespace=self.namespace)
            except ValueError:
                return None
            self._handles[name] = handle
        return handle

    async def wait_for(self, name: str, timeout_s: float = 60.0) -> Any:
        deadline = time.monotonic() + timeout_s
        while True:
            handle = self.get(name)
            if handle is not None:
                return handle
            if time.monotonic() > deadline:
                raise TimeoutError(f"actor {name!r} not found in namespace {self.namespace!r}")
            await asyncio.sleep(0.1)  # polling the GCS for a name: no event to wait on


class Sender:
    """Fire-and-forget actor calls with at most `max_inflight` outstanding per target.

    `send` never blocks (callers that must not wait conflate or buffer instead); `send_bounded`
    waits for capacity (back-pressure). Failures are counted and the last one kept; a call to an
    actor that is restarting waits in Ray until it is back (or is retried, per max_task_retries).
    With a lane token every call goes by the data lane to a target that serves the method there
    (actors.lane), Ray being its fallback; `invoke` is the one place that chooses.
    """

    def __init__(self, owner: str, peers: Peers, max_inflight: int = 256, lane_token: str = "") -> None:
        self.owner = owner
        self.peers = peers
        self.max_inflight = max_inflight
        self.lane_token = lane_token
        self.lanes: dict[str, LaneClient] = {}
        self.inflight: dict[str, int] = defaultdict(int)
        self.sent = 0
        self.failures = 0
        self.last_failure: str | None = None
        self._freed: dict[str, asyncio.Event] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self.on_failure: Callable[[str, str, BaseException], None] | None = None

    def has_capacity(self, target: str) -> bool:
        return self.inflight[target] < self.max_inflight

    def send(self, target: str, method: str, *args: Any) -> bool:
        """Call target.method(*args) without waiting; False if the target does not exist (yet)."""
        if self.peers.get(target) is None:
            self.failures += 1
            self.last_failure = f"{target}: no such actor"
            return False
        ref = self.invoke(target, method, *args)
        self.sent += 1
        self.inflight[target] += 1
        task = asyncio.ensure_future(self._watch(target, method, ref))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return True

    async def send_bounded(self, target: str, method: str, *args: Any) -> bool:
        while not self.has_capacity(target):
            event = self._freed.setdefault(target, asyncio.Event())
            event.clear()
            await event.wait()
        return self.send(target, method, *args)

    async def call(self, target: str, method: str, *args: Any, timeout_s: float | None = None) -> Any:
        """Call and wait for the result (raises what the call raises)."""
        if self.peers.get(target) is None:
            await self.peers.wait_for(target)
        answer = self.invoke(target, method, *args)
        if timeout_s is None:
            return await answer
        return await asyncio.wait_for(_awaitable(answer), timeout=timeout_s)

    def call_now(self, target: str, method: str, *args: Any, timeout_s: float) -> asyncio.Future[Any]:
        """As `call`, but the call leaves before this returns (on the lane, its frame is written
        now, not when the caller next yields); the future holds the answer. For the router's
        journal write, which must be under way while the order is signed."""
        if self.peers.get(target) is None:
            return asyncio.ensure_future(self.call(target, method, *args, timeout_s=timeout_s))
        answer = self.invoke(target, method, *args)
        return asyncio.ensure_future(asyncio.wait_for(_awaitable(answer), timeout=timeout_s))

    def invoke(self, target: str, method: str, *args: Any) -> Awaitable[Any]:
        """target.method(*args) by the lane when it is up, else by Ray (the target must exist)."""
        if not self.lane_token:
            return self._ray_call(target, method, *args)
        return self._lane(target).call(method, *args)

    def open_lanes(self, *targets: str) -> None:
        """Start connecting the lanes to these targets now, so that the first hot-path call does
        not go by Ray while its lane connects. Best effort: a target that is not up yet is tried
        again on the first call."""
        if self.lane_token:
            for target in targets:
                self._lane(target).connect_soon()

    def _lane(self, target: str) -> LaneClient:
        lane = self.lanes.get(target)
        if lane is None:
            lane = self.lanes[target] = LaneClient(
                self.owner, target, self.lane_token, lookup=lambda: self._lane_address(target),
                ray_call=lambda m, *a: self._ray_call(target, m, *a), clock=time.monotonic)
        return lane

    def _ray_call(self, target: str, method: str, *args: Any) -> Any:
        handle = self.peers.get(target)
        if handle is None:
            raise LookupError(f"actor {target!r} not found in namespace {self.peers.namespace!r}")
        return getattr(handle, method).remote(*args)

    async def _lane_address(self, target: str) -> Any:
        return await asyncio.wait_for(_awaitable(self._ray_call(target, "lane_address")), timeout=30.0)

    def lane_stats(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for target, lane in self.lanes.items():
            out[f"lane.{target}.calls"] = float(lane.lane_calls)
            out[f"lane.{target}.ray_calls"] = float(lane.ray_calls)
            out[f"lane.{target}.rerouted"] = float(lane.rerouted)
        return out

    async def _watch(self, target: str, method: str, ref: Any) -> None:
        try:
            await ref
        except Exception as exc:  # the target died with the call in flight, or the handler raised
            self.failures += 1
            self.last_failure = f"{target}.{method}: {type(exc).__name__}"
            if self.on_failure is not None:
                self.on_failure(target, method, exc)
        finally:
            self.inflight[target] -= 1
            event = self._freed.get(target)
            if event is not None:
                event.set()

    async def drain(self, timeout_s: float = 5.0) -> None:
        """Wait (bounded) for the calls in flight."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=timeout_s)


async def _awaitable(ref: Awaitable[Any]) -> Any:
    return await ref


class Outbox:
    """Batches bytes for one target method taking a list (persistence.write_durable_many): flushed
    every `interval_s` or at `max_batch`, one call in flight at a time, order preserved; a batch
    whose call failed is sent again (the persistence actor's writes are idempotent)."""

    def __init__(self, sender: Sender, target: str, method: str, interval_s: float = 0.02, max_batch: int = 500):
        self.sender = sender
        self.target = target
        self.method = method
        self.interval_s = interval_s
        self.max_batch = max_batch
        self._buffer: list[bytes] = []
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self.flushed = 0

    def put(self, data: bytes) -> None:
        self._buffer.append(data)
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._run())
        if len(self._buffer) >= self.max_batch:
            self._wake.set()

    @property
    def pending(self) -> int:
        return len(self._buffer)

    async def _run(self) -> None:
        while self._buffer:
            if len(self._buffer) < self.max_batch:
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout=self.interval_s)
                except TimeoutError:
                    pass
            batch, self._buffer = self._buffer, []
            try:
                await self.sender.call(self.target, self.method, batch)
                self.flushed += len(batch)
            except Exception as exc:  # persistence restarting: put the batch back in front, retry
                self._buffer = batch + self._buffer
                self.sender.failures += 1
                self.sender.last_failure = f"{self.target}.{self.method}: {type(exc).__name__}"
                await asyncio.sleep(0.2)  # back-off before retrying a failed flush

    async def flush(self, timeout_s: float = 10.0) -> None:
        deadline = time.monotonic() + timeout_s
        while (self._buffer or (self._task is not None and not self._task.done())) and time.monotonic() < deadline:
            self._wake.set()
            if self._task is not None and not self._task.done():
                await asyncio.wait({self._task}, timeout=max(0.0, deadline - time.monotonic()))
            elif self._buffer:
                self._task = asyncio.ensure_future(self._run())


# ---------------------------------------------------------------------------------------------
# the shell every actor is built on
# ---------------------------------------------------------------------------------------------


class ActorShell:
    """Base of the system's actors; see the module docstring."""

    MAX_TASK_RETRIES = 0  # how many times Ray retries a call in flight when the actor dies
    LANE_METHODS: frozenset[str] = frozenset()  # the methods served on the data lane (actors.lane)

    def __init__(self, ctx: ActorContext) -> None:
        self.ctx = ctx
        self.name = ctx.name
        configure_logging(json_logs=ctx.json_logs, level=ctx.log_level, actor=ctx.name)
        self.log = logger.bind(actor=ctx.name)
        self.settings = AppSettings.model_validate(ctx.settings)
        self.options = dict(ctx.options)
        self.peers = Peers(ctx.namespace)
        self.sender = Sender(ctx.name, self.peers, lane_token=ctx.lane_token)
        self.lane: LaneServer | None = None
        self._lane_up = asyncio.Event()
        self.metrics = ActorMetrics(ctx.name)
        self.incarnation_ns = wall_ns()
        self.ready_ns: int | None = None
        self.last_error: str | None = None
        self.errors = 0
        self.retries = 0  # attempts retried by `retrying` (start-up calls to the venue and peers)
        self.rate_limited = 0  # ... of them after a rate-limit answer
        self._beats = 0
        self._start_task: asyncio.Task[None] = asyncio.get_running_loop().create_task(self._run_start())

    # --- start-up ------------------------------------------------------------------------------
    async def _start(self) -> None:
        """Rebuild state (storage, venue) before handling anything: subclasses override."""

    async def _run_start(self) -> None:
        try:
            await self._start_lane()
            await self._start()
        except Exception as exc:
            self.note_error(f"start-up failed: {type(exc).__name__}: {exc}")
            raise
        self.ready_ns = wall_ns()
        self.log.info("ready in {:.0f} ms (pid {})", (self.ready_ns - self.incarnation_ns) / 1e6, os.getpid())

    async def _start_lane(self) -> None:
        """Serve LANE_METHODS at once: calls that come by it wait in their handlers' ready() as
        Ray's calls do."""
        if self.ctx.lane_token and self.LANE_METHODS:
            host = ray.util.get_node_ip_address() if self.ctx.lane_on_node_ip else "127.0.0.1"
            self.lane = LaneServer(self.name, self, self.LANE_METHODS, self.ctx.lane_token, host)
            await self.lane.start()
        self._lane_up.set()

    async def lane_address(self) -> list[Any] | None:
        """[host, port, methods] of this incarnation's lane, or None when it serves none."""
        await self._lane_up.wait()
        if self.lane is None:
            return None
        return [self.lane.host, self.lane.port, sorted(self.LANE_METHODS)]

    async def ready(self) -> None:
        await asyncio.shield(self._start_task)

    @property
    def is_ready(self) -> bool:
        return self.ready_ns is not None

    async def start(self) -> dict[str, Any]:
        await self.ready()
        return {"pid": os.getpid(), "incarnation_ns": self.incarnation_ns, "ready_ns": self.ready_ns}

    async def retrying(self, what: str, attempt: Callable[[], Awaitable[Any]], *, timeout_s: float = 60.0,
                       retry_on: tuple[type[BaseException], ...] = (Exception,)) -> Any:
        """Run attempt() until it succeeds or timeout_s passes: exponential back-off up to 1 s, and
        from 0.5 s up to 8 s after a rate-limit answer (venue.backoff), so retries respect the limit."""
        from venue.backoff import next_delay_s, rate_limited

        deadline = time.monotonic() + timeout_s
        delay = 0.025
        while True:
            try:
                return await attempt()
            except retry_on as exc:
                delay = next_delay_s(exc, delay)
                if time.monotonic() + delay > deadline:
                    raise
                self.retries += 1
                self.rate_limited += rate_limited(exc)
                self.log.info("{} not yet possible ({}: {}); retrying in {:.2f} s", what, type(exc).__name__, exc,
                              delay)
                await asyncio.sleep(delay)  # back-off between attempts at something outside our control

    # --- liveness ------------------------------------------------------------------------------
    def note_error(self, text: str) -> None:
        self.errors += 1
        self.last_error = text[:500]
        self.log.error(text)

    def lag_ms(self) -> float:
        return 0.0

    def stats(self) -> dict[str, float]:
        return {}

    def flush_metrics(self) -> None:
        """Push counters kept locally to ray.util.metrics (once per heartbeat, not per event)."""

    async def heartbeat(self) -> bytes:
        self._beats += 1
        self.metrics.lag_ms.set(self.lag_ms())
        self.flush_metrics()
        stats = {
            "pid": float(os.getpid()),
            "incarnation_ms": float(self.incarnation_ns // NS_PER_MS),
            "ready": 1.0 if self.ready_ns is not None else 0.0,
            "ready_ms": float((self.ready_ns or 0) // NS_PER_MS),
            "errors": float(self.errors),
            "retried_calls": float(self.retries),
            "retried_rate_limited": float(self.rate_limited),
            "send_failures": float(self.sender.failures),
            **self.sender.lane_stats(),
        }
        if self.lane is not None:
            stats["lane.served"] = float(self.lane.calls)
        if self._start_task.done() and not self._start_task.cancelled() and self._start_task.exception():
            stats["start_failed"] = 1.0
        try:
            stats.update(self.stats())
        except Exception as exc:  # a broken gauge must not hide the heartbeat
            self.note_error(f"stats failed: {type(exc).__name__}: {exc}")
        beat = Heartbeat(
            ts_event=wall_ns(),
            seq=self._beats,
            actor=self.name,
            lag_ms=self.lag_ms(),
            last_error=self.last_error,
            stats=stats,
        )
        return CONTROL.encode(beat)

    def pid(self) -> int:
        return os.getpid()
