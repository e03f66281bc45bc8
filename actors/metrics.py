"""Custom metrics of the actors, exported through `ray.util.metrics` (Prometheus, dashboard).

One `ActorMetrics` per actor process. Every series carries the tag `actor` (and `strategy` where
it applies). Names:

    lt_events_total{actor}                  market events (or messages) an actor processed
    lt_orders_total{actor,strategy}         orders: intents sent (strategy), approved (risk), sent (router)
    lt_fills_total{actor,strategy}          fills seen
    lt_rejects_total{actor,strategy}        refusals (risk) and venue rejections (router)
    lt_realized_pnl{actor,strategy}         realized PnL net of fees, quote (gauge)
    lt_position{actor,strategy}             signed position, base units (gauge)
    lt_lag_ms{actor}                        processing lag behind the events received (gauge)
    lt_tick_to_order_ms{actor}              from the feed's receipt of a market event to the order's
                                            send to the venue (histogram, router)

Metrics never break an actor: if Ray's metrics cannot be created (no metrics agent), the calls
are no-ops.
"""

from __future__ import annotations

from typing import Any

from loguru import logger

TICK_TO_ORDER_BOUNDARIES_MS = [0.5, 1, 2, 3, 5, 7.5, 10, 15, 25, 50, 100, 250, 1000]


class _Null:
    def inc(self, value: float = 1.0, tags: dict[str, str] | None = None) -> None:
        return None

    def set(self, value: float, tags: dict[str, str] | None = None) -> None:
        return None

    def observe(self, value: float, tags: dict[str, str] | None = None) -> None:
        return None


class ActorMetrics:
    def __init__(self, actor: str) -> None:
        self.actor = actor
        self.events: Any = _Null()
        self.orders: Any = _Null()
        self.fills: Any = _Null()
        self.rejects: Any = _Null()
        self.realized_pnl: Any = _Null()
        self.position: Any = _Null()
        self.lag_ms: Any = _Null()
        self.tick_to_order_ms: Any = _Null()
        self.strategy_gauge: Any = _Null()
        try:
            from ray.util import metrics

            self.events = metrics.Counter(
                "lt_events_total", description="events processed", tag_keys=("actor",)
            )
            self.orders = metrics.Counter(
                "lt_orders_total", description="orders (intents, approvals, sends)", tag_keys=("actor", "strategy")
            )
            self.fills = metrics.Counter("lt_fills_total", description="fills", tag_keys=("actor", "strategy"))
            self.rejects = metrics.Counter(
                "lt_rejects_total", description="refused or rejected orders", tag_keys=("actor", "strategy")
            )
            self.realized_pnl = metrics.Gauge(
                "lt_realized_pnl", description="realized PnL net of fees (quote)", tag_keys=("actor", "strategy")
            )
            self.position = metrics.Gauge(
                "lt_position", description="signed position (base units)", tag_keys=("actor", "strategy")
            )
            self.lag_ms = metrics.Gauge("lt_lag_ms", description="processing lag (ms)", tag_keys=("actor",))
            self.tick_to_order_ms = metrics.Histogram(
                "lt_tick_to_order_ms",
                description="market event received by the feed -> order sent to the venue (ms)",
                boundaries=TICK_TO_ORDER_BOUNDARIES_MS,
                tag_keys=("actor",),
            )
            self.strategy_gauge = metrics.Gauge(
                "lt_strategy_gauge", description="a strategy's own telemetry (the maker's regime, guards, "
                "FIFO PnL, inventory, open quotes), by gauge name", tag_keys=("actor", "strategy", "gauge"),
            )
            self.strategy_gauge.set_default_tags({"actor": actor, "strategy": "", "gauge": ""})
            for metric in (self.events, self.lag_ms, self.tick_to_order_ms):
                metric.set_default_tags({"actor": actor})
            for metric in (self.orders, self.fills, self.rejects, self.realized_pnl, self.position):
                metric.set_default_tags({"actor": actor, "strategy": ""})
        except Exception as exc:  # no metrics agent (or an API change): keep running without metrics
            logger.bind(actor=actor).warning("metrics disabled: {}: {}", type(exc).__name__, exc)

    @staticmethod
    def tags(strategy: str) -> dict[str, str]:
        return {"strategy": strategy}
