"""Batch kernels against TA-Lib on the real SOL candles and on hostile random series.

Comparison rule (`assert_close`): |a - b| <= rtol * max(|b|, floor), where
floor = FLOOR_FRACTION * max|b| over the compared series. Indicators that cross zero (MACD
histogram, AO) take values arbitrarily close to 0, where a relative error means nothing; below
0.1% of the series' own peak they are compared at that absolute scale instead. NaNs must sit at
exactly the same positions in both arrays.
"""

from __future__ import annotations

import gzip
import math
from pathlib import Path

import numpy as np
import pytest
import talib
from hypothesis import given, settings
from hypothesis import strategies as st

from indicators import batch

FLOOR_FRACTION = 1e-3
TALIB_RTOL = 1e-9


def assert_close(actual: np.ndarray, expected: np.ndarray, rtol: float, what: str = "") -> None:
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape, what
    nan_a, nan_e = np.isnan(actual), np.isnan(expected)
    assert np.array_equal(nan_a, nan_e), f"{what}: NaN positions differ"
    a, e = actual[~nan_e], expected[~nan_e]
    if e.size == 0:
        return
    floor = FLOOR_FRACTION * float(np.max(np.abs(e)))
    tol = rtol * np.maximum(np.abs(e), floor)
    bad = np.abs(a - e) > tol
    assert not bad.any(), (
        f"{what}: {int(bad.sum())} values differ, worst |diff|={float(np.max(np.abs(a - e))):.3g} "
        f"at index {int(np.argmax(np.abs(a - e) - tol))}"
    )


def load_sol(path: Path) -> dict[str, np.ndarray]:
    with gzip.open(path, "rt") as handle:
        data = np.loadtxt(handle, delimiter=",", skiprows=1)
    assert data.shape == (43_200, 6)
    return {name: np.ascontiguousarray(data[:, i]) for i, name in
            enumerate(["open_time_ms", "open", "high", "low", "close", "volume"])}


def leading_nans(x: np.ndarray) -> int:
    defined = np.flatnonzero(~np.isnan(x))
    return int(defined[0]) if defined.size else len(x)


def std_bps_reference(x: np.ndarray, n: int) -> np.ndarray:
    """Two-pass numpy reference for rolling_std_bps."""
    out = np.full(len(x), np.nan)
    if len(x) > n:
        returns = (x[1:] / x[:-1] - 1.0) * 1e4
        out[n:] = np.lib.stride_tricks.sliding_window_view(returns, n).std(axis=1)
    return out


@pytest.fixture(scope="module")
def sol(sol_candles_path: Path) -> dict[str, np.ndarray]:
    return load_sol(sol_candles_path)


# --------------------------------------------------------------------------- real data vs TA-Lib


@pytest.mark.parametrize("n", [5, 20, 50])
def test_sma_ema_match_talib(sol: dict[str, np.ndarray], n: int) -> None:
    close = sol["close"]
    assert_close(batch.sma(close, n), talib.SMA(close, n), TALIB_RTOL, "sma")
    assert_close(batch.ema(close, n), talib.EMA(close, n), TALIB_RTOL, "ema")
    assert leading_nans(batch.ema(close, n)) == n - 1


@pytest.mark.parametrize("n", [2, 14, 30])
def test_rsi_matches_talib(sol: dict[str, np.ndarray], n: int) -> None:
    close = sol["close"]
    ours = batch.rsi(close, n)
    assert_close(ours, talib.RSI(close, n), TALIB_RTOL, "rsi")
    assert leading_nans(ours) == n


@pytest.mark.parametrize(("n", "k"), [(20, 2.0), (10, 1.5), (50, 1.0)])
def test_bollinger_matches_talib(sol: dict[str, np.ndarray], n: int, k: float) -> None:
    close = sol["close"]
    for ours, theirs, name in zip(batch.bollinger(close, n, k), talib.BBANDS(close, n, k, k),
                                  ["upper", "middle", "lower"], strict=True):
        assert_close(ours, theirs, TALIB_RTOL, name)


@pytest.mark.parametrize("n", [1, 14, 30])
def test_atr_matches_talib(sol: dict[str, np.ndarray], n: int) -> None:
    high, low, close = sol["high"], sol["low"], sol["close"]
    ours = batch.atr(high, low, close, n)
    assert_close(ours, talib.ATR(high, low, close, n), TALIB_RTOL, "atr")
    assert leading_nans(ours) == n  # the first bar's true range is skipped


@pytest.mark.parametrize(("fast", "slow", "signal"), [(12, 26, 9), (5, 35, 5), (3, 10, 16)])
def test_macd_matches_talib(sol: dict[str, np.ndarray], fast: int, slow: int, signal: int) -> None:
    close = sol["close"]
    ours = batch.macd(close, fast, slow, signal)
    for a, b, name in zip(ours, talib.MACD(close, fast, slow, signal), ["macd", "signal", "hist"], strict=True):
        assert_close(a, b, TALIB_RTOL, name)
        assert leading_nans(a) == slow - 1 + signal - 1


def test_awesome_oscillator_matches_two_talib_smas(sol: dict[str, np.ndarray]) -> None:
    high, low = sol["high"], sol["low"]
    median = (high + low) / 2
    expected = talib.SMA(median, 5) - talib.SMA(median, 34)
    ours = batch.awesome_oscillator(high, low)
    assert_close(ours, expected, TALIB_RTOL, "ao")
    assert leading_nans(ours) == 33
    assert np.nanmin(ours) < 0 < np.nanmax(ours)  # it does cross zero: the floor matters here


@pytest.mark.parametrize("n", [2, 30, 200])
def test_highest_lowest_match_talib(sol: dict[str, np.ndarray], n: int) -> None:
    high, low = sol["high"], sol["low"]
    np.testing.assert_array_equal(batch.highest(high, n), talib.MAX(high, n))
    np.testing.assert_array_equal(batch.lowest(low, n), talib.MIN(low, n))


@pytest.mark.parametrize("n", [5, 20, 60])
def test_rolling_std_bps_matches_numpy(sol: dict[str, np.ndarray], n: int) -> None:
    close = sol["close"]
    ours = batch.rolling_std_bps(close, n)
    assert_close(ours, std_bps_reference(close, n), TALIB_RTOL, "rolling_std_bps")
    assert leading_nans(ours) == n
    # The data README: 1-minute returns have a std of about 10.5 bps.
    assert 5.0 < float(np.nanmedian(batch.rolling_std_bps(close, 1000))) < 15.0


# --------------------------------------------------------------------------- hand-computed cases


def test_rolling_std_bps_by_hand() -> None:
    prices = np.array([100.0, 101.0, 100.0, 102.0])
    r1, r2, r3 = 100.0, (100.0 / 101.0 - 1.0) * 1e4, 200.0
    out = batch.rolling_std_bps(prices, 2)
    assert np.isnan(out[:2]).all()
    assert out[2] == pytest.approx(abs(r1 - r2) / 2, rel=1e-12)
    assert out[3] == pytest.approx(abs(r2 - r3) / 2, rel=1e-12)


def test_rolling_std_bps_treats_nonpositive_previous_price_as_no_move() -> None:
    prices = np.array([100.0, 0.0, 100.0, 100.0])  # r = -1e4, then "no move" (prev 0), then 0
    out = batch.rolling_std_bps(prices, 2)
    assert np.isfinite(out[2:]).all()
    assert out[2] == pytest.approx(5_000.0)  # std of (-1e4, 0)
    assert out[3] == 0.0


def test_rsi_flat_series_is_zero_like_talib() -> None:
    flat = np.full(50, 123.45)
    ours = batch.rsi(flat, 14)
    np.testing.assert_array_equal(ours, talib.RSI(flat, 14))
    assert (ours[14:] == 0.0).all()


def test_short_and_empty_inputs_are_all_nan() -> None:
    short = np.arange(1.0, 10.0)
    for ours, theirs in [(batch.sma(short, 20), talib.SMA(short, 20)), (batch.rsi(short, 14), talib.RSI(short, 14)),
                         (batch.highest(short, 20), talib.MAX(short, 20)),
                         (batch.atr(short, short, short, 14), talib.ATR(short, short, short, 14))]:
        np.testing.assert_array_equal(ours, theirs)
        assert np.isnan(ours).all()
    assert all(np.isnan(a).all() for a in batch.macd(short))
    empty = np.empty(0)
    assert batch.ema(empty, 5).shape == (0,)
    assert batch.rolling_std_bps(empty, 5).shape == (0,)
    assert batch.lowest(empty, 5).shape == (0,)


def test_bad_arguments_raise() -> None:
    x = np.arange(1.0, 50.0)
    with pytest.raises(ValueError):
        batch.sma(x, 0)
    with pytest.raises(ValueError):
        batch.ema(x, 2.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        batch.macd(x, 26, 12, 9)
    with pytest.raises(ValueError):
        batch.atr(x, x[:-1], x, 14)
    with pytest.raises(ValueError):
        batch.awesome_oscillator(x, x[:-1])
    with pytest.raises(ValueError):
        batch.rsi(np.ones((5, 5)), 3)
    with pytest.raises(ValueError):
        batch.bollinger(x, 20, -1.0)


def test_integer_and_list_inputs_are_converted() -> None:
    ints = np.arange(1, 60, dtype=np.int64)
    np.testing.assert_array_equal(batch.sma(ints, 7), talib.SMA(ints.astype(float), 7))
    np.testing.assert_array_equal(batch.highest(list(range(30)), 4), talib.MAX(np.arange(30.0), 4))


# --------------------------------------------------------------------------- hostile random series


@st.composite
def hostile_series(draw: st.DrawFn, min_size: int = 0, max_size: int = 250) -> np.ndarray:
    """Positive prices in [1e-6, 1e6] made of flat runs, gaps in level, isolated extreme spikes
    and noisy stretches, so values of wildly different magnitude meet in one window."""
    level = st.floats(min_value=1e-6, max_value=1e6)
    segment = st.one_of(
        st.tuples(level, st.integers(1, 40)).map(lambda t: [t[0]] * t[1]),  # flat run
        st.lists(level, min_size=1, max_size=30),  # noise over the whole range
        st.sampled_from([[1e-6], [1e6], [1e-6, 1e6], [1e6, 1e-6]]),  # extreme spikes
        st.tuples(level, st.lists(st.floats(-0.01, 0.01), min_size=1, max_size=40)).map(  # a walk
            lambda t: list(t[0] * np.exp(np.cumsum(t[1])))),
    )
    values: list[float] = []
    for part in draw(st.lists(segment, min_size=1, max_size=10)):
        values.extend(part)
    values = values[:max_size]
    if len(values) < min_size:
        values += [values[-1]] * (min_size - len(values))
    return np.asarray(values, dtype=np.float64)


periods = st.integers(min_value=2, max_value=40)


def _assert_warmup_and_finite(ours: np.ndarray, theirs: np.ndarray) -> None:
    assert not np.isinf(ours).any()
    assert leading_nans(ours) == leading_nans(theirs)
    assert not np.isnan(ours[leading_nans(ours):]).any()


@settings(max_examples=60, deadline=None)
@given(x=hostile_series(), n=periods)
def test_hostile_single_input_kernels(x: np.ndarray, n: int) -> None:
    scale = float(np.max(x)) if x.size else 1.0
    cases = [
        (batch.sma(x, n), talib.SMA(x, n), scale),
        (batch.ema(x, n), talib.EMA(x, n), scale),
        (batch.rsi(x, n), talib.RSI(x, n), 100.0),
        (batch.highest(x, n), talib.MAX(x, n), scale),
        (batch.lowest(x, n), talib.MIN(x, n), scale),
    ]
    for ours, theirs, magnitude in cases:
        _assert_warmup_and_finite(ours, theirs)
        # Same arithmetic as TA-Lib; an absolute bound at the series' scale keeps the check
        # meaningful where running sums of 1e6 and 1e-6 leave rounding residue in both.
        defined = ~np.isnan(theirs)
        assert np.all(np.abs(ours[defined] - theirs[defined]) <= 1e-9 * magnitude)


@settings(max_examples=60, deadline=None)
@given(x=hostile_series(), n=periods, k=st.sampled_from([1.0, 2.0, 2.5]))
def test_hostile_bollinger_and_std(x: np.ndarray, n: int, k: float) -> None:
    upper, middle, lower = batch.bollinger(x, n, k)
    for ours, theirs in zip((upper, middle, lower), talib.BBANDS(x, n, k, k), strict=True):
        _assert_warmup_and_finite(ours, theirs)
    defined = ~np.isnan(middle)
    assert np.all(upper[defined] >= middle[defined]) and np.all(middle[defined] >= lower[defined])
    std = batch.rolling_std_bps(x, n)
    assert not np.isinf(std).any()
    assert leading_nans(std) == min(n, len(x))
    assert np.all(std[~np.isnan(std)] >= 0.0)
    # A flat window has no deviation: exactly zero, whatever came before it.
    for i in range(n, len(x)):
        if np.all(x[i - n: i + 1] == x[i]):
            assert std[i] == 0.0
        if np.all(x[i - n + 1: i + 1] == x[i]):
            assert upper[i] == middle[i] == lower[i]


@settings(max_examples=40, deadline=None)
@given(x=hostile_series(min_size=1), data=st.data())
def test_hostile_multi_input_kernels(x: np.ndarray, data: st.DataObject) -> None:
    spread = np.asarray(data.draw(st.lists(st.floats(0.0, 0.05), min_size=len(x), max_size=len(x))))
    high, low = x * (1.0 + spread), x * (1.0 - spread)
    n = data.draw(periods)
    ours_atr = batch.atr(high, low, x, n)
    _assert_warmup_and_finite(ours_atr, talib.ATR(high, low, x, n))
    ao = batch.awesome_oscillator(high, low)
    median = (high + low) / 2
    _assert_warmup_and_finite(ao, talib.SMA(median, 5) - talib.SMA(median, 34))
    fast = data.draw(st.integers(2, 12))
    slow = data.draw(st.integers(fast, 30))
    signal = data.draw(st.integers(1, 12))
    for ours, theirs in zip(batch.macd(x, fast, slow, signal), talib.MACD(x, fast, slow, signal), strict=True):
        _assert_warmup_and_finite(ours, theirs)


def test_flat_series_every_kernel() -> None:
    flat = np.full(80, 42.0)
    upper, middle, lower = batch.bollinger(flat, 20, 2.0)
    assert (upper[19:] == 42.0).all() and (lower[19:] == 42.0).all()
    assert (batch.rolling_std_bps(flat, 20)[20:] == 0.0).all()
    assert (batch.atr(flat, flat, flat, 14)[14:] == 0.0).all()
    assert all((a[33:] == 0.0).all() for a in batch.macd(flat))
    assert (batch.awesome_oscillator(flat, flat)[33:] == 0.0).all()
    assert math.isclose(batch.ema(flat, 10)[-1], 42.0)


def test_rolling_variance_survives_cancellation() -> None:
    """A tiny variance on a huge level: naive running sums of squares lose every digit here."""
    rng = np.random.default_rng(3)
    n = 20
    x = 1e6 + np.cumsum(rng.normal(0.0, 1e-4, 20_000))
    x[5_000:5_100] = 1e6  # a flat stretch: variance exactly 0
    out = np.full(len(x), np.nan)
    batch.rolling_variance_into(x, n, out, 0)
    reference = np.full(len(x), np.nan)
    reference[n - 1:] = np.lib.stride_tricks.sliding_window_view(x, n).var(axis=1)
    assert_close(out, reference, 1e-6, "variance")  # the two-pass reference itself is good to ~1e-7
    assert (out[5_000 + n - 1: 5_100] == 0.0).all()
    _upper, middle, lower = batch.bollinger(x, n, 2.0)
    width = (middle - lower)[n - 1:]
    assert_close(width, 2.0 * np.sqrt(reference[n - 1:]), 1e-6, "band width")


@pytest.mark.parametrize("n", [1, 3, 7])
def test_highest_lowest_on_monotonic_runs(n: int) -> None:
    x = np.concatenate([np.arange(30.0), np.arange(30.0)[::-1], np.full(5, 3.0)])
    np.testing.assert_array_equal(batch.highest(x, n), talib.MAX(x, n) if n > 1 else x)
    np.testing.assert_array_equal(batch.lowest(x, n), talib.MIN(x, n) if n > 1 else x)
