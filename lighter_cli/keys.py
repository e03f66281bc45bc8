"""`lighter-trader keys`: make a Lighter API key pair offline, and register it with the account.

    lighter-trader keys new --out KEY_FILE
    LT_ETH_PRIVATE_KEY=... lighter-trader keys register --url URL --account-index A --api-key-index K --key-file KEY_FILE

`new` makes the pair with `lighter.create_api_key()` and writes it to a file created 0600 (never
an existing one): JSON {"public_key", "private_key"}. It prints the public key only; no option
prints the private key. `register` sends Lighter's change-key transaction (tx type 8) for API key
index K of account A, signed by the new key and by the account's Ethereum key, which it takes
only from the environment (LT_ETH_PRIVATE_KEY), never from a flag, so that it stays out of shell
history and process lists. It reports each step with its time: read the key file, the key's next
nonce, sign, send, and check that the venue now lists the new public key for K (the SDK's
check_client). Failures are one line, exit 2, and carry no key material.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import stat
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from config.cli import OneLineParser
from lighter_cli.output import Steps, ToolError, one_line, print_json, run_tool, table

PROG = "lighter-trader keys"
ETH_KEY_ENV = "LT_ETH_PRIVATE_KEY"


class KeyPair:
    """An API key pair; repr and str show the public key only."""

    def __init__(self, public_key: str, private_key: str) -> None:
        self.public_key = public_key
        self._private_key = private_key

    @property
    def private_key(self) -> str:
        return self._private_key

    def __repr__(self) -> str:
        return f"KeyPair(public_key={self.public_key!r})"

    __str__ = __repr__


def new_key_pair() -> KeyPair:
    import lighter

    private_key, public_key, error = lighter.create_api_key()
    if error or not private_key or not public_key:
        raise ToolError(f"the signer could not make a key pair: {one_line(str(error))[:200]}")
    return KeyPair(public_key, private_key)


def write_key_file(path: Path, pair: KeyPair) -> None:
    """Create `path` 0600 (refusing an existing file) and write the pair into it."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise ToolError(f"{path} exists: a key file is never overwritten, choose another --out") from None
    except OSError as exc:
        raise ToolError(f"cannot create {path}: {exc.strerror or exc}") from None
    with os.fdopen(fd, "w") as f:
        os.fchmod(f.fileno(), 0o600)  # whatever the umask
        json.dump({"public_key": pair.public_key, "private_key": pair.private_key}, f)
        f.write("\n")


def read_key_file(path: Path) -> KeyPair:
    """The pair `keys new` wrote. A file others can read is refused: the key may already be out."""
    try:
        mode = path.stat().st_mode
        text = path.read_text()
    except OSError as exc:
        raise ToolError(f"cannot read the key file {path}: {exc.strerror or exc}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ToolError(f"the key file {path} is readable by others (mode {stat.S_IMODE(mode):o}): "
                        f"chmod 600 it, and consider the key exposed")
    try:
        data = json.loads(text)
        pair = KeyPair(str(data["public_key"]), str(data["private_key"]))
    except (ValueError, KeyError, TypeError):
        raise ToolError(f"{path} is not a key file of `{PROG} new` (JSON with public_key and private_key)") from None
    if not pair.public_key or not pair.private_key:
        raise ToolError(f"{path} has an empty key")
    return pair


def eth_key_from_env() -> str:
    value = os.environ.get(ETH_KEY_ENV, "").strip()
    if not value:
        raise ToolError(f"set {ETH_KEY_ENV} to the account's Ethereum private key (it is read from the "
                        "environment only, never from a flag)")
    return value


async def register(url: str, account_index: int, api_key_index: int, pair: KeyPair, eth_key: str,
                   steps: Steps) -> None:
    """The change-key transaction for (account, key index), then the check that the venue has the key."""
    import lighter

    from venue.rest import LighterRest, VenueError

    async with LighterRest(url) as rest:
        async def nonce() -> int:
            try:
                return await rest.next_nonce(account_index, api_key_index)
            except VenueError as exc:
                raise ToolError(f"nextNonce failed: {exc}") from None

        next_nonce = await steps.run("next nonce", nonce, lambda n: f"{n} (account {account_index}, key {api_key_index})")
    try:
        client = lighter.SignerClient(url, account_index, {api_key_index: pair.private_key})
    except Exception as exc:  # noqa: BLE001 - the signer's message may name the key: only its type leaves
        raise ToolError(f"the signer refused the key file's private key ({type(exc).__name__})") from None
    try:
        async def sign() -> tuple[int, str]:
            try:
                tx_type, tx_info, _hash, error = client.sign_change_api_key(
                    eth_key, pair.public_key, nonce=next_nonce, api_key_index=api_key_index)
            except Exception as exc:  # noqa: BLE001 - e.g. a malformed Ethereum key; its text may quote it
                raise ToolError(f"cannot sign with {ETH_KEY_ENV} ({type(exc).__name__}): is it the account's "
                                "Ethereum private key, 0x and 64 hex digits?") from None
            if error is not None or tx_info is None:
                raise ToolError(f"the signer refused the change-key transaction: {one_line(str(error))[:200]}")
            return int(tx_type or 0), tx_info

        tx_type, tx_info = await steps.run("sign change-key tx", sign, lambda t: f"tx type {t[0]}, nonce {next_nonce}")

        async def send() -> Any:
            try:
                return await client.send_tx(tx_type=tx_type, tx_info=tx_info)
            except Exception as exc:  # noqa: BLE001 - the SDK raises its ApiException with the venue's body
                raise ToolError(f"the venue refused the change-key transaction: {_sdk_error(exc)}") from None

        answer = await steps.run("send", send, lambda a: f"code {a.code}, tx {str(a.tx_hash)[:16]}…")
        if answer.code != 200:
            raise ToolError(f"the venue refused the change-key transaction: code {answer.code} {answer.message}")

        async def check() -> str:
            # the SDK's check asks the venue for the key index's public key (blocking HTTP: a thread)
            error = await asyncio.to_thread(client.check_client)
            if error is not None:
                raise ToolError(f"the venue does not list the new key yet: {one_line(str(error))[:200]}")
            return pair.public_key

        await steps.run("venue lists the key", check, lambda key: f"public key {key[:18]}…")
    finally:
        await client.close()


def _sdk_error(exc: Exception) -> str:
    body = getattr(exc, "body", None)
    return one_line(str(body if body else type(exc).__name__))[:200]


def build_parser() -> argparse.ArgumentParser:
    p = OneLineParser(prog=PROG, description="Make a Lighter API key pair offline; register it with the account.")
    sub = p.add_subparsers(dest="action", required=True, metavar="ACTION", parser_class=OneLineParser)
    new = sub.add_parser("new", help="make a key pair; write it to a new 0600 file; print the public key",
                         description="Make an API key pair offline (lighter.create_api_key) into a new 0600 file.")
    new.add_argument("--out", required=True, type=Path, help="the key file to create (never overwritten)")
    new.add_argument("--json", action="store_true", help="print {public_key, key_file} as JSON")
    reg = sub.add_parser("register", help=f"register a key file's key with the account (needs {ETH_KEY_ENV})",
                         description="Send Lighter's change-key transaction for the key file's public key, signed "
                         f"with the account's Ethereum key from ${ETH_KEY_ENV}, and check the venue lists it.")
    reg.add_argument("--url", required=True, help="the venue's HTTP root (mainnet, testnet or the simulator)")
    reg.add_argument("--account-index", required=True, type=int)
    reg.add_argument("--api-key-index", required=True, type=int, help="the key slot to set (Lighter: 2-254 for API keys)")
    reg.add_argument("--key-file", required=True, type=Path, help="the file `keys new` wrote")
    reg.add_argument("--json", action="store_true", help="print the steps as JSON")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)

    def body() -> int:
        if args.action == "new":
            pair = new_key_pair()
            write_key_file(args.out, pair)
            if args.json:
                print_json({"public_key": pair.public_key, "key_file": str(args.out)})
            else:
                print(table(["key", "value"], [["public key", pair.public_key], ["key file (0600)", args.out]]))
            return 0
        if not 0 <= args.api_key_index <= 254 or args.account_index < 0:
            parser.error("--account-index must be >= 0 and --api-key-index 0..254")
        eth_key = eth_key_from_env()
        pair = read_key_file(args.key_file)
        steps = Steps()
        failed: ToolError | None = None
        try:
            asyncio.run(register(args.url, args.account_index, args.api_key_index, pair, eth_key, steps))
        except ToolError as exc:
            failed = exc
        if args.json:
            print_json({"registered": failed is None, "account_index": args.account_index,
                        "api_key_index": args.api_key_index, "public_key": pair.public_key, "steps": steps.rows})
        else:
            print(steps.table())
        if failed is not None:
            raise failed
        return 0

    return run_tool(PROG, body)
