"""/health's verdict (pure): healthy when the supervisor's latest report is recent, every child
in it is alive and the feed has no stale market. The report is what the supervisor pushes each
poll: {"actors": {name: {"state", "restarts", "lag_ms", "last_error", "stats"}}, "halted": ...}."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def verdict(report: Mapping[str, Any] | None, age_s: float, max_age_s: float) -> tuple[bool, list[str]]:
    if report is None:
        return False, ["no health report from the supervisor yet"]
    reasons = []
    if age_s > max_age_s:
        reasons.append(f"no health report from the supervisor for {age_s:.1f} s")
    actors = report.get("actors", {})
    for name, row in sorted(actors.items()):
        if row.get("state") != "alive":
            reasons.append(f"{name} is {row.get('state', 'unknown')}")
    feed = actors.get("feed")
    if feed is None:
        reasons.append("no feed actor")
    else:
        stale = int(feed.get("stats", {}).get("stale_markets", 0))
        if stale:
            reasons.append(f"feed: {stale} market{'s' if stale != 1 else ''} stale")
    return not reasons, reasons
