"""The maker's replay (strategies.replay_maker): the market maker through the matching engine over the
shared BTC L2 recording and a day of SOL candles, the tier's speed bump, the report's books.

The BTC recording (23:54-00:00 UTC, a calm night) reads ~3 bps of volatility, below the default
low-volatility pause (4.5 bps): with the defaults the maker barely quotes it (a finding, in the
report), so the BTC run here lowers the pause to see both sides trade. SOL candles are walked every
5 s: at 1 s the linear intra-minute path reads ~2 bps and the maker pauses likewise.
"""

from __future__ import annotations

import itertools
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import msgspec
import pytest

from strategies.quoting import LiveOrder, Place, QuoteAction, QuotingStrategy, Side
from strategies.replay import main
from strategies.replay_maker import MakerDriver, MakerReplayResult, replay_maker
from strategies.replay_maker_markets import market_named
from strategies.replay_maker_report import fifo_realized, summarize
from venue import codes
from venue.markets import SOL_DEFAULT
from venue.sim.binance_source import BinanceRecordingSource
from venue.sim.candle_source import CandleSource
from venue.sim.tiers import tier_named
from venue.sim.types import SourceBook, SourceEvent

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
BTC = DATA / "btcusdt_perp_ws_20240808.gz"
SOL = DATA / "sol_usdt_perp_1m_20250504_20250603.csv.gz"
CALM = {"low_vol_pause_bps": 1.0, "low_vol_resume_bps": 1.5}
JSON_KEYS = {"fills_buy", "fills_sell", "maker_fills", "taker_fills", "max_abs_inventory", "fifo_pnl_quote",
             "max_cancels_per_min", "quote_uptime"}

needs_data = pytest.mark.skipif(not (BTC.is_file() and SOL.is_file()), reason="../shared/data is absent")


def btc_run(tier: str = "standard", seconds: float = 200) -> MakerReplayResult:
    spec, profile = market_named("btc")
    return replay_maker(BinanceRecordingSource(BTC).events(), spec, tier=tier, overrides={**profile, **CALM},
                        duration_s=seconds)


def sol_day(tier: str = "standard") -> MakerReplayResult:
    source = CandleSource(SOL, tick_ms=5000, start=datetime(2025, 5, 5), end=datetime(2025, 5, 6))
    return replay_maker(source.events(), SOL_DEFAULT, tier=tier)


@pytest.fixture(scope="module")
def btc() -> dict[str, Any]:
    return summarize(btc_run())


@pytest.fixture(scope="module")
def sol() -> MakerReplayResult:
    return sol_day()


@pytest.fixture(scope="module")
def sol_premium() -> MakerReplayResult:
    return sol_day("premium")


@needs_data
def test_btc_recording_both_sides_within_limits(btc: dict[str, Any]) -> None:
    p = btc["params"]
    assert btc["fills_buy"] > 0 and btc["fills_sell"] > 0
    assert 0 < btc["max_abs_inventory"] <= p["max_position_units"] + 1e-12
    assert btc["max_quote_distance_entry_bps"] <= p["price_band_bps"]
    assert btc["pnl_check_ok"] and btc["fifo_pnl_quote"] == pytest.approx(btc["fifo_pnl_ledger_quote"], abs=1e-9)
    c = btc["checks"]
    assert c["orphan_orders"] == 0
    assert c["inventory_engine"] == pytest.approx(c["inventory_strategy"], abs=1e-12)
    assert c["fills_strategy"] == btc["fills"]
    assert JSON_KEYS <= set(btc)


@needs_data
def test_sol_day_both_sides_within_limits(sol: MakerReplayResult) -> None:
    s = summarize(sol)
    p = s["params"]
    assert s["fills_buy"] > 0 and s["fills_sell"] > 0
    assert s["maker_fills"] > 0 and s["maker_fills"] + s["taker_fills"] == s["fills"]
    assert 0 < s["max_abs_inventory"] <= p["max_position_units"] + 1e-12
    assert s["max_quote_distance_entry_bps"] <= p["price_band_bps"]
    assert s["pnl_check_ok"] and s["fifo_pnl_quote"] == pytest.approx(s["fifo_pnl_ledger_quote"], abs=1e-9)
    assert s["checks"]["orphan_orders"] == 0
    assert s["checks"]["inventory_engine"] == pytest.approx(s["checks"]["inventory_strategy"], abs=1e-12)
    # the strategy's own cap (30 a minute; risk-off cancels may pass it) bounds what it sent
    assert s["max_cancels_per_min"] <= s["checks"]["cancels_peak_minute_strategy"]
    assert 0 < s["quote_uptime"] < 1


@needs_data
def test_sol_premium_pays_fees_and_the_speed_bump_changes_the_fills(sol: MakerReplayResult,
                                                                     sol_premium: MakerReplayResult) -> None:
    standard = [(f.ts_ms, f.side, f.price, f.size) for f in sol.fills]
    premium = [(f.ts_ms, f.side, f.price, f.size) for f in sol_premium.fills]
    assert standard and premium and standard != premium
    assert all(f.fee == 0 for f in sol.fills)
    for f in sol_premium.fills:
        rate = 0.000028 if f.is_maker else 0.000196
        assert f.fee == pytest.approx(rate * f.price * f.size, rel=1e-9)
    s = summarize(sol_premium)
    assert s["fees_quote"] > 0 and s["pnl_check_ok"]


@needs_data
def test_replay_is_deterministic(sol: MakerReplayResult) -> None:
    again = sol_day()
    assert again.fills == sol.fills
    assert summarize(again) == summarize(sol)


def test_fifo_recompute_by_hand() -> None:
    from strategies.replay_maker import FillRecord

    def fill(side: str, price: float, size: float, fee: float) -> FillRecord:
        return FillRecord(0, 1, "quote", side, price, size, fee, True, price, 0.0)

    # buy 2 @100 (fee 0.2), buy 1 @101 (fee 0.1), sell 2.5 @103 (fee 0.25): closes 2 @100 and 0.5 @101
    realized, fees, lots = fifo_realized([fill("buy", 100, 2, 0.2), fill("buy", 101, 1, 0.1),
                                          fill("sell", 103, 2.5, 0.25)])
    assert realized == pytest.approx(2 * 3 + 0.5 * 2 - 0.2 - 0.05 - 0.25)
    assert fees == pytest.approx(0.55)
    assert lots == [pytest.approx((0.5, 101, 0.1))]
    # a fill through flat opens the other side with the rest of its fee per unit
    realized, _, lots = fifo_realized([fill("sell", 10, 1, 0.01), fill("buy", 9, 3, 0.03)])
    assert realized == pytest.approx(1 - 0.01 - 0.01)
    assert lots == [pytest.approx((2.0, 9, 0.01))]


# --- the speed bump, on a scripted market with a strategy that places one order -----------------


class NoParams(msgspec.Struct, frozen=True):
    pass


class OneOrder(QuotingStrategy):
    """Places one order on its first book and records what the venue answers."""

    kind = "one_order"
    params_type = NoParams

    def __init__(self, place: Place) -> None:
        super().__init__("one", SOL_DEFAULT, NoParams(), order_ids=itertools.count(1).__next__)
        self.place: Place | None = place
        self.heard: list[tuple[str, int, Any]] = []

    def on_book(self, ts_ms: int, bid: float, bid_size: float, ask: float, ask_size: float) -> list[QuoteAction]:
        out, self.place = ([self.place] if self.place else []), None
        return list(out)

    def on_trade(self, ts_ms: int, price: float, size: float, taker_is_buyer: bool) -> list[QuoteAction]:
        return []

    def on_accepted(self, ts_ms: int, coi: int) -> list[QuoteAction]:
        self.heard.append(("accepted", ts_ms, coi))
        return []

    def on_fill(self, ts_ms: int, coi: int, side: Side, price: float, size: float, fee: float, is_maker: bool,
                remaining: float) -> list[QuoteAction]:
        self.heard.append(("fill", ts_ms, (price, size, is_maker, remaining)))
        return []

    def on_canceled(self, ts_ms: int, coi: int, reason: str) -> list[QuoteAction]:
        self.heard.append(("canceled", ts_ms, reason))
        return []

    def on_rejected(self, ts_ms: int, coi: int, code: int, reason: str) -> list[QuoteAction]:
        self.heard.append(("rejected", ts_ms, code))
        return []

    def on_venue_orders(self, ts_ms: int, live: list[LiveOrder]) -> list[QuoteAction]:
        return []

    def adopt_position(self, ts_ms: int, size: float, entry_price: float) -> bool:
        return False

    def allow_entries(self, allowed: bool) -> None:
        pass

    def open_orders(self) -> dict[int, dict[str, Any]]:
        return {}

    @property
    def inventory(self) -> float:
        return 0.0

    def closed_trades(self) -> list[Any]:
        return []

    def telemetry(self) -> dict[str, float]:
        return {}

    def snapshot(self) -> dict[str, Any]:
        return {}

    def restore(self, state: dict[str, Any]) -> None:
        pass

    def status(self) -> dict[str, Any]:
        return {}


def books(t0: int, n: int, step_ms: int = 50) -> list[SourceEvent]:
    return [SourceBook(ts_ns=(t0 + i * step_ms) * 1_000_000, bids=[(99.99, 5.0)], asks=[(100.01, 5.0)])
            for i in range(n)]


def drive(tier: str, place: Place) -> tuple[OneOrder, MakerDriver]:
    s = OneOrder(place)
    driver = MakerDriver(s, SOL_DEFAULT, tier_named(tier),
                         MakerReplayResult(strategy="one", preset="", tier=tier, market="SOL", source=""))
    for event in books(1_000_000, 20):
        driver.feed(event)
    return s, driver


@pytest.mark.parametrize(("tier", "delay"), [("standard", 200), ("premium", 0)])
def test_a_maker_order_takes_effect_after_the_tiers_delay(tier: str, delay: int) -> None:
    s, driver = drive(tier, Place(coi=7, side="buy", price=99.95, size=0.2))
    assert s.heard == [("accepted", 1_000_000 + delay, 7)]
    order = driver.engine.order_by_client_index(1, 7)
    assert order is not None and order.created_at_ms == 1_000_000 + delay


@pytest.mark.parametrize(("tier", "delay"), [("standard", 300), ("premium", 150)])
def test_a_taker_order_takes_effect_after_the_tiers_delay(tier: str, delay: int) -> None:
    s, driver = drive(tier, Place(coi=3, side="buy", price=100.05, size=0.2, kind="market", tif="ioc", role="hedge"))
    assert s.heard[0] == ("accepted", 1_000_000 + delay, 3)
    assert s.heard[1][0] == "fill" and s.heard[1][1] == 1_000_000 + delay
    price, size, is_maker, remaining = s.heard[1][2]
    assert (price, size, is_maker, remaining) == (100.01, 0.2, False, 0.0)
    assert driver.r.fills[0].fee == pytest.approx(0.0 if tier == "standard" else 0.000196 * 100.01 * 0.2)


def test_a_post_only_order_that_would_cross_is_rejected_with_the_engines_code() -> None:
    s, driver = drive("premium", Place(coi=5, side="buy", price=100.01, size=0.2))
    assert s.heard == [("rejected", 1_000_000, codes.POST_ONLY_WOULD_CROSS)]
    assert driver.r.rejections == {codes.POST_ONLY_WOULD_CROSS: 1}


# --- the command line -----------------------------------------------------------------------------


def test_cli_synthetic_json_has_the_keys(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--strategy", "market_maker", "--synthetic", "0.1", "--tier", "premium", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert JSON_KEYS <= set(out)
    assert out["tier"] == "premium" and out["market"] == "SOL" and out["pnl_check_ok"] is True
    assert out["books"] > 3000


@pytest.mark.parametrize("argv", [
    ["--strategy", "market_maker", "--synthetic", "1", "--tier", "gold"],
    ["--strategy", "market_maker", "--synthetic", "1", "--candles", str(SOL)],
    ["--strategy", "market_maker"],
    ["--strategy", "market_maker", "--synthetic", "-1"],
    ["--strategy", "market_maker", "--synthetic", "1", "--market", "eth"],
    ["--strategy", "market_maker", "--synthetic", "1", "--fee-bps", "2"],
    ["--strategy", "market_maker", "--synthetic", "1", "--set", "maker_fee=0.001"],
    ["--strategy", "market_maker", "--synthetic", "1", "--set", "size=0.002"],
    ["--strategy", "market_maker", "--recording", "/nonexistent/rec.gz"],
    ["--strategy", "rsi_bb", "--recording", str(BTC)],
    ["--strategy", "rsi_bb", "--candles", str(SOL), "--tier", "premium"],
])
def test_cli_bad_input_is_one_line_and_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("replay: ") and "\n" not in err
