"""Advance a streaming indicator of `indicators.stream` over a whole array at once (numba).

`advance(indicator, xs)` (SMA, EMA, RSI, RollingVariance, Bollinger, RollingStdBps) and
`advance_atr(atr, high, low, close)` leave the object exactly as calling `update` once per value
would: same `.value` (Bollinger's upper/middle/lower too) and same `to_state()`, float for float,
so it continues identically afterwards. The research replay calls these tens of thousands of times
with short arrays, so the wrappers read and write the objects' private slots directly (no state
dicts) and a kernel call costs one numba dispatch.

Each kernel takes the object's scalar state, its window as an array and the inputs, replays the
`update` arithmetic of the stream class operation for operation (no fastmath: reordered sums would
break bit-identity), and returns the new scalars plus how many values left the window; the
wrapper rebuilds the deque as the tail of old window + inputs. The rolling variance step is
`indicators.batch._variance_step` and ATR's Wilder step `indicators.batch._fma`, shared with the
batch kernels. numba's on-disk cache tracks only this file: after editing those functions in
batch.py, touch this file (or clear its __pycache__) or the cached kernels here keep the old code.

The object may be in any state (fresh, warming up, ready, restored by `from_state`). Inputs must
be one-dimensional float64 arrays (slices and other views are fine) of finite values.
"""

from __future__ import annotations

import math
from collections import deque

import numba
import numpy as np

from indicators.batch import BPS, _fma, _true_range, _variance_step
from indicators.stream import ATR, EMA, RSI, SMA, Bollinger, RollingStdBps, RollingVariance

_F64 = np.dtype(np.float64)


# --------------------------------------------------------------------------- kernels


@numba.njit(cache=True)
def _sma_kernel(
    win: np.ndarray, xs: np.ndarray, n: int, total: float
) -> tuple[float, float, bool, int]:
    """SMA.update per value over the sequence win + xs. Returns (total, last value, produced,
    dropped): the new window is (win + xs)[dropped:]."""
    w = win.shape[0]
    value = 0.0
    produced = False
    head = 0  # index in win + xs of the window's oldest value
    length = w
    for i in range(xs.shape[0]):
        length += 1
        total = total + xs[i]
        if length < n:
            continue
        value = total / n
        produced = True
        total = total - (win[head] if head < w else xs[head - w])
        head += 1
        length -= 1
    return total, value, produced, head


@numba.njit(cache=True)
def _ema_kernel(
    xs: np.ndarray, n: int, k: float, value: float, ready: bool, count: int, total: float
) -> tuple[float, bool, int, float]:
    """EMA.update per value. Returns (value, ready, count, total)."""
    for i in range(xs.shape[0]):
        x = xs[i]
        if ready:
            value = (x - value) * k + value
        else:
            count += 1
            total += x
            if count < n:
                continue
            value = total / n
            ready = True
    return value, ready, count, total


@numba.njit(cache=True)
def _rsi_kernel(
    xs: np.ndarray, n: int, inv: float, value: float, ready: bool, count: int, prev: float, has_prev: bool,
    gain: float, loss: float,
) -> tuple[float, bool, int, float, bool, float, float]:
    """RSI.update per value. Returns (value, ready, count, prev, has_prev, gain, loss)."""
    for i in range(xs.shape[0]):
        x = xs[i]
        if not has_prev:
            prev = x
            has_prev = True
            continue
        delta = x - prev
        prev = x
        if count >= n:
            loss *= n - 1
            gain *= n - 1
        else:
            count += 1
        if delta < 0.0:
            loss -= delta
        else:
            gain += delta
        if count < n:
            continue
        loss *= inv
        gain *= inv
        total = gain + loss
        value = 100.0 * (gain / total) if total > 0.0 else 0.0
        ready = True
    return value, ready, count, prev, has_prev, gain, loss


@numba.njit(cache=True)
def _variance_kernel(
    win: np.ndarray, xs: np.ndarray, n: int, inv: float, shift: float, has_shift: bool, s1: float,
    s2: float, since: int, dirty: bool,
) -> tuple[float, bool, int, float, bool, float, float, int, bool]:
    """RollingVariance.update per value over win + xs. Returns (last variance, produced, dropped,
    shift, has_shift, s1, s2, since, dirty); the new window is (win + xs)[dropped:]."""
    w = win.shape[0]
    size = w + xs.shape[0]
    # One contiguous buffer so the window at each output is v[i - n + 1 : i + 1], as
    # _variance_step expects (it rebuilds the sums from there).
    v = np.empty(size)
    v[:w] = win
    v[w:] = xs
    var = 0.0
    produced = False
    head = 0
    for i in range(w, size):
        x = v[i]
        if not has_shift:
            shift = x
            has_shift = True
        d = x - shift
        s1 = s1 + d
        s2 = s2 + d * d
        if i + 1 - head < n:
            continue
        var, shift, s1, s2, since, dirty = _variance_step(v, i, n, inv, shift, s1, s2, since, dirty)
        produced = True
        head += 1
    return var, produced, head, shift, has_shift, s1, s2, since, dirty


@numba.njit(cache=True)
def _bollinger_kernel(
    sma_win: np.ndarray, var_win: np.ndarray, xs: np.ndarray, n: int, total: float, inv: float,
    shift: float, has_shift: bool, s1: float, s2: float, since: int, dirty: bool,
) -> tuple[tuple[float, float, bool, int], tuple[float, bool, int, float, bool, float, float, int, bool]]:
    """Both halves of Bollinger.update in one dispatch: (SMA result, variance result)."""
    return (_sma_kernel(sma_win, xs, n, total),
            _variance_kernel(var_win, xs, n, inv, shift, has_shift, s1, s2, since, dirty))


@numba.njit(cache=True)
def _std_bps_kernel(
    var_win: np.ndarray, xs: np.ndarray, prev: float, has_prev: bool, n: int, inv: float, shift: float,
    has_shift: bool, s1: float, s2: float, since: int, dirty: bool,
) -> tuple[float, np.ndarray, tuple[float, bool, int, float, bool, float, float, int, bool]]:
    """RollingStdBps.update per value: the returns (0.0 after a non-positive price), then the
    variance over them. Returns (last price, the returns, variance result)."""
    size = xs.shape[0]
    start = 0 if has_prev else 1
    returns = np.empty(max(size - start, 0))
    for i in range(start, size):
        x = xs[i]
        if i > 0:
            prev = xs[i - 1]
        returns[i - start] = (x / prev - 1.0) * BPS if prev > 0.0 else 0.0
    if size > 0:
        prev = xs[size - 1]
    return prev, returns, _variance_kernel(var_win, returns, n, inv, shift, has_shift, s1, s2, since, dirty)


@numba.njit(cache=True)
def _atr_kernel(
    high: np.ndarray, low: np.ndarray, close: np.ndarray, n: int, alpha: float, beta: float, value: float,
    ready: bool, count: int, total: float, prev_close: float, has_prev: bool,
) -> tuple[float, bool, int, float, float, bool]:
    """ATR.update per bar. Returns (value, ready, count, total, prev_close, has_prev)."""
    for i in range(close.shape[0]):
        if not has_prev:
            prev_close = close[i]
            has_prev = True
            continue
        tr = _true_range(high[i], low[i], prev_close)
        prev_close = close[i]
        if ready:
            value = _fma(beta, value, alpha * tr)  # type: ignore[call-arg]  # an intrinsic: numba supplies typingctx
        else:
            count += 1
            total += tr
            if count < n:
                continue
            value = total / n
            ready = True
    return value, ready, count, total, prev_close, has_prev


# --------------------------------------------------------------------------- wrappers


def _window_array(window: deque[float]) -> np.ndarray:
    return np.fromiter(window, _F64, len(window))


def _window_tail(window: deque[float], xs: np.ndarray, dropped: int) -> deque[float]:
    """(window + xs)[dropped:] as a deque: the old deque extended in place when it keeps some of
    its values (then fewer than n inputs are appended), else a new one from the inputs' tail."""
    w = len(window)
    if dropped >= w:
        return deque(xs[dropped - w:].tolist())
    window.extend(xs.tolist())
    for _ in range(dropped):
        window.popleft()
    return window


def _check(xs: np.ndarray, name: str = "xs") -> None:
    if xs.dtype != _F64 or xs.ndim != 1:
        raise TypeError(f"{name} must be a one-dimensional float64 array, got {xs.dtype} with shape {xs.shape}")


def _write_variance(var: RollingVariance, xs: np.ndarray,
                    result: tuple[float, bool, int, float, bool, float, float, int, bool]) -> None:
    value, produced, dropped, shift, has_shift, s1, s2, since, dirty = result
    if produced:
        var.value = value
    var._window = _window_tail(var._window, xs, dropped)
    var._shift = shift if has_shift else None
    var._s1 = s1
    var._s2 = s2
    var._since = since
    var._dirty = dirty


def _variance_args(var: RollingVariance) -> tuple[int, float, float, bool, float, float, int, bool]:
    shift = var._shift
    return (var.n, var._inv, 0.0 if shift is None else shift, shift is not None, var._s1, var._s2,
            var._since, var._dirty)


def _advance_sma(sma: SMA, xs: np.ndarray) -> None:
    window = sma._window
    total, value, produced, dropped = _sma_kernel(_window_array(window), xs, sma.n, sma._total)
    sma._total = total
    if produced:
        sma.value = value
    sma._window = _window_tail(window, xs, dropped)


def _advance_ema(ema: EMA, xs: np.ndarray) -> None:
    value = ema.value
    value, ready, ema._count, ema._total = _ema_kernel(
        xs, ema.n, ema.k, 0.0 if value is None else value, value is not None, ema._count, ema._total)
    if ready:
        ema.value = value


def _advance_rsi(rsi: RSI, xs: np.ndarray) -> None:
    value, prev = rsi.value, rsi._prev
    value, ready, rsi._count, prev, has_prev, rsi._gain, rsi._loss = _rsi_kernel(
        xs, rsi.n, rsi._inv, 0.0 if value is None else value, value is not None, rsi._count,
        0.0 if prev is None else prev, prev is not None, rsi._gain, rsi._loss)
    if ready:
        rsi.value = value
    if has_prev:
        rsi._prev = prev


def _advance_variance(var: RollingVariance, xs: np.ndarray) -> None:
    _write_variance(var, xs, _variance_kernel(_window_array(var._window), xs, *_variance_args(var)))


def _advance_bollinger(boll: Bollinger, xs: np.ndarray) -> None:
    sma, var = boll._sma, boll._var
    n, inv, shift, has_shift, s1, s2, since, dirty = _variance_args(var)
    sma_result, var_result = _bollinger_kernel(
        _window_array(sma._window), _window_array(var._window), xs, sma.n, sma._total, inv, shift, has_shift,
        s1, s2, since, dirty)
    total, middle, middle_produced, dropped = sma_result
    sma._total = total
    if middle_produced:
        sma.value = middle
    sma._window = _window_tail(sma._window, xs, dropped)
    _write_variance(var, xs, var_result)
    # Once ready, both halves produce on every value, so if both produced in this call they both
    # did on the last value, which is where Bollinger.update last set its bands.
    if middle_produced and var_result[1]:
        width = math.sqrt(var_result[0]) * boll.k
        boll.upper = upper = middle + width
        boll.middle = middle
        boll.lower = lower = middle - width
        boll.value = (upper, middle, lower)


def _advance_std_bps(std: RollingStdBps, xs: np.ndarray) -> None:
    var = std._var
    prev = std._prev
    has_prev = prev is not None
    prev, returns, var_result = _std_bps_kernel(
        _window_array(var._window), xs, 0.0 if prev is None else prev, has_prev, *_variance_args(var))
    if xs.shape[0]:
        std._prev = prev
    _write_variance(var, returns, var_result)
    if var_result[1]:
        std.value = math.sqrt(var_result[0])


_ADVANCERS = {
    SMA: _advance_sma,
    EMA: _advance_ema,
    RSI: _advance_rsi,
    RollingVariance: _advance_variance,
    Bollinger: _advance_bollinger,
    RollingStdBps: _advance_std_bps,
}


def advance(indicator: SMA | EMA | RSI | RollingVariance | Bollinger | RollingStdBps, xs: np.ndarray) -> None:
    """Feed every value of xs to indicator, in place, exactly as `indicator.update(x)` per value."""
    step = _ADVANCERS.get(type(indicator))
    if step is None:
        raise TypeError(f"advance takes SMA, EMA, RSI, RollingVariance, Bollinger or RollingStdBps, "
                        f"not {type(indicator).__name__}")
    _check(xs)
    step(indicator, xs)  # type: ignore[operator]  # the table pairs each class with its own wrapper


def advance_atr(atr: ATR, high: np.ndarray, low: np.ndarray, close: np.ndarray) -> None:
    """Feed every bar to atr, in place, exactly as `atr.update(high, low, close)` per bar."""
    if type(atr) is not ATR:
        raise TypeError(f"advance_atr takes an ATR, not {type(atr).__name__}")
    _check(high, "high")
    _check(low, "low")
    _check(close, "close")
    size = close.shape[0]
    if high.shape[0] != size or low.shape[0] != size:
        raise ValueError(f"high, low and close must have the same length, got "
                         f"{high.shape[0]}, {low.shape[0]}, {size}")
    value, prev_close = atr.value, atr._prev_close
    value, ready, atr._count, atr._total, prev_close, has_prev = _atr_kernel(
        high, low, close, atr.n, atr._alpha, atr._beta, 0.0 if value is None else value, value is not None,
        atr._count, atr._total, 0.0 if prev_close is None else prev_close, prev_close is not None)
    if ready:
        atr.value = value
    if has_prev:
        atr._prev_close = prev_close
