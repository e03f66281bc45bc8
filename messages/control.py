"""Control: the kill switch (operator or risk -> risk, strategies) and liveness (actors -> supervisor).

scope is "all" or one strategy's name. `Halt` stops new entries (exits still run), `Flatten`
cancels every open order and closes every position with reduce-only IOC orders, `Resume` lifts a
halt. The risk actor persists the last command per scope, so a restart does not lift a halt.

`Heartbeat` is sent by every actor every `supervisor.heartbeat_interval_s`; ts_event is the
actor's wall clock, seq its heartbeat counter, lag_ms how far its processing trails the events
it receives, last_error the last error it logged (never a secret), stats free-form gauges.
"""

from __future__ import annotations

from messages.base import Message

ALL = "all"


class Halt(Message, frozen=True, kw_only=True, tag="halt"):
    reason: str
    scope: str = ALL
    issued_by: str = "operator"


class Resume(Message, frozen=True, kw_only=True, tag="resume"):
    reason: str = ""
    scope: str = ALL
    issued_by: str = "operator"


class Flatten(Message, frozen=True, kw_only=True, tag="flatten"):
    reason: str
    scope: str = ALL
    issued_by: str = "operator"


class Heartbeat(Message, frozen=True, kw_only=True, tag="heartbeat"):
    actor: str
    lag_ms: float = 0.0
    last_error: str | None = None
    stats: dict[str, float] = {}


ControlMessage = Halt | Resume | Flatten | Heartbeat
KillSwitchCommand = Halt | Resume | Flatten
