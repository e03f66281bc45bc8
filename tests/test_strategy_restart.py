"""Restart: a strategy snapshotted mid-trade, sent through json.dumps/loads and restored into a
fresh instance continues with exactly the same actions as one that never stopped.

Two kinds of path: the constructed ones of the rule tests (an entry, then candle closes, bricks
and an exit after the snapshot), and real SOL minutes walked along the simulator's intra-minute
path, snapshotting at the first moment a position is open."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import pytest

from strategies.base import Strategy
from strategies.registry import build
from tests import test_breakout, test_renko_ao, test_rsi_bb
from venue.markets import SOL_DEFAULT
from venue.sim.sources import intraminute_path, read_candles

pytestmark = pytest.mark.timeout(30)


def restored(s: Strategy, kind: str, over: dict[str, Any] | None = None) -> Strategy:
    twin = build(kind, s.name, SOL_DEFAULT, overrides=over, account_index=s.account_index)
    twin.restore(json.loads(json.dumps(s.snapshot())))
    return twin


class Pair:
    """Feeds the same events to the original and the restored strategy, comparing every answer."""

    def __init__(self, a: Strategy, b: Strategy) -> None:
        self.a, self.b = a, b
        self.actions: list[str] = []

    def mid(self, ts: int, price: float) -> None:
        out_a, out_b = self.a.on_mid(ts, price), self.b.on_mid(ts, price)
        assert out_a == out_b, (ts, out_a, out_b)
        for act in out_a:
            self.actions.append(act.reason)
            fill = price * (1.00005 if act.side == "buy" else 0.99995)
            assert self.a.on_fill(ts, act.side, fill, act.size, 0.001, act.is_exit) == self.b.on_fill(
                ts, act.side, fill, act.size, 0.001, act.is_exit
            )

    def trade(self, ts: int, price: float, size: float) -> None:
        assert self.a.on_trade(ts, price, size) == self.b.on_trade(ts, price, size)

    def finish(self) -> None:
        ta, tb = self.a.closed_trades(), self.b.closed_trades()
        assert [msgspec.to_builtins(t) for t in ta] == [msgspec.to_builtins(t) for t in tb]
        assert json.dumps(self.a.snapshot()) == json.dumps(self.b.snapshot())
        assert self.a.status() == self.b.status()


def test_rsi_bb_restarts_mid_trade_on_a_constructed_path() -> None:
    h, p, t = test_rsi_bb.feed(test_rsi_bb.RSI_FAMILY + [10.0])
    assert h.reasons() == ["entry_long"]
    pair = Pair(h.s, restored(h.s, "rsi_bb"))
    for k in range(1, 40):  # candles close, RSI drifts, then the trend reverses or time runs out
        pair.mid(t + k * 15_000, p * (1 - 0.4 * k / 1e4) if k > 20 else p)
    assert pair.actions and pair.actions[0] in ("trend_reversal", "time_stop", "stop_loss")
    pair.finish()


def test_renko_ao_restarts_mid_trade_on_a_constructed_path() -> None:
    b = test_renko_ao.Bricks(over={"stop_loss_bps": 200.0, "take_profit_bps": 200.0})
    b.pattern(test_renko_ao.MAIN + "UUU")
    assert b.reasons() == ["entry_long"]
    over = {"stop_loss_bps": 200.0, "take_profit_bps": 200.0}
    pair = Pair(b.s, restored(b.s, "renko_ao", over))
    price, ts = b.price, b.ts
    size = b.s._renko.size
    for k in range(1, 9):  # falling bricks: the AO turns against the long
        pair.mid(ts + k * 500, price - (k + 1) * size)
    assert pair.actions == ["ao_reversal"]
    pair.finish()


def test_breakout_restarts_mid_trade_on_a_constructed_path() -> None:
    h, entry, level, atr, plan = test_breakout.entered()
    pair = Pair(h.s, restored(h.s, "breakout"))
    t0 = h.ts
    pair.mid(t0 + 60_000, entry + 0.3 * atr)
    pair.mid(t0 + 900_000, entry + 0.2 * atr)  # a candle closes above the level
    pair.mid(t0 + 1_800_000, entry + 0.2 * atr)  # 30 minutes without 0.5 ATR of progress
    assert pair.actions == ["no_progress"]
    pair.finish()


@pytest.mark.parametrize(
    ("kind", "over", "start", "hours", "sample_ms"),
    [
        ("rsi_bb", None, datetime(2025, 5, 6, tzinfo=UTC), 6, 1_000),
        ("renko_ao", None, datetime(2025, 5, 6, tzinfo=UTC), 12, 1_000),
        # the default ATR band (3-15 bps) never holds on SOL's 15-minute candles: widened here so
        # that a trade opens; the restart is what is under test
        ("breakout", {"atr_max_bps": 200.0}, datetime(2025, 5, 5, tzinfo=UTC), 48, 5_000),
    ],
)
def test_restart_mid_trade_on_real_minutes(
    sol_candles_path: Path, kind: str, over: dict[str, Any] | None, start: datetime, hours: int, sample_ms: int
) -> None:
    candles = read_candles(sol_candles_path, start, datetime.fromtimestamp(start.timestamp() + hours * 3600, UTC))
    s = build(kind, "restart", SOL_DEFAULT, overrides=over, account_index=3)
    pair: Pair | None = None
    steps = 60_000 // sample_ms
    for m in range(len(candles)):
        open_ms = int(candles.open_time_ms[m])
        path = intraminute_path(candles.open[m], candles.high[m], candles.low[m], candles.close[m], steps)
        for k, price in enumerate(path):
            ts, price = open_ms + k * sample_ms, round(price, 3)
            if pair is None:
                for act in s.on_mid(ts, price):
                    s.on_fill(ts, act.side, price, act.size, 0.001, act.is_exit)
                if s.status()["position"] is not None and s.status()["pending"] is None:
                    pair = Pair(s, restored(s, kind, over))
            else:
                pair.mid(ts, price)
                if k == steps // 2:
                    pair.trade(ts, price, float(candles.volume[m]))
    assert pair is not None, "no trade opened in the span"
    assert pair.actions, "the restored trade never closed in the span"
    pair.finish()
