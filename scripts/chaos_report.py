"""The fault campaign's end (scripts/chaos.py): the facts collected from the venue, the database
and the logs turned into the summary (scripts/chaos_checks.py decides), and the report for people.
"""

from __future__ import annotations

import json
from typing import Any

from scripts import chaos_checks as checks
from scripts import chaos_procs as procs

MARKET = 2  # SOL, the one market of config/mm.yaml


def summarize(c: Any, facts: dict[str, Any], risk: dict[tuple[int, int], float], code: int | None,
              traded_after: bool, campaign_s: float) -> dict[str, Any]:
    from storage import StorageReader

    with StorageReader(c.db) as db:
        stored = [(f.account_index, f.fill.trade_id) for f in db.fills_since(0)]
        positions = {(p.account_index, p.market_id): p.size for p in db.positions()}
        known = {(a, coi) for a, coi, _at, _code in facts["created"] if db.order(a, coi) is not None}
        during = [(a, coi) for a, coi, at, _code in facts["created"] if any(s <= at <= e for s, e, _w in c.windows)]
        orders = {key: db.order(*key) for key in during}
        is_exit = {key: bool(getattr(o, "is_exit", False)) for key, o in orders.items()}
        sent_at = {key: int(o.sent_at) for key, o in orders.items() if o is not None and o.sent_at}
    (c.work / "down-windows.json").write_text(json.dumps(c.windows))  # [start ns, end ns, what], for a look
    found = checks.Findings()
    checks.fill_findings(facts["trades"], stored, found)
    found.add("duplicate_orders", checks.duplicate_orders([(a, coi) for a, coi, _at, _c in facts["created"]],
                                                          facts["history"]))
    books = [(a, MARKET) for a in c.keys]
    # storage against the venue after the stop; risk against the venue at the still moment before it
    found.add("position_mismatches", checks.position_mismatches(facts["positions"], positions, facts["positions"], books)
              + checks.position_mismatches(facts["positions_then"], facts["positions_then"], risk, books))
    found.add("orphan_orders", checks.orphan_orders(facts["resting"], known) + c.orphans_after_crash)
    found.add("entries_while_down", checks.entries_while_down(
        [(a, coi, at) for a, coi, at, _code in facts["created"]], c.windows, is_exit, sent_at))
    logs = [c.work, c.ray_tmp]
    found.add("secrets_found", procs.secrets_in(logs, list(c.keys.values())))
    # the system's own: the supervisor's output (actors' logs reach it too) and the workers' logs;
    # Ray's components (dashboard, agents, monitor) log their own tracebacks when a node crash
    # takes their GCS away: counted apart
    traces = procs.tracebacks([c.work / f"supervisor-{n}.{s}" for n in range(1, c.incarnation + 1)
                               for s in ("out", "err")] + sorted(c.ray_tmp.glob("ray/session_*/logs/worker-*")))
    ray_traces = {k: v for k, v in procs.tracebacks([c.ray_tmp / "ray"]).items() if k not in traces}
    kinds = [kind for kind, _s in c.recoveries]
    summary: dict[str, Any] = {
        "faults": len(c.recoveries), "by_kind": {k: kinds.count(k) for k in sorted(set(kinds))},
        "node_crashes": kinds.count("node_crash"), "venue_trades": len(facts["trades"]),
        **{name: found.counts[name] for name in ("lost_fills", "duplicate_fills", "extra_fills", "duplicate_orders",
                                                 "position_mismatches", "orphan_orders", "entries_while_down",
                                                 "secrets_found")},
        "halts": c.halts, "failed_starts": c.failed_starts, "tracebacks": sum(traces.values()), "ray_tracebacks": sum(ray_traces.values()),
        "unrecovered": sum(1 for _k, s in c.recoveries if s is None),
        "traded_after_last_fault": traded_after,
        "exit_code": code, "orders_sent": len(facts["created"]), "down_windows": len(c.windows),
        "recovery": checks.recovery_summary(c.recoveries), "campaign_s": round(campaign_s, 1),
        "seed": c.args.seed,
    }
    summary["examples"] = {k: v for k, v in found.examples.items() if v}
    summary["traceback_files"] = dict(sorted(traces.items(), key=lambda kv: -kv[1])[:5])
    summary["ray_traceback_files"] = dict(sorted(ray_traces.items(), key=lambda kv: -kv[1])[:5])
    summary["failed"] = checks.verdict(summary)
    return summary


def print_report(summary: dict[str, Any]) -> None:
    print("\nfault campaign", flush=True)
    for key in ("faults", "node_crashes", "venue_trades", "orders_sent", "lost_fills", "duplicate_fills",
                "extra_fills", "duplicate_orders", "position_mismatches", "orphan_orders", "entries_while_down",
                "down_windows", "halts", "unrecovered", "tracebacks", "ray_tracebacks", "secrets_found", "traded_after_last_fault",
                "exit_code", "campaign_s"):
        print(f"  {key:26s} {summary[key]}")
    print(f"  {'kind':16s} {'n':>4s} {'p50 s':>7s} {'max s':>7s}")
    for kind, row in summary["recovery"].items():
        print(f"  {kind:16s} {row['n']:4d} {row['p50_s']!s:>7s} {row['max_s']!s:>7s}")
    for name, items in summary["examples"].items():
        print(f"  e.g. {name}: {items}")
    print("  PASSED" if not summary["failed"] else "  FAILED: " + "; ".join(summary["failed"]), flush=True)
