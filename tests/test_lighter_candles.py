"""`lighter-trader candles` against the simulator's candles endpoint (its synthetic past).

A download paged 40 at a time makes the replay's CSV of exactly the venue's candles; one that
fails after two pages, its file then torn at the end (a kill mid-write), resumes with the same
--out into a file identical to the uninterrupted one. Bad input is one line, exit 2.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import signal
import sys
from typing import Any

import pytest

from lighter_cli.candles import download, main, pages, parse_when, read_back
from lighter_cli.output import ToolError
from tests.cli_tools import REPO, run_main
from venue.rest import LighterRest
from venue.sim.candle_source import read_candles
from venue.sim.server import SimServer

TIMEOUT = 20.0
MINUTE = 60_000


async def cli(*args: str) -> tuple[int, str, str]:
    """The command's main() on a worker thread (it runs its own event loop), its output captured."""
    return await run_main(main, *args)


def test_pages_cover_the_range_once_and_dates_parse():
    assert list(pages(0, 5 * MINUTE, MINUTE, 2)) == [(0, MINUTE), (2 * MINUTE, 3 * MINUTE), (4 * MINUTE, 5 * MINUTE - 1)]
    assert parse_when("2025-05-04") == 1_746_316_800_000
    assert parse_when("2025-05-04T15:33") == parse_when("2025-05-04T15:33:00Z") == 1_746_372_780_000
    assert parse_when("1746372780000") == 1_746_372_780_000


@pytest.mark.timeout(60)
async def test_an_interrupted_download_resumes_into_the_uninterrupted_file(tmp_path):
    async with SimServer(source="synthetic", speed=1, history_hours=3) as sim:
        past = sim.candles[2].query("1m")
        start, end = past[0]["t"] + 5 * MINUTE, past[0]["t"] + 155 * MINUTE  # 150 minutes of the past
        flags = ["--url", sim.url, "--market", "2", "--from", str(start), "--to", str(end), "--page", "40", "--json"]

        full = tmp_path / "full.csv.gz"
        code, stdout, stderr = await cli(*flags, "--out", str(full))
        assert code == 0, stderr
        summary = json.loads(stdout)
        assert (summary["rows"], summary["requests"], summary["resumed_rows"]) == (150, 4, 0)
        candles = read_candles(full)
        assert candles.malformed == 0 and len(candles.open_time_ms) == 150
        venue = {c["t"]: c for c in past}
        assert [int(t) for t in candles.open_time_ms] == list(range(start, end, MINUTE))
        for i, t in enumerate(candles.open_time_ms):
            c = venue[int(t)]
            assert (candles.open[i], candles.high[i], candles.low[i], candles.close[i], candles.volume[i]) == (
                c["o"], c["h"], c["l"], c["c"], c["v"])

        # the third request fails (as a network error would), then the kill tears the file's tail
        part = tmp_path / "part.csv.gz"
        calls = 0
        async with LighterRest(sim.url) as rest:
            async def failing(first: int, final: int, count: int) -> list[Any]:
                nonlocal calls
                calls += 1
                if calls == 3:
                    raise ToolError("injected: the network went away")
                return await rest.candles(2, "1m", first, final, count)

            with pytest.raises(ToolError, match="injected"):
                await download(failing, part, start, end, MINUTE, per_page=40)
        rows, rewrite = read_back(part)
        assert len(rows) == 80 and not rewrite
        with open(part, "ab") as f:
            f.write(gzip.compress(b"".join(f"{start + (80 + i) * MINUTE},1,2,0.5,1,9\n".encode()
                                           for i in range(30)))[:-25])  # a member cut mid-write
        assert read_back(part) == (rows, True)

        code, stdout, stderr = await cli(*flags, "--out", str(part))
        assert code == 0, stderr
        summary = json.loads(stdout)
        assert (summary["resumed_rows"], summary["new_rows"], summary["rows"]) == (80, 70, 150)
        assert gzip.decompress(part.read_bytes()) == gzip.decompress(full.read_bytes())

        # a finished file re-run: nothing more to fetch, nothing duplicated
        code, stdout, _ = await cli(*flags, "--out", str(part))
        assert code == 0 and json.loads(stdout)["new_rows"] == 0
        assert gzip.decompress(part.read_bytes()) == gzip.decompress(full.read_bytes())

        foreign = tmp_path / "foreign.csv.gz"
        foreign.write_bytes(gzip.compress(b"time,price\n1,2\n"))
        for args, expected in (
            ([*flags, "--out", str(foreign)], "not a candles CSV"),
            (["--url", sim.url, "--market", "2", "--from", "2026-05-02", "--to", "2026-05-01", "--out", str(full)],
             "--to must be after --from"),
            (["--url", sim.url, "--market", "2", "--from", "yesterday", "--to", "2026-05-01", "--out", str(full)],
             "expected a date"),
            (["--url", sim.url, "--market", "9", "--from", str(start), "--to", str(end), "--out",
              str(tmp_path / "m9.csv.gz")], "candles request failed"),
        ):
            code, _, stderr = await cli(*args)
            assert code == 2 and expected in stderr and stderr.count("\n") == 1, stderr
            assert stderr.startswith("lighter-trader candles: error:")
        assert gzip.decompress(foreign.read_bytes()) == b"time,price\n1,2\n"  # not touched


@pytest.mark.timeout(60)
async def test_a_download_killed_outright_resumes_into_the_uninterrupted_file(tmp_path):
    async with SimServer(source="synthetic", speed=1, history_hours=3) as sim:
        past = sim.candles[2].query("1m")
        start, end = past[0]["t"], past[0]["t"] + 170 * MINUTE
        flags = ["--url", sim.url, "--market", "2", "--from", str(start), "--to", str(end), "--page", "1", "--quiet"]
        full = tmp_path / "full.csv.gz"
        assert (await cli(*flags, "--out", str(full)))[0] == 0

        killed = tmp_path / "killed.csv.gz"
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "lighter_cli", "candles", *flags, "--out", str(killed), cwd=REPO,
            env={**os.environ, "RAY_USAGE_STATS_ENABLED": "0"})
        try:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + TIMEOUT
            while not (killed.exists() and len(read_back(killed)[0]) >= 20):  # a page a request: mid-download
                assert proc.returncode is None and loop.time() < deadline, "the download never got going"
                await asyncio.sleep(0.005)
        finally:
            proc.send_signal(signal.SIGKILL)
            await proc.wait()
        kept, _ = read_back(killed)
        assert 20 <= len(kept) < 170
        code, stdout, stderr = await cli(*flags, "--out", str(killed), "--json")
        assert code == 0, stderr
        assert json.loads(stdout)["resumed_rows"] == len(kept)
        assert gzip.decompress(killed.read_bytes()) == gzip.decompress(full.read_bytes())
