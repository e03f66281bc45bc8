"""The one place research runs a replay: a strategy with parameters over a window of candles.

    run = replay_window("rsi_bb", "default", {"rsi_period": 9}, candles, fee_bps=2.0, sample_ms=1000)
    run.trades, run.seconds

It calls the fast research replay (strategies.fast_replay: the same trades as strategies.replay,
the simulator's matching engine over each minute's path, quiet mids skipped). The window's mid
path is the expensive, shared part of a trial: the last few are kept per process, so the trials a
Tune worker runs on one fold's window build it once. The plain replay is
`strategies.replay.replay_candles` (same trades; tests/test_research_sweep.py checks the two agree).
Trades are the closed round trips; a position still open at the window's end is not counted.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from messages.state import TradeRecord
from strategies.fast_replay import MidPath, fast_replay, mid_path
from venue.sim.candle_source import Candles

_PATHS: OrderedDict[tuple[int, int, int], MidPath] = OrderedDict()
_PATHS_KEPT = 2  # a 7-day path is ~100 MB of Python floats: a fold's train and test windows at most


@dataclass
class WindowRun:
    trades: list[TradeRecord]
    seconds: float
    minutes: int
    params: dict[str, Any] = field(default_factory=dict)


def _path(candles: Candles, sample_ms: int) -> MidPath:
    key = (int(candles.open_time_ms[0]), len(candles), sample_ms) if len(candles) else (0, 0, sample_ms)
    path = _PATHS.get(key)
    if path is None:
        path = mid_path(candles, sample_ms=sample_ms)
        _PATHS[key] = path
        while len(_PATHS) > _PATHS_KEPT:
            _PATHS.popitem(last=False)
    _PATHS.move_to_end(key)
    return path


def replay_window(kind: str, preset: str, overrides: dict[str, Any], candles: Candles, *, fee_bps: float,
                  sample_ms: int) -> WindowRun:
    began = time.perf_counter()
    result = fast_replay(kind, _path(candles, sample_ms), preset=preset, params=overrides, fee_bps=fee_bps,
                         sample_ms=sample_ms)
    return WindowRun(trades=list(result.trades), seconds=time.perf_counter() - began, minutes=len(candles),
                     params=dict(result.params))
