"""A short tour of the paper venue: start the simulator, trade on it through the real SDK.

    python -m scripts.demo [--source synthetic] [--speed 1] [--seed 7]

Starts `python -m venue.sim` as a child process (127.0.0.1, a free port), then, as account
1001 with a throwaway API key (the simulator does not verify signatures), places a post-only
bid, a GTT ask, an IOC buy that fills, a reduce-only market sell that closes it, cancels one
order and then all, printing each typed outcome and what the account channel reports.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import subprocess
import sys
import time
from typing import Any

import lighter

from venue import wire
from venue.order_client import OrderClient, TxAccepted, TxOutcome
from venue.rest import LighterRest
from venue.ws_client import LighterWsClient

ACCOUNT = 1001
API_KEY_INDEX = 0
SIZE = 0.1


def start_simulator(source: str, speed: float, seed: int) -> tuple[subprocess.Popen[str], str]:
    cmd = [sys.executable, "-m", "venue.sim", "--source", source, "--speed", str(speed),
           "--seed", str(seed), "--port", "0"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        if line.startswith("LIGHTER_SIM_URL="):
            return proc, line.strip().split("=", 1)[1]
    proc.kill()
    raise SystemExit("the simulator did not start (no LIGHTER_SIM_URL line within 30 s)")


def show(what: str, outcome: TxOutcome) -> None:
    if isinstance(outcome, TxAccepted):
        print(f"  {what:<34} accepted  tx {outcome.tx_hash[:16]}…  nonce {outcome.nonce}  "
              f"{(outcome.ts_ack_ns - outcome.ts_sent_ns) / 1e6:.1f} ms")
    else:
        print(f"  {what:<34} REJECTED  code {outcome.code}: {outcome.reason}")


class AccountLog:
    """Prints what the account_all channel says, and lets the demo wait for a fill."""

    def __init__(self) -> None:
        self.trade_ids: set[int] = set()
        self.got_trade = asyncio.Event()
        self.book_ready = asyncio.Event()
        self.mid: float | None = None

    def __call__(self, event: Any) -> None:
        if isinstance(event, wire.BookUpdated) and event.best_bid and event.best_ask:
            self.mid = (event.best_bid + event.best_ask) / 2
            self.book_ready.set()
        elif isinstance(event, wire.AccountUpdated):
            for trade in event.trades:
                if trade.trade_id in self.trade_ids:
                    continue
                self.trade_ids.add(trade.trade_id)
                side = "bought" if trade.bid_account_id == ACCOUNT else "sold"
                print(f"    account channel: {side} {trade.size:g} @ {trade.price:.3f} (trade {trade.trade_id})")
                self.got_trade.set()
            for pos in event.positions:
                if event.trades and not event.is_snapshot:
                    print(f"    account channel: position {pos.size:+g} SOL, realized PnL {pos.realized_pnl:.4f}")


async def tour(url: str) -> None:
    private_key, _public, err = lighter.create_api_key()
    if err:
        raise SystemExit(f"could not make a throwaway API key: {err}")
    async with LighterRest(url) as rest:
        markets = await rest.order_book_details()
        sol = markets[2]
        print(f"market {sol.market_id} {sol.symbol}: size decimals {sol.size_decimals}, price decimals "
              f"{sol.price_decimals}, min {sol.min_base_amount} base / {sol.min_quote_amount} quote")
        log = AccountLog()
        client = await OrderClient.create(url, ACCOUNT, API_KEY_INDEX, private_key, markets, rate_limit=None)
        del private_key
        # the account channel and open orders are private: the account's auth token, from its signer
        ws = LighterWsClient(url.replace("http", "ws", 1) + "/stream", markets=[2],
                             accounts={ACCOUNT: lambda: client.auth_token(600)}, on_event=log)
        await ws.start()
        try:
            await asyncio.wait_for(log.book_ready.wait(), 15)
            book = ws.book(2)
            bid, ask = book.best_bid_price(), book.best_ask_price()
            if bid is None or ask is None:  # the tour prices every order off both sides of the top
                raise RuntimeError(f"the book of market 2 is one-sided after its snapshot (bid {bid}, ask {ask})")
            print(f"book: bid {bid:.3f} / ask {ask:.3f}  (mid {log.mid:.3f})")

            print("orders:")
            show("post-only bid 10 bps below mid", await client.limit_order(
                2, False, SIZE, bid * 0.999, tif="post_only"))
            show("post-only bid through the ask", await client.limit_order(
                2, False, SIZE, ask * 1.001, tif="post_only"))
            show("GTT ask 20 bps above mid", await client.limit_order(2, True, SIZE, ask * 1.002, tif="gtt"))
            show("size below the minimum (not sent)", await client.limit_order(2, False, 0.01, bid, tif="gtt"))
            show("IOC buy at the ask + 5 bps", await client.limit_order(2, False, SIZE, ask * 1.0005, tif="ioc"))
            await asyncio.wait_for(log.got_trade.wait(), 10)
            log.got_trade.clear()
            show("market sell, reduce-only", await client.market_order(
                2, True, SIZE, worst_price=bid * 0.995, reduce_only=True))
            await asyncio.wait_for(log.got_trade.wait(), 10)

            resting = await rest.active_orders(ACCOUNT, 2, auth=client.auth_token(600))
            print(f"resting orders: {len(resting)}")
            if resting:
                show(f"cancel order {resting[0].order_index}", await client.cancel(2, resting[0].order_index))
            show("cancel all", await client.cancel_all())
            await asyncio.sleep(0.2)  # let the venue publish the cancels before reading back
            account = await rest.account(ACCOUNT)
            left = await rest.active_orders(ACCOUNT, 2, auth=client.auth_token(600))
            pos = account.position(2)
            print(f"account {ACCOUNT}: collateral {account.collateral:.4f} USDC, position "
                  f"{pos.size if pos else 0:+g} SOL, open orders {len(left)}")
            print(f"websocket: {ws.stats}")
        finally:
            await client.close()
            await ws.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", default="synthetic")
    parser.add_argument("--speed", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    proc, url = start_simulator(args.source, args.speed, args.seed)
    print(f"simulator at {url} (source {args.source}, speed {args.speed}, seed {args.seed})")
    try:
        asyncio.run(tour(url))
    finally:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=10)
        if proc.poll() is None:
            proc.kill()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
