"""Batch indicator kernels: numba over float64 arrays, matched to TA-Lib.

Public functions (`sma`, `ema`, `rsi`, `bollinger`, `atr`, `macd`, `awesome_oscillator`,
`rolling_std_bps`, `highest`, `lowest`) take whole arrays and return new float64 arrays of the
same length. Each is a thin wrapper that validates arguments, converts the input to contiguous
float64 and allocates the outputs with numpy, then calls a `@numba.njit(cache=True)` kernel named
`<name>_into` that writes into those outputs. The kernels can be called from other numba code;
they trust their arguments (periods >= 1, equal lengths, outputs as long as the input).
Outputs are allocated by numpy on purpose: MACD with its three outputs allocated inside the
kernel by numba's runtime measured about 3x slower at 10^6 values, all of it first-touch page
faults (numpy advises the kernel to back large arrays with huge pages; numba does not).

Positions before the first defined value are NaN (the streaming classes in `indicators.stream`
report `None` there instead). The number of leading NaNs equals TA-Lib's lookback:

    sma, ema, bollinger, highest, lowest: n - 1     rsi, atr, rolling_std_bps: n
    macd: slow - 1 + signal - 1                     awesome_oscillator: slow - 1

Arithmetic is written in the same order as the streaming classes, so batch and stream agree
bit for bit (tests allow 1e-12 relative). SMA, EMA, RSI, the MACD line, AO and MAX/MIN are also
bit-identical to the installed TA-Lib; so is ATR, whose Wilder step is one fused multiply-add
as TA-Lib's (`_fma`, and `indicators.stream.fma` in the streaming class). The MACD signal
differs from TA-Lib by a few ulps (TA-Lib's build fuses multiply-adds there too), Bollinger's
deviation by rounding only.

Inputs must be finite; a NaN propagates through the running sums. Every kernel is O(len) with
no allocation in its loops. `fastmath` stays off on purpose: it would let LLVM reorder sums and
break the bit-for-bit agreement with the pure-Python streaming code.
"""

from __future__ import annotations

import math

import numba
import numpy as np
import numpy.typing as npt
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

# Rolling variance (Bollinger deviation, rolling_std_bps), shared with indicators.stream.
# Reseed the shifted sums exactly from the window every RESEED_WINDOWS windows (bounds drift), when
# the variance has lost more than ~6 significant digits to cancellation, or when the value leaving
# the window dominated what is left of the sums (a spike leaving would otherwise leave residue).
RESEED_WINDOWS = 32
CANCELLATION_RATIO = 1e-6
DOMINANCE_RATIO = 1e6
# A variance below this fraction of the shifted second moment is rounding noise: report 0.
VARIANCE_FLOOR_RATIO = 1e-12
BPS = 1e4
# Indexing with an unsigned integer tells numba the index cannot be negative, which drops the
# negative-index wraparound arithmetic it adds to every signed access: in the scan loops of
# highest/lowest that bookkeeping, not the comparisons, was the bottleneck (2x slower than TA-Lib),
# and it stops simple loops that start at a variable index from vectorising.
_U = numba.uint64


# --------------------------------------------------------------------------- kernels


@numba.njit(cache=True)
def _nan_prefix(out: np.ndarray, count: int) -> None:
    for i in range(min(count, out.shape[0])):
        out[i] = np.nan


@numba.njit(cache=True)
def sma_into(x: np.ndarray, n: int, out: np.ndarray) -> None:
    """TA-Lib's running sum: add the newest value, divide, then drop the oldest."""
    size = x.shape[0]
    _nan_prefix(out, n - 1)
    if size < n:
        return
    total = 0.0
    for i in range(n - 1):
        total += x[i]
    for i in range(n - 1, size):
        total += x[i]
        out[i] = total / n
        total -= x[i - n + 1]


@numba.njit(cache=True)
def ema_into(x: np.ndarray, n: int, out: np.ndarray) -> None:
    """k = 2/(n+1), seeded with the mean of the first n values (TA-Lib's default seeding)."""
    size = x.shape[0]
    _nan_prefix(out, n - 1)
    if size < n:
        return
    k = 2.0 / (n + 1)
    total = 0.0
    for i in range(n):
        total += x[i]
    prev = total / n
    out[n - 1] = prev
    for i in range(n, size):
        prev = (x[i] - prev) * k + prev
        out[i] = prev


@numba.njit(cache=True)
def rsi_into(x: np.ndarray, n: int, out: np.ndarray) -> None:
    """Wilder's RSI as TA-Lib computes it (unstable period 0).

    The first value (index n) uses the plain means of the first n gains and losses; later ones
    smooth them as avg = (avg * (n - 1) + today) * (1 / n). When gains and losses are both zero
    (a flat series) the result is 0.0, which is what TA-Lib returns."""
    size = x.shape[0]
    _nan_prefix(out, n)
    if size <= n:
        return
    inv = 1.0 / n
    gain = 0.0
    loss = 0.0
    prev = x[0]
    for i in range(1, n + 1):
        delta = x[i] - prev
        prev = x[i]
        if delta < 0.0:
            loss -= delta
        else:
            gain += delta
    loss *= inv
    gain *= inv
    total = gain + loss
    out[n] = 100.0 * (gain / total) if total > 0.0 else 0.0
    for i in range(n + 1, size):
        value = x[_U(i)]
        delta = value - prev
        prev = value
        loss *= n - 1
        gain *= n - 1
        if delta < 0.0:
            loss -= delta
        else:
            gain += delta
        loss *= inv
        gain *= inv
        total = gain + loss
        out[_U(i)] = 100.0 * (gain / total) if total > 0.0 else 0.0


@intrinsic
def _fma(typingctx, a, b, c):  # type: ignore[no-untyped-def]  # numba's intrinsic protocol
    """a * b + c rounded once (llvm.fma: the FMA instruction, or libm's exact fma without one)."""
    sig = types.float64(types.float64, types.float64, types.float64)

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        double = ir.DoubleType()
        fn = builder.module.declare_intrinsic("llvm.fma", [double], ir.FunctionType(double, [double] * 3))
        return builder.call(fn, args)

    return sig, codegen


@numba.njit(cache=True)
def _true_range(high: float, low: float, prev_close: float) -> float:
    greatest = high - low
    up = abs(prev_close - high)
    if up > greatest:
        greatest = up
    down = abs(prev_close - low)
    if down > greatest:
        greatest = down
    return greatest


@numba.njit(cache=True)
def atr_into(high: np.ndarray, low: np.ndarray, close: np.ndarray, n: int, out: np.ndarray) -> None:
    """Average true range with Wilder smoothing, seeded like TA-Lib.

    The first bar has no previous close, so its true range is skipped; the first ATR (index n)
    is the mean of the true ranges of bars 1..n, then atr = fma(beta, atr, alpha * tr) with
    beta = (n - 1) / n and alpha = 1 - beta: TA-Lib's two-coefficient form with the previous
    ATR's product fused, bit for bit. The loop-carried chain is then one FMA (about 4 cycles)
    where a multiply and an add (about 8) made this kernel latency-bound at 1.4-1.9x TA-Lib."""
    size = close.shape[0]
    _nan_prefix(out, n)
    if size <= n:
        return
    beta = (n - 1) / n
    alpha = 1.0 - beta
    total = 0.0
    for i in range(1, n + 1):
        total += _true_range(high[i], low[i], close[i - 1])
    prev = total / n
    out[n] = prev
    for i in range(n + 1, size):
        prev = _fma(beta, prev, alpha * _true_range(high[i], low[i], close[i - 1]))  # type: ignore[call-arg]  # an intrinsic: numba supplies typingctx
        out[i] = prev


@numba.njit(cache=True)
def macd_into(
    x: np.ndarray, fast: int, slow: int, signal: int, line: np.ndarray, sig: np.ndarray, hist: np.ndarray
) -> None:
    """MACD line, signal line and histogram, aligned as talib.MACD.

    TA-Lib seeds both price EMAs on windows that END on the same bar (slow - 1): the slow EMA on
    x[0:slow], the fast EMA on x[slow-fast:slow], so the fast EMA ignores the first slow - fast
    values. The signal EMA is seeded with the mean of the first `signal` MACD-line values. All
    three outputs are NaN before index slow - 1 + signal - 1."""
    size = x.shape[0]
    first = slow - 1 + signal - 1
    _nan_prefix(line, first)
    _nan_prefix(sig, first)
    _nan_prefix(hist, first)
    if size <= first:
        return
    k_fast = 2.0 / (fast + 1)
    k_slow = 2.0 / (slow + 1)
    k_sig = 2.0 / (signal + 1)
    slow_total = 0.0
    fast_total = 0.0
    for i in range(slow):
        slow_total += x[i]
        if i >= slow - fast:
            fast_total += x[i]
    ema_slow = slow_total / slow
    ema_fast = fast_total / fast
    value = ema_fast - ema_slow
    sig_total = 0.0
    sig_total += value
    for i in range(slow, slow + signal - 1):
        ema_fast = (x[i] - ema_fast) * k_fast + ema_fast
        ema_slow = (x[i] - ema_slow) * k_slow + ema_slow
        value = ema_fast - ema_slow
        sig_total += value
    ema_sig = sig_total / signal
    line[first] = value
    sig[first] = ema_sig
    hist[first] = value - ema_sig
    for i in range(first + 1, size):
        ema_fast = (x[i] - ema_fast) * k_fast + ema_fast
        ema_slow = (x[i] - ema_slow) * k_slow + ema_slow
        value = ema_fast - ema_slow
        ema_sig = (value - ema_sig) * k_sig + ema_sig
        line[i] = value
        sig[i] = ema_sig
        hist[i] = value - ema_sig


@numba.njit(cache=True)
def awesome_oscillator_into(high: np.ndarray, low: np.ndarray, fast: int, slow: int, out: np.ndarray) -> None:
    """SMA(fast) - SMA(slow) of the median price (high + low) / 2, with TA-Lib's running sums.

    Both sums start at bar 0, as two independent talib.SMA calls do, so the result equals
    talib.SMA(median, fast) - talib.SMA(median, slow) bit for bit."""
    size = high.shape[0]
    _nan_prefix(out, slow - 1)
    fast_total = 0.0
    slow_total = 0.0
    fast_value = 0.0
    for i in range(size):
        median = (high[i] + low[i]) / 2.0
        fast_total += median
        slow_total += median
        if i >= fast - 1:
            fast_value = fast_total / fast
            j = i - fast + 1
            fast_total -= (high[j] + low[j]) / 2.0
        if i >= slow - 1:
            out[i] = fast_value - slow_total / slow
            j = i - slow + 1
            slow_total -= (high[j] + low[j]) / 2.0


@numba.njit(cache=True, inline="always")
def _variance_step(
    v: np.ndarray, i: int, n: int, inv: float, shift: float, s1: float, s2: float, since: int, dirty: bool
) -> tuple[float, float, float, float, int, bool]:
    """One output of the rolling variance: the window v[i-n+1 : i+1] is in the sums (s1 = sum d,
    s2 = sum d*d, d = value - shift). Returns the variance, then the state after dropping
    v[i-n+1]: (var, shift, s1, s2, since, dirty). Inlined into the loops that call it."""
    since += 1
    m1 = s1 * inv
    m2 = s2 * inv
    var = m2 - m1 * m1
    if dirty or since >= RESEED_WINDOWS * n or var < CANCELLATION_RATIO * m2:
        total = 0.0
        for j in range(i - n + 1, i + 1):
            total += v[j]
        shift = total * inv
        s1 = 0.0
        s2 = 0.0
        for j in range(i - n + 1, i + 1):
            d = v[j] - shift
            s1 += d
            s2 += d * d
        since = 0
        dirty = False
        m1 = s1 * inv
        m2 = s2 * inv
        var = m2 - m1 * m1
    if var < VARIANCE_FLOOR_RATIO * m2 or var < 0.0:
        var = 0.0
    d = v[i - n + 1] - shift
    s1 -= d
    dd = d * d
    s2 -= dd
    if dd > DOMINANCE_RATIO * s2:
        dirty = True
    return var, shift, s1, s2, since, dirty


@numba.njit(cache=True)
def rolling_variance_into(v: np.ndarray, n: int, out: np.ndarray, offset: int) -> None:
    """Population variance of each window v[i-n+1 : i+1], written to out[i + offset].

    Running sums of d = value - shift (s1 = sum d, s2 = sum d*d) give the variance in O(1) per
    value as s2/n - (s1/n)^2; keeping the shift near the window mean keeps that subtraction from
    cancelling. The sums are reseeded exactly from the window (shift = window mean) on the
    conditions described at RESEED_WINDOWS. Leaves out[:n - 1 + offset] untouched.
    Mirrors `indicators.stream.RollingVariance` step for step."""
    size = v.shape[0]
    if size < n:
        return
    inv = 1.0 / n
    shift = v[0]
    s1 = 0.0
    s2 = 0.0
    since = 0
    dirty = False
    for i in range(size):
        d = v[i] - shift
        s1 += d
        s2 += d * d
        if i >= n - 1:
            var, shift, s1, s2, since, dirty = _variance_step(v, i, n, inv, shift, s1, s2, since, dirty)
            out[i + offset] = var


@numba.njit(cache=True)
def bollinger_into(
    x: np.ndarray, n: int, k: float, upper: np.ndarray, middle: np.ndarray, lower: np.ndarray
) -> None:
    """middle = SMA(n) (TA-Lib's running sum exactly); upper/lower = middle +/- k * population std.

    One pass: the SMA sum and the variance sums are independent recurrences, so fusing them lets
    the CPU overlap their latencies."""
    size = x.shape[0]
    _nan_prefix(upper, n - 1)
    _nan_prefix(middle, n - 1)
    _nan_prefix(lower, n - 1)
    if size < n:
        return
    inv = 1.0 / n
    total = 0.0
    shift = x[0]
    s1 = 0.0
    s2 = 0.0
    since = 0
    dirty = False
    for i in range(size):
        value = x[i]
        total += value
        d = value - shift
        s1 += d
        s2 += d * d
        if i >= n - 1:
            mean = total / n
            total -= x[i - n + 1]
            var, shift, s1, s2, since, dirty = _variance_step(x, i, n, inv, shift, s1, s2, since, dirty)
            width = math.sqrt(var) * k
            middle[i] = mean
            upper[i] = mean + width
            lower[i] = mean - width


@numba.njit(cache=True)
def returns_bps_into(x: np.ndarray, out: np.ndarray) -> None:
    """out[i - 1] = (x[i] / x[i - 1] - 1) * 1e4 for i >= 1 (out has len(x) - 1 slots).

    A non-positive previous price has no defined return; it counts as no move (0.0) so one bad
    tick cannot put inf into the window. Same rule as `indicators.stream.RollingStdBps`."""
    for i in range(1, x.shape[0]):
        prev = x[i - 1]
        out[i - 1] = (x[i] / prev - 1.0) * BPS if prev > 0.0 else 0.0


@numba.njit(cache=True)
def rolling_std_bps_into(x: np.ndarray, n: int, returns: np.ndarray, out: np.ndarray) -> None:
    """Population std (bps) of the last n returns; `returns` is scratch of len(x) - 1 slots.

    Three simple passes (returns, variance, square root) measure faster than one fused loop: the
    division and square root passes vectorise, and stay off the variance's dependency chain."""
    size = x.shape[0]
    _nan_prefix(out, n)
    if size <= n:
        return
    returns_bps_into(x, returns)
    rolling_variance_into(returns, n, out, 1)
    for i in range(n, size):
        out[_U(i)] = math.sqrt(out[_U(i)])


@numba.njit(cache=True)
def highest_into(x: np.ndarray, n: int, suffix: np.ndarray, prefix: np.ndarray, out: np.ndarray) -> None:
    """Max of each window of n values (talib.MAX), van Herk / Gil-Werman block scan.

    Cut the series into blocks of n. A window ending inside block b+1 is the tail of block b plus
    the head of block b+1, so its max is max(suffix max of b, prefix max of b+1): three comparisons
    per value whatever n is, with no data-dependent branching. `suffix` and `prefix` are scratch of
    n slots each."""
    size = x.shape[0]
    _nan_prefix(out, n - 1)
    start = 0
    while start + n - 1 < size:
        end = start + n - 1  # block [start, end] is complete
        best = x[_U(end)]
        suffix[_U(n - 1)] = best
        for j in range(n - 2, -1, -1):
            value = x[_U(start + j)]
            best = value if value > best else best
            suffix[_U(j)] = best
        out[_U(end)] = best
        avail = min(n - 1, size - 1 - end)  # windows ending in the next block, as far as data go
        if avail > 0:
            best = x[_U(end + 1)]
            prefix[0] = best
            for t in range(1, avail):
                value = x[_U(end + 1 + t)]
                best = value if value > best else best
                prefix[_U(t)] = best
            for t in range(1, avail + 1):
                a = suffix[_U(t)]
                b = prefix[_U(t - 1)]
                out[_U(end + t)] = b if b > a else a
        start += n


@numba.njit(cache=True)
def lowest_into(x: np.ndarray, n: int, suffix: np.ndarray, prefix: np.ndarray, out: np.ndarray) -> None:
    """Min of each window of n values (talib.MIN); the mirror of `highest_into`."""
    size = x.shape[0]
    _nan_prefix(out, n - 1)
    start = 0
    while start + n - 1 < size:
        end = start + n - 1
        best = x[_U(end)]
        suffix[_U(n - 1)] = best
        for j in range(n - 2, -1, -1):
            value = x[_U(start + j)]
            best = value if value < best else best
            suffix[_U(j)] = best
        out[_U(end)] = best
        avail = min(n - 1, size - 1 - end)
        if avail > 0:
            best = x[_U(end + 1)]
            prefix[0] = best
            for t in range(1, avail):
                value = x[_U(end + 1 + t)]
                best = value if value < best else best
                prefix[_U(t)] = best
            for t in range(1, avail + 1):
                a = suffix[_U(t)]
                b = prefix[_U(t - 1)]
                out[_U(end + t)] = b if b < a else a
        start += n


# --------------------------------------------------------------------------- public API


def _as_series(x: npt.ArrayLike, name: str = "x") -> np.ndarray:
    array = np.ascontiguousarray(x, dtype=np.float64)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {array.shape}")
    return array


def _check_period(n: int, name: str = "n") -> int:
    if isinstance(n, bool) or int(n) != n or n < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {n!r}")
    return int(n)


def _same_length(*arrays: np.ndarray) -> None:
    if len({a.shape[0] for a in arrays}) != 1:
        raise ValueError(f"inputs must have the same length, got {[a.shape[0] for a in arrays]}")


def sma(x: npt.ArrayLike, n: int) -> np.ndarray:
    """Simple moving average over n values (talib.SMA)."""
    x = _as_series(x)
    out = np.empty(x.shape[0])
    sma_into(x, _check_period(n), out)
    return out


def ema(x: npt.ArrayLike, n: int) -> np.ndarray:
    """Exponential moving average, k = 2/(n+1), seeded with the SMA of the first n (talib.EMA)."""
    x = _as_series(x)
    out = np.empty(x.shape[0])
    ema_into(x, _check_period(n), out)
    return out


def rsi(x: npt.ArrayLike, n: int = 14) -> np.ndarray:
    """Wilder's relative strength index (talib.RSI); 0.0 on a flat window, as TA-Lib."""
    x = _as_series(x)
    out = np.empty(x.shape[0])
    rsi_into(x, _check_period(n), out)
    return out


def bollinger(x: npt.ArrayLike, n: int = 20, k: float = 2.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(upper, middle, lower): SMA(n) +/- k * population std (talib.BBANDS(x, n, k, k))."""
    x = _as_series(x)
    if not math.isfinite(k) or k < 0.0:
        raise ValueError(f"k must be finite and >= 0, got {k!r}")
    upper, middle, lower = np.empty(x.shape[0]), np.empty(x.shape[0]), np.empty(x.shape[0])
    bollinger_into(x, _check_period(n), float(k), upper, middle, lower)
    return upper, middle, lower


def atr(high: npt.ArrayLike, low: npt.ArrayLike, close: npt.ArrayLike, n: int = 14) -> np.ndarray:
    """Average true range with Wilder smoothing (talib.ATR)."""
    high, low, close = _as_series(high, "high"), _as_series(low, "low"), _as_series(close, "close")
    _same_length(high, low, close)
    out = np.empty(close.shape[0])
    atr_into(high, low, close, _check_period(n), out)
    return out


def macd(
    x: npt.ArrayLike, fast: int = 12, slow: int = 26, signal: int = 9
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(macd, signal, hist) aligned as talib.MACD(x, fast, slow, signal)."""
    x = _as_series(x)
    fast, slow, signal = _check_period(fast, "fast"), _check_period(slow, "slow"), _check_period(signal, "signal")
    if fast > slow:
        raise ValueError(f"fast ({fast}) must not exceed slow ({slow})")
    line, sig, hist = np.empty(x.shape[0]), np.empty(x.shape[0]), np.empty(x.shape[0])
    macd_into(x, fast, slow, signal, line, sig, hist)
    return line, sig, hist


def awesome_oscillator(high: npt.ArrayLike, low: npt.ArrayLike, fast: int = 5, slow: int = 34) -> np.ndarray:
    """SMA(fast) - SMA(slow) of the median price (high + low) / 2."""
    high, low = _as_series(high, "high"), _as_series(low, "low")
    _same_length(high, low)
    fast, slow = _check_period(fast, "fast"), _check_period(slow, "slow")
    if fast > slow:
        raise ValueError(f"fast ({fast}) must not exceed slow ({slow})")
    out = np.empty(high.shape[0])
    awesome_oscillator_into(high, low, fast, slow, out)
    return out


def rolling_std_bps(x: npt.ArrayLike, n: int) -> np.ndarray:
    """Population std, in bps, of the last n returns r_i = (x_i / x_{i-1} - 1) * 1e4.

    out[i] covers r_{i-n+1} .. r_i, so the first value is at index n (n returns need n + 1
    prices). Identical to `indicators.stream.RollingStdBps`."""
    x = _as_series(x)
    out = np.empty(x.shape[0])
    rolling_std_bps_into(x, _check_period(n), np.empty(max(x.shape[0] - 1, 0)), out)
    return out


def highest(x: npt.ArrayLike, n: int) -> np.ndarray:
    """Highest value over the last n values, the current one included (talib.MAX)."""
    x = _as_series(x)
    n = _check_period(n)
    out = np.empty(x.shape[0])
    highest_into(x, n, np.empty(n), np.empty(n), out)
    return out


def lowest(x: npt.ArrayLike, n: int) -> np.ndarray:
    """Lowest value over the last n values, the current one included (talib.MIN)."""
    x = _as_series(x)
    n = _check_period(n)
    out = np.empty(x.shape[0])
    lowest_into(x, n, np.empty(n), np.empty(n), out)
    return out
