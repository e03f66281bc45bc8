"""Auth tokens of Lighter's private endpoints and channels, as the simulator checks them.

A token is what `SignerClient.create_auth_token_with_expiry` makes:
"<expiry unix s>:<account_index>:<api_key_index>:<signature, 160 hex digits>". REST takes it as
the `authorization` header or the `auth` query parameter, the websocket as "auth" in a subscribe
frame. The simulator does not know the public keys of throwaway paper keys, so the signature is
not verified; everything else is checked strictly: the shape, the account (a token opens only its
own account's data), the expiry against the wall clock (tokens are wall-clock things, unlike the
venue's event time) and the lifetime (Lighter's limit is 8 hours). The clock is injectable so
tests can move it.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import msgspec

from venue import codes

MAX_LIFETIME_S = 8 * 3600
# a token may be made on a clock a little ahead of ours: tolerated beyond MAX_LIFETIME_S
CLOCK_SKEW_S = 60
SIGNATURE_HEX_DIGITS = 160
_TOKEN = re.compile(r"([0-9]{1,12}):([0-9]{1,19}):([0-9]{1,3}):([0-9a-fA-F]+)")

Clock = Callable[[], float]  # unix seconds


class AuthRefused(Exception):
    """A token that does not open the requested account's data: `code` is one of codes.AUTH_*."""

    def __init__(self, code: int, detail: str) -> None:
        super().__init__(f"{codes.message_for(code)}: {detail}")
        self.code = code


class AuthToken(msgspec.Struct, frozen=True, kw_only=True):
    expiry_s: int
    account_index: int
    api_key_index: int


def parse_token(raw: object) -> AuthToken:
    """The token's fields; AuthRefused(AUTH_MISSING / AUTH_MALFORMED) otherwise. The token itself
    never appears in the message."""
    if raw is None or raw == "":
        raise AuthRefused(codes.AUTH_MISSING, "send it as the authorization header, the auth parameter or "
                                              "\"auth\" in the subscribe frame")
    if not isinstance(raw, str):
        raise AuthRefused(codes.AUTH_MALFORMED, "not a string")
    match = _TOKEN.fullmatch(raw)
    if match is None:
        raise AuthRefused(codes.AUTH_MALFORMED, "expected <expiry>:<account_index>:<api_key_index>:<signature>")
    expiry, account, key, signature = match.groups()
    if len(signature) != SIGNATURE_HEX_DIGITS:
        raise AuthRefused(codes.AUTH_MALFORMED, f"signature must be {SIGNATURE_HEX_DIGITS} hex digits")
    if int(key) > 254:
        raise AuthRefused(codes.AUTH_MALFORMED, f"api key index {key} out of range 0..254")
    return AuthToken(expiry_s=int(expiry), account_index=int(account), api_key_index=int(key))


def check_token(raw: object, account_index: int, now_s: float) -> AuthToken:
    """The token if it opens `account_index`'s private data at wall time `now_s`, else AuthRefused."""
    token = parse_token(raw)
    if token.account_index != account_index:
        raise AuthRefused(codes.AUTH_WRONG_ACCOUNT, f"token of account {token.account_index}, "
                                                    f"asked for account {account_index}")
    if token.expiry_s <= now_s:
        raise AuthRefused(codes.AUTH_EXPIRED, f"expired at {token.expiry_s}, now {int(now_s)}")
    if token.expiry_s > now_s + MAX_LIFETIME_S + CLOCK_SKEW_S:
        raise AuthRefused(codes.AUTH_MALFORMED, f"expiry more than {MAX_LIFETIME_S // 3600} hours ahead")
    return token


class AuthGate:
    """The simulator's auth policy: whether tokens are required, and the wall clock they expire on."""

    def __init__(self, *, required: bool = True, clock: Clock = time.time) -> None:
        self.required = required
        self.clock = clock
        self.refused = 0  # requests and subscriptions refused for their token
        self.expired_subscriptions = 0  # private subscriptions ended when their token expired
        # the expire-tokens fault (revoke_all): tokens accepted so far, by their expiry, and those
        # revoked, which are refused as expired from then on (a token made afterwards is accepted)
        self._accepted: dict[str, int] = {}
        self._revoked: dict[str, int] = {}
        self.revocations = 0

    def check(self, raw: object, account_index: int) -> AuthToken | None:
        """The token (None when auth is off and none was sent); AuthRefused when it does not open
        the account. When auth is off a token that is sent is still checked."""
        if not self.required and raw in (None, ""):
            return None
        try:
            token = check_token(raw, account_index, self.clock())
            if isinstance(raw, str) and raw in self._revoked:
                raise AuthRefused(codes.AUTH_EXPIRED, "the token was revoked (the simulator's expire-tokens fault)")
        except AuthRefused:
            self.refused += 1
            raise
        if isinstance(raw, str) and len(self._accepted) < 100_000:
            self._accepted[raw] = token.expiry_s
        return token

    def revoke_all(self) -> int:
        """Every token accepted until now is expired from now on (a venue that invalidated its
        sessions); returns how many. Revoked tokens are forgotten once past their own expiry."""
        now = self.clock()
        self._revoked = {raw: expiry for raw, expiry in {**self._revoked, **self._accepted}.items() if expiry > now}
        self._accepted = {}
        self.revocations += 1
        return len(self._revoked)
