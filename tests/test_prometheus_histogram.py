"""The tick-to-order latency histogram on /metrics: the operator's cumulative buckets (Prometheus'
`le` is inclusive), their rendering as _bucket/_sum/_count, and the router's batch-by-batch hand-over
of the latencies it recorded since a reader's last look."""

from __future__ import annotations

import asyncio
from collections import deque
from types import SimpleNamespace

from actors.metrics import TICK_TO_ORDER_BOUNDARIES_MS
from actors.router import RouterActor
from operator_api import prometheus


def test_histogram_counts_are_cumulative_with_inclusive_bounds() -> None:
    hist = prometheus.Histogram([5, 1, 2])  # bounds sorted
    hist.observe([0.3, 1.0, 1.5])
    hist.observe([2.0, 4.0, 7.0, 1000.0])
    assert hist.cumulative() == [(1.0, 2), (2.0, 4), (5.0, 5), (float("inf"), 7)]
    assert hist.count == 7 and hist.sum == 0.3 + 1.0 + 1.5 + 2.0 + 4.0 + 7.0 + 1000.0


def test_rendered_histogram_has_buckets_inf_sum_and_count() -> None:
    hist = prometheus.Histogram(TICK_TO_ORDER_BOUNDARIES_MS)
    hist.observe([0.4, 0.5, 3.0, 12.0, 2000.0])
    text = prometheus.render({"strategies": {}}, None, {}, hist)
    lines = text.splitlines()
    assert "# TYPE lt_tick_to_order_ms histogram" in lines
    buckets = [line for line in lines if line.startswith("lt_tick_to_order_ms_bucket")]
    assert len(buckets) == len(TICK_TO_ORDER_BOUNDARIES_MS) + 1
    for line in ['lt_tick_to_order_ms_bucket{le="0.5"} 2.0', 'lt_tick_to_order_ms_bucket{le="1.0"} 2.0',
                 'lt_tick_to_order_ms_bucket{le="3.0"} 3.0', 'lt_tick_to_order_ms_bucket{le="10.0"} 3.0',
                 'lt_tick_to_order_ms_bucket{le="15.0"} 4.0', 'lt_tick_to_order_ms_bucket{le="1000.0"} 4.0',
                 'lt_tick_to_order_ms_bucket{le="+Inf"} 5.0', "lt_tick_to_order_ms_sum 2015.9",
                 "lt_tick_to_order_ms_count 5.0"]:
        assert line in lines, line
    counts = [float(line.split()[-1]) for line in buckets]
    assert counts == sorted(counts)  # cumulative: never decreasing, +Inf last
    assert buckets[-1].startswith('lt_tick_to_order_ms_bucket{le="+Inf"}')
    # without latencies gathered there is no histogram family (and the rest still renders)
    assert "lt_tick_to_order_ms" not in prometheus.render({"strategies": {}}, None, {})
    assert "lt_risk_fills_total 0.0" in text


def _since(router: SimpleNamespace, seen: int) -> tuple[int, list[float]]:
    return asyncio.run(RouterActor.latencies_since(router, seen))  # type: ignore[arg-type]


def test_router_hands_over_the_latencies_recorded_since_a_count() -> None:
    router = SimpleNamespace(latencies_ms=deque(maxlen=4), latencies_recorded=0)
    assert _since(router, 0) == (0, [])
    for value in (1.0, 2.0, 3.0):
        router.latencies_ms.append(value)
        router.latencies_recorded += 1
    assert _since(router, 0) == (3, [1.0, 2.0, 3.0])
    assert _since(router, 2) == (3, [3.0])
    assert _since(router, 3) == (3, [])
    for value in (4.0, 5.0, 6.0):  # the deque keeps the last 4: 1.0 and 2.0 are gone
        router.latencies_ms.append(value)
        router.latencies_recorded += 1
    assert _since(router, 3) == (6, [4.0, 5.0, 6.0])
    assert _since(router, 0) == (6, [3.0, 4.0, 5.0, 6.0])  # more missed than kept: all it keeps
    assert _since(router, 9) == (6, [3.0, 4.0, 5.0, 6.0])  # the reader's count is from before a restart
