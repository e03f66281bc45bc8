"""Which alerts the running system calls for: successive snapshots compared. Pure (no Ray, no
clock): the operator actor gives it, each poll, the supervisor's health table, risk's status, each
strategy's status and the wall time, and sends what comes back through the AlertDispatcher (whose
gate dedupes and rate-limits).

What it looks for, between the previous snapshot and this one:
- actor_restarted: a child's restart count went up (the count in the text is the restarts seen in
  the last `restart_period_s`, the supervisor's restart-intensity window);
- halt: risk's mode for a strategy left "running" (halted, or flattening); who halted it is read
  from the facts at hand: the supervisor's reason in the health table (restart intensity), risk's
  own "circuit breaker: ..." reason, the persistence actor's "storage: ..." (SQLite cannot write),
  else the operator. Every strategy halted at once for one
  reason is one alert for "all";
- breaker: a strategy's breaker became tripped (and an info alert when it clears);
- position_adopted: a strategy took its position from the venue: its `adopted` count (directional
  strategies) or `positions_adopted` (the market maker) went up, or its start-up
  `position_mismatch` appeared;
- storage: the persistence actor's `storage_fault` gauge went to 1 (SQLite cannot write: its line)
  or back to 0 (writes resumed; the storage's halt stays until an operator resumes);
- feed_stale: the feed has had a stale market for longer than `feed_stale_alert_s` of wall time;
  raised again on every snapshot while it lasts, the gate's dedupe makes that one reminder per
  dedupe window;
- daily_summary: the UTC day of the market's event time (risk's `event_time_ns`) rolled; per
  strategy the trades and the PnL (net of fees, USDC) of the day that ended, as the change of the
  strategy's running totals since the previous roll (or since the watch began, for its first day).

A state seen first (a halt restored at start-up, a tripped breaker) is alerted; a counter seen
first (restarts, adoptions) is the baseline, since what it counted happened before the watch.
A snapshot that is missing (an actor that did not answer) changes nothing: the next one compares
with the last one seen.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import msgspec

from alerts.format import actor_restarted_alert, daily_summary_alert, position_adopted_alert
from alerts.format import halt_alert as _halt_alert
from alerts.model import Alert
from messages.control import ALL, Halt

RUNNING = "running"
FLATTENING = "flattening"
NS_PER_S = 1_000_000_000
NS_PER_DAY = 86_400 * NS_PER_S
BREAKER_PREFIX = "circuit breaker"  # the reason risk gives the halt of a tripped breaker
STORAGE_PREFIX = "storage:"  # the reason of the persistence actor's halt when SQLite cannot write


def utc_day(ts_ns: int) -> str:
    return datetime.fromtimestamp(ts_ns // NS_PER_S, UTC).strftime("%Y-%m-%d")


def totals(status: Mapping[str, Any]) -> tuple[int, float]:
    """(trades, PnL net of fees in USDC) a strategy has made so far, from its status: round trips
    for the directional kinds; fills and the FIFO realized PnL (net of fees) for the market maker."""
    if "trades" in status:
        return int(status.get("trades") or 0), float(status.get("realized_pnl") or 0.0)
    fills = int(status.get("fills_quote") or 0) + int(status.get("fills_hedge") or 0)
    return fills, float(status.get("fifo_realized_quote") or 0.0)


def adopted_count(status: Mapping[str, Any]) -> int | None:
    for key in ("adopted", "positions_adopted"):
        if key in status:
            return int(status[key] or 0)
    return None


def position_of(status: Mapping[str, Any]) -> tuple[float, float]:
    """(size in base units, signed; entry price in USDC, 0 when unknown)."""
    if "inventory" in status:
        return float(status.get("inventory") or 0.0), float(status.get("average_entry") or 0.0)
    pos = status.get("position")
    entry = float(pos.get("entry_price") or 0.0) if isinstance(pos, Mapping) else 0.0
    return float(status.get("position_size") or 0.0), entry


@dataclass
class _Seen:
    """What one strategy looked like in the last snapshot that had it."""

    mode: str | None = None  # risk's
    breaker_tripped: bool | None = None
    adopted: int | None = None
    mismatch: str | None = None
    mismatch_seen: bool = False
    position: float | None = None


class AlertWatch:
    def __init__(self, *, feed_stale_alert_s: float, restart_period_s: float) -> None:
        if feed_stale_alert_s <= 0 or restart_period_s <= 0:
            raise ValueError("feed_stale_alert_s and restart_period_s must be > 0")
        self.feed_stale_alert_s = feed_stale_alert_s
        self.restart_period_s = restart_period_s
        self._restarts: dict[str, int] = {}
        self._restart_times: dict[str, deque[float]] = {}
        self._seen: dict[str, _Seen] = {}
        self._stale_since: float | None = None
        self._day: str | None = None
        self._day_start: dict[str, tuple[int, float]] = {}
        self._storage_fault: bool | None = None

    def observe(self, health: Mapping[str, Any] | None, risk_status: Mapping[str, Any] | None,
                strategies_status: Mapping[str, Mapping[str, Any] | None], now: float) -> list[Alert]:
        """The alerts this snapshot calls for. now: wall time, seconds since the epoch."""
        now_ns = int(now * NS_PER_S)
        alerts: list[Alert] = []
        if health is not None:
            alerts += self._restarted(health, now, now_ns)
            alerts += self._feed(health, now, now_ns)
            alerts += self._storage(health, now_ns)
        if risk_status is not None:
            alerts += self._halts_and_breakers(risk_status, health, now_ns)
        alerts += self._adoptions(strategies_status, now_ns)
        if risk_status is not None:
            alerts += self._daily(risk_status, strategies_status)
        return alerts

    # --- supervision ---------------------------------------------------------------------------
    def _restarted(self, health: Mapping[str, Any], now: float, now_ns: int) -> list[Alert]:
        out = []
        for name, row in sorted((health.get("actors") or {}).items()):
            count = int(row.get("restarts") or 0)
            before = self._restarts.get(name)
            self._restarts[name] = count
            times = self._restart_times.setdefault(name, deque())
            while times and now - times[0] > self.restart_period_s:
                times.popleft()
            if before is None or count <= before:
                continue
            times.extend([now] * (count - before))
            out.append(actor_restarted_alert(name, len(times), self.restart_period_s, now_ns,
                                             row.get("last_error") or None))
        return out

    def _storage(self, health: Mapping[str, Any], now_ns: int) -> list[Alert]:
        """The persistence actor's `storage_fault` gauge: SQLite cannot write (critical), or can
        again (info; the storage's halt stays until an operator resumes)."""
        row = (health.get("actors") or {}).get("persistence")
        if row is None or "storage_fault" not in (row.get("stats") or {}):
            return []
        fault = bool(row["stats"]["storage_fault"])
        before, self._storage_fault = self._storage_fault, fault
        if fault == bool(before) or (before is None and not fault):
            return []
        if fault:
            line = str(row.get("last_error") or "storage: SQLite cannot write")
            return [Alert(kind="storage", severity="critical", key=f"storage:{line}", ts=now_ns,
                          text=f"STORAGE FAULT: {line}. Nothing is sent until writes succeed again.")]
        return [Alert(kind="storage", severity="info", key=f"storage-resumed:{now_ns}", ts=now_ns,
                      text="Storage writes resumed. Trading stays halted until an operator resumes.")]

    def _feed(self, health: Mapping[str, Any], now: float, now_ns: int) -> list[Alert]:
        feed = (health.get("actors") or {}).get("feed")
        if feed is None:
            return []  # not known: neither stale nor fresh
        stale = int((feed.get("stats") or {}).get("stale_markets", 0))
        if not stale:
            self._stale_since = None
            return []
        if self._stale_since is None:
            self._stale_since = now
        stale_for = now - self._stale_since
        if stale_for < self.feed_stale_alert_s:
            return []
        markets = "1 market" if stale == 1 else f"{stale} markets"
        text = (f"FEED STALE: {markets} without market data for {stale_for:.0f} s "
                f"(alert after {self.feed_stale_alert_s:g} s). No new entries on a stale market.")
        return [Alert(kind="feed_stale", severity="warning", text=text, key="feed_stale:feed", ts=now_ns)]

    # --- risk ----------------------------------------------------------------------------------
    def _halts_and_breakers(self, risk: Mapping[str, Any], health: Mapping[str, Any] | None,
                            now_ns: int) -> list[Alert]:
        strategies = risk.get("strategies") or {}
        supervisor_reason = (health or {}).get("halted")
        halted: dict[str, tuple[str, str, str]] = {}  # name -> (mode, reason, issued_by)
        out = []
        for name, row in sorted(strategies.items()):
            seen = self._seen.setdefault(name, _Seen())
            mode = str(row.get("mode") or RUNNING)
            if mode != RUNNING and mode != seen.mode:
                reason = str(row.get("halt_reason") or "")
                if supervisor_reason and reason == supervisor_reason:
                    who = "supervisor"
                elif reason.startswith(BREAKER_PREFIX):
                    who = "risk"
                elif reason.startswith(STORAGE_PREFIX):
                    who = "storage"
                else:
                    who = "operator"
                halted[name] = (mode, reason or "no reason given", who)
            seen.mode = mode
            tripped = bool(row.get("breaker_tripped"))
            if tripped != bool(seen.breaker_tripped) and (tripped or seen.breaker_tripped is not None):
                out.append(_breaker(name, tripped, str(row.get("breaker") or ""), risk, now_ns))
            seen.breaker_tripped = tripped
        facts = set(halted.values())
        if len(halted) > 1 and len(halted) == len(strategies) and len(facts) == 1:
            halts = [_halt(ALL, *facts.pop(), now_ns)]
        else:
            halts = [_halt(name, *fact, now_ns) for name, fact in halted.items()]
        return halts + out

    # --- strategies ----------------------------------------------------------------------------
    def _adoptions(self, statuses: Mapping[str, Mapping[str, Any] | None], now_ns: int) -> list[Alert]:
        out = []
        for name, status in sorted(statuses.items()):
            if status is None:
                continue
            seen = self._seen.setdefault(name, _Seen())
            size, entry = position_of(status)
            market_id = int(status.get("market_id") or 0)
            mismatch = status.get("position_mismatch")
            adopted = adopted_count(status)
            if mismatch and (not seen.mismatch_seen or mismatch != seen.mismatch):
                text = (f"POSITION TAKEN FROM THE VENUE for {name} (market {market_id}) at start-up: "
                        f"{mismatch}; it now holds {size:+g} (base units) at {entry:.2f} USDC.")
                out.append(Alert(kind="position_adopted", severity="warning", text=text,
                                 key=f"position_mismatch:{name}:{mismatch}", ts=now_ns))
            elif adopted is not None and seen.adopted is not None and adopted > seen.adopted:
                ours = seen.position if seen.position is not None else 0.0
                out.append(position_adopted_alert(name, market_id, ours, size, entry, now_ns))
            seen.mismatch, seen.mismatch_seen = mismatch, True
            seen.adopted = adopted if adopted is not None else seen.adopted
            seen.position = size
        return out

    def _daily(self, risk: Mapping[str, Any], statuses: Mapping[str, Mapping[str, Any] | None]) -> list[Alert]:
        event_ns = int(risk.get("event_time_ns") or 0)
        current = {name: totals(status) for name, status in statuses.items() if status is not None}
        for name, now_totals in current.items():
            self._day_start.setdefault(name, now_totals)
        if event_ns <= 0:
            return []  # no market data yet: no day
        day = utc_day(event_ns)
        ended, self._day = self._day, day
        if ended is None or day <= ended:
            return []
        per_strategy: dict[str, dict[str, float]] = {}
        for name, (trades, pnl) in sorted(current.items()):
            start_trades, start_pnl = self._day_start[name]
            per_strategy[name] = {"trades": max(0, trades - start_trades), "pnl_quote": pnl - start_pnl}
            self._day_start[name] = (trades, pnl)
        midnight_ns = event_ns - event_ns % NS_PER_DAY
        return [daily_summary_alert(ended, per_strategy, midnight_ns)]


def _halt(scope: str, mode: str, reason: str, who: str, now_ns: int) -> Alert:
    alert = _halt_alert(Halt(reason=reason, scope=scope, issued_by=who, ts_event=now_ns, seq=0))
    if mode == FLATTENING:
        return msgspec.structs.replace(alert, text=alert.text + " Its positions are being closed (flatten).",
                                       key=alert.key + ":flatten")
    return alert


def _breaker(name: str, tripped: bool, describe: str, risk: Mapping[str, Any], now_ns: int) -> Alert:
    at = int(risk.get("event_time_ns") or 0) or now_ns
    if tripped:
        return Alert(kind="breaker", severity="critical", key=f"breaker:{name}:{at}", ts=at,
                     text=f"BREAKER TRIPPED on {name}: {describe}. New entries are refused until it resets.")
    return Alert(kind="breaker", severity="info", key=f"breaker-reset:{name}:{at}", ts=at,
                 text=f"Breaker reset on {name}: new entries allowed again.")
