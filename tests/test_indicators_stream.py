"""Streaming indicators: agreement with the batch kernels, warm-up, state round trips, hygiene.

Streams and kernels share their arithmetic operation for operation, so they agree bit for bit;
the SOL checks use the documented tolerance (1e-12 relative, floored at 0.1% of the series
peak, see test_indicators_batch.assert_close) and the random-series checks demand exact equality.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from indicators import batch, stream
from tests.test_indicators_batch import assert_close, hostile_series, load_sol

STREAM_RTOL = 1e-12


def run_stream(indicator: Any, columns: Sequence[Sequence[float]], width: int = 1) -> list[np.ndarray]:
    """Feed rows to indicator.update; collect each output component as an array (NaN for None)."""
    outs = [np.full(len(columns[0]), np.nan) for _ in range(width)]
    for i, row in enumerate(zip(*columns, strict=True)):
        value = indicator.update(*row)
        assert (value is None) == (not indicator.ready)
        assert value == indicator.value or value is None
        if value is not None:
            parts = value if width > 1 else (value,)
            for out, part in zip(outs, parts, strict=True):
                out[i] = part
    return outs


# name -> (stream factory, batch function, input columns, output width)
Case = tuple[Callable[[], Any], Callable[..., Any], tuple[str, ...], int]
CASES: dict[str, Case] = {
    "sma": (lambda: stream.SMA(20), lambda c: batch.sma(c, 20), ("close",), 1),
    "ema": (lambda: stream.EMA(9), lambda c: batch.ema(c, 9), ("close",), 1),
    "rsi": (lambda: stream.RSI(14), lambda c: batch.rsi(c, 14), ("close",), 1),
    "bollinger": (lambda: stream.Bollinger(20, 2.0), lambda c: batch.bollinger(c, 20, 2.0), ("close",), 3),
    "atr": (lambda: stream.ATR(14), lambda h, lo, c: batch.atr(h, lo, c, 14), ("high", "low", "close"), 1),
    "macd": (lambda: stream.MACD(12, 26, 9), lambda c: batch.macd(c, 12, 26, 9), ("close",), 3),
    "ao": (lambda: stream.AwesomeOscillator(5, 34), lambda h, lo: batch.awesome_oscillator(h, lo, 5, 34),
           ("high", "low"), 1),
    "std_bps": (lambda: stream.RollingStdBps(20), lambda c: batch.rolling_std_bps(c, 20), ("close",), 1),
    "highest": (lambda: stream.Highest(30), lambda h: batch.highest(h, 30), ("high",), 1),
    "lowest": (lambda: stream.Lowest(30), lambda lo: batch.lowest(lo, 30), ("low",), 1),
}


def _as_list(result: Any) -> list[np.ndarray]:
    return list(result) if isinstance(result, tuple) else [result]


@pytest.fixture(scope="module")
def sol(sol_candles_path: Path) -> dict[str, np.ndarray]:
    return load_sol(sol_candles_path)


@pytest.mark.parametrize("name", sorted(CASES))
def test_stream_matches_batch_on_sol(sol: dict[str, np.ndarray], name: str) -> None:
    make, kernel, inputs, width = CASES[name]
    arrays = [sol[column] for column in inputs]
    streamed = run_stream(make(), [a.tolist() for a in arrays], width)
    for ours, expected in zip(streamed, _as_list(kernel(*arrays)), strict=True):
        assert_close(ours, expected, STREAM_RTOL, name)


def _columns(x: np.ndarray, spread: np.ndarray) -> dict[str, np.ndarray]:
    return {"close": x, "high": x * (1.0 + spread), "low": x * (1.0 - spread)}


@settings(max_examples=40, deadline=None)
@given(x=hostile_series(min_size=1), data=st.data())
def test_stream_equals_batch_exactly_on_hostile_series(x: np.ndarray, data: st.DataObject) -> None:
    spread = np.asarray(data.draw(st.lists(st.floats(0.0, 0.05), min_size=len(x), max_size=len(x))))
    columns = _columns(x, spread)
    for name, (make, kernel, inputs, width) in CASES.items():
        arrays = [columns[column] for column in inputs]
        streamed = run_stream(make(), [a.tolist() for a in arrays], width)
        for ours, expected in zip(streamed, _as_list(kernel(*arrays)), strict=True):
            assert np.array_equal(ours, expected, equal_nan=True), name


@settings(max_examples=25, deadline=None)
@given(x=hostile_series(min_size=60, max_size=160), data=st.data())
def test_state_round_trip_continues_bit_identically(x: np.ndarray, data: st.DataObject) -> None:
    columns = _columns(x, np.full(len(x), 0.01))
    for name, (make, _kernel, inputs, width) in CASES.items():
        rows = [[float(v) for v in columns[column]] for column in inputs]
        cut = data.draw(st.integers(0, len(x)), label=f"cut {name}")
        whole = run_stream(make(), rows, width)
        first = make()
        run_stream(first, [r[:cut] for r in rows], width)
        # Through JSON, as a strategy would persist it.
        restored = type(first).from_state(json.loads(json.dumps(first.to_state())))
        assert restored.value == first.value and restored.ready == first.ready
        tail = run_stream(restored, [r[cut:] for r in rows], width)
        for full, rest in zip(whole, tail, strict=True):
            assert np.array_equal(full[cut:], rest, equal_nan=True), f"{name} cut at {cut}"


def test_warm_up_lengths_and_values() -> None:
    closes = [float(v) for v in range(1, 60)]
    expected_first = {"sma": 19, "ema": 8, "rsi": 14, "bollinger": 19, "macd": 33, "std_bps": 20,
                      "highest": 29, "lowest": 29, "atr": 14, "ao": 33}
    for name, (make, _kernel, inputs, width) in CASES.items():
        indicator = make()
        assert indicator.value is None and not indicator.ready
        outs = run_stream(indicator, [closes] * len(inputs), width)
        first = int(np.flatnonzero(~np.isnan(outs[0]))[0])
        assert first == expected_first[name], name
    sma = stream.SMA(3)
    assert [sma.update(v) for v in (1.0, 2.0, 6.0, 10.0)] == [None, None, 3.0, 6.0]
    highest, lowest = stream.Highest(3), stream.Lowest(3)
    series = [5.0, 1.0, 3.0, 2.0, 2.0, 0.5, 4.0]
    assert [highest.update(v) for v in series] == [None, None, 5.0, 3.0, 3.0, 2.0, 4.0]
    assert [lowest.update(v) for v in series] == [None, None, 1.0, 1.0, 2.0, 0.5, 0.5]


def test_flat_input() -> None:
    rsi, std, boll = stream.RSI(14), stream.RollingStdBps(20), stream.Bollinger(20, 2.0)
    for _ in range(100):
        rsi.update(7.5)
        std.update(7.5)
        boll.update(7.5)
    assert rsi.value == 0.0  # as talib.RSI on a flat series
    assert std.value == 0.0
    assert boll.upper == boll.middle == boll.lower


def test_rolling_variance_recovers_exact_zero_after_a_spike() -> None:
    var = stream.RollingVariance(5)
    for v in [1.0, 1e12, 2.0, 3.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]:
        var.update(v)
    assert var.value == 0.0  # the spike left 5+ values ago; no rounding residue remains


def test_bad_parameters_and_states_raise() -> None:
    for bad in (0, -3, 2.5, True, "5"):
        with pytest.raises(ValueError):
            stream.SMA(bad)  # type: ignore[arg-type]
    assert stream.EMA(np.int64(5)).n == 5  # type: ignore[arg-type]  # numpy integers work too
    with pytest.raises(ValueError):
        stream.MACD(26, 12, 9)
    with pytest.raises(ValueError):
        stream.AwesomeOscillator(34, 5)
    with pytest.raises(ValueError):
        stream.Bollinger(20, float("nan"))
    with pytest.raises(ValueError):
        stream.EMA.from_state(stream.SMA(3).to_state())
    with pytest.raises(ValueError):
        stream.Lowest.from_state(stream.Highest(3).to_state())


def test_tuning_constants_match_batch() -> None:
    for name in ("RESEED_WINDOWS", "CANCELLATION_RATIO", "DOMINANCE_RATIO", "VARIANCE_FLOOR_RATIO", "BPS"):
        assert getattr(stream, name) == getattr(batch, name), name


def test_importing_the_live_path_does_not_load_numba_or_numpy() -> None:
    code = ("import sys, indicators, indicators.stream, indicators.candles, indicators.renko; "
            "heavy = [m for m in ('numba', 'numpy') if m in sys.modules]; "
            "assert not heavy, heavy")
    repo = Path(__file__).resolve().parent.parent
    result = subprocess.run([sys.executable, "-c", code], cwd=repo, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
