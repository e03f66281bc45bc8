"""The simulator's JSON shapes of Lighter's funding (its REST endpoints: venue.sim.funding_api).

- `position_funding_json`: Lighter's PositionFunding, as in `positionFunding` and in the
  `funding_histories` map of `account_all` (keyed by market id, like its orders and trades);
- `funding_json`: an entry of `fundings` (a market's rate history).

Lighter's conventions, as the captured `fundings` response shows them (value = mark x rate / 100):
rates are percentages per hour; `fundings` gives the rate's magnitude and in `direction` the side
that pays ("long" for a positive rate). A PositionFunding's `rate` is signed (> 0: longs pay), its
`change` is the account's collateral change (< 0 paid), its timestamp in seconds (a whole hour).
"""

from __future__ import annotations

from typing import Any

from venue.markets import MarketSpec
from venue.sim.funding import FundingRecord, MarketFunding

SNAPSHOT_FUNDINGS = 50  # per market, in an account_all snapshot


def _percent(rate: float) -> str:
    return f"{rate * 100:.8f}"


def position_funding_json(record: FundingRecord, spec: MarketSpec) -> dict[str, Any]:
    size = abs(record.position_size)
    return {
        "timestamp": record.ts_ms // 1000,
        "market_id": record.market_id,
        "funding_id": record.funding_id,
        "change": f"{record.change:.6f}",
        "discount": "0.000000",
        "rate": _percent(record.rate),
        "position_size": f"{size:.{spec.size_decimals}f}",
        "position_side": "short" if record.position_size < 0 else "long",
    }


def funding_histories(records: list[FundingRecord], markets: dict[int, MarketSpec]) -> dict[str, list[dict[str, Any]]]:
    """`funding_histories` of account_all: the records grouped by market id (as a string key)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        out.setdefault(str(record.market_id), []).append(position_funding_json(record, markets[record.market_id]))
    return out


def recent_funding_histories(records: list[FundingRecord], markets: dict[int, MarketSpec],
                             per_market: int = SNAPSHOT_FUNDINGS) -> dict[str, list[dict[str, Any]]]:
    """The newest `per_market` payments of each market (a snapshot's, so a client that was away
    sees what it missed)."""
    kept: dict[int, list[FundingRecord]] = {}
    for record in records:
        kept.setdefault(record.market_id, []).append(record)
    return funding_histories([r for rows in kept.values() for r in rows[-per_market:]], markets)


def funding_json(entry: MarketFunding) -> dict[str, Any]:
    return {
        "timestamp": entry.ts_ms // 1000,
        "value": f"{abs(entry.mark_price * entry.rate):.8f}",
        "rate": _percent(abs(entry.rate)),
        "direction": "short" if entry.rate < 0 else "long",
    }
