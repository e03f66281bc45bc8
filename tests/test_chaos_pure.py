"""The fault campaign's pure parts: the seeded schedule (scripts/chaos_schedule.py) and the checks
over collected data (scripts/chaos_checks.py). No Ray, no processes."""

from __future__ import annotations

from scripts import chaos_checks as checks
from scripts.chaos_schedule import HELD, KINDS, crash_positions, schedule, venue_body


def test_the_same_seed_gives_the_same_campaign_and_another_seed_another() -> None:
    assert schedule(50, 7, 2) == schedule(50, 7, 2)
    assert schedule(50, 7, 2) != schedule(50, 8, 2)


def test_node_crashes_are_placed_spread_and_never_first() -> None:
    plan = schedule(30, 1, 1)
    assert [f.index for f in plan if f.kind == "node_crash"] == [15]
    assert crash_positions(500, 5) == {83, 167, 250, 333, 417}
    assert crash_positions(1, 1) == set() and crash_positions(3, 9) == {1, 2}
    long = schedule(500, 2, 5)
    assert sum(f.kind == "node_crash" for f in long) == 5 and long[0].kind != "node_crash"


def test_a_long_campaign_draws_every_kind_with_valid_parameters() -> None:
    plan = schedule(600, 11, 6)
    assert {f.kind for f in plan} == set(KINDS)
    for f in plan:
        if f.kind.startswith("kill"):
            assert len(set(f.targets)) == len(f.targets) == (1 if f.kind == "kill_actor" else 2)
            assert set(f.hows) <= {"ray.kill", "sigkill"}
        if f.kind in HELD:
            low, high = HELD[f.kind]
            assert low <= f.hold_s <= high
        else:
            assert f.hold_s == 0.0
    delayed = next(f for f in plan if f.kind == "delay_orders")
    assert venue_body(delayed) == {"delay_fraction": 0.5, "delay_ms": delayed.delay_ms} and delayed.delay_ms > 0
    assert venue_body(delayed, lifted=True) == {"delay_fraction": 0.0, "delay_ms": 0.0}
    expire = next(f for f in plan if f.kind == "expire_tokens")
    assert venue_body(expire) == {"expire_tokens_now": True} and venue_body(expire, lifted=True) is None


def test_fills_lost_doubled_and_extra_are_told_apart() -> None:
    found = checks.Findings()
    checks.fill_findings([(1, 10), (1, 11), (2, 12)], [(1, 10), (1, 10), (2, 12), (2, 99)], found)
    assert found.counts == {"lost_fills": 1, "duplicate_fills": 1, "extra_fills": 1}
    assert found.examples["lost_fills"] == [(1, 11)]


def test_orders_sent_twice_are_found_in_the_audit_or_the_history() -> None:
    assert checks.duplicate_orders([(1, 5), (1, 6)], [(1, 5), (1, 6)]) == []
    assert checks.duplicate_orders([(1, 5), (1, 5)], [(1, 5)]) == [(1, 5)]
    assert checks.duplicate_orders([(1, 5)], [(1, 7), (1, 7)]) == [(1, 7)]
    assert checks.duplicate_orders([(1, 5), (2, 5)], []) == []  # the same index on two accounts is fine


def test_positions_orphans_and_entries_while_down() -> None:
    books = [(1, 2), (3, 2)]
    assert checks.position_mismatches({(1, 2): 0.1}, {(1, 2): 0.1}, {(1, 2): 0.1}, books) == []
    bad = checks.position_mismatches({(1, 2): 0.1}, {(1, 2): 0.1}, {}, books)
    assert bad == [{"book": (1, 2), "venue": 0.1, "storage": 0.1, "risk": 0.0}]
    assert checks.orphan_orders([(1, 5), (1, 6)], {(1, 5)}) == [(1, 6)]
    windows = [(100, 200, "risk"), (500, 600, "feed")]
    created = [(1, 1, 99), (1, 2, 150), (1, 3, 150), (1, 4, 550), (1, 5, 601)]
    is_exit = {(1, 3): True, (1, 4): False}
    hits = checks.entries_while_down(created, windows, is_exit)
    assert [(h["coi"], h["down"]) for h in hits] == [(2, "risk"), (4, "feed")]  # 3 is an exit
    # sent before the risk window opened, arriving inside it: in transit, not sent while down
    in_transit = checks.entries_while_down(created, windows, is_exit, sent_at={(1, 2): 90, (1, 4): 510})
    assert [h["coi"] for h in in_transit] == [4]


def test_recovery_summary_and_verdict() -> None:
    summary = checks.recovery_summary([("kill_actor", 2.0), ("kill_actor", 4.0), ("kill_actor", 9.0),
                                       ("node_crash", None)])
    assert summary["kill_actor"] == {"n": 3, "unrecovered": 0, "p50_s": 4.0, "max_s": 9.0}
    assert summary["node_crash"] == {"n": 1, "unrecovered": 1, "p50_s": None, "max_s": None}
    good = {"venue_trades": 5, "traded_after_last_fault": True, "exit_code": 0, "lost_fills": 0}
    assert checks.verdict(good) == []
    assert checks.verdict({**good, "lost_fills": 2, "exit_code": 1}) == ["lost_fills = 2", "the supervisor exited 1"]
    assert checks.verdict({**good, "traded_after_last_fault": False}) == ["no trade after the last fault"]
