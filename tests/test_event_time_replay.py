"""Event time through the whole system (DESIGN invariant 6): a long accelerated replay of the
shared 2025 SOL candles, hours of market time in well under a minute, with risk's order limit low
enough to be reached. Every rule risk applies must run on the market's clock, not the wall's.

The bug this guards against: the feed stamped its first fresh/stale status with the wall clock
before any data arrived; risk kept the largest ts_event it had seen, so its clock stuck in the
present (later than every 2025 event), its order-rate window never slid, and after 60 orders
every account was refused `rate_limit` for the rest of the run.
"""

from __future__ import annotations

import bisect
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests import ray_fixtures
from tests.ray_fixtures import SystemRun, make_settings, wait_until

ray_session = ray_fixtures.ray_session  # the session-wide Ray (a fixture)

SPEED = 500.0  # about 8 minutes of market time per wall second
RUN_S = 25.0  # of trading, once the first order is approved: about three and a half hours of market time
MORE_S = 45.0  # at most this much longer, until risk has refused one order for its rate
# orders per account per minute: a limit the fast test strategy reaches in its busy minutes (about 7
# orders at most; 3 in any busy stretch), so the window is seen to fill and then slide on event time.
# How many orders fit in a minute of market time depends on the wall time each takes: a loaded CI
# machine at 1000x once reached the limit only as the run ended, hence the slower replay and the
# run extended until a refusal is seen
LIMIT = 3
WINDOW_NS = 60 * 10**9
DATA_START_NS = int(datetime(2025, 5, 4, tzinfo=UTC).timestamp()) * 10**9
DATA_END_NS = int(datetime(2025, 6, 4, tzinfo=UTC).timestamp()) * 10**9


def busiest_window(times_ns: list[int]) -> int:
    """The most orders in any 60 s of event time (a window (t - 60 s, t], as risk counts)."""
    times = sorted(times_ns)
    return max((i + 1 - bisect.bisect_right(times, t - WINDOW_NS) for i, t in enumerate(times)), default=0)


def in_window_before(times_sorted: list[int], t: int) -> int:
    return bisect.bisect_right(times_sorted, t) - bisect.bisect_right(times_sorted, t - WINDOW_NS)


@pytest.mark.timeout(200)
def test_a_long_fast_replay_keeps_trading_within_the_order_rate_of_event_time(
    ray_session: Any, tmp_path: Path, sol_candles_path: Path
) -> None:
    settings = make_settings(tmp_path, source="candles", source_path=sol_candles_path, speed=SPEED,
                             risk={"order_rate_per_min": LIMIT})
    with SystemRun(settings) as run:
        def counts() -> dict[str, Any]:
            status = run.call("risk", "status")
            return {"approved": status["counts"].get("approved", 0),
                    "rate_limit": status["counts"].get("refused.rate_limit", 0),
                    "event_time_ns": status["event_time_ns"]}

        wait_until(lambda: counts()["approved"] > 0, 60, interval_s=0.2, message="a first approved order")
        samples = [counts()]
        started = time.monotonic()
        while (elapsed := time.monotonic() - started) < RUN_S or (
                samples[-1]["rate_limit"] == 0 and elapsed < RUN_S + MORE_S):
            time.sleep(5.0)  # one sample per 5 s of wall time (about 40 minutes of market time)
            samples.append(counts())
        run.flush_all()
        from messages.codec import open_journal_record
        from messages.orders import OrderRejected
        from storage import StorageReader

        with StorageReader(settings.storage.db_path) as db:
            approved_ns = sorted(o.intent_ts for o in db.orders(strategy="fast"))
            refusals = [m for r in db.journal(kind="order_rejected") if r.actor == "risk"
                        and isinstance(m := open_journal_record(r), OrderRejected)]
        diagnosis = f"samples {samples}"

        # risk's clock is the market's: inside the replayed month, and hours of it went by
        first, last = samples[0]["event_time_ns"], samples[-1]["event_time_ns"]
        assert DATA_START_NS <= first <= last < DATA_END_NS, diagnosis
        assert last - first >= 2 * 3600 * 10**9, f"under 2 h of market time went by: {diagnosis}"
        # trading never stops: orders are approved in every 5 s of the run
        stalls = [(a, b) for a, b in zip(samples, samples[1:], strict=False) if b["approved"] <= a["approved"]]
        assert not stalls, f"no order approved between samples {stalls}\n{run.diagnose()}"
        # the orders of any 60 s of event time never exceed the limit
        assert approved_ns and all(DATA_START_NS <= t < DATA_END_NS for t in approved_ns)
        assert busiest_window(approved_ns) <= LIMIT
        # and a rate_limit refusal only ever comes with the limit reached in the minute before it
        rate_refusals = [m for m in refusals if m.reason.startswith("rate_limit")]
        assert rate_refusals, f"the limit was never reached: this run did not test the window: {diagnosis}"
        assert len(rate_refusals) >= samples[-1]["rate_limit"], "every refusal counted reached the journal"
        wrong = [(m.ts_event, in_window_before(approved_ns, m.ts_event)) for m in rate_refusals
                 if in_window_before(approved_ns, m.ts_event) < LIMIT]
        assert not wrong, f"refused rate_limit below {LIMIT} orders a minute (event ns, orders): {wrong[:5]}"
