"""API keys registered with the simulator by Lighter's change-key transaction (tx type 8).

`SignerClient.change_api_key` (lighter-sdk 1.1.8) signs, with the new API key and the account's
Ethereum key, e.g.
  {"AccountIndex":77,"ApiKeyIndex":3,"PubKey":"<40 bytes, base64>","L1Sig":"0x...",
   "ExpiredAt":1796539756151,"Nonce":0,"Sig":"...","L2TxAttributes":null}
The simulator checks the shape (a 40-byte public key, an L1 signature present, a key index Lighter
allows) but verifies no signature (a paper venue), and keeps the public key per (account, API key
index): `apikeys` answers it as Lighter does, in hex without the 0x that `lighter.create_api_key()`
prints (the SDK's `check_client` compares the two). The registry hangs off the simulator object
without a field of its own (`registry(sim)`).
"""

from __future__ import annotations

import base64
import binascii
import weakref
from typing import Any

import msgspec

from venue import codes
from venue.sim.txinfo import TxInfoError

TX_TYPE_CHANGE_PUB_KEY = 8
PUBLIC_KEY_BYTES = 40
MAX_API_KEY_INDEX = 254  # 255 means "every key" in Lighter's queries


class ChangePubKeyTx(msgspec.Struct, rename="pascal", kw_only=True, frozen=True):
    account_index: int
    api_key_index: int
    pub_key: str
    nonce: int
    l1_sig: str = msgspec.field(default="", name="L1Sig")
    expired_at: int = 0


_decoder = msgspec.json.Decoder(ChangePubKeyTx)


def parse_change_pub_key(tx_info: str | bytes) -> tuple[ChangePubKeyTx, str]:
    """(the transaction, its public key in hex without 0x, as Lighter lists it), or TxInfoError(INVALID_TX_INFO)."""
    try:
        tx = _decoder.decode(tx_info)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise TxInfoError(codes.INVALID_TX_INFO, f"tx type {TX_TYPE_CHANGE_PUB_KEY}: {exc}") from None
    if tx.account_index < 0 or tx.nonce < 0 or not 0 <= tx.api_key_index <= MAX_API_KEY_INDEX:
        raise TxInfoError(codes.INVALID_TX_INFO,
                          f"account index and nonce must be >= 0, api key index 0..{MAX_API_KEY_INDEX}")  # fmt: skip
    try:
        raw = base64.b64decode(tx.pub_key, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != PUBLIC_KEY_BYTES:
        raise TxInfoError(codes.INVALID_TX_INFO, f"PubKey must be {PUBLIC_KEY_BYTES} bytes in base64")
    if not tx.l1_sig:
        raise TxInfoError(codes.INVALID_TX_INFO, "a change of API key needs the account's L1 signature (L1Sig)")
    return tx, raw.hex()


class ApiKeyRegistry:
    """Public keys per (account, API key index), as the change-key transactions set them."""

    def __init__(self) -> None:
        self._keys: dict[tuple[int, int], str] = {}
        self.changes = 0

    def set(self, account_index: int, api_key_index: int, public_key: str) -> None:
        self._keys[(account_index, api_key_index)] = public_key
        self.changes += 1

    def public_key(self, account_index: int, api_key_index: int) -> str:
        """The registered key, "" when none was (the simulator does not know throwaway paper keys)."""
        return self._keys.get((account_index, api_key_index), "")

    def indexes(self, account_index: int) -> list[int]:
        return sorted(k for a, k in self._keys if a == account_index)


_registries: weakref.WeakKeyDictionary[Any, ApiKeyRegistry] = weakref.WeakKeyDictionary()


def registry(sim: Any) -> ApiKeyRegistry:
    """The simulator's key registry, made on first use."""
    found = _registries.get(sim)
    if found is None:
        found = _registries[sim] = ApiKeyRegistry()
    return found
