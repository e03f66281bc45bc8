"""Operator PnL report over the closed round trips in the trades table (read-only).

    python scripts/query_pnl.py --db data/paper.db
    python scripts/query_pnl.py --db data/paper.db --strategy rsi_bb --since 24h --recent 10
    python scripts/query_pnl.py --db data/paper.db --since 7d --export csv --output trades.csv

Reports trades, wins, losses, win rate, PnL (quote, and the sum and mean of the per-trade %),
average PnL, average win and loss, reward/risk (avg win / |avg loss|), fees, average hold, best
and worst trade, breakdowns by strategy and by exit reason, and the hourly funding paid in the
window per strategy beside its trades' PnL (when any was paid), as aligned plain-text tables.

The clock is the trades' event time, not the wall clock (a paper run over May 2025 candles writes
trades dated May 2025). --since takes a span, N{s,m,h,d,w}, counted back from the newest trade in
the database (any strategy), or an absolute UTC date or time (2025-05-06, 2025-05-06T12:00, or ns
since the epoch). --now (the same absolute forms) ends the window there instead, and a span then
counts back from it. The report's "window:" line states the window it used and why.
--recent N lists the last N trades, newest first.
--export csv|json --output FILE writes every selected trade (not only the --recent ones).

The database is opened through StorageReader (SQLite mode=ro): this script never writes to it.
Exit status: 0 on success (an empty selection prints a "no trades" report), 2 on a usage error,
a missing or unreadable database, or an export that cannot be written; the error is one line on
stderr. Timestamps are ns since the epoch (messages/state.py); trades whose times are too small
to be ns are counted in a warning on stderr.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sqlite3
import sys
from collections.abc import Sequence
from pathlib import Path

if __package__ in (None, ""):  # run as `python scripts/query_pnl.py`: make the repo importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from messages.funding import FundingPayment  # noqa: E402
from messages.state import TradeRecord  # noqa: E402
from scripts.pnl_report import (  # noqa: E402
    EXPORT_COLUMNS,
    csv_cell,
    export_row,
    format_report,
    implausible_timestamps,
)
from scripts.pnl_window import Window, report_window  # noqa: E402
from storage.loaders import StorageReader  # noqa: E402

PROG = "query_pnl"
EXIT_USAGE = 2


class UsageError(Exception):
    """A problem the operator must fix; reported as one line on stderr with exit status 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description="PnL report over the closed trades in a lighter-trader database (read-only)."
    )
    parser.add_argument("--db", required=True, help="path to the SQLite database (e.g. data/paper.db)")
    parser.add_argument("--strategy", help="only this strategy's trades")
    parser.add_argument(
        "--since",
        help="only trades that exited in this window: a span (24h, 7d, 30d) counted back from the "
        "newest trade in the database (event time, not the wall clock), or a UTC date/time "
        "(2025-05-06, 2025-05-06T12:00)",
    )
    parser.add_argument(
        "--now",
        help="end the window here (ISO-8601, naive = UTC, or ns since the epoch): trades exiting later "
        "are excluded and a --since span counts back from it. Default: the newest trade",
    )
    parser.add_argument("--recent", type=int, default=0, metavar="N", help="also list the last N trades")
    parser.add_argument("--export", choices=("csv", "json"), help="write the selected trades to --output")
    parser.add_argument("--output", help="the file --export writes (overwritten)")
    return parser


def _check_output(args: argparse.Namespace, db: Path) -> Path | None:
    if args.export is None and args.output is None:
        return None
    if args.export is None or args.output is None:
        raise UsageError("--export and --output go together (e.g. --export csv --output trades.csv)")
    output = Path(args.output)
    database_files = {
        db.resolve(),
        *(Path(f"{db.resolve()}{suffix}") for suffix in ("-wal", "-shm", "-journal")),
    }
    if output.resolve() in database_files:
        raise UsageError(f"refusing to export over the database itself ({output})")
    return output


def load_trades_and_funding(
    db: Path, *, strategy: str | None, since: str | None, now: str | None
) -> tuple[Window, list[TradeRecord], list[FundingPayment]]:
    """The report's window, its trades (oldest exit first) and the funding paid in it (hours in
    the window), through a read-only StorageReader."""
    if not db.is_file():
        raise UsageError(f"no database at {db}")
    try:
        with StorageReader(db) as reader:
            if reader.schema_version() == 0:
                raise UsageError(f"{db} is not a lighter-trader database (no schema)")
            try:
                window = report_window(since, now, reader.newest_trade_exit_ts())
            except ValueError as exc:
                raise UsageError(str(exc)) from None
            trades = reader.trades_since(window.start_ns, strategy=strategy)
            funding = reader.funding_since(window.start_ns, strategy=strategy)
    except sqlite3.Error as exc:
        raise UsageError(f"cannot read {db}: {exc}") from None
    return (window, [t for t in trades if window.holds(t.exit_ts)],
            [p for p in funding if window.holds(p.ts_event)])


def write_export(trades: Sequence[TradeRecord], fmt: str, output: Path) -> None:
    rows = [export_row(t) for t in trades]
    try:
        if fmt == "csv":
            with output.open("w", newline="", encoding="utf-8") as fh:
                writer = csv.writer(fh)
                writer.writerow(EXPORT_COLUMNS)
                for row in rows:
                    writer.writerow([csv_cell(row[c]) for c in EXPORT_COLUMNS])
        else:
            with output.open("w", encoding="utf-8") as fh:
                json.dump(rows, fh, indent=2)
                fh.write("\n")
    except OSError as exc:
        raise UsageError(f"cannot write {output}: {exc.strerror or exc}") from None


def run(args: argparse.Namespace) -> str:
    """Everything but argument parsing and printing; returns the report text."""
    db = Path(args.db)
    if args.recent < 0:
        raise UsageError(f"bad --recent {args.recent}: expected 0 or more")
    try:  # the flags are checked before the database is opened, so a typo costs nothing
        report_window(args.since, args.now, None)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    output = _check_output(args, db)

    window, trades, funding = load_trades_and_funding(db, strategy=args.strategy, since=args.since, now=args.now)

    odd = implausible_timestamps(trades)
    if odd:
        print(
            f"{PROG}: warning: {odd} trade(s) have entry/exit times too small to be ns since the epoch "
            "(written in ms?); their times and hold durations are wrong",
            file=sys.stderr,
        )
    if output is not None:
        write_export(trades, args.export, output)

    header = [
        f"PnL report: {db}",
        f"strategy: {args.strategy or 'all'}",
        f"window:   {window.text}",
    ]
    report = format_report(trades, header, recent=args.recent, funding=funding)
    if output is not None:
        report += f"\n\nexported {len(trades)} trade(s) as {args.export} to {output}"
    return report


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        report = run(args)
    except UsageError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        print(report, flush=True)
    except BrokenPipeError:  # the reader left early (`| head`): no traceback, now or at exit's flush
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
