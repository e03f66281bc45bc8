"""`lighter-trader record`: record Lighter's websocket market data to a gzip text file.

    lighter-trader record --url WS_URL --markets 2,0 --out FILE.gz [--duration S] [--channels order_book,trade]

Each line is `<local receive time, ns> <raw JSON message>`, the format of the recordings in
shared/data (and what `lighter-recording:PATH` of the simulator replays, venue.sim.lighter_recording).
Every message the socket brings is kept as received (connected, subscribed/*, update/*, pings);
the recorder answers Lighter's app-level pings. The gzip stream is sync-flushed about once a
second, so a recorder killed outright leaves a file readable up to its last flush; Ctrl-C,
SIGTERM or the end of --duration close it cleanly. A dropped connection is reconnected (the
replay restarts the book from the new snapshot); failing to connect at all, or the venue
refusing a subscription, is a one-line error with exit status 2. An existing --out is never
overwritten.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import os
import signal
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import msgspec

from config.cli import OneLineParser, positive_seconds
from lighter_cli.output import Progress, ToolError, one_line, print_json, run_tool, table

PROG = "lighter-trader record"
CHANNELS = ("order_book", "trade", "ticker")
FLUSH_EVERY_S = 1.0
RECONNECT_BACKOFF_S = (0.5, 1.0, 2.0, 5.0, 10.0)
POLL_S = 0.25  # how often a quiet socket checks the stop flag, the deadline and the flush


class _Head(msgspec.Struct):
    type: str = ""
    channel: str = ""
    offset: int = -1


_head = msgspec.json.Decoder(_Head)


def parse_markets(text: str) -> list[int]:
    """"2,0" -> [2, 0]; argparse type (one clear error for anything else)."""
    try:
        markets = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected market ids like 2,0, got {text!r}") from None
    if not markets or any(m < 0 for m in markets) or len(set(markets)) != len(markets):
        raise argparse.ArgumentTypeError(f"expected distinct market ids >= 0 like 2,0, got {text!r}")
    return markets


def parse_channels(text: str) -> list[str]:
    channels = [c.strip() for c in text.split(",") if c.strip()]
    unknown = [c for c in channels if c not in CHANNELS]
    if not channels or unknown:
        raise argparse.ArgumentTypeError(f"channels are some of {','.join(CHANNELS)}, got {text!r}")
    return channels


def subscriptions(markets: Sequence[int], channels: Sequence[str]) -> list[str]:
    """The channels to subscribe, as Lighter names them on subscribe (slash form)."""
    return [f"{channel}/{market}" for market in markets for channel in channels]


def record_line(received_ns: int, raw: str | bytes) -> bytes:
    """One line of the file. Raw newlines in JSON text can only be whitespace: spaces keep one line."""
    body = raw.encode() if isinstance(raw, str) else raw
    return b"%d %s\n" % (received_ns, body.replace(b"\r", b" ").replace(b"\n", b" ").strip())


class RecordStats:
    """What a recording took in, updated as it runs (progress, the final table, tests)."""

    def __init__(self) -> None:
        self.messages = 0
        self.by_type: Counter[str] = Counter()
        self.subscribed: set[str] = set()  # channels the venue confirmed ("order_book:2")
        self.offsets: dict[str, int] = {}  # the last book offset received per channel
        self.connections = 0
        self.reconnects = 0
        self.started_s = time.monotonic()
        self.uncompressed_bytes = 0

    def as_dict(self, out: Path) -> dict[str, Any]:
        return {
            "out": str(out),
            "seconds": round(time.monotonic() - self.started_s, 3),
            "messages": self.messages,
            "by_type": dict(sorted(self.by_type.items())),
            "subscribed": sorted(self.subscribed),
            "reconnects": self.reconnects,
            "uncompressed_bytes": self.uncompressed_bytes,
            "file_bytes": out.stat().st_size if out.exists() else 0,
        }


class GzipLines:
    """The output file: created new (never overwrites), sync-flushed now and then, closed cleanly."""

    def __init__(self, path: Path, flush_every_s: float = FLUSH_EVERY_S) -> None:
        try:
            self._raw = open(path, "xb")  # noqa: SIM115 - closed by close()
        except FileExistsError:
            raise ToolError(f"{path} exists: a recording is never overwritten, choose another --out") from None
        except OSError as exc:
            raise ToolError(f"cannot create {path}: {exc.strerror or exc}") from None
        self._gz = gzip.GzipFile(fileobj=self._raw, mode="wb")
        self._flush_every_s = flush_every_s
        self._last_flush = time.monotonic()

    def write(self, line: bytes) -> None:
        self._gz.write(line)

    def flush_if_due(self) -> None:
        now = time.monotonic()
        if now - self._last_flush >= self._flush_every_s:
            self._last_flush = now
            self._gz.flush()  # Z_SYNC_FLUSH: everything so far decompresses from the file alone
            os.fsync(self._raw.fileno())

    def close(self) -> None:
        self._gz.close()
        self._raw.close()


async def record(
    url: str,
    markets: Sequence[int],
    out: Path,
    *,
    channels: Sequence[str] = ("order_book", "trade"),
    duration_s: float | None = None,
    stop: asyncio.Event | None = None,
    stats: RecordStats | None = None,
    progress: Callable[[str], None] | None = None,
) -> RecordStats:
    """Record until `stop` is set or `duration_s` has passed; the file is closed on every way out."""
    import websockets

    stop = stop or asyncio.Event()
    stats = stats or RecordStats()
    loop = asyncio.get_running_loop()
    deadline = None if duration_s is None else loop.time() + duration_s
    wanted = subscriptions(markets, channels)
    sink = GzipLines(out)
    failures = 0
    me = asyncio.current_task()

    def running() -> bool:
        if me is not None and me.cancelling():
            # Python 3.11's wait_for can swallow a cancel that lands as its wait ends: honour it here
            raise asyncio.CancelledError
        return not stop.is_set() and (deadline is None or loop.time() < deadline)

    try:
        while running():
            try:
                async with websockets.connect(url, max_size=None, open_timeout=10) as ws:
                    stats.connections += 1
                    if stats.connections > 1:
                        stats.reconnects += 1
                    failures = 0
                    for channel in wanted:
                        await ws.send(json.dumps({"type": "subscribe", "channel": channel}))
                    pending = {c.replace("/", ":") for c in wanted}
                    while running():
                        wait = POLL_S if deadline is None else max(0.0, min(POLL_S, deadline - loop.time()))
                        try:
                            raw = await asyncio.wait_for(ws.recv(), wait)
                        except TimeoutError:
                            sink.flush_if_due()
                            continue
                        line = record_line(time.time_ns(), raw)
                        sink.write(line)
                        stats.messages += 1
                        stats.uncompressed_bytes += len(line)
                        try:
                            head = _head.decode(raw)
                        except (msgspec.DecodeError, msgspec.ValidationError):
                            head = _Head(type="(not JSON)")
                        stats.by_type[head.type] += 1
                        if head.offset >= 0 and head.channel:
                            stats.offsets[head.channel] = head.offset
                        if head.type == "ping":
                            await ws.send('{"type":"pong"}')
                        elif head.type.startswith("subscribed/"):
                            stats.subscribed.add(head.channel)
                            pending.discard(head.channel)
                        elif head.type == "error" and pending:
                            raise ToolError(f"the venue refused a subscription ({', '.join(sorted(pending))}): "
                                            f"{one_line(raw if isinstance(raw, str) else raw.decode())[:200]}")
                        sink.flush_if_due()
                        if progress is not None:
                            progress(f"{stats.messages} messages, {stats.uncompressed_bytes / 1e6:.1f} MB raw, "
                                     f"{time.monotonic() - stats.started_s:.0f} s")
            except (OSError, TimeoutError, websockets.exceptions.WebSocketException) as exc:
                if stats.connections == 0:
                    raise ToolError(f"cannot connect to {url}: {type(exc).__name__}: {one_line(str(exc))}") from None
                delay = RECONNECT_BACKOFF_S[min(failures, len(RECONNECT_BACKOFF_S) - 1)]
                failures += 1
                if progress is not None:
                    progress(f"connection lost ({type(exc).__name__}); reconnecting in {delay} s")
                try:
                    await asyncio.wait_for(stop.wait(), delay)
                except TimeoutError:
                    pass
    finally:
        sink.close()
    return stats


def build_parser() -> argparse.ArgumentParser:
    p = OneLineParser(prog=PROG, description="Record Lighter's websocket market data (order books, trades) "
                      "to a gzip file: one `<receive time ns> <raw JSON>` line per message.")
    p.add_argument("--url", required=True, help="the websocket URL, e.g. wss://mainnet.zklighter.elliot.ai/stream "
                   "or the simulator's ws://127.0.0.1:PORT/stream")
    p.add_argument("--markets", required=True, type=parse_markets, help="market ids, e.g. 2,0")
    p.add_argument("--out", required=True, type=Path, help="the recording to create (FILE.gz; never overwritten)")
    p.add_argument("--duration", type=positive_seconds, help="seconds to record (default: until Ctrl-C)")
    p.add_argument("--channels", type=parse_channels, default=["order_book", "trade"],
                   help=f"channels per market, some of {','.join(CHANNELS)} (default: order_book,trade)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    return p


def _summary_table(summary: dict[str, Any]) -> str:
    rows: list[list[Any]] = [
        ["file", summary["out"]], ["seconds", summary["seconds"]], ["messages", summary["messages"]],
        ["subscribed", ", ".join(summary["subscribed"]) or "-"], ["reconnects", summary["reconnects"]],
        ["raw bytes", summary["uncompressed_bytes"]], ["file bytes", summary["file_bytes"]],
    ]  # fmt: skip
    rows += [[f"  {kind}", count] for kind, count in summary["by_type"].items()]
    return table(["recording", "value"], rows)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    async def run() -> RecordStats:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, stop.set)
            except (ValueError, RuntimeError, NotImplementedError):
                pass  # not the main thread (a caller running it on a worker): no signals to catch
        progress = Progress(PROG, enabled=not args.quiet)
        return await record(args.url, args.markets, args.out, channels=args.channels, duration_s=args.duration,
                            stop=stop, progress=progress)

    def body() -> int:
        stats = asyncio.run(run())
        summary = stats.as_dict(args.out)
        if args.json:
            print_json(summary)
        else:
            print(_summary_table(summary))
        return 0

    return run_tool(PROG, body)
