"""Which alerts go out, and when: deduplication and a per-channel rate limit. Pure: every call is
given the time, so the rules are tested with explicit times.

- Dedupe: an alert whose key was let through less than `dedupe_s` ago is dropped (counted). A fact
  that persists (a feed stale for an hour) is thus re-sent once per window, as a reminder.
- Rate limit: at most `max_per_minute` alerts per channel in any 60 s. One over the limit is not
  sent on that channel; the count of those is folded into the text of that channel's next alert
  ("+3 earlier alerts not sent"), so nothing is dropped silently (the daily summary at 00:00 UTC
  carries it at the latest).

The times are the dispatcher's clock (wall time, monotonic): the limit protects a human and
Telegram's API, which live in wall time, however fast a replay runs.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

import msgspec

from alerts.model import Alert

RATE_WINDOW_S = 60.0


@dataclass
class GateStats:
    admitted: int = 0  # alerts let through the dedupe (sent on at least zero channels)
    duplicates: int = 0  # dropped by the dedupe
    suppressed: dict[str, int] = field(default_factory=dict)  # per channel, over the rate limit


class AlertGate:
    def __init__(self, channels: Sequence[str], *, dedupe_s: float, max_per_minute: int) -> None:
        if dedupe_s < 0:
            raise ValueError(f"dedupe_s must be >= 0, got {dedupe_s}")
        if max_per_minute < 1:
            raise ValueError(f"max_per_minute must be >= 1, got {max_per_minute}")
        if len(set(channels)) != len(channels):
            raise ValueError(f"channel names must be distinct, got {list(channels)}")
        self.channels = tuple(channels)
        self.dedupe_s = dedupe_s
        self.max_per_minute = max_per_minute
        self.stats = GateStats(suppressed={name: 0 for name in self.channels})
        self._last_admitted: dict[str, float] = {}  # key -> time, oldest first
        self._sent: dict[str, deque[float]] = {name: deque() for name in self.channels}
        self._pending: dict[str, int] = {name: 0 for name in self.channels}  # not yet told

    def admit(self, alert: Alert, now_s: float) -> dict[str, Alert]:
        """The alert to send now on each channel that takes it (its text may carry the count of
        alerts the rate limit held back); empty when it is a duplicate or every channel is full."""
        self._forget_keys(now_s)
        if alert.key in self._last_admitted:
            self.stats.duplicates += 1
            return {}
        self._last_admitted[alert.key] = now_s
        self.stats.admitted += 1
        out: dict[str, Alert] = {}
        for name in self.channels:
            sent = self._sent[name]
            while sent and now_s - sent[0] >= RATE_WINDOW_S:
                sent.popleft()
            if len(sent) >= self.max_per_minute:
                self._pending[name] += 1
                self.stats.suppressed[name] += 1
                continue
            sent.append(now_s)
            out[name] = self._with_pending(name, alert)
        return out

    def pending(self, channel: str) -> int:
        """Alerts held back on this channel that its next alert will mention."""
        return self._pending[channel]

    def _with_pending(self, channel: str, alert: Alert) -> Alert:
        held = self._pending[channel]
        if not held:
            return alert
        self._pending[channel] = 0
        plural = "alert" if held == 1 else "alerts"
        note = f"(+{held} earlier {plural} not sent: over {self.max_per_minute} a minute)"
        return msgspec.structs.replace(alert, text=f"{alert.text}\n{note}")

    def _forget_keys(self, now_s: float) -> None:
        # keys are kept in the order they were admitted, so the expired ones are at the front
        while self._last_admitted:
            key, at = next(iter(self._last_admitted.items()))
            if now_s - at < self.dedupe_s:
                break
            del self._last_admitted[key]
