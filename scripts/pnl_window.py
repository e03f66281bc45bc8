"""The time window of a PnL report: which exit times `query_pnl` selects (pure: no I/O, no clock).

    window = report_window(since="24h", now=None, newest_exit_ns=reader.newest_trade_exit_ts())
    trades = [t for t in trades if window.start_ns <= t.exit_ts and (window.end_ns is None or ...)]

The clock is the trades' own. Trades carry event time, and event time is not the wall clock: a
paper run over the May 2025 candles at 60x, or a replay, writes trades dated in May 2025. So a
span (--since 24h) counts back from the window's end, which is --now when given and otherwise the
newest trade's exit in the whole database (any strategy: the database has one event clock, and a
strategy that stopped trading days ago should show no trades in the last 24h of the run). An
absolute --since (a UTC date or time, or ns since the epoch) stays where it is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from scripts.pnl_report import NS_PER_S, PLAUSIBLE_NS_MIN, iso_utc

_UNIT_NS = {
    "s": NS_PER_S,
    "m": 60 * NS_PER_S,
    "h": 3600 * NS_PER_S,
    "d": 86400 * NS_PER_S,
    "w": 604800 * NS_PER_S,
}
_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$", re.IGNORECASE)
# a number followed by letters is meant as a span, even with a unit we do not know ("3x", "24 hours")
_SPAN_LIKE = re.compile(r"^\s*[-+]?[\d.]+\s*[a-z]+\s*$", re.IGNORECASE)
_INSTANT_HELP = (
    "a UTC date or time (2025-05-06, 2025-05-06T12:00, 2025-05-06T14:00+02:00) or ns since the epoch"
)


@dataclass(frozen=True, slots=True)
class Window:
    """Exit times start_ns <= exit_ts <= end_ns (no upper bound when end_ns is None)."""

    start_ns: int
    end_ns: int | None
    text: str  # the report header's description of the window

    def holds(self, exit_ts: int) -> bool:
        return exit_ts >= self.start_ns and (self.end_ns is None or exit_ts <= self.end_ns)


def parse_duration(text: str) -> int:
    """A span like 24h, 7d, 30d, 90m, 2w or 45s -> ns. ValueError for anything else (or zero)."""
    match = _DURATION.match(text)
    if match is None:
        raise ValueError(
            f"bad --since {text!r}: expected a number and a unit s, m, h, d or w (e.g. 24h, 7d, 30d)"
        )
    amount = int(match.group(1))
    if amount <= 0:
        raise ValueError(f"bad --since {text!r}: the window must be longer than zero")
    return amount * _UNIT_NS[match.group(2).lower()]


def parse_instant(text: str, flag: str, expected: str = _INSTANT_HELP) -> int:
    """An ISO-8601 date or time (naive means UTC) or integer ns since the epoch -> ns.

    A bare integer too small to be ns of a real trade ("24") is refused: it is a span without its
    unit or a time in seconds or ms, and taken as ns it would silently mean January 1970.
    """
    stripped = text.strip()
    if stripped.isdigit():
        value = int(stripped)
        if value < PLAUSIBLE_NS_MIN:
            raise ValueError(
                f"bad {flag} {text!r}: a bare number is ns since the epoch and this one is too small "
                "(a span needs its unit, e.g. 24h)"
            )
        return value
    try:
        moment = datetime.fromisoformat(stripped)
    except ValueError:
        raise ValueError(f"bad {flag} {text!r}: expected {expected}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86400 + delta.seconds) * NS_PER_S + delta.microseconds * 1000


def _is_span(text: str) -> bool:
    return _DURATION.match(text) is not None or _SPAN_LIKE.match(text) is not None


def _utc(ts_ns: int) -> str:
    return f"{iso_utc(ts_ns)} UTC"


def report_window(since: str | None, now: str | None, newest_exit_ns: int | None) -> Window:
    """The window a report covers, from the --since and --now texts and the database's newest exit.

    --now (when given) is the window's end; without it the end is the newest trade (an empty
    database has none, and a span then selects nothing). ValueError names the flag at fault.
    """
    end_ns = parse_instant(now, "--now") if now is not None else None
    if since is None:
        if end_ns is not None:
            return Window(0, end_ns, f"trades up to {_utc(end_ns)} (--now)")
        if newest_exit_ns is None:
            return Window(0, None, "all trades (the database holds none)")
        return Window(0, None, f"all trades, the newest exiting {_utc(newest_exit_ns)}")

    if _is_span(since):
        span_ns = parse_duration(since)
        if end_ns is not None:
            anchor, anchor_name = end_ns, "--now"
        elif newest_exit_ns is not None:
            anchor, anchor_name = newest_exit_ns, "the newest trade"
        else:
            # nothing to count back from; an empty selection of an empty table
            return Window(0, None, f"{since} before the newest trade (the database holds none)")
        start_ns = anchor - span_ns
        return Window(
            start_ns, anchor, f"trades from {_utc(start_ns)} to {_utc(anchor)} ({since} before {anchor_name})"
        )

    start_ns = parse_instant(since, "--since", f"a span (24h, 7d, 30d) or {_INSTANT_HELP}")
    if end_ns is not None:
        if start_ns > end_ns:
            raise ValueError(f"bad --since {since!r}: {_utc(start_ns)} is after --now ({_utc(end_ns)})")
        return Window(start_ns, end_ns, f"trades from {_utc(start_ns)} (--since) to {_utc(end_ns)} (--now)")
    newest = f", the newest trade exiting {_utc(newest_exit_ns)}" if newest_exit_ns is not None else ""
    return Window(start_ns, None, f"trades from {_utc(start_ns)} (--since) on{newest}")
