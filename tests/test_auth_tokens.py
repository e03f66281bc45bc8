"""venue.auth_tokens: a token is made once and handed out until 80% of its life has passed, then a
new one; lifetimes outside Lighter's 8 hours are refused; the token never shows in a repr."""

from __future__ import annotations

import pytest

from venue.auth_tokens import AuthTokens, check_lifetime, token_expiry_s


class Signer:
    def __init__(self, clock: list[float]) -> None:
        self.clock = clock
        self.made: list[int] = []

    def make(self, lifetime_s: int) -> str:
        self.made.append(lifetime_s)
        return f"{int(self.clock[0]) + lifetime_s}:7:0:{'ab' * 80}"


def test_a_token_is_renewed_at_80_percent_of_its_life() -> None:
    clock = [1_000.0]
    signer = Signer(clock)
    tokens = AuthTokens(signer.make, 100, clock=lambda: clock[0])
    first = tokens.current()
    assert token_expiry_s(first) == 1_100 and signer.made == [100]
    clock[0] = 1_079.9
    assert tokens.current() == first and tokens.made == 1
    clock[0] = 1_080.0
    second = tokens.current()
    assert second != first and token_expiry_s(second) == 1_180 and tokens.made == 2
    assert "ab" * 80 not in repr(tokens)


def test_lifetimes_beyond_lighters_limits_and_tokens_without_expiry_are_refused() -> None:
    assert check_lifetime(8 * 3600) == 28_800
    for bad in (1, 8 * 3600 + 1, -5):
        with pytest.raises(ValueError):
            check_lifetime(bad)
    assert token_expiry_s("no-expiry") is None and token_expiry_s("x:1:2:ff") is None
    with pytest.raises(ValueError):
        AuthTokens(lambda _s: "garbage", 60).current()
