"""The `venue-sim` actor (paper mode): the local Lighter-compatible simulator in its own event loop.

It runs `venue.sim.server.SimServer` on the configured host and port (venue.sim in the settings)
and keeps an audit of every create-order transaction that reached it: (account, client order
index, wall-clock ns on arrival, result code), and of every modify (the same, plus the nonce that
names the transaction and when the venue had applied it). Tests and benchmarks read them to check
that no order was sent twice and when orders arrived and were replaced; the other read methods
expose the venue's truth (fills and positions per account) for the end-to-end checks.

A restart of this actor is a restart of the paper venue: the new simulator starts from an empty
engine (as a reset exchange would), so the supervisor does not expect one during a run.
"""

from __future__ import annotations

import time
from collections import deque
from typing import Any

from actors.common import ActorContext, ActorShell
from venue.sim.server import SimServer
from venue.sim.txinfo import CreateOrderTx, ModifyOrderTx, Tx

MODIFIES_KEPT = 200_000  # the audit of modifies keeps the newest (a maker modifies all day)


class RecordingSimServer(SimServer):
    """SimServer that records every create-order and modify transaction it applies, and optionally
    when each market event was applied and published (wall ns by event-time ms, the last 200,000)."""

    def __init__(self, *args: Any, record_events: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.created: list[tuple[int, int, int, int]] = []  # (account, coi, arrival wall ns, code)
        # (account, coi or -1 when the venue has no such order, nonce, arrival wall ns, applied wall ns, code)
        self.modified: deque[tuple[int, int, int, int, int, int]] = deque(maxlen=MODIFIES_KEPT)
        self.record_events = record_events
        self.event_walls: dict[int, int] = {}
        self._event_order: deque[int] = deque()

    def apply_event(self, market_id: int, event: Any) -> None:
        super().apply_event(market_id, event)
        if self.record_events:
            ms = self.now_ms
            if ms not in self.event_walls:
                self._event_order.append(ms)
                if len(self._event_order) > 200_000:
                    self.event_walls.pop(self._event_order.popleft(), None)
            self.event_walls[ms] = time.time_ns()

    def apply_tx(self, tx: Tx, wall_ms: int, received_ns: int | None = None) -> tuple[int, str]:
        # arrival = when the request reached the venue (REST: the handler's start; websocket: the
        # message's receipt), before the venue parses it: the benchmark's tick is likewise taken
        # after the venue's own work on the market event
        arrived = received_ns if received_ns is not None else time.time_ns()
        coi = self._modified_coi(tx) if isinstance(tx, ModifyOrderTx) else -1  # named before it changes
        code, message = super().apply_tx(tx, wall_ms, received_ns)
        if isinstance(tx, CreateOrderTx):
            self.created.append((tx.account_index, tx.client_order_index, arrived, code))
        elif isinstance(tx, ModifyOrderTx):
            self.modified.append((tx.account_index, coi, tx.nonce, arrived, time.time_ns(), code))
        return code, message

    def _modified_coi(self, tx: ModifyOrderTx) -> int:
        """The client order index of the order a modify names (by the venue's order index, or by
        a client order index below 2**48, as the engine resolves it), -1 if there is none."""
        order = self.engine.order(tx.index)
        if order is None or order.account_index != tx.account_index:
            order = self.engine.order_by_client_index(tx.account_index, tx.index)
        return -1 if order is None else order.client_order_index


def source_spec(source: str, path: str | None) -> str:
    """The make_source spec of the settings' sim.source / source_path."""
    if source == "synthetic":
        return "synthetic"
    if source == "candles":
        return f"candles:{path}"
    if source == "lighter":  # path: the upstream's websocket URL
        return f"lighter:{path}"
    return f"binance:{path}"


class VenueSimActor(ActorShell):
    MAX_TASK_RETRIES = 0

    def __init__(self, ctx: ActorContext) -> None:
        super().__init__(ctx)
        self.sim: RecordingSimServer | None = None

    async def _start(self) -> None:
        cfg = self.settings.venue.sim
        spec = source_spec(cfg.source, cfg.upstream_url if cfg.source == "lighter" else
                           None if cfg.source_path is None else str(cfg.source_path))
        source: Any = spec
        mirrored: dict[str, Any] = {}
        if cfg.source == "lighter" and cfg.upstream_url:  # every market, as the upstream defines it, mirrored
            from venue.sim.lighter_mirror import upstream_markets

            markets = self.settings.markets
            mirrored = {"markets": await upstream_markets(cfg.upstream_url, markets), "market_id": markets[0],
                        "sources": {m: spec for m in markets[1:]}}
        levels = self.options.get("synthetic_levels")  # benchmarks: a shallower synthetic book
        if levels is not None and cfg.source == "synthetic":
            from venue.sim.synthetic import SyntheticSource

            source = SyntheticSource(seed=cfg.seed, levels=int(levels))
        self.sim = RecordingSimServer(
            source,
            speed=cfg.speed,
            seed=cfg.seed,
            history_hours=cfg.history_hours,
            host=cfg.host,
            port=cfg.port,
            collateral=cfg.collateral,
            maker_fee=cfg.maker_fee,
            taker_fee=cfg.taker_fee,
            default_tier=cfg.default_tier,
            account_tiers=dict(cfg.account_tiers),
            funding_rate_per_hour=cfg.funding_rate_per_hour,
            funding_rates=dict(cfg.funding_rates),
            record_events=bool(self.options.get("record_events", False)),
            **mirrored,
        )
        await self.sim.start()
        self.log.info("paper venue at {} (source {}, speed {:g}, {:g} h of past candles)", self.sim.url, spec,
                      cfg.speed, cfg.history_hours)

    def _sim(self) -> RecordingSimServer:
        if self.sim is None:
            raise RuntimeError("the simulator is not started")
        return self.sim

    async def url(self) -> str:
        await self.ready()
        return self._sim().url

    async def created_orders(self) -> list[tuple[int, int, int, int]]:
        await self.ready()
        return list(self._sim().created)

    async def modified_orders(self) -> list[tuple[int, int, int, int, int, int]]:
        """Every modify the venue applied: (account, coi, nonce, arrival wall ns, applied wall ns, code)."""
        await self.ready()
        return list(self._sim().modified)

    async def event_walls(self, event_ms: list[int]) -> dict[int, int]:
        """When the market events of these event-time ms were published (option record_events)."""
        await self.ready()
        walls = self._sim().event_walls
        return {ms: walls[ms] for ms in event_ms if ms in walls}

    async def account_trades(self, account_index: int) -> list[dict[str, Any]]:
        """The venue's fills of an account: trade_id, market_id, side, price, size, fee, ts_ms."""
        await self.ready()
        sim = self._sim()
        out = []
        for trade in sim.engine.account_trades(account_index):
            spec = sim.markets[trade.market_id]
            is_ask = trade.ask_account_id == account_index
            taker_is_ask = not trade.is_maker_ask
            fee = trade.taker_fee if taker_is_ask == is_ask else trade.maker_fee
            out.append({
                "trade_id": trade.trade_id,
                "market_id": trade.market_id,
                "side": "sell" if is_ask else "buy",
                "price": spec.price_from_int(trade.price),
                "size": spec.size_from_int(trade.size),
                "fee": fee,
                "client_order_index": trade.ask_client_id if is_ask else trade.bid_client_id,
                "ts_ms": trade.ts_ms,
            })
        return out

    async def positions(self, account_index: int) -> dict[int, float]:
        """Signed position size per market of an account, in base units."""
        await self.ready()
        sim = self._sim()
        account = sim.engine.account(account_index)
        return {
            market_id: sim.markets[market_id].size_from_int(position.size)
            for market_id, position in account.positions.items()
        }

    async def funding(self, account_index: int) -> dict[str, Any]:
        """The account's funding at the venue: total_funding_paid_out per market (> 0 paid), the
        payments (market_id, hour ms, change) and the collateral."""
        await self.ready()
        sim = self._sim()
        account = sim.engine.account(account_index)
        return {
            "paid_out": {m: p.total_funding_paid_out for m, p in account.positions.items()},
            "payments": [(r.market_id, r.ts_ms, r.change) for r in sim.engine.funding.history(account_index)],
            "collateral": account.collateral,
        }

    async def active_orders(self, account_index: int) -> int:
        await self.ready()
        return len(self._sim().engine.active_orders(account_index))

    async def resting_orders(self, account_index: int) -> list[dict[str, Any]]:
        """The venue's open orders of an account: client_order_index, side, price, remaining."""
        await self.ready()
        sim = self._sim()
        out = []
        for order in sim.engine.active_orders(account_index):
            spec = sim.markets[order.market_id]
            out.append({"client_order_index": order.client_order_index, "market_id": order.market_id,
                        "side": "sell" if order.is_ask else "buy", "price": spec.price_from_int(order.price),
                        "remaining": spec.size_from_int(order.remaining_base_amount)})
        return out

    async def state(self) -> dict[str, Any]:
        await self.ready()
        return self._sim().state()

    async def set_faults(self, body: dict[str, Any]) -> dict[str, Any]:
        await self.ready()
        sim = self._sim()
        if sim.faults.update(body):
            sim.drop_connections()
        return sim.faults.snapshot()

    async def stop(self) -> None:
        if self.sim is not None:
            await self.sim.stop()

    def stats(self) -> dict[str, float]:
        if self.sim is None:
            return {}
        counters = self.sim.counters
        return {
            "event_time_ms": float(self.sim.now_ms),
            "orders": float(counters.orders),
            "fills": float(counters.fills),
            "rejects": float(counters.rejects),
            "ws_clients": float(len(self.sim.publisher.clients)),
        }
