"""One alert: what happened, how bad, the text a human reads, and the key that dedupes it."""

from __future__ import annotations

from typing import Literal

import msgspec

AlertKind = Literal["halt", "breaker", "position_adopted", "feed_stale", "actor_restarted", "daily_summary",
                    "storage"]
Severity = Literal["info", "warning", "critical"]


class Alert(msgspec.Struct, frozen=True, kw_only=True):
    """kind and severity classify it; text is what is sent (short, units spelled out); key names
    the fact so that the same fact raised again within the dedupe window is sent once
    ("breaker:rsi-1:daily loss"); ts is when the fact happened, ns since the epoch (event time
    where the fact has one)."""

    kind: AlertKind
    severity: Severity
    text: str
    key: str
    ts: int
