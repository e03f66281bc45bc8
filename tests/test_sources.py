"""Market sources of the simulator: synthetic calibration and book shape, candle replay, Binance replay."""

from __future__ import annotations

import gzip
import itertools
import json
import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from venue.sim.sources import (
    BinanceRecordingSource,
    CandleSource,
    SyntheticSource,
    intraminute_path,
    make_source,
    read_candles,
)
from venue.sim.synthetic import NS_PER_MIN, Grid
from venue.sim.types import SourceBook, SourceEvent, SourceTrade

START_NS = 1_746_372_780_000_000_000


def take_until(events: Iterable[SourceEvent], end_ns: int) -> list[SourceEvent]:
    return list(itertools.takewhile(lambda e: e.ts_ns < end_ns, events))


def on_grid(value: float, step: float) -> bool:
    return abs(value / step - round(value / step)) < 1e-6


def assert_book_sane(book: SourceBook, tick: float | None, lot: float | None, min_levels: int) -> None:
    bids, asks = [p for p, _ in book.bids], [p for p, _ in book.asks]
    assert len(bids) >= min_levels and len(asks) >= min_levels
    assert all(a > b for a, b in itertools.pairwise(bids)), "bids must be strictly descending"
    assert all(b > a for a, b in itertools.pairwise(asks)), "asks must be strictly ascending"
    assert bids[0] < asks[0], "book crossed"
    assert all(s > 0 for _, s in book.bids + book.asks)
    if tick is not None:
        assert all(on_grid(p, tick) for p in bids + asks)
    if lot is not None:
        assert all(on_grid(s, lot) for _, s in book.bids + book.asks)


def minute_mids(events: Iterable[SourceEvent], start_ns: int) -> dict[int, list[float]]:
    """Book mids grouped by minute since start_ns."""
    out: dict[int, list[float]] = {}
    for ev in events:
        if isinstance(ev, SourceBook):
            mid = (ev.bids[0][0] + ev.asks[0][0]) / 2
            out.setdefault((ev.ts_ns - start_ns) // NS_PER_MIN, []).append(mid)
    return out


# ---------------------------------------------------------------------------------------------
# Grid
# ---------------------------------------------------------------------------------------------


def test_grid_values_are_the_decimal_floats() -> None:
    grid = Grid(0.001)
    assert grid.decimals == 3
    values = grid.values(np.array([146830, 160123, 1]))
    assert [repr(v) for v in values.tolist()] == ["146.83", "160.123", "0.001"]
    assert grid.floor_count(146.83) == 146830  # 146.83 / 0.001 is 146829.99999999997 in floats
    assert Grid(0.005).snap(1.2374) == 1.235
    with pytest.raises(ValueError):
        Grid(0.0)


# ---------------------------------------------------------------------------------------------
# Synthetic
# ---------------------------------------------------------------------------------------------


@dataclass
class SyntheticRun:
    closes: np.ndarray  # the last mid of each minute
    ranges_bps: np.ndarray  # each minute's high-low range of the mid
    regimes: list[int]  # the regime of each minute


@pytest.fixture(scope="module")
def synthetic_12h() -> SyntheticRun:
    # 12 h of event time; books every second keep it fast and barely change the 1-min figures
    src = SyntheticSource(seed=7, book_interval_ms=1000, trade_rate_per_s=0.5)
    minutes = 12 * 60
    by_minute = minute_mids(take_until(src.events(), START_NS + minutes * NS_PER_MIN), START_NS)
    assert len(by_minute) == minutes
    return SyntheticRun(
        closes=np.array([by_minute[m][-1] for m in sorted(by_minute)]),
        ranges_bps=np.array([(max(v) / min(v) - 1) * 1e4 for v in by_minute.values()]),
        regimes=src.regime_log[:minutes],
    )


def test_synthetic_is_calibrated_to_sol_one_minute_statistics(synthetic_12h: SyntheticRun) -> None:
    closes = synthetic_12h.closes
    returns_bps = np.diff(np.log(closes)) * 1e4
    assert 3.0 <= np.median(np.abs(returns_bps)) <= 9.0
    assert 6.0 <= returns_bps.std() <= 16.0
    assert 6.0 <= np.median(synthetic_12h.ranges_bps) <= 20.0
    assert 100.0 < closes.min() and closes.max() < 250.0


def test_synthetic_regimes_switch_and_set_the_volatility(synthetic_12h: SyntheticRun) -> None:
    regimes = synthetic_12h.regimes
    assert set(regimes) == {0, 1, 2}, "all three regimes should occur in 12 hours"
    switches = sum(1 for a, b in itertools.pairwise(regimes) if a != b)
    assert 10 <= switches <= 300, "regimes switch, with dwell times of minutes"
    # return i runs from the end of minute i to the end of minute i + 1, in minute i + 1's regime
    abs_returns = np.abs(np.diff(np.log(synthetic_12h.closes)))
    of_return = np.array(regimes[1:])
    calm, volatile = abs_returns[of_return == 0], abs_returns[of_return == 2]
    assert len(calm) > 30 and len(volatile) > 30
    assert np.median(volatile) > 2 * np.median(calm)


def test_synthetic_is_deterministic_per_seed() -> None:
    def first(seed: int, n: int = 3000) -> list[SourceEvent]:
        return list(itertools.islice(SyntheticSource(seed=seed).events(), n))

    assert first(11) == first(11)
    assert first(11) != first(12)
    src = SyntheticSource(seed=5)
    assert list(itertools.islice(src.events(), 500)) == list(itertools.islice(src.events(), 500))


def test_synthetic_books_and_trades_are_sane() -> None:
    tick, lot = 0.001, 0.001
    src = SyntheticSource(seed=2, tick=tick, lot=lot)
    events = take_until(src.events(), START_NS + 10 * NS_PER_MIN)
    assert isinstance(events[0], SourceBook)
    assert all(b.ts_ns >= a.ts_ns for a, b in itertools.pairwise(events))

    books = [e for e in events if isinstance(e, SourceBook)]
    assert len(books) == 10 * 60 * 10  # every 100 ms
    assert all(b.ts_ns - a.ts_ns == 100_000_000 for a, b in itertools.pairwise(books))
    spreads_bps = []
    for book in books:
        assert_book_sane(book, tick, lot, min_levels=20)
        mid = (book.bids[0][0] + book.asks[0][0]) / 2
        spreads_bps.append((book.asks[0][0] - book.bids[0][0]) / mid * 1e4)
    assert 0.4 <= min(spreads_bps) and max(spreads_bps) <= 2.2
    assert 0.5 <= float(np.median(spreads_bps)) <= 2.0

    last_book: SourceBook | None = None
    trades = 0
    for ev in events:
        if isinstance(ev, SourceBook):
            last_book = ev
            continue
        assert last_book is not None
        trades += 1
        assert ev.size > 0 and on_grid(ev.size, lot) and on_grid(ev.price, tick)
        side = last_book.asks if ev.taker_is_buyer else last_book.bids
        levels = dict(side)
        # prints at a level of the book in force, never more than that level holds
        assert ev.price in levels and ev.size <= levels[ev.price] + 1e-9
        assert ev.price in [p for p, _ in side[:3]]
    assert trades > 1000


def test_synthetic_trades_are_poisson_and_lean_with_the_move() -> None:
    rate = 4.0
    src = SyntheticSource(seed=9, book_interval_ms=1000, trade_rate_per_s=rate)
    seconds = 3600
    events = take_until(src.events(), START_NS + seconds * 1_000_000_000)
    trades = [e for e in events if isinstance(e, SourceTrade)]
    # a sweep prints several trades at one instant: count taker orders by distinct time
    taker_times = np.array(sorted({t.ts_ns for t in trades}), dtype=np.int64)
    expected = rate * seconds
    assert abs(len(taker_times) - expected) < 4 * math.sqrt(expected)
    gaps = np.diff(taker_times) / 1e9
    assert 0.9 < gaps.mean() * rate < 1.1
    assert 0.9 < gaps.std() / gaps.mean() < 1.1  # exponential inter-arrival: CV 1
    per_instant = Counter(t.ts_ns for t in trades)
    sweeps = [n for n in per_instant.values() if n > 1]
    assert sweeps and max(sweeps) <= 3 and len(sweeps) < 0.1 * len(per_instant)

    # takers buy more in minutes the price rises than in minutes it falls
    by_minute = minute_mids(events, START_NS)
    buys: Counter[int] = Counter()
    totals: Counter[int] = Counter()
    for t in trades:
        minute = (t.ts_ns - START_NS) // NS_PER_MIN
        totals[minute] += 1
        buys[minute] += t.taker_is_buyer
    up = [m for m, mids in by_minute.items() if mids[-1] > mids[0]]
    down = [m for m, mids in by_minute.items() if mids[-1] < mids[0]]
    share_up = sum(buys[m] for m in up) / sum(totals[m] for m in up)
    share_down = sum(buys[m] for m in down) / sum(totals[m] for m in down)
    # without the lean both shares would be 0.5 give or take 0.01 (about 7,000 trades each)
    assert share_up > 0.52 and share_down < 0.48 and share_up - share_down > 0.07


def test_synthetic_rejects_bad_parameters() -> None:
    with pytest.raises(ValueError):
        SyntheticSource(book_interval_ms=7)
    with pytest.raises(ValueError):
        SyntheticSource(tick=0)
    with pytest.raises(ValueError):
        next(SyntheticSource(start_price=-1).events())


# ---------------------------------------------------------------------------------------------
# Candles
# ---------------------------------------------------------------------------------------------


@given(
    o=st.floats(10, 1000),
    moves=st.lists(st.floats(0, 0.05), min_size=3, max_size=3),
    close_frac=st.floats(0, 1),
    steps=st.integers(4, 400),
)
@settings(max_examples=300, deadline=None)
def test_intraminute_path_hits_every_waypoint_exactly(
    o: float, moves: list[float], close_frac: float, steps: int
) -> None:
    h = o * (1 + moves[0])
    lo = o * (1 - moves[1])
    c = lo + (h - lo) * close_frac
    path = intraminute_path(o, h, lo, c, steps)
    assert len(path) == steps
    assert path[0] == o and path[-1] == c
    assert max(path) == h and min(path) == lo
    high_at, low_at = path.index(h), path.index(lo)
    if h != lo and c < o:
        assert high_at < low_at  # a down candle makes its high first
    elif h != lo and o not in (h, lo):
        assert low_at < high_at


def test_intraminute_path_needs_four_steps() -> None:
    with pytest.raises(ValueError):
        intraminute_path(1.0, 2.0, 0.5, 1.5, 3)


def test_read_candles_reads_the_month(sol_candles_path: Path) -> None:
    candles = read_candles(sol_candles_path)
    assert len(candles) == 43_200 and candles.malformed == 0
    assert np.all(np.diff(candles.open_time_ms) == 60_000)
    assert 141.0 < candles.low.min() and candles.high.max() < 188.0
    span = read_candles(sol_candles_path, datetime(2025, 5, 10), datetime(2025, 5, 10, 1, tzinfo=UTC))
    assert len(span) == 60
    assert span.open_time_ms[0] == int(datetime(2025, 5, 10, tzinfo=UTC).timestamp() * 1000)


def test_read_candles_counts_and_drops_malformed_rows(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text(
        "open_time_ms,open,high,low,close,volume\n"
        "60000,10,11,9,10.5,100\n"
        "120000,10,abc,9,10,1\n"  # not a number
        "180000,10,10.2,9,10.5,1\n"  # high below close
        "240000,10,11,9\n"  # short row
        "240000,10,11,9,10,-1\n"  # negative volume
        "300000,10.5,11,10,10.2,5\n"
        "300000,10.5,11,10,10.2,5\n"  # duplicate minute
    )
    candles = read_candles(path)
    assert candles.malformed == 5
    assert candles.open_time_ms.tolist() == [60000, 300000]
    assert candles.close.tolist() == [10.5, 10.2]
    (tmp_path / "bad.csv").write_text("time,price\n1,2\n")
    with pytest.raises(ValueError, match="header"):
        read_candles(tmp_path / "bad.csv")


def test_candle_source_walks_each_minute_exactly(sol_candles_path: Path) -> None:
    tick, lot = 0.001, 0.001
    start, end = datetime(2025, 5, 20, 13, 0, tzinfo=UTC), datetime(2025, 5, 20, 14, 30, tzinfo=UTC)
    src = CandleSource(sol_candles_path, tick_ms=250, tick=tick, lot=lot, start=start, end=end, seed=4)
    candles = read_candles(sol_candles_path, start, end)
    events = list(src.events())
    assert isinstance(events[0], SourceBook)
    assert all(b.ts_ns >= a.ts_ns for a, b in itertools.pairwise(events))
    assert events[0].ts_ns == int(start.timestamp()) * 10**9
    assert events[-1].ts_ns < int(end.timestamp()) * 10**9

    books: dict[int, list[SourceBook]] = {}
    trades: dict[int, list[SourceTrade]] = {}
    for ev in events:
        minute = ev.ts_ns // NS_PER_MIN * 60_000
        (books if isinstance(ev, SourceBook) else trades).setdefault(minute, []).append(ev)  # type: ignore[arg-type]

    def ticks(price: float) -> int:
        return round(price / tick)

    assert len(books) == len(candles) == 90
    down_minutes = 0
    for m in range(len(candles)):
        t = int(candles.open_time_ms[m])
        minute_books = books[t]
        assert len(minute_books) == 240
        for b in minute_books[::40]:
            assert_book_sane(b, tick, lot, min_levels=10)
        # the book is centred on the path price: its mid in ticks is the path, exactly
        path = [(ticks(b.bids[0][0]) + ticks(b.asks[0][0])) / 2 for b in minute_books]
        o, h, lo, c = (ticks(float(x[m])) for x in (candles.open, candles.high, candles.low, candles.close))
        assert path[0] == o and path[-1] == c
        assert max(path) == h and min(path) == lo
        if c < o and h > o and lo < c:
            down_minutes += 1
            assert path.index(h) < path.index(lo)

        minute_trades = trades.get(t, [])
        volume_lots = round(float(candles.volume[m]) / lot)
        assert sum(round(tr.size / lot) for tr in minute_trades) == volume_lots
        if h != lo and volume_lots > 0:
            assert minute_trades
        by_ts = {b.ts_ns: k for k, b in enumerate(minute_books)}
        for tr in minute_trades:
            k = by_ts[tr.ts_ns]
            assert ticks(tr.price) == path[k]  # trades print at the path price
            if k > 0 and path[k] != path[k - 1]:
                assert tr.taker_is_buyer == (path[k] > path[k - 1])
    assert down_minutes > 5


def test_candle_source_is_deterministic_and_validates(sol_candles_path: Path) -> None:
    start, end = datetime(2025, 5, 5), datetime(2025, 5, 5, 0, 10)
    a = list(CandleSource(sol_candles_path, start=start, end=end, seed=1).events())
    b = list(CandleSource(sol_candles_path, start=start, end=end, seed=1).events())
    c = list(CandleSource(sol_candles_path, start=start, end=end, seed=2).events())
    assert a == b and a != c
    with pytest.raises(ValueError):
        CandleSource(sol_candles_path, tick_ms=20_000)


# ---------------------------------------------------------------------------------------------
# Binance recording
# ---------------------------------------------------------------------------------------------


@dataclass
class BinanceRun:
    src: BinanceRecordingSource
    first: SourceEvent | None = None
    books: int = 0
    trades: int = 0
    crossed: int = 0
    backwards: int = 0
    min_levels: int = 10**9


@pytest.fixture(scope="module")
def binance_run(btc_recording_path: Path) -> BinanceRun:
    """One pass over the real recording, summarised (the pass takes ~1.5 s)."""
    run = BinanceRun(src=BinanceRecordingSource(btc_recording_path, levels=20))
    last_ts = 0
    for ev in run.src.events():
        run.first = run.first or ev
        run.backwards += ev.ts_ns < last_ts
        last_ts = ev.ts_ns
        if isinstance(ev, SourceBook):
            run.books += 1
            run.crossed += ev.bids[0][0] >= ev.asks[0][0]
            run.min_levels = min(run.min_levels, len(ev.bids), len(ev.asks))
            if run.books % 500 == 0:
                assert_book_sane(ev, None, None, min_levels=20)
        else:
            run.trades += 1
    return run


def test_binance_recording_replays(binance_run: BinanceRun, btc_recording_path: Path) -> None:
    # count, independently of the source, the trades recorded before the REST snapshot
    trades_before = 0
    total_trades = 0
    seen_snapshot = False
    with gzip.open(btc_recording_path, "rt") as f:
        for line in f:
            if "lastUpdateId" in line:
                seen_snapshot = True
            if '"e":"trade"' in line:
                total_trades += 1
                trades_before += not seen_snapshot
    src = binance_run.src
    assert total_trades == 21_313
    assert binance_run.trades == total_trades - trades_before
    assert isinstance(binance_run.first, SourceBook)
    assert binance_run.books > 6_551  # every applied diff and every fresh ticker
    assert binance_run.crossed == 0 and binance_run.backwards == 0
    assert binance_run.min_levels == 20
    assert src.malformed == 0 and src.gaps == 0 and src.uncrossed == 0


def _line(stamp: int, data: dict[str, object], stream: str | None = "x") -> str:
    body = {"stream": stream, "data": data} if stream else data
    return f"{stamp} {json.dumps(body)}"


def _small_recording() -> list[str]:
    snapshot = {"lastUpdateId": 100, "E": 1000, "T": 1000,
                "bids": [["10.0", "1"], ["9.9", "2"], ["9.8", "3"]],
                "asks": [["10.1", "1"], ["10.2", "2"], ["10.3", "3"]]}
    return [
        _line(1, {"e": "depthUpdate", "E": 990, "U": 80, "u": 90, "pu": 79, "b": [["9.7", "5"]], "a": []}),
        _line(2, {"e": "trade", "E": 995, "p": "10.0", "q": "0.5", "m": True}),
        _line(3, snapshot, stream=None),
        _line(4, {"e": "depthUpdate", "E": 1001, "U": 95, "u": 105, "pu": 90,
                  "b": [["9.9", "0"], ["9.95", "4"]], "a": [["10.3", "0"], ["10.15", "1.5"]]}),
        _line(5, {"e": "trade", "E": 1002, "p": "10.1", "q": "0.25", "m": False}),
        _line(6, {"e": "bookTicker", "E": 1003, "u": 106, "b": "9.95", "B": "7", "a": "10.1", "A": "0.75"}),
        _line(7, {"e": "bookTicker", "E": 1003, "u": 104, "b": "10.0", "B": "1", "a": "10.1", "A": "1"}),
        _line(8, {"e": "depthUpdate", "E": 999, "U": 107, "u": 110, "pu": 106,
                  "b": [["9.6", "1"]], "a": [["10.4", "1"]]}),
    ]


def _write(path: Path, lines: list[str]) -> Path:
    data = ("\n".join(lines) + "\n").encode()
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
    return path


@pytest.mark.parametrize("name", ["rec.gz", "rec.txt"])
def test_binance_book_rules(tmp_path: Path, name: str) -> None:
    src = BinanceRecordingSource(_write(tmp_path / name, _small_recording()), levels=5)
    events = list(src.events())
    kinds = [type(e).__name__ for e in events]
    assert kinds == ["SourceBook", "SourceBook", "SourceTrade", "SourceBook", "SourceBook"]
    snap, after_diff, trade, after_ticker, after_gap = events
    assert isinstance(snap, SourceBook) and snap.ts_ns == 1000 * 10**6
    assert snap.bids == [(10.0, 1.0), (9.9, 2.0), (9.8, 3.0)]  # the buffered older diff was dropped
    assert isinstance(after_diff, SourceBook)
    assert after_diff.bids == [(10.0, 1.0), (9.95, 4.0), (9.8, 3.0)]
    assert after_diff.asks == [(10.1, 1.0), (10.15, 1.5), (10.2, 2.0)]
    assert trade == SourceTrade(ts_ns=1002 * 10**6, price=10.1, size=0.25, taker_is_buyer=True)
    assert isinstance(after_ticker, SourceBook)
    assert after_ticker.bids[0] == (9.95, 7.0) and after_ticker.asks[0] == (10.1, 0.75)
    assert isinstance(after_gap, SourceBook)
    assert after_gap.ts_ns == after_ticker.ts_ns  # E went back to 999: event time is held
    assert after_gap.asks[-1] == (10.4, 1.0)
    assert src.gaps == 1  # pu 106 does not follow u 105
    assert src.stale == 2  # the diff before the snapshot, the ticker older than the book
    assert src.before_snapshot == 1 and src.malformed == 0


@given(cuts=st.lists(st.tuples(st.integers(0, 7), st.floats(0, 0.999)), max_size=8))
@settings(max_examples=40, deadline=None)
def test_binance_malformed_lines_are_counted_and_dropped(tmp_path_factory: pytest.TempPathFactory,
                                                         cuts: list[tuple[int, float]]) -> None:
    """Truncated copies of good lines (never valid JSON) change nothing but the malformed count."""
    good = _small_recording()
    lines = list(good)
    for where, frac in cuts:
        lines.insert(where, good[where][: int(len(good[where]) * frac)])
    directory = tmp_path_factory.mktemp("bad")
    clean = list(BinanceRecordingSource(_write(directory / "good.txt", good)).events())
    src = BinanceRecordingSource(_write(directory / "bad.txt", lines))
    assert list(src.events()) == clean
    # a cut to nothing leaves an empty line, which is skipped rather than counted
    assert src.malformed == sum(1 for where, frac in cuts if int(len(good[where]) * frac) > 0)


def test_binance_semantic_garbage_is_malformed(tmp_path: Path) -> None:
    good = _small_recording()
    bad = [
        "no-stamp " + good[4].split(" ", 1)[1],
        _line(9, {"e": "trade", "E": 1004, "p": "abc", "q": "1", "m": False}),
        _line(9, {"e": "trade", "E": 1004, "p": "10", "q": "1"}),  # no m
        _line(9, {"e": "depthUpdate", "E": 1004, "U": 1, "u": 2, "pu": 0, "b": [["x", "1"]], "a": []}),
        _line(9, {"e": "bookTicker", "E": 1004, "u": 200, "b": "10.2", "B": "1", "a": "10.1", "A": "1"}),
        "123 [1, 2, 3]",
    ]
    src = BinanceRecordingSource(_write(tmp_path / "r.txt", good + bad + [_line(10, {"e": "kline", "E": 5})]))
    events = list(src.events())
    assert len(events) == 5
    assert src.malformed == len(bad) and src.ignored == 1


# ---------------------------------------------------------------------------------------------
# make_source
# ---------------------------------------------------------------------------------------------


def test_make_source_parses_specs(sol_candles_path: Path, btc_recording_path: Path) -> None:
    assert isinstance(make_source("synthetic", seed=3), SyntheticSource)
    candles = make_source(f"candles:{sol_candles_path}", seed=3, tick=0.01, lot=0.01)
    assert isinstance(candles, CandleSource) and candles.price_grid.step == 0.01
    assert isinstance(make_source(f"binance:{btc_recording_path}"), BinanceRecordingSource)


@pytest.mark.parametrize(
    "spec", ["", "synth", "synthetic:extra", "candles", "candles:", "binance:/no/such/file.gz", "kafka:x"]
)
def test_make_source_rejects_bad_specs(spec: str) -> None:
    with pytest.raises(ValueError) as info:
        make_source(spec)
    message = str(info.value)
    assert "\n" not in message and message


def test_make_source_rejects_a_file_of_the_wrong_kind(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="header"):
        make_source(f"candles:{path}")
