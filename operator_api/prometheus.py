"""The trading metrics in the Prometheus text exposition format (0.0.4), rendered from the
status and health the operator actor gathers (pure). Names and labels:

    lt_strategy_events_total{strategy}      market events the strategy processed
    lt_strategy_orders_total{strategy}      order intents the strategy sent
    lt_strategy_fills_total{strategy}       fills applied
    lt_strategy_trades_total{strategy}      closed round trips
    lt_strategy_realized_pnl{strategy}      realized PnL net of fees, quote
    lt_strategy_unrealized_pnl{strategy}    unrealized PnL at the mark, quote
    lt_strategy_position{strategy}          signed position, base units
    lt_strategy_open_orders{strategy}       open orders at the router
    lt_strategy_halted{strategy}            1 when risk refuses its new entries (halt or breaker)
    lt_strategy_breaker_tripped{strategy}
    lt_strategy_gauge{strategy,gauge}       a quoting strategy's telemetry (the maker's gauges)
    lt_risk_orders_total{outcome}           risk's approvals and refusals (all strategies)
    lt_risk_fills_total                     fills risk applied
    lt_actor_up{actor}                      1 when the supervisor last saw it alive
    lt_actor_restarts_total{actor}
    lt_actor_lag_ms{actor}
    lt_feed_stale_markets
    lt_tick_to_order_ms                     histogram (_bucket{le}, _sum, _count): the feed's receipt of
                                            a market event -> the order's send, ms, as the router
                                            recorded it since the operator started
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

Sample = tuple[str, dict[str, str], float]  # (sample name: the family's, or with _bucket/_sum/_count)


class Histogram:
    """Cumulative observations over fixed upper bounds (inclusive, as Prometheus' `le`), fed in batches."""

    def __init__(self, boundaries: Sequence[float]) -> None:
        self.boundaries = sorted(float(b) for b in boundaries)
        self.buckets = [0] * (len(self.boundaries) + 1)  # per bucket, not cumulative; the last is +Inf
        self.sum = 0.0
        self.count = 0

    def observe(self, values: Iterable[float]) -> None:
        for value in values:
            self.buckets[bisect.bisect_left(self.boundaries, value)] += 1
            self.sum += value
            self.count += 1

    def cumulative(self) -> list[tuple[float, int]]:
        """(le, observations <= le) per bound, ending with (+Inf, count)."""
        out, running = [], 0
        for bound, n in zip([*self.boundaries, math.inf], self.buckets, strict=True):
            running += n
            out.append((bound, running))
        return out


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


class Exposition:
    def __init__(self) -> None:
        self.families: dict[str, tuple[str, str, list[Sample]]] = {}

    def add(self, name: str, kind: str, help_text: str, labels: dict[str, str], value: Any) -> None:
        if value is None:
            return
        try:
            number = float(value)
        except (TypeError, ValueError):
            return
        self.families.setdefault(name, (kind, help_text, []))[2].append((name, labels, number))

    def add_histogram(self, name: str, help_text: str, labels: dict[str, str], histogram: Histogram) -> None:
        samples = self.families.setdefault(name, ("histogram", help_text, []))[2]
        for bound, n in histogram.cumulative():
            samples.append((f"{name}_bucket", {**labels, "le": _number(bound)}, float(n)))
        samples.append((f"{name}_sum", labels, histogram.sum))
        samples.append((f"{name}_count", labels, float(histogram.count)))

    def render(self) -> str:
        lines = []
        for name, (kind, help_text, samples) in self.families.items():
            lines.append(f"# HELP {name} {help_text}")
            lines.append(f"# TYPE {name} {kind}")
            for sample, labels, value in samples:
                text = ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items())
                lines.append(f"{sample}{{{text}}} {_number(value)}" if text else f"{sample} {_number(value)}")
        return "\n".join(lines) + "\n"


def render(status: Mapping[str, Any], report: Mapping[str, Any] | None, risk_counts: Mapping[str, Any],
           tick_to_order: Histogram | None = None) -> str:
    """status: the API's /status answer; report: the supervisor's health report (or None);
    tick_to_order: the router's tick-to-order latencies the operator has gathered (ms)."""
    out = Exposition()
    actors = (report or {}).get("actors", {})
    for name, row in status.get("strategies", {}).items():
        labels = {"strategy": name}
        view = row.get("view", {})
        st = row.get("strategy") or {}
        stats = actors.get(f"strategy:{name}", {}).get("stats", {})
        out.add("lt_strategy_events_total", "counter", "market events the strategy processed", labels,
                stats.get("market_events", st.get("events")))
        out.add("lt_strategy_orders_total", "counter", "order intents the strategy sent", labels,
                stats.get("intents"))
        out.add("lt_strategy_fills_total", "counter", "fills applied", labels, st.get("fills_applied"))
        out.add("lt_strategy_trades_total", "counter", "closed round trips", labels, view.get("trades"))
        out.add("lt_strategy_realized_pnl", "gauge", "realized PnL net of fees (quote)", labels,
                view.get("realized_pnl"))
        out.add("lt_strategy_unrealized_pnl", "gauge", "unrealized PnL at the mark (quote)", labels,
                view.get("unrealized_pnl"))
        out.add("lt_strategy_position", "gauge", "signed position (base units)", labels, view.get("position"))
        out.add("lt_strategy_open_orders", "gauge", "open orders at the router", labels, view.get("open_orders"))
        out.add("lt_strategy_halted", "gauge", "1 when risk refuses new entries", labels,
                0.0 if view.get("mode") == "running" else 1.0)
        out.add("lt_strategy_breaker_tripped", "gauge", "1 when a breaker is tripped", labels,
                1.0 if view.get("breaker_tripped") else 0.0)
        for gauge, value in sorted((st.get("telemetry") or {}).items()):
            out.add("lt_strategy_gauge", "gauge", "a quoting strategy's telemetry, by gauge name",
                    {"strategy": name, "gauge": gauge}, value)
    for outcome in ("approved", "refused"):
        out.add("lt_risk_orders_total", "counter", "orders risk approved or refused", {"outcome": outcome},
                risk_counts.get(outcome, 0))
    out.add("lt_risk_fills_total", "counter", "fills risk applied", {}, risk_counts.get("fills", 0))
    for name, row in sorted(actors.items()):
        labels = {"actor": name}
        out.add("lt_actor_up", "gauge", "1 when the supervisor last saw the actor alive", labels,
                1.0 if row.get("state") == "alive" else 0.0)
        out.add("lt_actor_restarts_total", "counter", "restarts of the actor", labels, row.get("restarts", 0))
        out.add("lt_actor_lag_ms", "gauge", "processing lag (ms)", labels, row.get("lag_ms", 0.0))
    feed = actors.get("feed")
    if feed is not None:
        out.add("lt_feed_stale_markets", "gauge", "markets without fresh data", {},
                feed.get("stats", {}).get("stale_markets", 0))
    if tick_to_order is not None:
        out.add_histogram("lt_tick_to_order_ms", "the feed's receipt of a market event to the order's send (ms)",
                          {}, tick_to_order)
    return out.render()
