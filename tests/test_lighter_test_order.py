"""`lighter-trader test-order` against the simulator (which requires an auth token on
accountActiveOrders): the minimum post-only buy 5% under the mid rests, is canceled and is gone,
every step reported; the venue's engine saw exactly that order, now canceled. The API key, from
the environment or a key file, never appears in the output. The order plan alone: minimum size
raised to the minimum notional, prices rounded away from the mid.
"""

from __future__ import annotations

import asyncio
import json

import lighter
import pytest

from lighter_cli import keys
from lighter_cli import test_order as tool
from lighter_cli.output import ToolError
from tests.cli_tools import run_cli, run_main
from venue.markets import SOL_DEFAULT
from venue.sim.server import SimServer
from venue.sim.types import SourceBook

ACCOUNT, KEY, MARKET = 31337, 4, 2
BOOK = SourceBook(ts_ns=1_700_000_000_000_000_000, bids=[(149.9, 10.0), (149.8, 20.0)], asks=[(150.1, 10.0)])
STEPS = ["market", "plan", "next nonce", "place post-only", "auth token", "rests", "cancel", "gone"]


def test_the_plan_is_the_market_minimum_far_from_mid():
    buy = tool.plan_order(SOL_DEFAULT, 149.9, 150.1, is_ask=False, distance=0.05)
    assert (buy.base_units, buy.price_units, buy.is_ask) == (71, 142_500, False)  # 10 USDC / 142.5 = 0.0702 -> 0.071
    sell = tool.plan_order(SOL_DEFAULT, 149.9, 150.1, is_ask=True, distance=0.05)
    assert (sell.base_units, sell.price_units) == (64, 157_500)  # 0.064 * 157.5 = 10.08
    cheap = tool.plan_order(SOL_DEFAULT, 999.0, 1001.0, is_ask=False, distance=0.05)
    assert cheap.base_units == 50  # the minimum base amount binds
    with pytest.raises(ToolError, match="book is empty"):
        tool.plan_order(SOL_DEFAULT, None, None, is_ask=False, distance=0.05)


@pytest.mark.timeout(60)
async def test_a_post_only_order_rests_is_canceled_and_gone(tmp_path):
    private_key, _public, error = lighter.create_api_key()
    assert error is None
    async with SimServer(source=[BOOK], speed=0) as sim:
        await asyncio.wait_for(sim.source_done.wait(), 10)
        args = ["--url", sim.url, "--account-index", str(ACCOUNT), "--api-key-index", str(KEY), "--market", str(MARKET)]
        code, stdout, stderr = await run_cli("test-order", *args, "--json",
                                             env={f"LT_API_KEY_{ACCOUNT}_{KEY}": private_key})
        assert code == 0, stderr
        for secret in (private_key, private_key.removeprefix("0x")):
            assert secret not in stdout + stderr
        report = json.loads(stdout)
        assert report["ok"] and [s["step"] for s in report["steps"]] == STEPS
        assert all(s["ok"] and s["ms"] >= 0 for s in report["steps"])
        order = report["order"]
        assert (order["side"], order["size"], order["price"]) == ("buy", "0.071", "142.500")
        placed = sim.engine.order_by_client_index(ACCOUNT, order["client_order_index"])
        assert placed is not None and placed.order_index == order["order_index"]
        assert (placed.status, placed.initial_base_amount, placed.price) == ("canceled", 71, 142_500)
        assert placed.time_in_force == 2  # post-only
        assert not sim.engine.active_orders(ACCOUNT)
        assert sim.next_nonce(ACCOUNT, KEY) == 2

        # the key from a key file, the table for people
        key_file = tmp_path / "api.key"
        assert (await run_main(keys.main, "new", "--out", str(key_file)))[0] == 0
        saved = json.loads(key_file.read_text())
        code, stdout, stderr = await run_main(tool.main, *args, "--key-file", str(key_file), "--side", "sell")
        assert code == 0, stderr
        assert saved["private_key"] not in stdout + stderr
        assert [line.split("  ")[0].strip() for line in stdout.splitlines()[2:2 + len(STEPS)]] == STEPS
        assert "0.064" in stdout and "157.500" in stdout
        assert not sim.engine.active_orders(ACCOUNT)

        # failures: one line after the steps so far, exit 2
        code, stdout, stderr = await run_main(tool.main, *args[:-1], "9", "--key-file", str(key_file))
        assert code == 2 and "market 9 is not listed" in stderr and stderr.count("\n") == 1
        assert "market" in stdout and "NO" in stdout
        code, _, stderr = await run_main(tool.main, *args)  # no key anywhere
        assert code == 2 and f"set LT_API_KEY_{ACCOUNT}_{KEY}" in stderr
