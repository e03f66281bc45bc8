"""Streaming indicators: O(1) pure-Python updates, one call per event, for the live path.

Every class here has `update(...)` returning the new value (or `None` while warming up),
`.value` (the last value, `None` until defined — the batch kernels use NaN there instead),
`.ready`, and `to_state()` / `from_state()` so a strategy can persist an indicator mid-stream and
restore it later: a restored indicator continues with bit-identical values. States are plain
dicts of JSON types (ints, floats, lists, None, nested dicts).

The arithmetic mirrors `indicators.batch` operation for operation, so a stream fed a series
reproduces the batch kernel's array bit for bit; see there for the TA-Lib seeding rules. This
module imports neither numba nor numpy: keep it that way, the live path stays light.

Inputs must be finite floats (a NaN would stay in running sums until the window is rebuilt).
"""

from __future__ import annotations

import math
import operator
from collections import deque
from typing import Any, Self

# Rolling variance tuning; must equal the constants of the same names in indicators/batch.py
# (duplicated rather than imported so numba's on-disk cache can never hold a stale copy; a test
# checks they agree). See RollingVariance for what each does.
RESEED_WINDOWS = 32
CANCELLATION_RATIO = 1e-6
DOMINANCE_RATIO = 1e6
VARIANCE_FLOOR_RATIO = 1e-12
BPS = 1e4

State = dict[str, Any]


_SPLITTER = 134217729.0  # 2**27 + 1: Veltkamp's split of a double into two halves of <= 26 bits


def split(x: float) -> tuple[float, float]:
    """(hi, lo) with hi + lo == x exactly and each product of two halves exact (Dekker)."""
    t = x * _SPLITTER
    hi = t - (t - x)
    return hi, x - hi


def fma_split(a_hi: float, a_lo: float, b: float, c: float) -> float:
    """(a_hi + a_lo) * b + c rounded once, for finite inputs and a = split(a): the four half
    products are exact and math.fsum rounds their exact sum with c once. Magnitudes where a
    half product could overflow or lose bits to underflow take the exact integer route."""
    if b == 0.0:
        return (a_hi + a_lo) * b + c
    if not (1e-250 < abs(b) < 1e250 and 1e-250 < abs(a_hi) < 1e250):
        return _exact_fma(a_hi + a_lo, b, c)
    t = b * _SPLITTER
    b_hi = t - (t - b)
    b_lo = b - b_hi
    return math.fsum((a_hi * b_hi, a_hi * b_lo, a_lo * b_hi, a_lo * b_lo, c))


def _exact_fma(a: float, b: float, c: float) -> float:
    """a * b + c rounded once: the exact value as a ratio of integers; int / int rounds correctly."""
    na, da = a.as_integer_ratio()
    nb, db = b.as_integer_ratio()
    nc, dc = c.as_integer_ratio()
    return (na * nb * dc + nc * da * db) / (da * db * dc)


def _fma_fallback(a: float, b: float, c: float) -> float:
    return fma_split(*split(a), b, c) if 1e-250 < abs(a) < 1e250 else _exact_fma(a, b, c)


# a * b + c rounded once, as llvm.fma in indicators.batch (math.fma exists from Python 3.13)
fma = getattr(math, "fma", _fma_fallback)
_FMA = getattr(math, "fma", None)


def _check_period(n: int, name: str = "n") -> int:
    try:
        period = operator.index(n)  # ints, numpy ints; not floats
    except TypeError:
        period = 0
    if isinstance(n, bool) or period < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {n!r}")
    return period


def _check_kind(state: State, kind: str) -> None:
    if state.get("kind") != kind:
        raise ValueError(f"state is for {state.get('kind')!r}, not {kind!r}")


class SMA:
    """Simple moving average over n values, TA-Lib's running sum (add, divide, drop oldest)."""

    __slots__ = ("n", "value", "_window", "_total")

    def __init__(self, n: int) -> None:
        self.n = _check_period(n)
        self.value: float | None = None
        self._window: deque[float] = deque()
        self._total = 0.0  # sum of the window minus its oldest value once full

    @property
    def ready(self) -> bool:
        return self.value is not None

    def update(self, x: float) -> float | None:
        window = self._window
        window.append(x)
        total = self._total + x
        if len(window) < self.n:
            self._total = total
            return None
        self.value = value = total / self.n
        self._total = total - window.popleft()
        return value

    def to_state(self) -> State:
        return {"kind": "SMA", "n": self.n, "value": self.value, "window": list(self._window),
                "total": self._total}

    @classmethod
    def from_state(cls, state: State) -> Self:
        _check_kind(state, "SMA")
        obj = cls(state["n"])
        obj.value = state["value"]
        obj._window = deque(state["window"])
        obj._total = state["total"]
        return obj


class EMA:
    """Exponential moving average, k = 2/(n+1), seeded with the SMA of the first n values."""

    __slots__ = ("n", "k", "value", "_count", "_total")

    def __init__(self, n: int) -> None:
        self.n = _check_period(n)
        self.k = 2.0 / (n + 1)
        self.value: float | None = None
        self._count = 0  # values seen during the seed
        self._total = 0.0  # their sum

    @property
    def ready(self) -> bool:
        return self.value is not None

    def update(self, x: float) -> float | None:
        value = self.value
        if value is not None:
            value = (x - value) * self.k + value
        else:
            self._count += 1
            self._total += x
            if self._count < self.n:
                return None
            value = self._total / self.n
        self.value = value
        return value

    def to_state(self) -> State:
        return {"kind": "EMA", "n": self.n, "value": self.value, "count": self._count, "total": self._total}

    @classmethod
    def from_state(cls, state: State) -> Self:
        _check_kind(state, "EMA")
        obj = cls(state["n"])
        obj.value = state["value"]
        obj._count = state["count"]
        obj._total = state["total"]
        return obj


class RSI:
    """Wilder's RSI as TA-Lib computes it; 0.0 when there was neither gain nor loss (flat)."""

    __slots__ = ("n", "value", "_inv", "_count", "_prev", "_gain", "_loss")

    def __init__(self, n: int = 14) -> None:
        self.n = _check_period(n)
        self._inv = 1.0 / n
        self.value: float | None = None
        self._count = 0  # price changes seen, counted up to n + 1 only
        self._prev: float | None = None
        self._gain = 0.0
        self._loss = 0.0

    @property
    def ready(self) -> bool:
        return self.value is not None

    def update(self, x: float) -> float | None:
        prev = self._prev
        self._prev = x
        if prev is None:
            return None
        delta = x - prev
        n = self.n
        gain = self._gain
        loss = self._loss
        count = self._count
        if count >= n:  # past the seed: Wilder's smoothing (avg * (n - 1) + today) / n
            loss *= n - 1
            gain *= n - 1
        else:
            count += 1
            self._count = count
        if delta < 0.0:
            loss -= delta
        else:
            gain += delta
        if count < n:
            self._gain = gain
            self._loss = loss
            return None
        inv = self._inv
        loss *= inv
        gain *= inv
        self._gain = gain
        self._loss = loss
        total = gain + loss
        self.value = value = 100.0 * (gain / total) if total > 0.0 else 0.0
        return value

    def to_state(self) -> State:
        return {"kind": "RSI", "n": self.n, "value": self.value, "count": self._count, "prev": self._prev,
                "gain": self._gain, "loss": self._loss}

    @classmethod
    def from_state(cls, state: State) -> Self:
        _check_kind(state, "RSI")
        obj = cls(state["n"])
        obj.value = state["value"]
        obj._count = state["count"]
        obj._prev = state["prev"]
        obj._gain = state["gain"]
        obj._loss = state["loss"]
        return obj


class RollingVariance:
    """Population variance of the last n values in O(1) per update, without cancellation.

    Keeps s1 = sum(d) and s2 = sum(d*d) of d = value - shift over the window; the variance is
    s2/n - (s1/n)^2, accurate while the shift stays near the window mean. The sums are rebuilt
    exactly from the window (shift := window mean) every RESEED_WINDOWS * n values, whenever the
    variance has lost more than ~6 digits to cancellation (< CANCELLATION_RATIO of s2/n), and on
    the next update after a value leaving the window dominated the remaining s2 (a spike leaving
    would otherwise leave rounding residue behind). A variance under VARIANCE_FLOOR_RATIO of s2/n
    is rounding noise and reads 0.0, so a flat window gives exactly 0. The rebuild is O(n) but
    rare, so the amortised cost stays O(1). Same steps as `indicators.batch.rolling_variance_into`.
    """

    __slots__ = ("n", "value", "_inv", "_window", "_shift", "_s1", "_s2", "_since", "_dirty")

    def __init__(self, n: int) -> None:
        self.n = _check_period(n)
        self._inv = 1.0 / n
        self.value: float | None = None
        self._window: deque[float] = deque()
        self._shift: float | None = None
        self._s1 = 0.0
        self._s2 = 0.0
        self._since = 0  # outputs since the last rebuild
        self._dirty = False  # rebuild at the next output

    @property
    def ready(self) -> bool:
        return self.value is not None

    def update(self, x: float) -> float | None:
        window = self._window
        shift = self._shift
        if shift is None:
            self._shift = shift = x
        d = x - shift
        s1 = self._s1 + d
        s2 = self._s2 + d * d
        window.append(x)
        if len(window) < self.n:
            self._s1 = s1
            self._s2 = s2
            return None
        inv = self._inv
        since = self._since + 1
        m1 = s1 * inv
        m2 = s2 * inv
        var = m2 - m1 * m1
        if self._dirty or since >= RESEED_WINDOWS * self.n or var < CANCELLATION_RATIO * m2:
            total = 0.0
            for w in window:  # explicit loops: sum() may compensate (3.12+) and break bit-identity
                total += w
            self._shift = shift = total * inv
            s1 = 0.0
            s2 = 0.0
            for w in window:
                d = w - shift
                s1 += d
                s2 += d * d
            since = 0
            self._dirty = False
            m1 = s1 * inv
            m2 = s2 * inv
            var = m2 - m1 * m1
        if var < VARIANCE_FLOOR_RATIO * m2 or var < 0.0:
            var = 0.0
        d = window.popleft() - shift
        s1 -= d
        dd = d * d
        s2 -= dd
        if dd > DOMINANCE_RATIO * s2:
            self._dirty = True
        self._s1 = s1
        self._s2 = s2
        self._since = since
        self.value = var
        return var

    def to_state(self) -> State:
        return {"kind": "RollingVariance", "n": self.n, "value": self.value, "window": list(self._window),
                "shift": self._shift, "s1": self._s1, "s2": self._s2, "since": self._since,
                "dirty": self._dirty}

    @classmethod
    def from_state(cls, state: State) -> Self:
        _check_kind(state, "RollingVariance")
        obj = cls(state["n"])
        obj.value = state["value"]
        obj._window = deque(state["window"])
        obj._shift = state["shift"]
        obj._s1 = state["s1"]
        obj._s2 = state["s2"]
        obj._since = state["since"]
        obj._dirty = state["dirty"]
        return obj


class Bollinger:
    """Bollinger bands: middle = SMA(n), upper/lower = middle +/- k * population std.

    `update` returns and `.value` holds (upper, middle, lower); also `.upper/.middle/.lower`."""

    __slots__ = ("n", "k", "value", "upper", "middle", "lower", "_sma", "_var")

    def __init__(self, n: int = 20, k: float = 2.0) -> None:
        self.n = _check_period(n)
        if not math.isfinite(k) or k < 0.0:
            raise ValueError(f"k must be finite and >= 0, got {k!r}")
        self.k = float(k)
        self.value: tuple[float, float, float] | None = None
        self.upper: float | None = None
        self.middle: float | None = None
        self.lower: float | None = None
        self._sma = SMA(n)
        self._var = RollingVariance(n)

    @property
    def ready(self) -> bool:
        return self.value is not None

    def update(self, x: float) -> tuple[float, float, float] | None:
        middle = self._sma.update(x)
        var = self._var.update(x)
        if middle is None or var is None:
            return None
        width = math.sqrt(var) * self.k
        self.upper = upper = middle + width
        self.middle = middle
        self.lower = lower = middle - width
        self.value = value = (upper, middle, lower)
        return value

    def to_state(self) -> State:
        return {"kind": "Bollinger", "n": self.n, "k": self.k, "sma": self._sma.to_state(),
                "var": self._var.to_state(), "value": None if self.value is None else list(self.value)}

    @classmethod
    def from_state(cls, state: State) -> Self:
        _check_kind(state, "Bollinger")
        obj = cls(state["n"], state["k"])
        obj._sma = SMA.from_state(state["sma"])
        obj._var = RollingVariance.from_state(state["var"])
        if state["value"] is not None:
            obj.upper, obj.middle, obj.lower = state["value"]
            obj.value = (obj.upper, obj.middle, obj.lower)
        return obj


class ATR:
    """Average true range with Wilder smoothing, seeded as TA-Lib: the first bar only supplies a
    previous close; the first ATR is the mean of the next n true ranges; then
    atr = fma(beta, atr, alpha * tr) with beta = (n - 1) / n, alpha = 1 - beta (fused, as TA-Lib
    and indicators.batch.atr_into)."""

    __slots__ = ("n", "value", "_alpha", "_beta", "_beta_hi", "_beta_lo", "_count", "_total", "_prev_close")

    def __init__(self, n: int = 14) -> None:
        self.n = _check_period(n)
        self._beta = (n - 1) / n
        self._alpha = 1.0 - self._beta
        self._beta_hi, self._beta_lo = split(self._beta)
        self.value: float | None = None
        self._count = 0  # true ranges in the seed
        self._total = 0.0
        self._prev_close: float | None = None

    @property
    def ready(self) -> bool:
        return self.value is not None

    def update(self, high: float, low: float, close: float) -> float | None:
        prev_close = self._prev_close
        self._prev_close = close
        if prev_close is None:
            return None
        tr = high - low
        up = abs(prev_close - high)
        if up > tr:
            tr = up
        down = abs(prev_close - low)
        if down > tr:
            tr = down
        value = self.value
        if value is not None:
            value = _FMA(self._beta, value, self._alpha * tr) if _FMA else fma_split(
                self._beta_hi, self._beta_lo, value, self._alpha * tr
            )
        else:
            self._count += 1
            self._total += tr
            if self._count < self.n:
                return None
            value = self._total / self.n
        self.value = value
        return value

    def to_state(self) -> State:
        return {"kind": "ATR", "n": self.n, "value": self.value, "count": self._count, "total": self._total,
                "prev_close": self._prev_close}

    @classmethod
    def from_state(cls, state: State) -> Self:
        _check_kind(state, "ATR")
        obj = cls(state["n"])
        obj.value = state["value"]
        obj._count = state["count"]
        obj._total = state["total"]
        obj._prev_close = state["prev_close"]
        return obj


class MACD:
    """MACD aligned as talib.MACD: the fast EMA skips the first slow - fast values so both price
    EMAs seed on windows ending on the same bar; the signal EMA seeds on the first `signal`
    MACD-line values. `update` returns and `.value` holds (macd, signal, hist); also
    `.macd/.signal/.hist`."""

    __slots__ = ("fast", "slow", "signal_n", "value", "macd", "signal", "hist", "_count", "_fast",
                 "_slow", "_signal")

    def __init__(self, fast: int = 12, slow: int = 26, signal: int = 9) -> None:
        self.fast = _check_period(fast, "fast")
        self.slow = _check_period(slow, "slow")
        self.signal_n = _check_period(signal, "signal")
        if fast > slow:
            raise ValueError(f"fast ({fast}) must not exceed slow ({slow})")
        self.value: tuple[float, float, float] | None = None
        self.macd: float | None = None
        self.signal: float | None = None
        self.hist: float | None = None
        self._count = 0  # values seen, counted up to slow - fast only
        self._fast = EMA(fast)
        self._slow = EMA(slow)
        self._signal = EMA(signal)

    @property
    def ready(self) -> bool:
        return self.value is not None

    def update(self, x: float) -> tuple[float, float, float] | None:
        slow = self._slow.update(x)
        if self._count < self.slow - self.fast:
            self._count += 1
            return None
        fast = self._fast.update(x)
        if slow is None or fast is None:
            return None
        line = fast - slow
        sig = self._signal.update(line)
        if sig is None:
            return None
        self.macd = line
        self.signal = sig
        self.hist = hist = line - sig
        self.value = value = (line, sig, hist)
        return value

    def to_state(self) -> State:
        return {"kind": "MACD", "fast": self.fast, "slow": self.slow, "signal": self.signal_n,
                "count": self._count, "fast_ema": self._fast.to_state(), "slow_ema": self._slow.to_state(),
                "signal_ema": self._signal.to_state(),
                "value": None if self.value is None else list(self.value)}

    @classmethod
    def from_state(cls, state: State) -> Self:
        _check_kind(state, "MACD")
        obj = cls(state["fast"], state["slow"], state["signal"])
        obj._count = state["count"]
        obj._fast = EMA.from_state(state["fast_ema"])
        obj._slow = EMA.from_state(state["slow_ema"])
        obj._signal = EMA.from_state(state["signal_ema"])
        if state["value"] is not None:
            obj.macd, obj.signal, obj.hist = state["value"]
            obj.value = (obj.macd, obj.signal, obj.hist)
        return obj


class AwesomeOscillator:
    """SMA(fast) - SMA(slow) of the median price (high + low) / 2; defined from the slow-th bar."""

    __slots__ = ("fast", "slow", "value", "_fast", "_slow")

    def __init__(self, fast: int = 5, slow: int = 34) -> None:
        self.fast = _check_period(fast, "fast")
        self.slow = _check_period(slow, "slow")
        if fast > slow:
            raise ValueError(f"fast ({fast}) must not exceed slow ({slow})")
        self.value: float | None = None
        self._fast = SMA(fast)
        self._slow = SMA(slow)

    @property
    def ready(self) -> bool:
        return self.value is not None

    def update(self, high: float, low: float) -> float | None:
        median = (high + low) / 2.0
        fast = self._fast.update(median)
        slow = self._slow.update(median)
        if slow is None or fast is None:
            return None
        self.value = value = fast - slow
        return value

    def to_state(self) -> State:
        return {"kind": "AwesomeOscillator", "fast": self.fast, "slow": self.slow, "value": self.value,
                "fast_sma": self._fast.to_state(), "slow_sma": self._slow.to_state()}

    @classmethod
    def from_state(cls, state: State) -> Self:
        _check_kind(state, "AwesomeOscillator")
        obj = cls(state["fast"], state["slow"])
        obj.value = state["value"]
        obj._fast = SMA.from_state(state["fast_sma"])
        obj._slow = SMA.from_state(state["slow_sma"])
        return obj


class RollingStdBps:
    """Population std, in bps, of the last n returns r_i = (x_i / x_{i-1} - 1) * 1e4.

    Defined from the (n + 1)-th price. A non-positive previous price has no defined return and
    counts as 0 (no move), so one bad tick cannot put inf into the window."""

    __slots__ = ("n", "value", "_prev", "_var")

    def __init__(self, n: int = 20) -> None:
        self.n = _check_period(n)
        self.value: float | None = None
        self._prev: float | None = None
        self._var = RollingVariance(n)

    @property
    def ready(self) -> bool:
        return self.value is not None

    def update(self, x: float) -> float | None:
        prev = self._prev
        self._prev = x
        if prev is None:
            return None
        var = self._var.update((x / prev - 1.0) * BPS if prev > 0.0 else 0.0)
        if var is None:
            return None
        self.value = value = math.sqrt(var)
        return value

    def to_state(self) -> State:
        return {"kind": "RollingStdBps", "n": self.n, "value": self.value, "prev": self._prev,
                "var": self._var.to_state()}

    @classmethod
    def from_state(cls, state: State) -> Self:
        _check_kind(state, "RollingStdBps")
        obj = cls(state["n"])
        obj.value = state["value"]
        obj._prev = state["prev"]
        obj._var = RollingVariance.from_state(state["var"])
        return obj


class _RollingExtreme:
    """Max or min of the last n values with a monotonic deque of (index, value).

    The deque holds the window's candidates in arrival order with values strictly decreasing
    (max) or increasing (min); a new value evicts every candidate it beats from the back, so each
    value enters and leaves once: amortised O(1)."""

    __slots__ = ("n", "value", "_count", "_deque")
    _KIND = ""
    _IS_MAX = True

    def __init__(self, n: int) -> None:
        self.n = _check_period(n)
        self.value: float | None = None
        self._count = 0  # index of the next value
        self._deque: deque[tuple[int, float]] = deque()

    @property
    def ready(self) -> bool:
        return self.value is not None

    def update(self, x: float) -> float | None:
        dq = self._deque
        if self._IS_MAX:
            while dq and dq[-1][1] <= x:
                dq.pop()
        else:
            while dq and dq[-1][1] >= x:
                dq.pop()
        i = self._count
        self._count = i + 1
        dq.append((i, x))
        if dq[0][0] <= i - self.n:
            dq.popleft()
        if i < self.n - 1:
            return None
        self.value = value = dq[0][1]
        return value

    def to_state(self) -> State:
        return {"kind": self._KIND, "n": self.n, "value": self.value, "count": self._count,
                "deque": [[i, v] for i, v in self._deque]}

    @classmethod
    def from_state(cls, state: State) -> Self:
        _check_kind(state, cls._KIND)
        obj = cls(state["n"])
        obj.value = state["value"]
        obj._count = state["count"]
        obj._deque = deque((int(i), v) for i, v in state["deque"])
        return obj


class Highest(_RollingExtreme):
    """Highest of the last n values, the current one included (talib.MAX)."""

    __slots__ = ()
    _KIND = "Highest"
    _IS_MAX = True


class Lowest(_RollingExtreme):
    """Lowest of the last n values, the current one included (talib.MIN)."""

    __slots__ = ()
    _KIND = "Lowest"
    _IS_MAX = False
