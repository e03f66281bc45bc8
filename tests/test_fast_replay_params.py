"""The fast replay over the parameters a sweep tries: for parameter sets drawn at random (seeded)
from each directional strategy's search space (research/spaces/*.yaml), the fast replay's trades
and final snapshot equal the event-by-event replay's over a day of the shared SOL month.

The hand-picked cases of tests/test_fast_replay.py use the presets; a sweep runs the strategies
far from them (other candle intervals, trailing stops, tight and wide bands), where a skip that
is wrong for some parameter would change the trades the search scores."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from research.space import Dimension, load_space
from strategies.fast_replay import fast_replay
from strategies.replay import load_candles, replay_candles
from tests.test_fast_replay import _comparable, _days
from venue.sim.sources import Candles

REPO = Path(__file__).resolve().parent.parent
DRAWS = 6  # parameter sets per strategy


@pytest.fixture(scope="module")
def month(sol_candles_path: Path) -> Candles:
    return load_candles(sol_candles_path)


def _draw(dim: Dimension, rng: random.Random) -> Any:
    if dim.kind == "bool":
        return rng.random() < 0.5
    if dim.kind == "choice":
        return rng.choice(dim.choices)
    assert dim.low is not None and dim.high is not None
    if dim.kind == "int":
        return rng.randint(int(dim.low), int(dim.high))
    return rng.uniform(float(dim.low), float(dim.high))


def _draws(kind: str) -> list[dict[str, Any]]:
    space = load_space(kind, "default", REPO / "research" / "spaces" / f"{kind}.yaml", [])
    rng = random.Random(f"fast-replay-{kind}")
    return [{name: _draw(dim, rng) for name, dim in space.items()} for _ in range(DRAWS)]


@pytest.mark.timeout(300)
@pytest.mark.parametrize("kind", ["rsi_bb", "renko_ao", "breakout"])
def test_fast_replay_matches_event_by_event_across_the_search_space(month: Candles, kind: str) -> None:
    window = _days(month, 16, 1)
    traded = 0
    for params in _draws(kind):
        slow = replay_candles(kind, window, overrides=params)
        fast = fast_replay(kind, window, params=params)
        assert _comparable(fast) == _comparable(slow), f"{kind} {params}"
        traded += len(slow.trades) > 0
    assert traded >= 2, "most draws must trade, or the comparison checks little"
