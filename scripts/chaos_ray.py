"""The fault campaign's hands inside the run's Ray cluster: `python -m scripts.chaos_ray ADDRESS`.

A Ray driver joined to the trading system's cluster (namespace "trader") that reads one JSON
request a line on stdin and answers one JSON line on stdout (the first line is {"ready": true}):
  {"op": "stats", "name": N}  the actor's heartbeat stats (pid, incarnation_ms, ready_ms, ...)
  {"op": "kill", "name": N}   ray.kill(actor, no_restart=False): Ray restarts it
  {"op": "lanes", "names": [...]}  each actor's data-lane address [host, port] (or null)
Errors are answered as {"error": "Type: message"}. Every Ray call has a timeout. scripts/chaos.py
runs one per supervisor incarnation (a node crash takes it down with the cluster).
"""

from __future__ import annotations

import json
import logging
import os
import sys
from typing import Any

CALL_TIMEOUT_S = 10.0


def handle(ray: Any, namespace: str, request: dict[str, Any]) -> Any:
    from messages.codec import CONTROL, as_heartbeat

    op = request.get("op")
    if op == "stats":
        actor = ray.get_actor(request["name"], namespace=namespace)
        beat = as_heartbeat(CONTROL.decode(ray.get(actor.heartbeat.remote(), timeout=CALL_TIMEOUT_S)))
        return {"stats": dict(beat.stats)}
    if op == "kill":
        ray.kill(ray.get_actor(request["name"], namespace=namespace), no_restart=False)
        return {"killed": request["name"]}
    if op == "lanes":
        out = {}
        for name in request["names"]:
            try:
                actor = ray.get_actor(name, namespace=namespace)
                out[name] = ray.get(actor.lane_address.remote(), timeout=CALL_TIMEOUT_S)
            except Exception:  # an actor restarting or without a lane: no address to cut
                out[name] = None
        return {"lanes": out}
    raise ValueError(f"unknown op {op!r}")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) not in (1, 2):
        print("usage: python -m scripts.chaos_ray ADDRESS [NAMESPACE]", file=sys.stderr)
        return 2
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    import ray

    from actors.common import NAMESPACE

    namespace = args[1] if len(args) == 2 else NAMESPACE
    ray.init(address=args[0], namespace=namespace, logging_level=logging.WARNING, log_to_driver=False)
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            answer = handle(ray, namespace, json.loads(line))
        except Exception as exc:  # answered: the campaign decides what a failed request means
            answer = {"error": f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"}
        print(json.dumps(answer), flush=True)
    ray.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
