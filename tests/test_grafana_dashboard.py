"""docs/grafana/lighter-trader.json asks only for series the operator API's /metrics exports, with
the labels it puts on them (so a renamed metric breaks this test, not the dashboard in silence)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from operator_api import prometheus

DASHBOARD = Path(__file__).resolve().parents[1] / "docs" / "grafana" / "lighter-trader.json"


def _exported() -> dict[str, set[str]]:
    """Every family render() can emit, with its label names, from a status with a maker and the feed."""
    status = {"strategies": {"mm": {
        "view": {"trades": 1, "realized_pnl": 0.5, "unrealized_pnl": 0.1, "position": 0.2, "open_orders": 2,
                 "mode": "running", "breaker_tripped": False},
        "strategy": {"fills_applied": 3, "telemetry": {"spread_bps": 4.0}}}}}
    report = {"actors": {"feed": {"state": "alive", "restarts": 0, "lag_ms": 1.0, "stats": {"stale_markets": 0}},
                         "strategy:mm": {"state": "alive", "stats": {"market_events": 9, "intents": 4}}}}
    families: dict[str, set[str]] = {}
    latency = prometheus.Histogram([1.0, 10.0])
    latency.observe([0.5, 3.0])
    for line in prometheus.render(status, report, {"approved": 1, "refused": 0, "fills": 3}, latency).splitlines():
        match = re.match(r"(lt_\w+)(?:\{([^}]*)\})? ", line)
        if match:
            labels = {part.split("=")[0] for part in (match.group(2) or "").split(",") if part}
            families.setdefault(match.group(1), set()).update(labels)
    return families


def test_the_dashboard_uses_only_exported_series_and_labels() -> None:
    exported = _exported()
    dashboard = json.loads(DASHBOARD.read_text())
    targets = [t for panel in dashboard["panels"] for t in panel["targets"]]
    used = set()
    for target in targets:
        for name, labels in re.findall(r"(lt_\w+)(?:\{([^}]*)\})?", target["expr"]):
            assert name in exported, (name, target["expr"])
            used.add(name)
            for label in re.findall(r"(\w+)\s*=~?", labels):
                assert label in exported[name], (label, name)
        for label in re.findall(r"\{\{(\w+)\}\}", target["legendFormat"]):
            names = re.findall(r"lt_\w+", target["expr"])
            assert any(label in exported[n] for n in names), (label, target["expr"])
    # PnL, positions, order flow, rejects, the maker's gauges and tick-to-order latency all have a panel
    assert {"lt_strategy_realized_pnl", "lt_strategy_unrealized_pnl", "lt_strategy_position",
            "lt_strategy_orders_total", "lt_strategy_fills_total", "lt_risk_orders_total",
            "lt_strategy_gauge", "lt_tick_to_order_ms_bucket"} <= used
    for variable in dashboard["templating"]["list"][1:]:
        name = re.search(r"label_values\((lt_\w+), (\w+)\)", variable["definition"])
        assert name and name.group(2) in exported[name.group(1)], variable["definition"]
