"""The router's API keys, read in the router's process only, at each of its starts.

Where a key comes from, first found wins:
1. the supervisor's hand-off (actors.secret_handoff): the LT_API_KEY_<account>_<key index>
   values it took out of its environment before Ray started; handed to the router's worker only
   (the supervisor checks the asking pid against Ray's actor table), again after every restart;
2. the strategy's key_file (0600), read here by path;
3. in paper mode only, a throwaway key from lighter.create_api_key() (the simulator verifies no
   signature).
A key is checked as the loader checks it (config.loader: a ConfigError names the variable or
field, never the key). Where each key came from is logged, never the key.
"""

from __future__ import annotations

from typing import Any

from actors.secret_handoff import fetch_secrets
from config.settings import AppSettings

HANDOFF = "the supervisor's hand-off"


async def router_keys(accounts: dict[int, Any], settings: AppSettings, secrets_socket: str,
                      log: Any) -> dict[int, tuple[Any, str]]:
    """account -> (its strategy config, private key) for the accounts the router serves."""
    import lighter

    from config.loader import _find_key, api_key_env_name

    handed = await fetch_secrets(secrets_socket, "router") if secrets_socket else {}
    try:
        out: dict[int, tuple[Any, str]] = {}
        for index, strategy in enumerate(settings.strategies):
            account = strategy.account_index
            if account in out or accounts.get(account) != strategy:
                continue  # not the strategy the router serves this account for
            name = api_key_env_name(account, strategy.api_key_index)
            secret = _find_key(index, strategy, handed)
            key = secret.get_secret_value() if secret is not None else None
            source = HANDOFF if name in handed else "key_file"
            if key is None and settings.mode == "paper":
                key, _public, error = lighter.create_api_key()
                if error is not None or key is None:
                    raise RuntimeError(f"cannot make a throwaway key for account {account}")
                source = "a throwaway key (paper)"
            if key is None:
                raise RuntimeError(f"no API key for account {account}: set {name} or key_file")
            log.info("account {}: API key from {}", account, source)
            out[account] = (strategy, key)
        return out
    finally:
        handed.clear()
