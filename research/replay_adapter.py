"""The one place research runs a replay: a strategy with parameters over a window of candles.

    run = replay_window("rsi_bb", "default", {"rsi_period": 9}, candles, fee_bps=2.0, sample_ms=1000)
    run.trades, run.seconds

It calls the research replay (strategies.replay.replay_candles: the simulator's matching engine
over each minute's path); a faster engine with the same trades replaces it in `_REPLAY` alone.
Trades are the closed round trips; a position still open at the window's end is not counted.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from messages.state import TradeRecord
from strategies.replay import replay_candles as _REPLAY
from venue.sim.candle_source import Candles


@dataclass
class WindowRun:
    trades: list[TradeRecord]
    seconds: float
    minutes: int
    params: dict[str, Any] = field(default_factory=dict)


def replay_window(kind: str, preset: str, overrides: dict[str, Any], candles: Candles, *, fee_bps: float,
                  sample_ms: int) -> WindowRun:
    began = time.perf_counter()
    result = _REPLAY(kind, candles, preset=preset, overrides=overrides, fee_bps=fee_bps, sample_ms=sample_ms)
    return WindowRun(trades=list(result.trades), seconds=time.perf_counter() - began, minutes=len(candles),
                     params=dict(result.params))
