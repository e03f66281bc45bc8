"""The fault campaign's checks from outside (pure: over data scripts/chaos.py collected).

What is compared, at the end of a campaign, after the supervisor stopped cleanly:
- fills: every venue trade of every account (REST /api/v1/trades, paged) against storage's fills,
  keyed by (account, trade_id): `lost_fills` at the venue and not stored, `duplicate_fills` stored
  more than once, `extra_fills` stored and not at the venue;
- orders: `duplicate_orders` = (account, client order index) pairs that reached the venue more
  than once, in the venue's audit of create transactions (every one, accepted or not) or in its
  order history (accountActiveOrders + accountInactiveOrders);
- positions per (account, market): storage's against the venue's after the stop, and risk's
  (through the operator API) against the venue's at a still moment before it (every new order
  refused, read until they agree or 60 s pass); `position_mismatches` counts books that differ
  by > 1e-9 in either comparison;
- `orphan_orders`: orders resting at the venue at the end that storage does not know, and after
  each node crash, orders resting at the venue that the fresh system neither holds as open in
  storage (adopted) nor cancels within 30 s (forgotten);
- `entries_while_down`: create transactions that arrived at the venue (the audit's wall-clock
  arrival) inside a down window of risk or the feed, and are not exits (storage's is_exit; an
  order storage does not know counts as an entry). The windows, as chaos.py builds them:
  risk killed: [kill + 0.25 s, risk's ready_ms]; feed killed: [kill + risk's feed silence (1 s) +
  0.25 s, the feed's first batch]; node crash: [crash + 0.25 s, the new risk's ready_ms]. The
  0.25 s are calls already in flight at the kill (as in tests/test_kill.py). An order the router
  sent (storage's sent_at) before its window opened is in transit, not sent while down: on a
  loaded machine a quote to the maker's standard-tier account was seen arriving 0.9 s after it left.
- `tracebacks`: Python tracebacks in the supervisor's output and the Ray workers' logs (Ray's own
  components' logs are counted apart, as `ray_tracebacks`, and fail nothing).
- `traded_after_last_fault`: the venue's trade count rose after the last fault was over.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

Book = tuple[int, int]  # (account, market)
POSITION_TOLERANCE = 1e-9


@dataclass
class Findings:
    counts: dict[str, int] = field(default_factory=dict)
    examples: dict[str, list[Any]] = field(default_factory=dict)

    def add(self, name: str, items: list[Any]) -> None:
        self.counts[name] = len(items)
        self.examples[name] = items[:5]


def fill_findings(venue_trades: Iterable[tuple[int, int]], stored: Iterable[tuple[int, int]], out: Findings) -> None:
    venue = set(venue_trades)
    stored_counts = Counter(stored)
    out.add("lost_fills", sorted(venue - set(stored_counts)))
    out.add("duplicate_fills", sorted(k for k, n in stored_counts.items() if n > 1))
    out.add("extra_fills", sorted(set(stored_counts) - venue))


def duplicate_orders(created: Iterable[tuple[int, int]], history: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """(account, coi) sent more than once: in the create audit, or twice in the order history."""
    doubled = {k for k, n in Counter(created).items() if n > 1}
    doubled |= {k for k, n in Counter(history).items() if n > 1}
    return sorted(doubled)


def position_mismatches(venue: Mapping[Book, float], stored: Mapping[Book, float],
                        risk: Mapping[Book, float], books: Iterable[Book]) -> list[dict[str, Any]]:
    out = []
    for book in sorted(set(books)):
        values = (venue.get(book, 0.0), stored.get(book, 0.0), risk.get(book, 0.0))
        if max(values) - min(values) > POSITION_TOLERANCE:
            out.append({"book": book, "venue": values[0], "storage": values[1], "risk": values[2]})
    return out


def orphan_orders(resting: Iterable[tuple[int, int]], known: set[tuple[int, int]]) -> list[tuple[int, int]]:
    return sorted(k for k in resting if k not in known)


def entries_while_down(created: Iterable[tuple[int, int, int]], windows: Iterable[tuple[int, int, str]],
                       is_exit: Mapping[tuple[int, int], bool],
                       sent_at: Mapping[tuple[int, int], int] | None = None) -> list[dict[str, Any]]:
    """Creates (account, coi, arrival wall ns) inside a window (start ns, end ns, what) that are
    not exits; an order unknown to storage counts as an entry. With `sent_at` (storage's: when the
    router sent it), an order that left before the window opened and arrived inside it was in
    transit, approved while risk and the feed were up: not counted."""
    spans = sorted(windows)
    sent = sent_at or {}
    out = []
    for account, coi, at in created:
        for start, end, what in spans:
            left = sent.get((account, coi), at)
            if start <= at <= end and left >= start and not is_exit.get((account, coi), False):
                out.append({"account": account, "coi": coi, "at_ns": at, "sent_ns": left, "down": what})
                break
    return out


def recovery_summary(recoveries: Iterable[tuple[str, float | None]]) -> dict[str, dict[str, float | int | None]]:
    """Per fault kind: count, p50 and max of the recovery seconds (None: it never recovered)."""
    by_kind: dict[str, list[float | None]] = {}
    for kind, seconds in recoveries:
        by_kind.setdefault(kind, []).append(seconds)
    out: dict[str, dict[str, float | int | None]] = {}
    for kind, values in sorted(by_kind.items()):
        done = [v for v in values if v is not None]
        out[kind] = {"n": len(values), "unrecovered": len(values) - len(done),
                     "p50_s": round(statistics.median(done), 2) if done else None,
                     "max_s": round(max(done), 2) if done else None}
    return out


def verdict(summary: Mapping[str, Any]) -> list[str]:
    """What failed, in words (empty: every check passed)."""
    zero = ("lost_fills", "duplicate_fills", "duplicate_orders", "position_mismatches", "orphan_orders",
            "entries_while_down", "secrets_found", "unrecovered", "tracebacks")
    failed = [f"{name} = {summary.get(name)}" for name in zero if summary.get(name)]
    if not summary.get("venue_trades"):
        failed.append("no venue trade at all")
    if not summary.get("traded_after_last_fault"):
        failed.append("no trade after the last fault")
    if summary.get("exit_code") != 0:
        failed.append(f"the supervisor exited {summary.get('exit_code')}")
    return failed
