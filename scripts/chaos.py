"""The fault campaign: `python -m scripts.chaos --faults N --seed S [--candles PATH] [--speed X]`
(also `lighter-trader chaos ...`).

Runs the whole system on the paper venue over real candles, with every strategy kind (rsi_bb,
renko_ao, breakout and the market maker of config/mm.yaml, each on its own account), and injects
N faults from a seeded schedule (scripts/chaos_schedule.py): actors killed (one or two, by
ray.kill or SIGKILL), venue faults through POST /sim/faults, data-lane connections cut, the venue
hung (SIGSTOP/SIGCONT) and whole-node crashes (every process of the run SIGKILLed, then a fresh
supervisor on the same database against the same venue, which runs apart: venue.sim.external).
After each fault it waits until the system is healthy again (the recovery time: from the kill,
or from the end of a held fault, until the operator API's /health answers 200 and the killed
actors answer with a new incarnation, or for a venue fault, the feed's events flow again; a node
crash: until the fresh supervisor's system is healthy); a halt the
supervisor raised for restart intensity is counted and lifted through the operator API (POST
/api/v1/resume with the bearer token), and the campaign goes on.

At the end it stops the supervisor with SIGINT and checks from outside (scripts/chaos_checks.py):
the venue read over REST with auth tokens, the database read-only, every log grepped for
tracebacks and for the paper accounts' private keys (made here, handed over as LT_API_KEY_*).
Prints a table and, last, one JSON object; exit status 0 when every check passed, 1 otherwise.

Killing the paper venue outright is not among the faults: the in-memory venue would come back
empty, an exchange reset the system cannot reconcile by construction (its orders and trades gone).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from scripts import chaos_checks as checks
from scripts import chaos_procs as procs
from scripts.chaos_report import MARKET, print_report, summarize
from scripts.chaos_schedule import ACTORS, Fault, schedule, venue_body
from scripts.chaos_venue_reads import VenueReader

DEFAULT_CANDLES = procs.ROOT.parent / "shared" / "data" / "sol_usdt_perp_1m_20250504_20250603.csv.gz"
GRACE_NS = 250_000_000  # calls already in flight at a kill may land this soon after it
FEED_SILENCE_NS = 1_000_000_000  # risk takes the feed for dead after 1 s without a batch
RECOVERY_TIMEOUT_S = 120.0
NODE_RECOVERY_TIMEOUT_S = 240.0
START_ATTEMPTS = 3  # a fresh supervisor that cannot start is started again, as an operator would
# rsi_bb parameters that trade often (2 s candles, tiny periods, 2 bps exits), so that faults meet
# orders in flight; the other strategies keep their defaults
FAST_RSI_PARAMS: dict[str, Any] = {
    "candle_interval_s": 2, "rsi_period": 2, "bb_period": 3, "ema_fast": 2, "ema_slow": 3, "volume_window": 2,
    "rsi_momentum_strength": 0.0, "bb_position_threshold": 0.5, "trend_confirmation_bps": 0.0,
    "volatility_min_bps": 0.0, "volatility_max_bps": 1e6, "take_profit_bps": 2.0, "stop_loss_bps": 2.0,
    "max_hold_s": 20, "volatility_interval_ms": 2000, "volatility_window": 3, "adaptive": False,
    "retry_backoff_ms": 500,
}


def campaign_config(work: Path, port: int, candles: Path, speed: float, seed: int) -> dict[str, Any]:
    """config/mm.yaml on the external venue, the campaign's database, breakers wide open (a
    campaign about faults must not stop a strategy for its losses)."""
    data: dict[str, Any] = yaml.safe_load((procs.ROOT / "config" / "mm.yaml").read_text())
    data["venue"]["url"] = f"http://127.0.0.1:{port}"
    data["venue"]["ws_url"] = f"ws://127.0.0.1:{port}/stream"
    data["venue"]["sim"].update({"source": "candles", "source_path": str(candles), "speed": speed, "seed": seed,
                                 "port": port, "external": True})
    wide = {"daily_loss_pct": 100.0, "max_consecutive_losses": 1_000_000, "max_drawdown_pct": 100.0}
    for strategy in data["strategies"]:
        strategy["breakers"] = dict(wide)
        if strategy["kind"] == "rsi_bb":
            strategy["params"] = dict(FAST_RSI_PARAMS)
    data["risk"]["breakers"] = dict(wide)
    data["risk"]["reconcile_interval_s"] = 5.0
    data["storage"].update({"db_path": str(work / "chaos.db"), "backup_dir": str(work / "backups")})
    data["operator"]["port"] = 0
    return data


class Operator:
    """The operator API of the running supervisor incarnation (URL from <db>.operator.json)."""

    def __init__(self, db: Path, token: str) -> None:
        self.info = db.with_name(db.name + ".operator.json")
        self.token = token
        self.url: str | None = None

    def forget(self) -> None:
        self.info.unlink(missing_ok=True)
        self.url = None

    def _url(self) -> str | None:
        if self.url is None:
            try:
                self.url = str(json.loads(self.info.read_text())["url"])
            except (OSError, ValueError, KeyError):
                return None
        return self.url

    def call(self, method: str, path: str, body: dict[str, Any] | None = None, timeout_s: float = 10.0) -> Any:
        import urllib.request

        url = self._url()
        if url is None:
            raise ConnectionError("the operator API has not written its address yet")
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(url + path, data=data, method=method, headers={
            "Authorization": f"Bearer {self.token}", "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=timeout_s) as answer:
                return json.loads(answer.read())
        except OSError:  # URLError, HTTPError, timeouts: asked again at the address the file names now
            self.url = None
            raise

    def healthy(self) -> bool:
        try:
            return bool(self.call("GET", "/health", timeout_s=5.0).get("healthy"))
        except Exception:  # 503 (HTTPError), no answer, or not up yet (a restarted operator actor
            return False  # listens on a new port, operator.port 0: call() reads the address again)


class Campaign:
    def __init__(self, args: argparse.Namespace, work: Path) -> None:
        self.args = args
        self.work = work
        self.run_id = secrets.token_hex(6)
        self.ray_tmp = Path(tempfile.mkdtemp(prefix="ltc-", dir="/tmp"))  # short: Ray's socket paths
        self.keys = {a: _new_key() for a in (1001, 1002, 1003, 1004)}
        self.token = secrets.token_hex(16)
        self.db = work / "chaos.db"
        self.operator = Operator(self.db, self.token)
        self.incarnation = 0
        self.sup: subprocess.Popen[bytes] | None = None
        self.helper: procs.RayHelper | None = None
        self.windows: list[tuple[int, int, str]] = []
        self.recoveries: list[tuple[str, float | None]] = []
        self.rows: list[dict[str, Any]] = []
        self.halts = 0
        self.failed_starts = 0
        self.orphans_after_crash: list[tuple[int, int]] = []
        self.exit_codes: list[int | None] = []

    # --- processes --------------------------------------------------------------------------
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("LT_", "RAY_ADDRESS"))}
        env.update({f"LT_API_KEY_{a}_0": key for a, key in self.keys.items()})
        env.update({"LT_OPERATOR_TOKEN": self.token, "RAY_TMPDIR": str(self.ray_tmp), procs.MARKER: self.run_id,
                    "RAY_USAGE_STATS_ENABLED": "0", "PYTHONUNBUFFERED": "1"})
        return env

    def start_system(self, timeout_s: float) -> float:
        """A supervisor incarnation, healthy; returns the seconds it took."""
        began = time.monotonic()
        self.incarnation += 1
        self.operator.forget()
        n = self.incarnation
        self.sup = procs.start_supervisor(self.config_path, self.env(), self.work / f"supervisor-{n}.out",
                                          self.work / f"supervisor-{n}.err")
        self.wait(lambda: self.operator.healthy(), timeout_s, "the system to be healthy")
        address = procs.ray_address(self.ray_tmp)
        if address is None:
            raise RuntimeError("no Ray address file in the run's Ray directory")
        helper_env = {k: v for k, v in self.env().items() if not k.startswith("LT_API_KEY_")}
        # a driver joining a cluster enables token auth only when told (ray.init of a new
        # cluster turns it on by default): the same ~/.ray token as the supervisor's cluster
        helper_env.setdefault("RAY_AUTH_MODE", "token")
        self.helper = procs.RayHelper(address, helper_env, self.work / "ray-helper.err")
        return time.monotonic() - began

    def wait(self, predicate: Any, timeout_s: float, what: str) -> float:
        began = time.monotonic()
        while time.monotonic() - began < timeout_s:
            if self.sup is not None and self.sup.poll() is not None:
                raise RuntimeError(f"the supervisor exited with status {self.sup.returncode} "
                                   f"while waiting for {what} (see {self.work}/supervisor-{self.incarnation}.err)")
            if predicate():
                return time.monotonic() - began
            time.sleep(0.2)
        raise TimeoutError(f"{what}: not within {timeout_s:g} s")

    # --- faults -----------------------------------------------------------------------------
    def inject(self, fault: Fault) -> float | None:
        """Break something, lift it if it is held, and wait for health; the recovery seconds."""
        assert self.helper is not None
        if fault.kind == "node_crash":
            return self.node_crash()
        befores: dict[str, dict[str, float] | None] = {}
        kill_ns: dict[str, int] = {}
        for target, how in zip(fault.targets, fault.hows, strict=True):
            befores[target] = self.helper.stats(target)
            kill_ns[target] = time.time_ns()
            if how == "ray.kill":
                self.helper.ask({"op": "kill", "name": target})
            else:
                pid = int((befores[target] or {}).get("pid", 0))
                if pid:
                    os.kill(pid, signal.SIGKILL)
        body = venue_body(fault)
        if body is not None:
            self.venue.post_faults(body)
        if fault.kind == "lane_drop":
            lanes = self.helper.ask({"op": "lanes", "names": list(ACTORS)}).get("lanes", {})
            procs.drop_lanes(lanes)
        if fault.kind == "venue_hang":
            self.venue_proc.send_signal(signal.SIGSTOP)
        if fault.hold_s:
            time.sleep(fault.hold_s)  # the fault's duration, by design
            if fault.kind == "venue_hang":
                self.venue_proc.send_signal(signal.SIGCONT)
            lifted = venue_body(fault, lifted=True)
            if lifted is not None:
                self.venue.post_faults(lifted)
        began = time.monotonic()
        # a venue fault is over when market data flows again (the feed's count of events grows)
        events_before = None if fault.targets else (self.helper.stats("feed") or {}).get("events_in")

        def recovered() -> bool:
            if events_before is not None:
                feed = self.helper.stats("feed") if self.helper else None
                if not feed or feed.get("events_in", 0.0) <= events_before:
                    return False
            for target, before in befores.items():
                now = self.helper.stats(target) if self.helper else None
                if not now or now.get("ready") != 1.0 or (before and now["incarnation_ms"] == before["incarnation_ms"]):
                    return False
            return self.operator.healthy()

        try:
            self.wait(recovered, RECOVERY_TIMEOUT_S, f"recovery from {fault.describe()}")
        except TimeoutError:
            return None
        seconds = time.monotonic() - began
        for target in fault.targets:
            self.down_window(target, kill_ns[target])
        return seconds

    def down_window(self, target: str, killed_ns: int) -> None:
        assert self.helper is not None
        stats = self.helper.stats(target) or {}
        if target == "risk":
            self.windows.append((killed_ns + GRACE_NS, int(stats.get("ready_ms", 0)) * 1_000_000, "risk"))
        elif target == "feed":
            self.wait(lambda: bool((self.helper.stats("feed") or {}).get("first_batch_ms")) if self.helper else False,
                      60.0, "the feed's first batch")
            up = int((self.helper.stats("feed") or {}).get("first_batch_ms", 0)) * 1_000_000
            self.windows.append((killed_ns + FEED_SILENCE_NS + GRACE_NS, up, "feed"))

    def node_crash(self) -> float | None:
        crashed_ns = time.time_ns()
        if self.helper is not None:
            self.helper.proc.kill()
        procs.crash_node(self.run_id)
        if self.sup is not None:
            self.exit_codes.append(self.sup.wait(timeout=10))
        if self.helper is not None:
            self.helper.close()
        self.helper = None
        began = time.monotonic()
        for attempt in range(1, START_ATTEMPTS + 1):
            try:
                self.start_system(NODE_RECOVERY_TIMEOUT_S)
                break
            except (RuntimeError, TimeoutError) as exc:  # e.g. Ray's node timed out starting on a loaded machine
                print(f"     fresh supervisor, attempt {attempt}: {exc}", flush=True)
                self.failed_starts += 1
                procs.crash_node(self.run_id)  # what the failed attempt left, before the next one
                if attempt == START_ATTEMPTS:
                    raise
        seconds = time.monotonic() - began
        assert self.helper is not None
        risk = self.helper.stats("risk") or {}
        self.windows.append((crashed_ns + GRACE_NS, int(risk.get("ready_ms", 0)) * 1_000_000, "node"))
        self.check_resting_known()
        return seconds

    def check_resting_known(self, timeout_s: float = 30.0) -> None:
        """After a node crash: every order resting at the venue (quotes included) is one storage
        holds as open (adopted), or it is gone from the venue soon (cancelled); what is left at the
        deadline was forgotten, an orphan."""
        from storage import StorageReader
        from storage.schema import OPEN_STATUSES

        def forgotten() -> list[tuple[int, int]]:
            resting = self.venue.resting()
            with StorageReader(self.db) as db:
                return [key for key in resting
                        if getattr(db.order(*key), "status", None) not in OPEN_STATUSES]

        deadline = time.monotonic() + timeout_s
        left = forgotten()
        while left and time.monotonic() < deadline:
            time.sleep(0.5)  # the router settles what it reloaded: polled until the deadline
            left = [key for key in forgotten() if key in left]
        self.orphans_after_crash += left

    def lift_halts(self) -> None:
        """A halt for restart intensity: counted, then lifted through the operator API."""
        try:
            status = self.operator.call("GET", "/api/v1/status")
        except Exception:
            return
        halted = [name for name, row in status.get("strategies", {}).items()
                  if (row.get("risk") or {}).get("mode") == "halted"]
        if halted:
            self.halts += 1
            self.operator.call("POST", "/api/v1/resume", {"strategy": None, "reason": "chaos campaign: resume"})

    # --- the run ----------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        args = self.args
        from venue.sim.ports import free_static_port

        port = free_static_port()
        self.config_path = self.work / "chaos.yaml"
        self.config_path.write_text(yaml.safe_dump(campaign_config(self.work, port, args.candles, args.speed,
                                                                   args.seed)))
        venue_args = ["--source", f"candles:{args.candles}", "--speed", str(args.speed), "--seed", str(args.seed),
                      "--port", str(port), "--history-hours", "14", "--account-tier", "1004=standard",
                      "--collateral", "1000", "--funding-rate", "0.0000125", "--log-level", "WARNING"]
        self.venue_proc, url = procs.start_venue(venue_args, self.work / "venue.err")
        self.venue = VenueReader(url, list(self.keys))
        try:
            return self._campaign()
        finally:
            if self.helper is not None:
                self.helper.close()
            if self.sup is not None and self.sup.poll() is None:
                procs.crash_node(self.run_id)
            procs.stop_process(self.venue_proc, signal.SIGTERM, 30)

    def _campaign(self) -> dict[str, Any]:
        args = self.args
        started = time.monotonic()
        self.start_system(NODE_RECOVERY_TIMEOUT_S)
        self.wait(lambda: self.venue.trade_count() > 0, 180, "the first venue trade")
        plan = schedule(args.faults, args.seed, args.node_crashes)
        for fault in plan:
            began = time.monotonic()
            seconds = self.inject(fault)
            self.recoveries.append((fault.kind, seconds))
            self.rows.append({"i": fault.index, "fault": fault.describe(), "recovery_s": seconds,
                              "at_s": round(began - started, 1)})
            print(f"{fault.index:4d} {fault.describe():60s} "
                  f"{'NOT RECOVERED' if seconds is None else f'{seconds:6.1f} s'}", flush=True)
            self.lift_halts()
            time.sleep(fault.gap_s)  # the schedule's pause between faults
        trades_at_last_fault = self.venue.trade_count()
        try:
            self.wait(lambda: self.venue.trade_count() > trades_at_last_fault, args.settle_s,
                      "a venue trade after the last fault")
        except TimeoutError:
            pass
        traded_after = self.venue.trade_count() > trades_at_last_fault
        self.lift_halts()
        return self.finish(traded_after, time.monotonic() - started)

    def quiet_views(self, timeout_s: float = 60.0) -> tuple[dict[tuple[int, int], float], dict[tuple[int, int], float]]:
        """Risk's positions (operator API) and the venue's, read together once every new order is
        refused and they agree, or at the deadline: what risk believes at a still moment."""
        self.venue.post_faults({"reject_fraction": 1.0})  # no new order: nothing new to fill
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                status = self.operator.call("GET", "/api/v1/status")
                risk = {(row["account"], MARKET): float((row.get("risk") or {}).get("position", 0.0))
                        for row in status["strategies"].values()}
            except Exception:  # an actor restarting: asked again
                risk = {}
            venue = self.venue.positions()
            books = {(a, MARKET) for a in self.keys}
            if risk and not checks.position_mismatches(venue, venue, risk, books) or time.monotonic() > deadline:
                return risk, venue
            time.sleep(0.5)  # risk reconciles with fills in flight: polled until they agree

    def finish(self, traded_after: bool, campaign_s: float) -> dict[str, Any]:
        risk, venue_then = self.quiet_views()
        if self.helper is not None:
            self.helper.close()
            self.helper = None
        assert self.sup is not None
        code = procs.stop_process(self.sup, signal.SIGINT, 120)
        self.exit_codes.append(code)
        facts = self.venue.collect()
        facts["positions_then"] = venue_then
        return summarize(self, facts, risk, code, traded_after, campaign_s)


def _new_key() -> str:
    import lighter

    key, _public, error = lighter.create_api_key()
    if error is not None:
        raise RuntimeError("lighter.create_api_key failed")
    return str(key)


def parse(argv: list[str] | None) -> argparse.Namespace:
    from config.cli import OneLineParser

    p = OneLineParser(prog="lighter-trader chaos", description=__doc__.split("\n\n")[1])
    p.add_argument("--faults", type=int, default=30, help="how many faults (default 30)")
    p.add_argument("--seed", type=int, default=1, help="the schedule's seed (default 1)")
    p.add_argument("--node-crashes", type=int, default=None, help="whole-node crashes among them "
                   "(default: one per 100 faults, at least one)")
    p.add_argument("--candles", type=Path, default=DEFAULT_CANDLES, help="the candles CSV the venue replays")
    p.add_argument("--speed", type=float, default=60.0, help="event time per wall time (default 60)")
    p.add_argument("--settle-s", type=float, default=60.0, help="how long to wait for a trade after the last fault")
    p.add_argument("--workdir", type=Path, help="keep the run's files (database, logs) here (default: a temp dir)")
    args = p.parse_args(argv)
    if args.faults < 0:
        p.error("--faults must be >= 0")
    if not args.candles.is_file():
        p.error(f"--candles: file not found: {args.candles}")
    if args.node_crashes is None:
        args.node_crashes = max(1, args.faults // 100) if args.faults > 1 else 0
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    work = args.workdir or Path(tempfile.mkdtemp(prefix="lt-chaos-"))
    work.mkdir(parents=True, exist_ok=True)
    campaign = Campaign(args, work.resolve())
    try:
        summary = campaign.run()
    finally:
        if args.workdir is None:  # else kept for a look: the run's files and Ray's session logs
            shutil.rmtree(work, ignore_errors=True)
            shutil.rmtree(campaign.ray_tmp, ignore_errors=True)
        else:
            print(f"kept: {work} and Ray's logs in {campaign.ray_tmp}", flush=True)
    print_report(summary)
    print(json.dumps(summary, default=str), flush=True)
    return 0 if not summary["failed"] else 1


if __name__ == "__main__":
    sys.exit(main())
