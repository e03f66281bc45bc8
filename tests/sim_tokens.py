"""Auth tokens for tests that talk to the simulator without a signer at hand.

The simulator checks a token's shape, account and expiry but not its signature (it does not know
throwaway paper keys), so a token of the SDK's shape with a signature of zeros opens an account's
private endpoints there. Tests of auth itself (tests/test_sim_auth.py) use the SDK's real tokens.
"""

from __future__ import annotations

import time


def paper_token(account_index: int, api_key_index: int = 0, lifetime_s: int = 600) -> str:
    return f"{int(time.time()) + lifetime_s}:{account_index}:{api_key_index}:{'0' * 160}"
