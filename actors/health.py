"""Supervision rules after Erlang/OTP, as pure state machines the supervisor drives.

- `RestartIntensity`: at most `max_restarts` restarts within any `period_s`; one more means the
  system is not healing itself, so the supervisor escalates (halts trading and says so) instead
  of restarting forever.
- `Backoff`: exponential delay between restarts of one child, reset once it has stayed up.
- `HeartbeatWatch`: an actor that has not reported for `timeout_s` counts as failed; one that is
  (re)starting gets `start_timeout_s` (a new process imports, reads storage and reconnects).

Times are passed in (monotonic seconds), so these are tested without clocks or Ray.
"""

from __future__ import annotations

from collections import deque

import msgspec


class RestartIntensity:
    def __init__(self, max_restarts: int = 5, period_s: float = 60.0) -> None:
        self.max_restarts = max_restarts
        self.period_s = period_s
        self._times: deque[float] = deque()

    def record(self, now_s: float) -> bool:
        """Record a restart; True while within the intensity, False when it is exceeded."""
        self._times.append(now_s)
        while self._times and now_s - self._times[0] > self.period_s:
            self._times.popleft()
        return len(self._times) <= self.max_restarts

    @property
    def recent(self) -> int:
        return len(self._times)


class Backoff:
    def __init__(self, base_s: float = 0.5, max_s: float = 30.0, reset_after_s: float = 60.0) -> None:
        self.base_s = base_s
        self.max_s = max_s
        self.reset_after_s = reset_after_s
        self._attempt = 0
        self._last_failure: float | None = None

    def next_delay(self, now_s: float) -> float:
        if self._last_failure is not None and now_s - self._last_failure > self.reset_after_s:
            self._attempt = 0
        self._last_failure = now_s
        delay = min(self.max_s, self.base_s * (2**self._attempt))
        self._attempt += 1
        return delay


class ChildHealth(msgspec.Struct, kw_only=True):
    name: str
    last_beat_s: float
    seq: int = -1
    lag_ms: float = 0.0
    last_error: str = ""
    restarts: int = 0
    state: str = "starting"  # starting | alive | missing | restarting | failed


class HeartbeatWatch:
    def __init__(self, timeout_s: float = 10.0, start_timeout_s: float | None = None) -> None:
        self.timeout_s = timeout_s
        self.start_timeout_s = max(timeout_s, start_timeout_s if start_timeout_s is not None else timeout_s)
        self.children: dict[str, ChildHealth] = {}

    def add(self, name: str, now_s: float) -> None:
        self.children[name] = ChildHealth(name=name, last_beat_s=now_s)

    def beat(self, name: str, seq: int, lag_ms: float, last_error: str, now_s: float) -> None:
        child = self.children.get(name)
        if child is None:
            return
        if seq < child.seq:  # a restarted actor counts from zero again
            child.restarts += 1
        child.seq, child.lag_ms, child.last_error = seq, lag_ms, last_error
        child.last_beat_s = now_s
        child.state = "alive"

    def restarting(self, name: str, now_s: float) -> None:
        """The child is coming up again (restarted by Ray or by us): its silence is timed afresh,
        against start_timeout_s."""
        child = self.children.get(name)
        if child is not None:
            child.state = "restarting"
            child.last_beat_s = now_s

    def missing(self, now_s: float) -> list[str]:
        """Children silent for longer than their timeout (each reported once until it beats again)."""
        late = []
        for child in self.children.values():
            if child.state == "alive":
                timeout = self.timeout_s
            elif child.state in ("starting", "restarting"):
                timeout = self.start_timeout_s
            else:
                continue
            if now_s - child.last_beat_s > timeout:
                child.state = "missing"
                late.append(child.name)
        return late
