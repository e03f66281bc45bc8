"""Funding in the system, part by part without Ray: storage keeps each payment once, risk's
positions count it once and compare it with the venue, the router's relay stores then forwards each
payment once, and the PnL report shows it beside the trades' PnL.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from actors.funding_relay import FundingRelay
from messages.codec import FUNDING
from messages.funding import FundingPayment
from messages.state import TradeRecord
from risk.positions import PositionBook
from scripts import query_pnl
from storage.loaders import StorageReader
from storage.writer import StorageWriter
from venue.wire import AccountUpdated, PositionFunding

NS = 1_000_000_000
HOUR = 3600 * NS
H0 = 1_748_952_000 * NS  # 2025-06-03T12:00:00Z, a whole hour


def payment(hour: int, change: float, *, account: int = 1001, market: int = 2, strategy: str = "rsi_bb",
            seq: int = 1) -> FundingPayment:
    return FundingPayment(account_index=account, market_id=market, strategy=strategy, funding_id=hour + 1,
                          change=change, rate=0.0000125, position_size=0.5, ts_event=H0 + hour * HOUR, seq=seq)


# ---------------------------------------------------------------------------------------------
# storage: one row per (account, market, hour)
# ---------------------------------------------------------------------------------------------
async def _store(path: Path, payments: list[FundingPayment]) -> list[bool]:
    async with StorageWriter(path, flush_interval_ms=10) as writer:
        out = [await writer.write_durable(p) for p in payments]
        writer.submit(payments[0])  # a batched repeat is ignored as well
        await writer.flush()
        assert writer.stats["duplicate_funding"] == out.count(False) + 1
        return out


def test_storage_keeps_each_payment_once_and_sums_them(tmp_path: Path) -> None:
    path = tmp_path / "paper.db"
    stored = asyncio.run(_store(path, [
        payment(0, -0.001), payment(1, -0.002), payment(0, -0.001, seq=9),  # hour 0 again (a re-delivery)
        payment(1, 0.004, account=1002, strategy="breakout"), payment(1, -0.003, market=0, strategy=""),
    ]))
    assert stored == [True, True, False, True, True]
    with StorageReader(path) as db:
        rows = db.funding_since(0)
        assert [(p.account_index, p.market_id, p.ts_event) for p in rows] == [
            (1001, 2, H0), (1001, 0, H0 + HOUR), (1001, 2, H0 + HOUR), (1002, 2, H0 + HOUR)]
        assert rows[0] == payment(0, -0.001)  # the first delivery's row, as it was sent
        assert [p.change for p in db.funding_since(0, strategy="rsi_bb")] == [-0.001, -0.002]
        totals = db.funding_totals()
        assert totals[(1001, 2)] == pytest.approx(-0.003, abs=1e-12)
        assert totals == {(1001, 2): pytest.approx(-0.003), (1001, 0): -0.003, (1002, 2): 0.004}
        assert db.funding_totals(H0 + HOUR) == {(1001, 2): -0.002, (1001, 0): -0.003, (1002, 2): 0.004}


# ---------------------------------------------------------------------------------------------
# risk's positions
# ---------------------------------------------------------------------------------------------
def test_positions_count_each_hour_once_in_pnl_and_compare_with_the_venue() -> None:
    book = PositionBook()
    book.on_fill(1, 2, True, 100.0, 2.0, fee=0.1, trade_id=1)
    book.on_fill(1, 2, False, 101.0, 1.0, fee=0.05, trade_id=2)
    assert book.on_funding(1, 2, H0, -0.02)
    assert not book.on_funding(1, 2, H0, -0.02)  # the same hour again: ignored
    assert book.on_funding(1, 2, H0 + HOUR, -0.01)
    pos = book.get(1, 2)
    assert pos.funding == pytest.approx(-0.03)
    assert pos.net_pnl == pytest.approx(1.0 - 0.15 - 0.03)
    # the venue's total_funding_paid_out is of the opposite sign: paid 0.03 is -0.03 received
    assert book.funding_mismatches(1, {2: 0.03}) == []
    (mismatch,) = book.funding_mismatches(1, {2: 0.04})
    assert (mismatch.market_id, mismatch.ours, mismatch.venue) == (2, pytest.approx(-0.03), -0.04)
    assert book.funding_mismatches(1, {}) != []  # the venue says nothing was paid
    # funding the venue shows from before our records is kept apart at the first comparison
    other = PositionBook()
    other.on_funding(1, 2, H0, -0.02)
    (before,) = other.note_funding_before(1, {2: 0.5})  # the venue: 0.5 paid out in its lifetime
    assert (before.ours, before.venue) == (-0.02, -0.5)
    assert other.funding_mismatches(1, {2: 0.5}) == [] and other.get(1, 2).funding == -0.02
    other.on_funding(1, 2, H0 + HOUR, -0.01)
    assert other.funding_mismatches(1, {2: 0.51}) == [] and other.funding_mismatches(1, {2: 0.5}) != []
    # reconciling the size keeps the funding; a restart keeps what was seen
    book.reconcile(1, {2: (0.0, 0.0)})
    again = PositionBook.from_state(book.to_state())
    assert again.get(1, 2).funding == pytest.approx(-0.03)
    assert not again.on_funding(1, 2, H0 + HOUR, -0.01) and again.funding_seen(1, 2, H0)


# ---------------------------------------------------------------------------------------------
# the router's relay
# ---------------------------------------------------------------------------------------------
class _Sender:
    def __init__(self, fail: bool = False) -> None:
        self.stored: list[bytes] = []
        self.sent: list[tuple[str, str, bytes]] = []
        self.fail = fail

    async def call(self, target: str, method: str, data: bytes, timeout_s: float) -> bool:
        assert (target, method) == ("persistence", "write_durable")
        if self.fail:
            raise TimeoutError("persistence away")
        self.stored.append(data)
        return True

    def send(self, target: str, method: str, data: bytes) -> bool:
        self.sent.append((target, method, data))
        return True


class _Strategy:
    def __init__(self, name: str, account_index: int, market_id: int) -> None:
        self.name, self.account_index, self.market_id = name, account_index, market_id


def _update(*fundings: PositionFunding, snapshot: bool = False) -> AccountUpdated:
    return AccountUpdated(account_index=1001, ts_ms=0, is_snapshot=snapshot, positions=[], orders=[], trades=[],
                          fundings=list(fundings))


def _venue(hour: int, change: float, market: int = 2) -> PositionFunding:
    return PositionFunding(market_id=market, ts_ms=(H0 + hour * HOUR) // 1_000_000, funding_id=hour,
                           change=change, rate=0.0000125, position_size=-0.5)


def test_relay_stores_before_forwarding_and_handles_each_hour_once() -> None:
    sender = _Sender()
    relay = FundingRelay(sender, [_Strategy("rsi_bb", 1001, 2), _Strategy("other", 1001, 0)])
    assert asyncio.run(relay.on_update(_update(_venue(1, 0.002), _venue(0, 0.001)))) == 2
    # a reconnect's snapshot repeats hour 1 and brings hour 2
    assert asyncio.run(relay.on_update(_update(_venue(1, 0.002), _venue(2, 0.003), snapshot=True))) == 1
    stored = [FUNDING.decode(d) for d in sender.stored]
    assert [(p.ts_event, p.change, p.strategy, p.position_size) for p in stored] == [
        (H0, 0.001, "rsi_bb", -0.5), (H0 + HOUR, 0.002, "rsi_bb", -0.5), (H0 + 2 * HOUR, 0.003, "rsi_bb", -0.5)]
    assert [(t, m) for t, m, _ in sender.sent] == [("risk", "on_funding")] * 3
    assert [d for _, _, d in sender.sent] == sender.stored

    failing = FundingRelay(_Sender(fail=True), [])
    with pytest.raises(TimeoutError):
        asyncio.run(failing.on_update(_update(_venue(0, 0.001))))
    assert failing.sender.sent == [] and (1001, 2, H0) not in failing.seen  # the next snapshot retries it


# ---------------------------------------------------------------------------------------------
# the PnL report
# ---------------------------------------------------------------------------------------------
def _trade(pnl: float) -> TradeRecord:
    return TradeRecord(strategy="rsi_bb", account_index=1001, market_id=2, side="long", entry_price=150.0,
                       exit_price=151.0, entry_ts=H0 - HOUR, exit_ts=H0 + 3 * HOUR, size=0.5, fees=0.01,
                       pnl_quote=pnl, pnl_pct=0.5, exit_reason="take_profit", mfe_bps=1.0, mae_bps=1.0,
                       ts_event=H0 + 3 * HOUR, seq=1)


async def _write(path: Path, records: list[Any]) -> None:
    async with StorageWriter(path, flush_interval_ms=10) as writer:
        for record in records:
            await writer.write_durable(record)


def test_pnl_report_shows_funding_beside_the_trades(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "paper.db"
    asyncio.run(_write(path, [_trade(0.5), payment(0, -0.25), payment(1, -0.125),
                              payment(1, 0.0625, account=1002, strategy="breakout")]))
    assert query_pnl.main(["--db", str(path)]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    start = lines.index("FUNDING (hourly, > 0 received)")
    rows = {line.split()[0]: line.split()[1:] for line in lines[start + 3:start + 6]}
    assert rows["rsi_bb"] == ["2", "-0.3750", "+0.5000", "+0.1250"]
    assert rows["breakout"] == ["1", "+0.0625", "+0.0000", "+0.0625"]
    assert rows["all"] == ["3", "-0.3125", "+0.5000", "+0.1875"]
    assert query_pnl.main(["--db", str(path), "--strategy", "breakout"]) == 0
    out = capsys.readouterr().out
    assert "no trades in the selection" in out and "FUNDING" in out and "-0.3750" not in out


def test_funding_settings_default_to_lighters_baseline_and_refuse_rates_out_of_range() -> None:
    from pydantic import ValidationError

    from config.settings import SimConfig

    assert SimConfig().funding_rate_per_hour == 0.0000125 and SimConfig().funding_rates == {}
    assert SimConfig(funding_rates={2: -0.001}).funding_rates == {2: -0.001}
    with pytest.raises(ValidationError, match="funding_rate_per_hour"):
        SimConfig(funding_rate_per_hour=0.5)
    with pytest.raises(ValidationError, match="market 2: funding rate must be within"):
        SimConfig(funding_rates={2: 0.05})
