"""`lighter-trader test-order`: prove an API key can trade, without trading.

    lighter-trader test-order --url URL --account-index A --api-key-index K --market 2 [--key-file F]

Places the smallest post-only order the market takes (its minimum base size, raised until the
notional meets the minimum quote amount, from orderBookDetails) --distance (default 5%) away
from the mid, on the side that cannot fill (a buy below, or with --side sell a sell above); checks
that it rests among the account's active orders (private: an auth token from the key, sent as
the `authorization` header); cancels it; checks that it is gone. Each step is reported with its
time (a table; --json for scripts). Should a step fail after the order was placed, the order is
still canceled (reported as `cleanup cancel`) before the one-line error, exit 2.

The API private key comes from --key-file (as `lighter-trader keys new` writes it) or from the
environment, LT_API_KEY_<A>_<K>; it is never printed.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from config.cli import OneLineParser
from lighter_cli.output import Steps, ToolError, one_line, print_json, run_tool, table
from venue.markets import MarketSpec, OrderRefused, Rounding

PROG = "lighter-trader test-order"
POLL_S = 0.1


class OrderPlan:
    def __init__(self, is_ask: bool, base_units: int, price_units: int, mid: float) -> None:
        self.is_ask = is_ask
        self.base_units = base_units
        self.price_units = price_units
        self.mid = mid

    def describe(self, spec: MarketSpec) -> str:
        side = "sell" if self.is_ask else "buy"
        price = spec.price_from_int(self.price_units)
        return (f"{side} {spec.format_size(self.base_units)} {spec.symbol} @ {spec.format_price(self.price_units)} "
                f"({abs(price / self.mid - 1) * 100:.1f}% {'above' if self.is_ask else 'below'} mid "
                f"{self.mid:.{spec.price_decimals}f})")


def plan_order(spec: MarketSpec, best_bid: float | None, best_ask: float | None, *, is_ask: bool,
               distance: float) -> OrderPlan:
    """The smallest order the market accepts, `distance` (a fraction) away from the mid on the passive side."""
    if best_bid is None and best_ask is None:
        raise ToolError(f"the {spec.symbol} book is empty: no mid to place the order away from")
    mid = (best_bid + best_ask) / 2 if best_bid is not None and best_ask is not None else (best_bid or best_ask)
    assert mid is not None
    target = mid * (1 + distance) if is_ask else mid * (1 - distance)
    price_units = spec.price_to_int(target, Rounding.UP if is_ask else Rounding.DOWN)
    if price_units <= 0:
        raise ToolError(f"{distance:.0%} below mid {mid} is no price")
    price = spec.price_from_int(price_units)
    size = max(spec.min_base_amount, spec.min_quote_amount / price if price > 0 else math.inf)
    base_units = max(1, spec.size_to_int(size, Rounding.UP))
    for _ in range(1000):  # float edges: one lot more until the venue's own check passes
        try:
            spec.check_order(base_units, price_units)
            return OrderPlan(is_ask, base_units, price_units, mid)
        except OrderRefused:
            base_units += 1
    raise ToolError(f"no order size meets {spec.symbol}'s minimums")


def api_key_from(key_file: Path | None, account_index: int, api_key_index: int) -> str:
    if key_file is not None:
        from lighter_cli.keys import read_key_file

        return read_key_file(key_file).private_key
    name = f"LT_API_KEY_{account_index}_{api_key_index}"
    value = os.environ.get(name, "").strip()
    if not value:
        raise ToolError(f"no API key: give --key-file or set {name}")
    return value


async def check_order_cycle(url: str, account_index: int, api_key_index: int, market_id: int, private_key: str, *,
                     is_ask: bool, distance: float, timeout_s: float, steps: Steps) -> dict[str, Any]:
    """The whole check; every failure is a ToolError after its step is recorded."""
    import lighter

    from venue.rest import LighterRest, VenueError

    def venue_error(what: str, exc: VenueError) -> ToolError:
        return ToolError(f"{what}: {exc}")

    async with LighterRest(url) as rest:
        async def market() -> MarketSpec:
            try:
                specs = await rest.order_book_details()
            except VenueError as exc:
                raise venue_error("orderBookDetails failed", exc) from None
            if market_id not in specs:
                raise ToolError(f"market {market_id} is not listed (markets: {sorted(specs)})")
            return specs[market_id]

        spec = await steps.run("market", market, lambda s: f"{s.symbol}: min {s.min_base_amount} base, "
                               f"min {s.min_quote_amount} quote, {s.size_decimals}/{s.price_decimals} decimals")

        async def book() -> OrderPlan:
            try:
                orders = await rest.order_book_orders(market_id, limit=1)
            except VenueError as exc:
                raise venue_error("orderBookOrders failed", exc) from None
            bid = orders.bids[0].price if orders.bids else None
            ask = orders.asks[0].price if orders.asks else None
            return plan_order(spec, bid, ask, is_ask=is_ask, distance=distance)

        plan = await steps.run("plan", book, lambda p: p.describe(spec))

        async def nonce() -> int:
            try:
                return await rest.next_nonce(account_index, api_key_index)
            except VenueError as exc:
                raise venue_error("nextNonce failed", exc) from None

        first_nonce = await steps.run("next nonce", nonce, str)
        try:
            client = lighter.SignerClient(url, account_index, {api_key_index: private_key})
        except Exception as exc:  # noqa: BLE001 - the signer's message may quote the key: its type only
            raise ToolError(f"the signer refused the API private key ({type(exc).__name__})") from None
        client_order_index = time.time_ns() // 1_000_000 % 2**47  # unique enough, below Lighter's 2**48
        placed: dict[str, Any] = {}
        canceled = False
        try:
            async def place() -> Any:
                _tx, answer, error = await client.create_order(
                    market_id, client_order_index, plan.base_units, plan.price_units, plan.is_ask,
                    client.ORDER_TYPE_LIMIT, client.ORDER_TIME_IN_FORCE_POST_ONLY,
                    nonce=first_nonce, api_key_index=api_key_index)
                if error is not None or answer is None:
                    raise ToolError(f"the venue refused the order: {one_line(str(error))[:200]}")
                if answer.code != 200:
                    raise ToolError(f"the venue refused the order: code {answer.code} {answer.message}")
                placed["client_order_index"] = client_order_index
                return answer

            await steps.run("place post-only", place, lambda a: f"code {a.code}, client order {client_order_index}")

            async def token() -> str:
                auth, error = client.create_auth_token_with_expiry(api_key_index=api_key_index)
                if error is not None or not auth:
                    raise ToolError(f"cannot make an auth token: {one_line(str(error))[:200]}")
                return str(auth)

            auth = await steps.run("auth token", token, lambda _t: "made (10 min)")

            async def active() -> list[Any]:
                try:
                    return await rest.active_orders(account_index, market_id, auth=auth)
                except VenueError as exc:
                    raise venue_error("accountActiveOrders failed", exc) from None

            async def rests() -> Any:
                deadline = time.monotonic() + timeout_s
                while True:
                    mine = [o for o in await active() if o.client_order_index == client_order_index]
                    if mine:
                        return mine[0]
                    if time.monotonic() > deadline:
                        raise ToolError(f"the order is not among the active orders after {timeout_s} s")
                    await asyncio.sleep(POLL_S)

            order = await steps.run("rests", rests, lambda o: f"order {o.order_index}, {o.status}, "
                                    f"{o.remaining_size} left @ {o.price}")
            placed["order_index"] = order.order_index

            async def cancel() -> Any:
                _tx, answer, error = await client.cancel_order(market_id, order.order_index, nonce=first_nonce + 1,
                                                               api_key_index=api_key_index)
                if error is not None or answer is None or answer.code != 200:
                    detail = error if error is not None else getattr(answer, "code", "no answer")
                    raise ToolError(f"the venue refused the cancel: {one_line(str(detail))[:200]}")
                return answer

            await steps.run("cancel", cancel, lambda a: f"code {a.code}")
            canceled = True

            async def gone() -> float:
                started, deadline = time.monotonic(), time.monotonic() + timeout_s
                while any(o.order_index == order.order_index for o in await active()):
                    if time.monotonic() > deadline:
                        raise ToolError(f"the order is still active {timeout_s} s after its cancel")
                    await asyncio.sleep(POLL_S)
                return time.monotonic() - started

            await steps.run("gone", gone, lambda _s: "not among the active orders")
        finally:
            if placed and not canceled:
                await _cleanup(client, market_id, placed, first_nonce + 1, api_key_index, steps)
            await client.close()
    return {"market_id": market_id, "symbol": spec.symbol, "side": "sell" if plan.is_ask else "buy",
            "size": spec.format_size(plan.base_units), "price": spec.format_price(plan.price_units),
            "mid": round(plan.mid, spec.price_decimals), **placed}  # fmt: skip


async def _cleanup(client: Any, market_id: int, placed: dict[str, Any], nonce: int, api_key_index: int,
                   steps: Steps) -> None:
    """A placed order whose check failed is canceled anyway (by order index, else client order index)."""
    index = placed.get("order_index", placed["client_order_index"])

    async def cancel() -> Any:
        _tx, answer, error = await client.cancel_order(market_id, index, nonce=nonce, api_key_index=api_key_index)
        if error is not None or answer is None or answer.code != 200:
            raise ToolError(f"cleanup cancel failed: {one_line(str(error or getattr(answer, 'code', '')))[:200]}: "
                            "cancel the order by hand")
        return answer

    try:
        await steps.run("cleanup cancel", cancel, lambda a: f"code {a.code}")
    except ToolError:
        pass  # recorded in the steps; the original failure is the one reported


def _fraction(raw: str) -> float:
    text = raw.strip().rstrip("%")
    try:
        value = float(text) / 100
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a percentage like 5 or 5%, got {raw!r}") from None
    if not 0.5 <= value * 100 <= 50:
        raise argparse.ArgumentTypeError(f"the distance must be 0.5% to 50%, got {raw!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = OneLineParser(prog=PROG, description="Place a minimum-size post-only order far from mid, check it rests, "
                      "cancel it, check it is gone; each step timed.")
    p.add_argument("--url", required=True, help="the venue's HTTP root (mainnet, testnet or the simulator)")
    p.add_argument("--account-index", required=True, type=int)
    p.add_argument("--api-key-index", required=True, type=int)
    p.add_argument("--market", required=True, type=int, help="market id (2 = SOL)")
    p.add_argument("--key-file", type=Path, help="the API key file (`keys new`); default: $LT_API_KEY_<A>_<K>")
    p.add_argument("--side", choices=("buy", "sell"), default="buy", help="buy below mid (default) or sell above")
    p.add_argument("--distance", type=_fraction, default=0.05, help="percent from mid (default 5)")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for the order to show/go (default 10)")
    p.add_argument("--json", action="store_true", help="print the steps and the order as JSON")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    def body() -> int:
        private_key = api_key_from(args.key_file, args.account_index, args.api_key_index)
        steps = Steps()
        failed: ToolError | None = None
        order: dict[str, Any] = {}
        try:
            order = asyncio.run(check_order_cycle(args.url, args.account_index, args.api_key_index, args.market,
                                           private_key, is_ask=args.side == "sell", distance=args.distance,
                                           timeout_s=args.timeout, steps=steps))
        except ToolError as exc:
            failed = exc
        if args.json:
            print_json({"ok": failed is None, "order": order, "steps": steps.rows,
                        "total_ms": round(sum(r["ms"] for r in steps.rows), 1)})
        else:
            print(steps.table())
            if failed is None:
                print(table(["order", "value"], [[k, v] for k, v in order.items()]))
        if failed is not None:
            raise failed
        return 0

    return run_tool(PROG, body)
