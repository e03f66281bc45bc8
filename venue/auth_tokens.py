"""Auth tokens for Lighter's private endpoints and account channels, made and renewed in time.

Lighter wants a token from `SignerClient.create_auth_token_with_expiry`
("<expiry unix s>:<account>:<api key>:<signature>", at most 8 hours of life) on private REST
calls (accountActiveOrders, accountInactiveOrders, account trades) and account subscriptions.
`AuthTokens` keeps one per account and makes a new one once `refresh_fraction` of the current
one's life has passed, so what it hands out always has some life left; the websocket client
resubscribes with a fresh one before the old one expires (venue.ws_client). Tokens are secrets:
never logged, stored or put in an exception.
"""

from __future__ import annotations

import time
from collections.abc import Callable

MAX_LIFETIME_S = 8 * 3600
MIN_LIFETIME_S = 2

Clock = Callable[[], float]  # unix seconds


def check_lifetime(lifetime_s: float) -> int:
    """A token lifetime in whole seconds, MIN_LIFETIME_S..MAX_LIFETIME_S; ValueError otherwise."""
    if not MIN_LIFETIME_S <= lifetime_s <= MAX_LIFETIME_S:
        raise ValueError(f"auth token lifetime must be {MIN_LIFETIME_S}..{MAX_LIFETIME_S} s, got {lifetime_s!r}")
    return int(lifetime_s)


def token_expiry_s(token: str) -> int | None:
    """The expiry (unix s) a token states in its first field; None if it has none."""
    head, sep, _rest = token.partition(":")
    return int(head) if sep and head.isdigit() else None


class AuthTokens:
    """The current token of one account. `make(lifetime_s)` returns a new token (the signer's);
    it is called again once `refresh_fraction` of the current token's life has passed."""

    def __init__(self, make: Callable[[int], str], lifetime_s: float, *, refresh_fraction: float = 0.8,
                 clock: Clock = time.time) -> None:
        if not 0.0 < refresh_fraction < 1.0:
            raise ValueError(f"refresh_fraction must be in (0, 1), got {refresh_fraction!r}")
        self._make = make
        self.lifetime_s = check_lifetime(lifetime_s)
        self.refresh_fraction = refresh_fraction
        self._clock = clock
        self._token: str | None = None
        self._renew_at = 0.0
        self.made = 0  # tokens made so far

    def __repr__(self) -> str:
        return f"AuthTokens(lifetime_s={self.lifetime_s}, made={self.made})"  # never the token

    def refused(self) -> None:
        """The venue refused the current token (expired or revoked before its time): the next
        current() makes a new one instead of presenting the refused one until its renewal."""
        self._renew_at = 0.0

    def current(self) -> str:
        now = self._clock()
        if self._token is None or now >= self._renew_at:
            token = self._make(self.lifetime_s)
            expiry = token_expiry_s(token)
            if expiry is None:
                raise ValueError("the signer made an auth token without an expiry")
            # renew at the fraction of the life the token really has (its expiry is whole seconds)
            self._renew_at = now + max(0.0, expiry - now) * self.refresh_fraction
            self._token = token
            self.made += 1
        return self._token
