"""Fuzzing the file readers (issue 15 item 3): a Lighter websocket recording (`lighter-trader
record`'s format), the Binance recording of ../shared/data, and the candle CSV, each made valid
and then edited line by line at random (JSON fields edited, bytes broken, a bad receive time, rows
out of order, numbers that are not numbers). Every reader finishes, yields only events that make
sense (finite positive prices and sizes, time never going back), and counts every line it dropped.
"""

from __future__ import annotations

import gzip
import json
import math
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import BTC_RECORDING, LIGHTER_FIXTURES
from tests.fuzzing import NUMBER_TEXTS, broken_bytes, mutated
from venue.sim.binance_source import BinanceRecordingSource
from venue.sim.candle_source import read_candles
from venue.sim.lighter_recording import LighterRecordingSource
from venue.sim.types import SourceBook, SourceTrade

pytestmark = pytest.mark.timeout(120)
FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _check_events(events: list[Any]) -> None:
    last = -math.inf
    for event in events:
        assert event.ts_ns >= last, "event time went back"
        last = event.ts_ns
        if isinstance(event, SourceTrade):
            assert math.isfinite(event.price) and event.price > 0 and math.isfinite(event.size) and event.size > 0
        elif isinstance(event, SourceBook):
            for price, size in [*event.bids, *event.asks]:
                assert math.isfinite(price) and price > 0 and math.isfinite(size) and size > 0


# --- the Lighter recording ------------------------------------------------------------------


def _lighter_messages() -> list[dict[str, Any]]:
    if not LIGHTER_FIXTURES.is_dir():
        pytest.skip(f"shared Lighter fixtures not found at {LIGHTER_FIXTURES}")
    load = lambda name: json.loads((LIGHTER_FIXTURES / name).read_text())  # noqa: E731
    snapshot, update, trade = (load(f"ws_{n}.json") for n in ("order_book_subscribed", "order_book_update",
                                                                "trade_update"))
    update = dict(update, offset=snapshot["offset"] + 1)
    return [snapshot, update, trade, dict(update, offset=snapshot["offset"] + 2), trade]


def _write_gz(lines: list[bytes]) -> Path:
    path = Path(tempfile.mkdtemp()) / "rec.gz"
    with gzip.open(path, "wb") as out:
        out.writelines(lines)
    return path


def _line(received_ns: int, message: Any) -> bytes:
    return f"{received_ns} ".encode() + json.dumps(message).encode() + b"\n"


def test_a_valid_lighter_recording_reads_without_loss() -> None:
    messages = _lighter_messages()
    source = LighterRecordingSource(_write_gz([_line(10**18 + i, m) for i, m in enumerate(messages)]), market_id=0)
    events = list(source.events())
    assert source.malformed == 0 and any(isinstance(e, SourceBook) for e in events)
    _check_events(events)


@FUZZ
@given(data=st.data())
def test_lighter_recordings_with_broken_lines_are_read_and_counted(data: st.DataObject) -> None:
    messages = _lighter_messages()
    lines: list[bytes] = []
    broken = 0
    for i, message in enumerate(messages * 2):
        how = data.draw(st.sampled_from(["keep", "keep", "edit", "bytes", "stamp"]))
        if how == "edit":
            lines.append(_line(10**18 + i, data.draw(mutated(message))))
        elif how == "bytes":
            lines.append(data.draw(broken_bytes(_line(10**18 + i, message)[:-1])).replace(b"\n", b"") + b"\n")
        elif how == "stamp":
            stamp = data.draw(st.sampled_from([b"", b"-5", b"abc", b"1e9", b"99999999999999999999999"]))
            lines.append(stamp + b" " + json.dumps(message).encode() + b"\n")
            broken += 1
        else:
            lines.append(_line(10**18 + i, message))
    source = LighterRecordingSource(_write_gz(lines), market_id=0)
    events = list(source.events())  # must not raise
    _check_events(events)
    stats = source.stats()
    assert stats["malformed"] == sum(stats["malformed_reasons"].values()), "a dropped line without a reason"
    assert stats["malformed"] >= broken, "a line with a bad receive time was not counted"
    assert stats["lines"] == sum(1 for line in lines if line.strip())  # blank lines are no messages


# --- the Binance recording ------------------------------------------------------------------


def _binance_lines(n: int = 200) -> list[bytes]:
    if not BTC_RECORDING.is_file():
        pytest.skip(f"shared data not found at {BTC_RECORDING}")
    out: list[bytes] = []
    with gzip.open(BTC_RECORDING, "rb") as raw:
        for line in raw:
            out.append(line)
            if len(out) >= n:
                break
    return out


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_binance_recordings_with_broken_lines_are_read_and_counted(data: st.DataObject) -> None:
    lines = _binance_lines()
    picks = data.draw(st.lists(st.integers(1, len(lines) - 1), min_size=1, max_size=8, unique=True))
    for at in picks:
        stamp, _, body = lines[at].partition(b" ")
        if data.draw(st.booleans()):
            try:
                doc = json.loads(body)
            except ValueError:
                continue
            lines[at] = stamp + b" " + json.dumps(data.draw(mutated(doc))).encode() + b"\n"
        else:
            lines[at] = data.draw(broken_bytes(lines[at][:-1])).replace(b"\n", b"") + b"\n"
    source = BinanceRecordingSource(_write_gz(lines))
    _check_events(list(source.events()))  # must not raise


# --- the candle CSV -------------------------------------------------------------------------

HEADER = "open_time_ms,open,high,low,close,volume\n"


def _row(i: int) -> list[str]:
    base = 150.0 + (i % 7) * 0.1
    return [str(1_746_000_000_000 + i * 60_000), f"{base:.2f}", f"{base + 0.3:.2f}", f"{base - 0.2:.2f}",
            f"{base + 0.1:.2f}", "12.5"]


@FUZZ
@given(data=st.data())
def test_candle_files_with_broken_rows_keep_only_sound_rows(data: st.DataObject) -> None:
    rows = [_row(i) for i in range(60)]
    for at in data.draw(st.lists(st.integers(0, len(rows) - 1), min_size=1, max_size=10, unique=True)):
        how = data.draw(st.sampled_from(["number", "drop_field", "extra_field", "swap", "text"]))
        if how == "number":
            rows[at][data.draw(st.integers(0, 5))] = data.draw(st.sampled_from(NUMBER_TEXTS))
        elif how == "drop_field":
            rows[at].pop(data.draw(st.integers(0, len(rows[at]) - 1)))
        elif how == "extra_field":
            rows[at].append("1")
        elif how == "swap" and at > 0:
            rows[at][0], rows[at - 1][0] = rows[at - 1][0], rows[at][0]
        else:
            rows[at] = [data.draw(st.text(alphabet=st.characters(blacklist_characters="\n\r"), max_size=20))]
    body = "".join(",".join(r) + "\n" for r in rows)
    path = Path(tempfile.mkdtemp()) / "candles.csv.gz"
    with gzip.open(path, "wt") as out:
        out.write(HEADER + body)
    candles = read_candles(path)  # must not raise: the header is right
    n = len(candles.open_time_ms)
    nonempty = sum(1 for r in rows if any(field.strip() for field in r))
    assert n + candles.malformed >= nonempty - 1, "a row vanished without being counted"
    times = candles.open_time_ms.tolist()
    assert times == sorted(set(times)), "rows out of order or repeated were kept"
    for column in (candles.open, candles.high, candles.low, candles.close):
        assert all(math.isfinite(v) and v > 0 for v in column.tolist())
    assert all((candles.high >= candles.low).tolist())


def test_a_candle_time_beyond_int64_nanoseconds_is_a_malformed_row(tmp_path: Path) -> None:
    """Found by the fuzzer: such a row overflowed numpy's int64 and the whole read failed."""
    path = tmp_path / "candles.csv"
    rows = [_row(0), ["99999999999999999999999999", *_row(1)[1:]], _row(2)]
    path.write_text(HEADER + "".join(",".join(r) + "\n" for r in rows))
    candles = read_candles(path)
    assert len(candles.open_time_ms) == 2 and candles.malformed == 1
