"""Fixtures and helpers for the actor-system tests.

A test module uses the session Ray with `ray_session = ray_fixtures.ray_session` (fixture discovery
finds it as a module attribute; tests/conftest.py belongs to the lead).


- `ray_session`: ONE Ray for the whole test session: ray.init(num_cpus=2, include_dashboard=False,
  object_store_memory=256 MiB, _temp_dir=<private tmp>) with RAY_USAGE_STATS_ENABLED=0.
- `make_settings(...)`: a paper configuration on a free port with a temporary database.
- `FAST_RSI_PARAMS`: TEST-ONLY rsi_bb parameters that trade often (2 s candles, tiny periods,
  every entry filter open, 2 bps take-profit/stop-loss, 20 s time stop), so a short replay of
  the shared SOL candles places, fills and closes many trades.
- `SystemRun`: a System started in its own namespace, with the checks of DESIGN's invariants.
- `wait_until(predicate, timeout_s)`: polls a condition until it holds or the deadline passes.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from config.settings import AppSettings
from venue.sim.ports import free_static_port

FAST_RSI_PARAMS: dict[str, Any] = {
    "candle_interval_s": 2, "rsi_period": 2, "bb_period": 3, "ema_fast": 2, "ema_slow": 3, "volume_window": 2,
    "rsi_momentum_strength": 0.0, "bb_position_threshold": 0.5, "trend_confirmation_bps": 0.0,
    "volatility_min_bps": 0.0, "volatility_max_bps": 1e6, "take_profit_bps": 2.0, "stop_loss_bps": 2.0,
    "max_hold_s": 20, "volatility_interval_ms": 2000, "volatility_window": 3, "adaptive": False,
    "retry_backoff_ms": 500,
}
CALL_TIMEOUT_S = 30.0


@pytest.fixture(scope="session")
def ray_session() -> Iterator[Any]:
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    import ray

    temp_dir = tempfile.mkdtemp(prefix="lt-ray-", dir="/tmp")
    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, object_store_memory=256 * 1024 * 1024, _temp_dir=temp_dir,
                 logging_level=logging.WARNING, log_to_driver=True)
    yield ray
    ray.shutdown()
    shutil.rmtree(temp_dir, ignore_errors=True)


def strategy_entry(name: str, account: int, *, params: dict[str, Any] | None = None, kind: str = "rsi_bb",
                   market_id: int = 2) -> dict[str, Any]:
    return {"name": name, "kind": kind, "market_id": market_id, "account_index": account,
            "size_min": 0.1, "size_max": 0.1, "params": dict(FAST_RSI_PARAMS if params is None else params)}


def settings_data(tmp_path: Path, *, source: str = "synthetic", source_path: Path | None = None,
                  speed: float = 1.0, strategies: list[dict[str, Any]] | None = None,
                  **overrides: Any) -> dict[str, Any]:
    port = free_static_port()  # not an ephemeral one: see venue/sim/ports.py
    data: dict[str, Any] = {
        "mode": "paper",
        "venue": {
            "url": f"http://127.0.0.1:{port}", "ws_url": f"ws://127.0.0.1:{port}/stream",
            "sim": {"source": source, "source_path": None if source_path is None else str(source_path),
                    "speed": speed, "seed": 7, "port": port, "collateral": 1000.0},
        },
        "markets": [2],
        "strategies": strategies if strategies is not None else [strategy_entry("fast", 2001)],
        # breakers that do not trip on the many tiny losses of the fast test strategy
        "risk": {"reconcile_interval_s": 600.0, "max_net_notional": 10_000.0, "order_rate_per_min": 600,
                 "breakers": {"max_consecutive_losses": 1000, "daily_loss_pct": 100.0, "max_drawdown_pct": 100.0}},
        "feed": {"batch_interval_ms": 5.0, "stale_after_s": 5.0},
        "storage": {"db_path": str(tmp_path / "test.db"), "backup_dir": str(tmp_path / "backups")},
        "supervisor": {"heartbeat_interval_s": 0.5, "heartbeat_timeout_s": 10.0, "max_restarts": 20,
                       "period_s": 60.0},
    }
    _merge(data, overrides)
    return data


def _merge(data: dict[str, Any], overrides: dict[str, Any]) -> None:
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            _merge(data[key], value)
        else:
            data[key] = value


def make_settings(tmp_path: Path, **kwargs: Any) -> AppSettings:
    return AppSettings.model_validate(settings_data(tmp_path, **kwargs))


def wait_until(predicate: Callable[[], Any], timeout_s: float, interval_s: float = 0.1,
               message: str = "condition") -> Any:
    """Poll until predicate() is truthy; AssertionError after timeout_s. Returns the value."""
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval_s)
    raise AssertionError(f"timed out after {timeout_s:g} s waiting for {message} (last: {last!r})")


class SystemRun:
    """A started System in a private namespace, with helpers to inspect it and check invariants."""

    def __init__(self, settings: AppSettings, options: dict[str, dict[str, Any]] | None = None,
                 supervise: bool = False) -> None:
        from supervisor import System

        self.settings = settings
        self.namespace = f"t-{uuid.uuid4().hex[:8]}"
        self.system = System(settings, namespace=self.namespace, options=options)
        self.supervise = supervise
        self._stop = threading.Event()
        self._poller: threading.Thread | None = None
        self.poll_errors: list[str] = []

    def __enter__(self) -> SystemRun:
        try:
            self.system.start(timeout_s=120.0)
        except BaseException:
            self.system.stop(cancel_orders=False)
            raise
        if self.supervise:  # the supervisor's health loop, as `python supervisor.py` runs it
            self._poller = threading.Thread(target=self._poll, name="supervisor-poll", daemon=True)
            self._poller.start()
        return self

    def _poll(self) -> None:
        while not self._stop.is_set():
            try:
                self.system.poll(wait_s=0.3)
            except Exception as exc:  # keep supervising; the test sees the error in poll_errors
                self.poll_errors.append(f"{type(exc).__name__}: {exc}")
            self._stop.wait(0.2)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._poller is not None:
            self._poller.join(timeout=10.0)
        self.system.stop(cancel_orders=False)

    def call(self, name: str, method: str, *args: Any, timeout_s: float = CALL_TIMEOUT_S) -> Any:
        import ray

        return ray.get(getattr(self.system.handle(name), method).remote(*args), timeout=timeout_s)

    def stats(self, name: str) -> dict[str, float]:
        from messages.codec import decode_heartbeat

        return dict(decode_heartbeat(self.call(name, "heartbeat")).stats)

    @property
    def accounts(self) -> list[int]:
        return sorted({s.account_index for s in self.settings.enabled_strategies})

    # --- what storage holds ---------------------------------------------------------------------
    def flush_all(self) -> None:
        """What every actor queued for storage, committed (their outboxes batch for 20 ms)."""
        for name in ("router", "risk", *[s.actor_name for s in self.settings.enabled_strategies]):
            self.call(name, "flush")
        self.call("persistence", "flush")

    def db_fills(self) -> list[Any]:
        from storage import StorageReader

        self.call("persistence", "flush")
        with StorageReader(self.settings.storage.db_path) as db:
            return db.fills_since(0)

    def db_positions(self) -> dict[tuple[int, int], float]:
        from storage import StorageReader

        self.flush_all()
        with StorageReader(self.settings.storage.db_path) as db:
            return {(p.account_index, p.market_id): p.size for p in db.positions()}

    def total_fills(self) -> int:
        return sum(len(self.call("venue-sim", "account_trades", a)) for a in self.accounts)

    def trades_closed(self) -> int:
        return sum(int(self.call(s.actor_name, "status")["trades"]) for s in self.settings.enabled_strategies)

    def diagnose(self) -> str:
        """What each actor reports now (for a test's failure message): why did trading stop?"""
        from messages.codec import decode_heartbeat

        parts: list[str] = []
        for name in ("venue-sim", "feed", "risk", "router", "persistence",
                     *[s.actor_name for s in self.settings.enabled_strategies]):
            try:
                beat = decode_heartbeat(self.call(name, "heartbeat", timeout_s=5.0))
                stats = {k: v for k, v in beat.stats.items() if v and not k.startswith(("lane.", "pid"))}
                parts.append(f"{name}: last_error={beat.last_error!r} stats={stats}")
            except Exception as exc:  # an actor that cannot answer is itself the finding
                parts.append(f"{name}: no heartbeat ({type(exc).__name__}: {exc})")
        for s in self.settings.enabled_strategies:
            try:
                status = self.call(s.actor_name, "status", timeout_s=5.0)
                parts.append(f"{s.actor_name} status: {status}")
            except Exception as exc:
                parts.append(f"{s.actor_name} status: {type(exc).__name__}: {exc}")
        try:
            risk = self.call("risk", "status", timeout_s=5.0)
            parts.append(f"risk status: {risk}")
            parts.append(f"router open orders: {self.call('router', 'open_orders', timeout_s=5.0)}")
        except Exception as exc:
            parts.append(f"risk/router status: {type(exc).__name__}: {exc}")
        parts.append(f"supervisor poll errors: {self.poll_errors[-3:]}")
        return "\n".join(parts)

    # --- quiescence and invariants ------------------------------------------------------------
    def quiesce(self, timeout_s: float = 60.0) -> None:
        """Stop new fills (the venue rejects every new order) and wait until every order in flight
        has ended and storage holds every fill the venue made."""
        self.call("venue-sim", "set_faults", {"reject_fraction": 1.0})

        def settled() -> bool | str:
            open_orders = {k: v for k, v in self.call("router", "open_orders").items() if v}
            inflight = self.call("risk", "status")["inflight"]
            venue = {(a, t["trade_id"]) for a in self.accounts for t in self.call("venue-sim", "account_trades", a)}
            stored = {(f.account_index, f.fill.trade_id) for f in self.db_fills()}
            if not open_orders and not inflight and venue == stored:
                return True
            self.unsettled = (f"router open {open_orders}, risk in flight {inflight}, "
                              f"venue fills not stored {len(venue - stored)}, stored not at venue {len(stored - venue)}")
            return False

        self.unsettled = ""
        try:
            wait_until(settled, timeout_s, interval_s=0.3, message="orders in flight to end and fills to be stored")
        except AssertionError as exc:
            raise AssertionError(f"{exc}: {self.unsettled}") from None

    def check_invariants(self) -> dict[str, Any]:
        """DESIGN's invariants at a quiescent moment; returns facts for further assertions."""
        venue_fills: dict[tuple[int, int], dict[str, Any]] = {}
        for account in self.accounts:
            for trade in self.call("venue-sim", "account_trades", account):
                venue_fills[(account, trade["trade_id"])] = trade
        stored = self.db_fills()
        stored_keys = [(f.account_index, f.fill.trade_id) for f in stored]
        # 3: every fill persisted exactly once, and nothing else
        assert len(stored_keys) == len(set(stored_keys)), "a fill is stored twice"
        assert set(stored_keys) == set(venue_fills), (
            f"fills differ: missing {sorted(set(venue_fills) - set(stored_keys))[:5]}, "
            f"extra {sorted(set(stored_keys) - set(venue_fills))[:5]}")
        for f in stored:
            v = venue_fills[(f.account_index, f.fill.trade_id)]
            assert abs(v["price"] - f.fill.price) < 1e-9 and abs(v["size"] - f.fill.size) < 1e-9
            assert v["side"] == f.side and v["client_order_index"] == f.client_order_index
        # 2: no order reached the venue twice
        created = self.call("venue-sim", "created_orders")
        counts = Counter((account, coi) for account, coi, _at, _code in created)
        doubled = {key: n for key, n in counts.items() if n > 1}
        assert not doubled, f"orders sent more than once: {doubled}"
        # 5: every order on the account of the strategy that owns it
        owners = {s.account_index: s.name for s in self.settings.enabled_strategies}
        for f in stored:
            assert owners[f.account_index] == f.strategy, f"{f.strategy} traded on account {f.account_index}"
        # 1: positions agree: storage (netted by risk), risk, the venue, and the strategies
        db_positions = self.db_positions()
        risk = self.call("risk", "status")
        for s in self.settings.enabled_strategies:
            venue = self.call("venue-sim", "positions", s.account_index).get(s.market_id, 0.0)
            ours = risk["strategies"][s.name]["position"]
            stored_pos = db_positions.get((s.account_index, s.market_id), 0.0)
            strategy = self.call(s.actor_name, "status")["position_size"]
            assert abs(venue - ours) < 1e-9, f"{s.name}: risk {ours} != venue {venue}"
            assert abs(venue - stored_pos) < 1e-9, f"{s.name}: storage {stored_pos} != venue {venue}"
            assert abs(venue - strategy) < 1e-9, f"{s.name}: strategy {strategy} != venue {venue}"
        assert risk["mismatches"] == 0, "risk's reconciliation found a position it had wrong"
        return {"fills": len(stored), "orders": len(created), "created": created}
