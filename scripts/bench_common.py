"""What the system benchmarks (bench_pipeline, bench_quotes) share: their Ray and working folder,
a Ray call with a timeout, a percentile of a sample, and polling a remote record until it holds."""

from __future__ import annotations

import logging
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def start_bench_ray() -> Path:
    """Ray as the tests start it (2 CPUs, no dashboard, quiet) and a fresh folder for the run's
    database; returns the folder."""
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    import ray
    from loguru import logger

    logger.remove()
    logger.add(sys.stderr, level="WARNING")
    tmp = Path(tempfile.mkdtemp(prefix="lt-bench-"))
    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=256 * 1024 * 1024,
             _temp_dir=tempfile.mkdtemp(prefix="lt-bray-", dir="/tmp"), logging_level=logging.ERROR,
             log_to_driver=False)
    return tmp


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
