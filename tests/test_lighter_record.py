"""`lighter-trader record` and the `lighter-recording:` replay source.

A recording made from the simulator while scripted market events (a synthetic market's books
and trades) are injected, replayed, must end on the simulator's own book, level by level, and
hold exactly the injected trades; replayed through a second simulator it makes the same book. A
recording with malformed lines counts and skips them, with their reasons; a recording cut short
replays up to its last whole line. The command itself: --duration and SIGINT both close the gzip
cleanly, a refused subscription and an unreachable venue are one-line errors with exit 2.
"""

from __future__ import annotations

import asyncio
import gzip
import itertools
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import pytest

from lighter_cli.record import RecordStats, parse_markets, record, record_line
from lighter_cli.record import main as record_main
from tests.cli_tools import run_main
from venue.markets import SOL_DEFAULT
from venue.sim.lighter_recording import LighterRecordingSource
from venue.sim.server import SimServer
from venue.sim.sources import make_source
from venue.sim.synthetic import SyntheticSource
from venue.sim.types import SourceBook, SourceTrade

MARKET = 2
TIMEOUT = 15.0
REPO = Path(__file__).resolve().parent.parent


async def until(predicate: Any, what: str, timeout: float = TIMEOUT) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, f"never saw {what}"
        await asyncio.sleep(0.02)


def synthetic_events(count: int) -> list[SourceBook | SourceTrade]:
    events = list(itertools.islice(SyntheticSource(seed=7, tick=SOL_DEFAULT.tick, lot=SOL_DEFAULT.lot).events(),
                                   count))
    assert isinstance(events[0], SourceBook)
    while not isinstance(events[-1], SourceBook):  # the last step changes the book: its offset marks the end
        events.pop()
    return events


def units(levels: list[tuple[float, float]]) -> list[tuple[int, int]]:
    return [(round(p * SOL_DEFAULT.price_scale), round(s * SOL_DEFAULT.size_scale)) for p, s in levels]


async def test_a_recording_of_the_simulator_replays_to_its_book_and_its_trades(tmp_path):
    events = synthetic_events(1500)
    injected_trades = [e for e in events if isinstance(e, SourceTrade)]
    assert len(injected_trades) > 20
    out = tmp_path / "sim.gz"
    async with SimServer(source=events[:1], speed=0) as sim:
        await asyncio.wait_for(sim.source_done.wait(), TIMEOUT)
        stats, stop = RecordStats(), asyncio.Event()
        task = asyncio.create_task(record(sim.ws_url, [MARKET], out, stop=stop, stats=stats))
        try:
            await until(lambda: stats.subscribed == {"order_book:2", "trade:2"} or task.done(), "the subscriptions")
            for start in range(1, len(events), 100):  # in steps, while the recorder reads
                await sim.inject(*events[start:start + 100])
                await asyncio.sleep(0.01)
            feed = sim.books[MARKET]
            await until(lambda: stats.offsets.get("order_book:2") == feed.offset, "the last book update")
        finally:
            stop.set()
            await asyncio.wait_for(task, TIMEOUT)
        sim_bids = sorted(feed.bids.items(), reverse=True)
        sim_asks = sorted(feed.asks.items())
        assert (sim_bids, sim_asks) == sim.engine.book(MARKET, 50)  # the published book is the engine's

    with gzip.open(out, "rb") as f:  # a clean gzip: reads to the end without error
        lines = f.read().splitlines()
    assert len(lines) == stats.messages > 100
    assert all(line.split(b" ", 1)[0].isdigit() for line in lines)

    source = LighterRecordingSource(out)
    replayed = list(source.events())
    books = [e for e in replayed if isinstance(e, SourceBook)]
    trades = [e for e in replayed if isinstance(e, SourceTrade)]
    assert (units(books[-1].bids), units(books[-1].asks)) == (sim_bids, sim_asks)
    assert [(round(t.price * SOL_DEFAULT.price_scale), round(t.size * SOL_DEFAULT.size_scale), t.taker_is_buyer,
             t.ts_ns // 1_000_000) for t in trades] == [
        (round(t.price * SOL_DEFAULT.price_scale), round(t.size * SOL_DEFAULT.size_scale), t.taker_is_buyer,
         t.ts_ns // 1_000_000) for t in injected_trades]  # fmt: skip
    assert [e.ts_ns for e in replayed] == sorted(e.ts_ns for e in replayed)
    assert source.malformed == 0 and source.gaps == 0 and not source.truncated

    # the same file as the market of a second simulator
    async with SimServer(source=make_source(f"lighter-recording:{out}#2"), speed=0) as replay:
        await asyncio.wait_for(replay.source_done.wait(), TIMEOUT)
        assert replay.engine.book(MARKET, 50) == (sim_bids, sim_asks)


def _fixture_lines(fixtures: Path) -> list[bytes]:
    subscribed = json.loads((fixtures / "ws_order_book_subscribed.json").read_text())
    update = json.loads((fixtures / "ws_order_book_update.json").read_text())
    trade = json.loads((fixtures / "ws_trade_update.json").read_text())
    stamp = itertools.count(1_774_884_082_000_000_000, 1_000_000)
    return [record_line(next(stamp), json.dumps(m)) for m in (
        {"type": "connected", "session_id": "x"}, subscribed, update, trade)]


def test_malformed_lines_are_counted_with_reasons_and_skipped(tmp_path, lighter_fixtures_dir):
    good = _fixture_lines(lighter_fixtures_dir)
    bad_level = json.loads(good[2].split(b" ", 1)[1])
    bad_level["order_book"]["asks"] = [{"price": "abc", "size": "1"}]
    bad_trade = json.loads(good[3].split(b" ", 1)[1])
    del bad_trade["trades"][0]["is_maker_ask"]
    lines = [good[0], good[1], b'{"type": "update/order_book"}\n', b"123 {not json\n", b"124 [1, 2]\n",
             record_line(125, json.dumps(bad_level)), good[2], record_line(126, json.dumps(bad_trade)), good[3],
             b"\n"]  # fmt: skip
    path = tmp_path / "mixed.gz"
    with gzip.open(path, "wb") as f:
        f.writelines(lines)
    source = LighterRecordingSource(path)
    events = list(source.events())
    assert source.malformed == 5
    assert source.malformed_reasons == {"no receive time": 1, "bad JSON": 1, "not a JSON object": 1,
                                        "bad level price": 1, "bad trade": 1}
    [snapshot, updated, trade] = events
    assert isinstance(snapshot, SourceBook) and isinstance(updated, SourceBook)
    assert updated.asks == [(2064.54, 0.3285), (2325.0, 99.0), (2341.25, 340.1028)]  # the bad update left no trace
    assert updated.bids == [(2000.0, 0.02)]
    assert isinstance(trade, SourceTrade) and (trade.price, trade.size, trade.taker_is_buyer) == (2181.83, 0.1336, False)
    assert source.ignored == 1  # "connected"

    # a file cut mid-write (the recorder killed after a sync flush): the replay ends at the last whole line
    cut = tmp_path / "cut.gz"
    with open(cut, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb") as f:
        f.writelines(lines[:2])
        f.flush()
        f.write(lines[2] * 50)
    cut.write_bytes(cut.read_bytes()[:-30])
    cut_source = LighterRecordingSource(cut)
    cut_events = list(cut_source.events())
    assert cut_source.truncated and cut_events and cut_events[0] == snapshot


def test_markets_flag_parsing():
    assert parse_markets("2,0") == [2, 0]
    for bad in ("", "2,x", "2,2", "-1"):
        with pytest.raises(Exception, match="market ids"):
            parse_markets(bad)


async def _cli(*args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "lighter_cli", *args, cwd=REPO, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, env={**os.environ, "RAY_USAGE_STATS_ENABLED": "0"})


@pytest.mark.timeout(60)
async def test_the_command_records_for_a_duration_stops_on_sigint_and_fails_in_one_line(tmp_path):
    async with SimServer(source="synthetic", speed=5) as sim:
        timed = tmp_path / "timed.gz"
        proc = await _cli("record", "--url", sim.ws_url, "--markets", "2", "--out", str(timed), "--duration", "1.5",
                          "--json")
        stdout, stderr = await asyncio.wait_for(proc.communicate(), TIMEOUT)
        assert proc.returncode == 0, stderr
        summary = json.loads(stdout)
        assert summary["subscribed"] == ["order_book:2", "trade:2"] and summary["messages"] > 2
        with gzip.open(timed, "rb") as f:
            assert len(f.read().splitlines()) == summary["messages"]

        interrupted = tmp_path / "interrupted.gz"
        proc = await _cli("record", "--url", sim.ws_url, "--markets", "2", "--out", str(interrupted))
        assert proc.stderr is not None
        progress = await asyncio.wait_for(proc.stderr.readline(), TIMEOUT)  # it is receiving
        assert b"messages" in progress
        proc.send_signal(signal.SIGINT)
        stdout, _ = await asyncio.wait_for(proc.communicate(), TIMEOUT)
        assert proc.returncode == 0 and b"messages" in stdout
        with gzip.open(interrupted, "rb") as f:
            assert f.read().count(b"subscribed/order_book") == 1

        for args, expected in (
            (["--markets", "7", "--out", str(tmp_path / "refused.gz")], "refused a subscription"),
            (["--markets", "2", "--out", str(timed)], "never overwritten"),
        ):
            code, _, err = await run_main(record_main, "--url", sim.ws_url, *args)
            assert code == 2 and expected in err
            assert err.count("\n") == 1 and err.startswith("lighter-trader record: error:")
    code, _, err = await run_main(record_main, "--url", sim.ws_url, "--markets", "2", "--out", str(tmp_path / "g.gz"))
    assert code == 2 and "cannot connect" in err


@pytest.mark.parametrize("tool", ["record", "candles", "keys", "test-order"])
def test_each_tool_has_help_through_lighter_trader(tool, capsys):
    from lighter_cli.main import main

    with pytest.raises(SystemExit) as exited:
        main([tool, "--help"])
    assert exited.value.code == 0
    assert f"usage: lighter-trader {tool}" in capsys.readouterr().out
