"""scripts/bench_quotes.py measures what it says: the maker's requotes, each joined from the venue's
audit of modify transactions to the router's record of the intent behind it and to the venue's
publication of that intent's market event. No speed is asserted (tests never assert speed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from scripts.bench_quotes import match_requotes, measure_requotes
from tests import ray_fixtures
from venue.codes import OK, POST_ONLY_WOULD_CROSS

ray_session = ray_fixtures.ray_session  # the session-wide Ray (a fixture)

# the router's records: (account, coi, nonce, origin ns, ts_event ns, received, sent, answered, reason)
ROUTER = [
    (1, 10, 5, 1_100, 7_000_000, 1_300, 1_500, 2_500, "requote_moved"),
    (1, 11, 6, 1_100, 7_000_000, 1_300, 1_500, 2_500, "hedge_reprice"),  # the hedger's: not a requote
    (1, 10, 7, 0, 7_000_000, 1_300, 1_500, 2_500, "requote_drift"),  # caused by an order event
    (1, 10, 8, 1_100, 9_000_000, 1_300, 1_500, 2_500, "requote_drift"),  # event's publication unknown
    (2, 20, 5, 1_200, 8_000_000, 1_400, 1_600, 2_600, "requote_drift"),  # same nonce, other account
]
WALLS = {7: 1_000, 8: 1_050}  # event ms -> published wall ns


def test_match_requotes_joins_by_account_and_nonce_and_keeps_only_market_driven_requotes() -> None:
    venue = [
        (1, 10, 5, 1_800, 2_000, OK),
        (1, 11, 6, 1_800, 2_000, OK),
        (1, 10, 7, 1_800, 2_000, OK),
        (1, 10, 8, 1_800, 2_000, OK),
        (2, 20, 5, 1_900, 2_100, OK),
        (2, 20, 9, 1_900, 2_100, OK),  # the router never saw it accepted
        (1, 10, 4, 1_700, 1_750, POST_ONLY_WOULD_CROSS),  # refused at the venue
    ]
    matched = match_requotes(venue, ROUTER, WALLS, since_ns=0)
    assert [(m["published"], m["arrived"], m["applied"], m["reason"]) for m in matched] == [
        (1_000, 1_800, 2_000, "requote_moved"), (1_050, 1_900, 2_100, "requote_drift")]
    assert matched[1]["origin"] == 1_200 and matched[1]["sent"] == 1_600
    # the span: modifies that arrived before it are left out
    assert [m["arrived"] for m in match_requotes(venue, ROUTER, WALLS, since_ns=1_850)] == [1_900]
    # a venue record naming another order than the router's (a mismatched join) is left out
    assert match_requotes([(1, 99, 5, 1_800, 2_000, OK)], ROUTER, WALLS, since_ns=0) == []


@pytest.mark.timeout(90)
def test_the_benchmark_measures_requotes_from_the_venues_event_to_its_acceptance(ray_session, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    result = measure_requotes(tmp_path, seconds=3.0, events_per_s=200.0, tolerance_bps=0.5)
    assert result["requotes"] > 0 and result["requotes_per_s"] > 0
    assert len(result["latencies_ms"]) == len(result["matched"]) == result["requotes"]
    assert all(latency > 0 for latency in result["latencies_ms"])
    # each requote's instants in the order they happen: a wrong join (another modify's nonce, another
    # event's publication) would break it
    for r in result["matched"]:
        assert r["published"] <= r["origin"] <= r["received"] <= r["sent"] <= r["arrived"] <= r["applied"], r
        assert r["applied"] <= r["answered"], r
    assert result["requote_p50_ms"] <= result["requote_p99_ms"] <= result["requote_max_ms"]
