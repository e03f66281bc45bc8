"""ATR's fused Wilder step: the pure-Python fma is correctly rounded, and the batch ATR is now
bit-identical to TA-Lib's (which fuses that step) and to the streaming class."""

from __future__ import annotations

import random
from fractions import Fraction

import numpy as np
import pytest

from indicators import batch, stream

talib = pytest.importorskip("talib")


def _exact(a: float, b: float, c: float) -> float:
    return float(Fraction(a) * Fraction(b) + Fraction(c))


def test_fma_fallback_rounds_once() -> None:
    rng = random.Random(5)
    cases = [(0.0, 1.0, -0.0), (13 / 14, 0.0, 0.0), (13 / 14, 1e-300, 1e-310), (1e200, 1e100, -1e300)]
    for _ in range(50_000):
        a, b, c = (rng.choice((-1, 1)) * rng.uniform(0, 10) * 10 ** rng.uniform(-150, 150) for _ in range(3))
        if rng.random() < 0.3:
            c = -float(Fraction(a) * Fraction(b))  # the product's rounding error is all that is left
        cases.append((a, b, c))
    for a, b, c in cases:
        assert stream._fma_fallback(a, b, c) == _exact(a, b, c), (a, b, c)
    # where a plain multiply-add rounds twice, the fused one does not
    assert any(a * b + c != _exact(a, b, c) for a, b, c in cases)


def test_atr_is_talibs_bit_for_bit_and_the_streams() -> None:
    rng = np.random.default_rng(11)
    close = 150.0 * np.exp(np.cumsum(rng.normal(0.0, 1e-3, 20_000)))
    high = close * (1.0 + np.abs(rng.normal(0.0, 5e-4, close.size)))
    low = close * (1.0 - np.abs(rng.normal(0.0, 5e-4, close.size)))
    for n in (1, 2, 14, 30):
        ours = batch.atr(high, low, close, n)
        np.testing.assert_array_equal(ours, talib.ATR(high, low, close, n))
        atr = stream.ATR(n)
        streamed = [atr.update(h, lo, c) for h, lo, c in zip(high.tolist(), low.tolist(), close.tolist(), strict=True)]
        np.testing.assert_array_equal(ours, np.array([np.nan if v is None else v for v in streamed]))
