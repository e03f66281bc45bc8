"""The router's book-keeping of orders, kept out of the actor: what it knows of each order, the
gate every new order passes just before it leaves, and where the API keys are read.

- `RouterOrder`: one order the router journaled (or reloaded at restart) and its state:
  pending (journaled, not sent) -> sent | unknown (sent, fate not heard) -> open -> done.
- `SendGate`: what the order client awaits after signing and before the POST. It waits for the
  order's durable journal write, then makes the last checks: the approval's deadline
  (risk.approval) and the router's shutdown. A refusal raises `NotSent`; the order client then
  sends nothing, and the router reports the order rejected (journaled, never sent).
- `load_keys`: account -> (strategy config, private key), read in the router's process only.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Generator
from typing import Any

from actors.common import wall_ns
from messages.orders import OrderCommand
from risk.approval import STALE_APPROVAL, approval_refusal

ROUTER_SHUT_DOWN = 40004  # OrderRejected.code: journaled while the router shut down, never sent


class RouterOrder:
    __slots__ = ("strategy", "account", "market", "coi", "side", "size", "is_exit", "filled", "order_index",
                 "state", "origin_ns", "sent_ns", "resolved")

    def __init__(self, strategy: str, account: int, market: int, coi: int, side: str, size: float,
                 is_exit: bool, filled: float = 0.0, state: str = "pending", origin_ns: int = 0) -> None:
        self.strategy = strategy
        self.account = account
        self.market = market
        self.coi = coi
        self.side = side
        self.size = size
        self.is_exit = is_exit
        self.filled = filled
        self.order_index: int | None = None
        self.state = state  # pending | sent | unknown | open | done
        self.origin_ns = origin_ns
        self.sent_ns = 0
        self.resolved = True  # False for orders reloaded at restart until the venue settled them

    @property
    def done(self) -> bool:
        return self.state == "done"


def coi_of(account: int, trade: Any) -> int:
    """The account's client order index in a trade (-1 when the account is on neither side)."""
    if trade.ask_account_id == account:
        return int(trade.ask_client_id)
    return int(trade.bid_client_id) if trade.bid_account_id == account else -1


class NotSent(Exception):
    """The send gate refused the order: nothing left the process. code/reason go in OrderRejected."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


class SendGate:
    """Awaited by the order client once the order is signed: the journal's write first, then the
    deadline and shutdown checks at the last moment before the POST. Awaitable more than once
    (a re-send after a refusal before anything left checks again); never awaited, it does nothing."""

    def __init__(self, journal: Awaitable[Any], command: OrderCommand, closing: Callable[[], bool],
                 clock: Callable[[], int] = wall_ns) -> None:
        self.journal = journal
        self.command = command
        self.closing = closing
        self.clock = clock

    def __await__(self) -> Generator[Any, None, None]:
        return self._check().__await__()

    async def _check(self) -> None:
        await self.journal
        if self.closing():
            raise NotSent(ROUTER_SHUT_DOWN, "never sent: the router shut down before sending it")
        refusal = approval_refusal(self.command, self.clock())
        if refusal is not None:
            raise NotSent(STALE_APPROVAL, refusal)


def load_keys(accounts: dict[int, Any], config_path: str | None, paper: bool, log: Any) -> dict[int, tuple[Any, str]]:
    """account -> (its strategy config, private key), from the profile at config_path (key_file)
    or LT_API_KEY_<account>_<key index>; in paper mode a throwaway key for an account without one.
    ConfigError names a field, never a key; keys are never logged."""
    import lighter

    from config.loader import api_key_env_name, load_config

    loaded: dict[int, Any] = {}
    if config_path:
        settings = load_config(config_path)
        loaded = {s.account_index: s.private_key for s in settings.strategies if s.private_key is not None}
    out: dict[int, tuple[Any, str]] = {}
    for account, strategy in accounts.items():
        secret = loaded.get(account)
        key = secret.get_secret_value() if secret is not None else None
        if key is None:
            key = os.environ.get(api_key_env_name(account, strategy.api_key_index)) or None
        if key is None and paper:
            key, _public, error = lighter.create_api_key()
            if error is not None or key is None:
                raise RuntimeError(f"cannot make a throwaway key for account {account}")
            log.info("paper account {}: using a throwaway API key", account)
        if key is None:
            raise RuntimeError(f"no API key for account {account}: set "
                               f"{api_key_env_name(account, strategy.api_key_index)} or key_file")
        out[account] = (strategy, key)
    return out
