"""`lighter-trader keys new` and `keys register` against the simulator.

A new key pair goes to a 0600 file and only its public key is printed; registering it sends the
change-key transaction, signed with the Ethereum key from the environment, after which the
simulator lists the new public key for that key index (the SDK's own check_client agrees) and the
key's nonce has moved on. Neither private key ever appears in the command's output. Missing
environment, a key file others can read and a bad Ethereum key are one-line errors, exit 2.
"""

from __future__ import annotations

import asyncio
import json
import stat

import aiohttp
import lighter
import pytest
from eth_account import Account

from lighter_cli import keys
from tests.cli_tools import run_cli, run_main
from venue.sim.api_keys import registry
from venue.sim.server import SimServer
from venue.sim.types import SourceBook

ACCOUNT, KEY = 4242, 5
BOOK = SourceBook(ts_ns=1_700_000_000_000_000_000, bids=[(149.9, 10.0)], asks=[(150.1, 10.0)])


@pytest.fixture
async def sim():
    async with SimServer(source=[BOOK], speed=0) as server:
        await asyncio.wait_for(server.source_done.wait(), 10)
        yield server


@pytest.mark.timeout(60)
async def test_a_new_key_is_registered_with_the_change_key_transaction(sim, tmp_path):
    key_file = tmp_path / "api.key"
    code, stdout, stderr = await run_main(keys.main, "new", "--out", str(key_file), "--json")
    assert code == 0, stderr
    saved = json.loads(key_file.read_text())
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert json.loads(stdout) == {"public_key": saved["public_key"], "key_file": str(key_file)}
    assert saved["private_key"] not in stdout + stderr

    eth = Account.create()
    eth_key = eth.key.hex()
    code, stdout, stderr = await run_cli("keys", "register", "--url", sim.url, "--account-index", str(ACCOUNT),
                                         "--api-key-index", str(KEY), "--key-file", str(key_file),
                                         env={"LT_ETH_PRIVATE_KEY": eth_key})
    assert code == 0, stderr
    for secret in (saved["private_key"], saved["private_key"].removeprefix("0x"), eth_key, eth_key.removeprefix("0x")):
        assert secret not in stdout + stderr
    assert [line.split()[0:2] for line in stdout.splitlines()[2:]] == [
        ["next", "nonce"], ["sign", "change-key"], ["send", "yes"], ["venue", "lists"]]
    assert all(" yes " in line for line in stdout.splitlines()[2:])

    assert registry(sim).public_key(ACCOUNT, KEY) == saved["public_key"].removeprefix("0x")
    assert sim.next_nonce(ACCOUNT, KEY) == 1
    async with aiohttp.ClientSession() as http, http.get(f"{sim.url}/api/v1/apikeys",
                                                         params={"account_index": ACCOUNT}) as resp:
        listed = (await resp.json())["api_keys"]
    assert [(k["api_key_index"], k["public_key"]) for k in listed] == [(KEY, saved["public_key"][2:])]
    client = lighter.SignerClient(sim.url, ACCOUNT, {KEY: saved["private_key"]})
    try:
        assert await asyncio.to_thread(client.check_client) is None  # the SDK's own check
    finally:
        await client.close()

    code, _, stderr = await run_main(keys.main, "new", "--out", str(key_file))
    assert code == 2 and "never overwritten" in stderr
    assert json.loads(key_file.read_text()) == saved


async def test_register_refuses_without_the_environment_key_or_with_a_bad_key_file(sim, tmp_path, monkeypatch):
    key_file = tmp_path / "api.key"
    assert (await run_main(keys.main, "new", "--out", str(key_file)))[0] == 0
    args = ["register", "--url", sim.url, "--account-index", str(ACCOUNT), "--api-key-index", str(KEY),
            "--key-file", str(key_file)]
    monkeypatch.delenv("LT_ETH_PRIVATE_KEY", raising=False)
    code, _, stderr = await run_main(keys.main, *args)
    assert code == 2 and "set LT_ETH_PRIVATE_KEY" in stderr and stderr.count("\n") == 1

    monkeypatch.setenv("LT_ETH_PRIVATE_KEY", "0x1234deadbeef")
    code, stdout, stderr = await run_main(keys.main, *args)
    assert code == 2 and "cannot sign with LT_ETH_PRIVATE_KEY" in stderr and "1234deadbeef" not in stdout + stderr
    assert registry(sim).public_key(ACCOUNT, KEY) == ""

    key_file.chmod(0o644)
    code, _, stderr = await run_main(keys.main, *args)
    assert code == 2 and "readable by others" in stderr
    assert (await run_main(keys.main, "new", "--out", str(key_file)))[0] == 2  # never overwritten
    assert (await run_main(keys.main, "register", "--url", sim.url))[0] == 2  # flags missing
