"""`lighter-trader candles`: download Lighter's candles into the CSV the replay reads.

    lighter-trader candles --url URL --market 2 --resolution 1m --from 2026-05-01 --to 2026-05-02 --out FILE.csv.gz

The file is `open_time_ms,open,high,low,close,volume` (volume: base units), gzip, sorted by
open time, no duplicates: the format of shared/data's SOL candles, which strategies.replay and
the simulator's candles source read. It holds the candles opening in [--from, --to).

The venue caps the candles per call (`count_back`, 500 on Lighter), so the range is walked
forward in pages of --page candles. Each page is appended to the file as a gzip member of whole
rows, flushed and synced before the next request: a download killed or failed halfway leaves
every complete page, at worst followed by one torn member. Run again with the same --out, it
reads the file back, keeps the rows up to the last complete valid one (rewriting the file
atomically when a torn tail had to go) and continues after it, so the finished file is the one an
uninterrupted download makes.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import os
import sys
import zlib
from collections.abc import Awaitable, Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from config.cli import OneLineParser
from lighter_cli.output import Progress, ToolError, print_json, run_tool, table

PROG = "lighter-trader candles"
HEADER = "open_time_ms,open,high,low,close,volume"
RESOLUTION_MS = {"1m": 60_000, "5m": 300_000, "15m": 900_000, "30m": 1_800_000, "1h": 3_600_000,
                 "4h": 14_400_000, "12h": 43_200_000, "1d": 86_400_000, "1w": 604_800_000}  # fmt: skip
VENUE_PAGE_LIMIT = 500  # Lighter's count_back cap

Row = tuple[int, float, float, float, float, float]
Fetch = Callable[[int, int, int], Awaitable[list[Any]]]  # (start_ms, end_ms, count) -> wire.Candle-likes


def parse_when(text: str) -> int:
    """A UTC time as ms: 2026-05-01, 2026-05-01T12:30, ...+00:00, or epoch milliseconds."""
    raw = text.strip()
    if raw.isdigit():
        return int(raw)
    try:
        when = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date like 2026-05-01[T12:30] (UTC) or epoch ms, got {text!r}") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return int(when.timestamp() * 1000)


def format_row(row: Row) -> str:
    t, *values = row
    return ",".join([str(t)] + [repr(float(v)) for v in values]) + "\n"


def parse_row(line: str) -> Row | None:
    parts = line.split(",")
    if len(parts) != 6:
        return None
    try:
        t = int(parts[0])
        o, h, lo, c, v = (float(p) for p in parts[1:])
    except ValueError:
        return None
    if not all(x == x and abs(x) != float("inf") for x in (o, h, lo, c, v)):
        return None
    return (t, o, h, lo, c, v)


def _inflate(data: bytes) -> tuple[bytes, bool]:
    """(the text of a multi-member gzip's whole members, whether there was nothing else).

    A member is one page written at once: one cut short is dropped whole, rows and all.
    """
    out: list[bytes] = []
    while data:
        inflate = zlib.decompressobj(wbits=31)
        try:
            text = inflate.decompress(data)
        except zlib.error:
            return b"".join(out), False
        if not inflate.eof:
            return b"".join(out), False
        out.append(text)
        data = inflate.unused_data
    return b"".join(out), True


def read_back(path: Path) -> tuple[list[Row], bool]:
    """(the valid rows of an earlier download, whether the file must be rewritten without a torn tail).

    A file that is not this tool's CSV at all (another header) is refused: it is not ours to cut.
    """
    text, clean = _inflate(path.read_bytes())
    lines = text.split(b"\n")
    torn = lines.pop()  # after the last newline: empty, or a row cut mid-write
    if not lines and not torn:
        return [], True
    header = (lines[0] if lines else torn).decode(errors="replace").strip()
    if header != HEADER:
        raise ToolError(f"{path} is not a candles CSV of this tool (header {header[:60]!r}): choose another --out")
    rows: list[Row] = []
    rewrite = not clean or bool(torn) or not lines
    for raw in lines[1:]:
        row = parse_row(raw.decode(errors="replace"))
        if row is None or (rows and row[0] <= rows[-1][0]):
            rewrite = True
            break  # everything from the first bad row on is redone
        rows.append(row)
    return rows, rewrite


class CsvPages:
    """The output file: a gzip member per page of whole rows, synced before the next page."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _append(self, text: str) -> None:
        member = gzip.compress(text.encode(), mtime=0)
        with open(self.path, "ab") as f:
            f.write(member)
            f.flush()
            os.fsync(f.fileno())

    def start(self, rows: list[Row] | None) -> None:
        """A new file (rows None) or the kept rows of an interrupted one, written atomically."""
        tmp = self.path.with_name(self.path.name + ".tmp")
        body = HEADER + "\n" + "".join(format_row(r) for r in rows or [])
        with open(tmp, "wb") as f:
            f.write(gzip.compress(body.encode(), mtime=0))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)

    def append(self, rows: list[Row]) -> None:
        if rows:
            self._append("".join(format_row(r) for r in rows))


def pages(start_ms: int, end_ms: int, width_ms: int, per_page: int) -> Iterator[tuple[int, int]]:
    """[first open time, last open time] of each page covering opens in [start_ms, end_ms)."""
    cursor = start_ms
    while cursor < end_ms:
        last = min(cursor + (per_page - 1) * width_ms, end_ms - 1)
        yield cursor, last
        cursor += per_page * width_ms


def page_rows(candles: list[Any], first_ms: int, last_ms: int, after_ms: int | None) -> list[Row]:
    """The page's candles as rows: inside the page, after what is written, sorted, one per open time."""
    by_time: dict[int, Row] = {}
    for c in candles:
        t = int(c.ts_ms)
        if first_ms <= t <= last_ms and (after_ms is None or t > after_ms):
            by_time[t] = (t, c.open, c.high, c.low, c.close, c.base_volume)
    return [by_time[t] for t in sorted(by_time)]


async def download(fetch: Fetch, out: Path, start_ms: int, end_ms: int, width_ms: int, *,
                   per_page: int = VENUE_PAGE_LIMIT, progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Fill `out` with the candles opening in [start_ms, end_ms), resuming what is there."""
    sink = CsvPages(out)
    resumed_rows = 0
    last: int | None = None
    if out.exists():
        rows, rewrite = read_back(out)
        resumed_rows = len(rows)
        if rewrite:
            sink.start(rows)
        if rows:
            last = rows[-1][0]
    else:
        sink.start(None)
    begin = start_ms if last is None else max(start_ms, (last // width_ms + 1) * width_ms)
    begin = -(-begin // width_ms) * width_ms  # candles open on multiples of their width
    written = requests = 0
    total_pages = max(1, -(-(end_ms - begin) // (per_page * width_ms)))
    for first, final in pages(begin, end_ms, width_ms, per_page):
        candles = await fetch(first, final, per_page)
        requests += 1
        rows = page_rows(candles, first, final, last)
        sink.append(rows)
        written += len(rows)
        if rows:
            last = rows[-1][0]
        if progress is not None:
            progress(f"page {requests}/{total_pages}: {written + resumed_rows} candles, up to "
                     f"{datetime.fromtimestamp(final / 1000, UTC):%Y-%m-%d %H:%M}")
    return {"out": str(out), "resumed_rows": resumed_rows, "new_rows": written, "rows": resumed_rows + written,
            "requests": requests, "last_open_ms": last}


def build_parser() -> argparse.ArgumentParser:
    p = OneLineParser(prog=PROG, description="Download candles from Lighter's candles endpoint into the replay's "
                      "CSV (open_time_ms,open,high,low,close,volume; gzip). Re-run with the same --out to resume.")
    p.add_argument("--url", required=True, help="the venue's HTTP root, e.g. https://mainnet.zklighter.elliot.ai "
                   "or the simulator's http://127.0.0.1:PORT")
    p.add_argument("--market", required=True, type=int, help="market id (2 = SOL)")
    p.add_argument("--resolution", default="1m", choices=sorted(RESOLUTION_MS, key=RESOLUTION_MS.__getitem__))
    p.add_argument("--from", dest="start", required=True, type=parse_when, help="first open time (UTC date/time or ms)")
    p.add_argument("--to", dest="end", required=True, type=parse_when, help="end, exclusive (UTC date/time or ms)")
    p.add_argument("--out", required=True, type=Path, help="the CSV to write or resume (FILE.csv.gz)")
    p.add_argument("--page", type=int, default=VENUE_PAGE_LIMIT, help=f"candles per request (1-{VENUE_PAGE_LIMIT})")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.end <= args.start:
        parser.error("--to must be after --from")
    if not 1 <= args.page <= VENUE_PAGE_LIMIT:
        parser.error(f"--page must be 1 to {VENUE_PAGE_LIMIT}")

    async def run() -> dict[str, Any]:
        from venue.rest import LighterRest, VenueError

        async with LighterRest(args.url) as rest:
            async def fetch(first: int, final: int, count: int) -> list[Any]:
                try:
                    return await rest.candles(args.market, args.resolution, first, final, count)
                except VenueError as exc:
                    raise ToolError(f"candles request failed ({exc}); the file keeps every complete page: "
                                    "run again with the same --out to resume") from None

            return await download(fetch, args.out, args.start, args.end, RESOLUTION_MS[args.resolution],
                                  per_page=args.page, progress=Progress(PROG, enabled=not args.quiet))

    def body() -> int:
        try:
            summary = asyncio.run(run())
        except OSError as exc:
            raise ToolError(f"cannot write {args.out}: {exc.strerror or exc}") from None
        if args.json:
            print_json(summary)
        else:
            print(table(["candles", "value"], [[k, v] for k, v in summary.items()]))
        if not summary["rows"]:
            print(f"{PROG}: note: the venue has no {args.resolution} candles of market {args.market} in the range",
                  file=sys.stderr, flush=True)
        return 0

    return run_tool(PROG, body)
