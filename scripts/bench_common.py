"""What the system benchmarks (bench_pipeline, bench_quotes) share: a Ray call with a timeout, a
percentile of a sample, and polling a remote record until it holds."""

from __future__ import annotations

import time
from typing import Any


def ray_call(handle: Any, method: str, *args: Any, timeout: float = 60.0) -> Any:
    import ray

    return ray.get(getattr(handle, method).remote(*args), timeout=timeout)


def percentile(values: list[float], q: float) -> float:
    """The sample's q-quantile by nearest rank (nan for an empty sample)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def wait_for(predicate: Any, timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)  # polling a remote actor's record
    raise TimeoutError(f"timed out waiting for {what}")
