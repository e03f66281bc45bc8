"""The fault campaign's seeded schedule (pure: no Ray, no processes): which fault comes when.

`schedule(n, seed, node_crashes)` draws n faults from one `random.Random(seed)`, so the same seed
gives the same campaign. Node crashes are not drawn: `node_crashes` of them are spread evenly over
the campaign (never the first fault, so the system is seen trading before it is torn down). The
other kinds are drawn with the weights of KIND_WEIGHTS:

- kill_actor / kill_two: one or two distinct actors, each by `ray.kill` or SIGKILL of its worker;
- venue faults through POST /sim/faults: ws_drop (drop_connections_now), http_429, reject_orders,
  delay_orders, freeze_feed (each held for `hold_s`), skip_offset, expire_tokens (expire_tokens_now);
- lane_drop: every established connection of the data lane (actors/lane.py) cut;
- venue_hang: the paper venue's process stopped (SIGSTOP) for `hold_s`, then continued;
- node_crash: SIGKILL of the supervisor and every Ray process of the run, then a fresh supervisor.

`gap_s` is the pause after the system is healthy again, before the next fault.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

ACTORS = ("persistence", "feed", "risk", "router", "operator",
          "strategy:rsi_bb", "strategy:renko_ao", "strategy:breakout", "strategy:market_maker")
KILL_HOWS = ("ray.kill", "sigkill")
KIND_WEIGHTS: dict[str, int] = {
    "kill_actor": 6, "kill_two": 3, "ws_drop": 1, "http_429": 1, "reject_orders": 1, "delay_orders": 1,
    "freeze_feed": 1, "skip_offset": 1, "expire_tokens": 1, "lane_drop": 1, "venue_hang": 1,
}
KINDS = (*KIND_WEIGHTS, "node_crash")
HELD = {"http_429": (2.0, 5.0), "reject_orders": (2.0, 5.0), "delay_orders": (2.0, 5.0),
        "freeze_feed": (2.0, 5.0), "venue_hang": (2.0, 5.0)}  # how long a held fault lasts, seconds


@dataclass(frozen=True)
class Fault:
    index: int
    kind: str
    targets: tuple[str, ...] = ()  # actors, for the kills
    hows: tuple[str, ...] = ()  # one per target: "ray.kill" or "sigkill"
    hold_s: float = 0.0  # held faults: how long before they are lifted
    gap_s: float = 1.0  # pause after recovery
    delay_ms: float = 0.0  # delay_orders: how long each delayed transaction waits

    def describe(self) -> str:
        if self.targets:
            return f"{self.kind} " + ", ".join(f"{t} ({h})" for t, h in zip(self.targets, self.hows, strict=True))
        return f"{self.kind} {self.hold_s:.1f} s" if self.hold_s else self.kind


def crash_positions(n: int, node_crashes: int) -> set[int]:
    """Where the node crashes go among n faults: spread evenly, never at 0."""
    if n <= 1 or node_crashes <= 0:
        return set()
    count = min(node_crashes, n - 1)
    step = n / (count + 1)
    return {max(1, min(n - 1, round(step * (i + 1)))) for i in range(count)}


def schedule(n: int, seed: int, node_crashes: int, *, actors: tuple[str, ...] = ACTORS,
             gap_range_s: tuple[float, float] = (0.5, 2.0)) -> list[Fault]:
    """n faults drawn from `seed`: node crashes at crash_positions, the rest by KIND_WEIGHTS."""
    if n < 0 or node_crashes < 0:
        raise ValueError("fault and node crash counts must be >= 0")
    rng = random.Random(seed)
    crashes = crash_positions(n, node_crashes)
    kinds, weights = list(KIND_WEIGHTS), list(KIND_WEIGHTS.values())
    out = []
    for i in range(n):
        gap = round(rng.uniform(*gap_range_s), 2)
        if i in crashes:
            out.append(Fault(i, "node_crash", gap_s=gap))
            continue
        kind = rng.choices(kinds, weights)[0]
        if kind in ("kill_actor", "kill_two"):
            targets = tuple(rng.sample(actors, 1 if kind == "kill_actor" else 2))
            hows = tuple(rng.choice(KILL_HOWS) for _ in targets)
            out.append(Fault(i, kind, targets, hows, gap_s=gap))
        elif kind in HELD:
            hold = round(rng.uniform(*HELD[kind]), 2)
            delay = round(rng.uniform(300.0, 2000.0)) if kind == "delay_orders" else 0.0
            out.append(Fault(i, kind, hold_s=hold, gap_s=gap, delay_ms=delay))
        else:
            out.append(Fault(i, kind, gap_s=gap))
    return out


def venue_body(fault: Fault, lifted: bool = False) -> dict[str, object] | None:
    """The POST /sim/faults body that starts (or, `lifted`, ends) a venue fault; None for others."""
    start: dict[str, dict[str, object]] = {
        "ws_drop": {"drop_connections_now": True},
        "skip_offset": {"skip_offset": 1},
        "expire_tokens": {"expire_tokens_now": True},
        "http_429": {"http_429_fraction": 0.5},
        "reject_orders": {"reject_fraction": 0.5},
        "delay_orders": {"delay_fraction": 0.5, "delay_ms": fault.delay_ms},
        "freeze_feed": {"freeze_feed": True},
    }
    end: dict[str, dict[str, object]] = {
        "http_429": {"http_429_fraction": 0.0},
        "reject_orders": {"reject_fraction": 0.0},
        "delay_orders": {"delay_fraction": 0.0, "delay_ms": 0.0},
        "freeze_feed": {"freeze_feed": False},
    }
    return (end if lifted else start).get(fault.kind)
