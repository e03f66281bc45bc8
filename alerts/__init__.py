"""Alerts for the operator: Telegram and a JSON webhook.

The pure core (no Ray, no network, no clock): `Alert` (model), `AlertGate` (dedupe and rate limit,
given explicit times) and the `format_*` / `*_alert` helpers (format) that turn the system's facts
into short texts with units. The shell is `alerts.senders.AlertDispatcher` (aiohttp), whose
`send()` never awaits the network, so a slow or failing channel never delays trading.
"""

from alerts.format import (
    actor_restarted_alert,
    breaker_alert,
    daily_summary_alert,
    feed_stale_alert,
    format_actor_restarted,
    format_breaker,
    format_daily_summary,
    format_feed_stale,
    format_halt,
    format_position_adopted,
    halt_alert,
    position_adopted_alert,
)
from alerts.gate import AlertGate, GateStats
from alerts.model import Alert, AlertKind, Severity

__all__ = [
    "Alert",
    "AlertGate",
    "AlertKind",
    "GateStats",
    "Severity",
    "actor_restarted_alert",
    "breaker_alert",
    "daily_summary_alert",
    "feed_stale_alert",
    "format_actor_restarted",
    "format_breaker",
    "format_daily_summary",
    "format_feed_stale",
    "format_halt",
    "format_position_adopted",
    "halt_alert",
    "position_adopted_alert",
]
