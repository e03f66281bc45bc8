"""The walk-forward presets (strategies/registry.py, docs/strategy_results.md) are valid parameter
sets of their strategies and trade where the month's defaults do not or barely do."""

from __future__ import annotations

from pathlib import Path

import pytest

from strategies.fast_replay import fast_replay
from strategies.registry import presets

pytestmark = pytest.mark.timeout(120)
START_MS = 1_748_533_980_000  # 2025-05-29 15:53 UTC: the last test window of the sweep
END_MS = START_MS + 2 * 86_400_000


@pytest.mark.parametrize("kind", ["rsi_bb", "renko_ao", "breakout"])
def test_the_walk_forward_preset_trades_in_the_last_test_window(kind: str, sol_candles_path: Path) -> None:
    assert "wf_2025_05" in presets(kind)
    tuned = fast_replay(kind, sol_candles_path, preset="wf_2025_05", start_ms=START_MS, end_ms=END_MS)
    assert tuned.trades, f"{kind} wf_2025_05 made no trade in two days"
    if kind == "breakout":  # the default never trades on this month (docs/strategy_results.md)
        assert not fast_replay(kind, sol_candles_path, start_ms=START_MS, end_ms=END_MS).trades
