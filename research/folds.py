"""Walk-forward folds: a train window to search on, then the test window right after it.

    folds = make_folds(data_start_ms, data_end_ms, n=4, train_days=7, test_days=2, scheme="rolling")

rolling:  every train window is `train_days` long and slides on by `test_days` a fold;
anchored: every train window starts at the first fold's start and grows by `test_days` a fold.
In both, fold i tests on [train_end, train_end + test_days) and the test windows follow one another
without overlap, so each minute is tested at most once and never by a fold that trained on it.
The folds are laid against the END of the data (the last test window ends at the last minute):
the most recent market is the one tested; spare minutes at the start are left out.
Days may be fractional (0.5 = 12 hours); windows are whole minutes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from research.errors import ResearchInputError

MINUTE_MS = 60_000
DAY_MS = 86_400_000
Scheme = Literal["rolling", "anchored"]
SCHEMES: tuple[str, ...] = ("rolling", "anchored")


@dataclass(frozen=True, slots=True)
class Fold:
    """Windows of open times, start inclusive, end exclusive, in ms since the epoch."""

    index: int
    train_start_ms: int
    train_end_ms: int
    test_start_ms: int
    test_end_ms: int

    @property
    def train_minutes(self) -> int:
        return (self.train_end_ms - self.train_start_ms) // MINUTE_MS

    @property
    def test_minutes(self) -> int:
        return (self.test_end_ms - self.test_start_ms) // MINUTE_MS


def _minutes(days: float, flag: str) -> int:
    minutes = round(days * 1440)
    if not days > 0 or minutes < 1:
        raise ResearchInputError(f"bad {flag} {days:g}: expected a positive number of days (at least one minute)")
    return minutes


def make_folds(data_start_ms: int, data_end_ms: int, *, n: int, train_days: float, test_days: float,
               scheme: str = "rolling") -> list[Fold]:
    if scheme not in SCHEMES:
        raise ResearchInputError(f"bad --scheme {scheme!r}: expected rolling or anchored")
    if n < 1:
        raise ResearchInputError(f"bad --folds {n}: expected 1 or more")
    train = _minutes(train_days, "--train-days") * MINUTE_MS
    test = _minutes(test_days, "--test-days") * MINUTE_MS
    need = train + n * test
    have = data_end_ms - data_start_ms
    if need > have:
        raise ResearchInputError(
            f"not enough candles: {n} folds of {train_days:g} train + {test_days:g} test days need "
            f"{need // MINUTE_MS} minutes ({need / DAY_MS:g} days), the data holds {have // MINUTE_MS} "
            f"({have / DAY_MS:.2f} days)"
        )
    first = data_end_ms - need
    folds = []
    for i in range(n):
        train_end = first + train + i * test
        train_start = first + i * test if scheme == "rolling" else first
        folds.append(Fold(i, train_start, train_end, train_end, train_end + test))
    return folds
