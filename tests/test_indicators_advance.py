"""indicators.advance: feeding an array at once leaves a stream indicator exactly as `update`
per value would (same `.value`, same `to_state()` float for float), chunk after chunk, from any
state, including restored ones."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from indicators import stream
from indicators.advance import advance, advance_atr
from tests.test_indicators_batch import hostile_series

Factory = Callable[[int], Any]
FACTORIES: dict[str, Factory] = {
    "sma": stream.SMA,
    "ema": stream.EMA,
    "rsi": stream.RSI,
    "variance": stream.RollingVariance,
    "bollinger": lambda n: stream.Bollinger(n, 1.5),
    "std_bps": stream.RollingStdBps,
}


def same(ours: Any, theirs: Any, where: str) -> None:
    """Exactly equal state and value; repr also tells 0.0 from -0.0."""
    assert ours.to_state() == theirs.to_state(), where
    assert repr(ours.to_state()) == repr(theirs.to_state()), where
    assert ours.value == theirs.value and repr(ours.value) == repr(theirs.value), where
    if isinstance(ours, stream.Bollinger):
        assert (ours.upper, ours.middle, ours.lower) == (theirs.upper, theirs.middle, theirs.lower), where


@st.composite
def series(draw: st.DrawFn) -> np.ndarray:
    """hostile_series (flat runs, spikes, walks), sometimes with non-positive prices mixed in
    (RollingStdBps counts their returns as 0) or repeated past 32 windows of a short period."""
    x = draw(hostile_series(min_size=0, max_size=300))
    if x.size and draw(st.booleans()):
        spots = draw(st.lists(st.integers(0, x.size - 1), max_size=4))
        x[spots] = draw(st.sampled_from([0.0, -1.0, -x[0]]))
    if x.size and draw(st.booleans()):
        x = np.tile(x, -(-400 // x.size))[:400]
    return x


def chunks(data: st.DataObject, size: int) -> list[tuple[int, int]]:
    """Consecutive [lo, hi) covering range(size); duplicate cuts make empty chunks."""
    cuts = sorted(data.draw(st.lists(st.integers(0, size), max_size=12), label="cuts"))
    bounds = [0, *cuts, size]
    return list(zip(bounds, bounds[1:], strict=False))


def check_chunked(ours: Any, theirs: Any, x: np.ndarray, parts: list[tuple[int, int]], name: str) -> None:
    values = x.tolist()
    for lo, hi in parts:
        advance(ours, x[lo:hi])
        for v in values[lo:hi]:
            theirs.update(v)
        same(ours, theirs, f"{name} after [{lo}:{hi})")
    for v in (1.0, 2.5, 2.5, 0.75):  # and both carry on alike
        assert ours.update(v) == theirs.update(v), name
    same(ours, theirs, f"{name} after more updates")


periods = st.one_of(st.integers(1, 6), st.integers(7, 40))


@settings(max_examples=60, deadline=None)
@given(x=series(), n=periods, data=st.data())
def test_advance_in_chunks_equals_updating_one_by_one(x: np.ndarray, n: int, data: st.DataObject) -> None:
    for name, make in FACTORIES.items():
        check_chunked(make(n), make(n), x, chunks(data, x.size), f"{name}({n})")


@settings(max_examples=40, deadline=None)
@given(x=series(), n=periods, data=st.data())
def test_advance_from_a_restored_state(x: np.ndarray, n: int, data: st.DataObject) -> None:
    for name, make in FACTORIES.items():
        cut = data.draw(st.integers(0, x.size), label=f"cut {name}")
        original = make(n)
        for v in x[:cut].tolist():
            original.update(v)
        restored = type(original).from_state(json.loads(json.dumps(original.to_state())))
        rest = x[cut:]
        check_chunked(restored, original, rest, chunks(data, rest.size), f"{name}({n}) from {cut}")


def atr_columns(x: np.ndarray, spread: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return x * (1.0 + spread), x * (1.0 - spread), x


def check_atr_chunked(ours: stream.ATR, theirs: stream.ATR, columns: tuple[np.ndarray, ...],
                      parts: list[tuple[int, int]]) -> None:
    rows = list(zip(*(c.tolist() for c in columns), strict=True))
    for lo, hi in parts:
        advance_atr(ours, *(c[lo:hi] for c in columns))
        for row in rows[lo:hi]:
            theirs.update(*row)
        same(ours, theirs, f"atr({ours.n}) after [{lo}:{hi})")
    assert ours.update(3.0, 1.0, 2.0) == theirs.update(3.0, 1.0, 2.0)
    same(ours, theirs, "atr after more updates")


@settings(max_examples=60, deadline=None)
@given(x=series(), n=periods, data=st.data())
def test_advance_atr_in_chunks_and_from_a_restored_state(x: np.ndarray, n: int, data: st.DataObject) -> None:
    spread = np.asarray(data.draw(st.lists(st.floats(0.0, 0.05), min_size=x.size, max_size=x.size)))
    columns = atr_columns(x, spread)
    check_atr_chunked(stream.ATR(n), stream.ATR(n), columns, chunks(data, x.size))
    cut = data.draw(st.integers(0, x.size), label="cut")
    original = stream.ATR(n)
    for row in zip(*(c[:cut].tolist() for c in columns), strict=True):
        original.update(*row)
    restored = stream.ATR.from_state(json.loads(json.dumps(original.to_state())))
    rest = tuple(c[cut:] for c in columns)
    check_atr_chunked(restored, original, rest, chunks(data, x.size - cut))


def test_variance_rebuilds_are_exercised_across_chunk_edges() -> None:
    """A long walk with flat stretches and a spike: the periodic reseed, the cancellation rebuild
    and the dominance flag all happen, some of them pending at a chunk edge, and advancing by
    odd-sized chunks still matches; the flags are seen on the one-by-one twin."""
    rng = np.random.default_rng(5)
    x = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 1e-3, 3000)))
    x[400:600] = x[400]
    x[1000] = 1e9
    n = 4
    ours, theirs = stream.RollingVariance(n), stream.RollingVariance(n)
    sizes = np.resize([1, 0, 2, 3, 5, 7, 11, 13, 64, 1, 1, 129, 0], 400)
    # the spike at 1000 leaves the window at 1000 + n: cut right there and around it
    bounds = sorted({0, *np.cumsum(sizes).clip(0, x.size).tolist(), *range(1000, 1000 + 2 * n), x.size})
    reseeds = dirty_at_edge = 0
    for lo, hi in zip(bounds, bounds[1:], strict=False):
        before = theirs._since
        advance(ours, x[lo:hi])
        for v in x[lo:hi].tolist():
            theirs.update(v)
        same(ours, theirs, f"[{lo}:{hi})")
        reseeds += theirs._since < before
        dirty_at_edge += theirs._dirty
    assert hi == x.size
    assert reseeds > 5 and dirty_at_edge >= 1


def test_views_and_empty_arrays() -> None:
    x = np.linspace(1.0, 2.0, 200) ** 2
    for name, make in FACTORIES.items():
        ours, theirs = make(7), make(7)
        advance(ours, x[::3])  # a strided view
        advance(ours, x[:0])
        for v in x[::3].tolist():
            theirs.update(v)
        same(ours, theirs, name)
    ours_atr, theirs_atr = stream.ATR(5), stream.ATR(5)
    advance_atr(ours_atr, x[::2] + 1.0, x[::2] - 1.0, x[1::2])
    for row in zip((x[::2] + 1.0).tolist(), (x[::2] - 1.0).tolist(), x[1::2].tolist(), strict=True):
        theirs_atr.update(*row)
    same(ours_atr, theirs_atr, "atr")


def test_wrong_types_raise() -> None:
    x = np.ones(5)
    for indicator in (stream.MACD(), stream.ATR(), stream.Highest(3), stream.AwesomeOscillator(), object()):
        with pytest.raises(TypeError):
            advance(indicator, x)  # type: ignore[arg-type]

    class MySMA(stream.SMA):
        __slots__ = ()

    with pytest.raises(TypeError):
        advance(MySMA(3), x)
    with pytest.raises(TypeError):
        advance_atr(stream.SMA(3), x, x, x)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        advance(stream.SMA(3), x.astype(np.float32))
    with pytest.raises(TypeError):
        advance(stream.SMA(3), np.ones((2, 2)))
    with pytest.raises(ValueError):
        advance_atr(stream.ATR(3), x, x[:4], x)
    sma = stream.SMA(3)
    with pytest.raises(TypeError):
        advance(sma, x.astype(np.int64))
    assert sma.to_state() == stream.SMA(3).to_state()  # refused before touching the object
