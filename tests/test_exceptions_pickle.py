"""Exceptions an actor can raise to its caller cross Ray by pickling: each must come back whole
(Ray shows one that cannot be rebuilt as UnserializableException, losing what went wrong)."""

from __future__ import annotations

import pickle

import pytest

from config.loader import ConfigError
from storage.identity import DatabaseRefused
from venue.rest import VenueError


@pytest.mark.parametrize("error", [
    VenueError(21120, "invalid nonce", 400),
    ConfigError("must be > 0", field="risk.max_net_notional"),
    ConfigError("no field"),
    DatabaseRefused("database x.db is in use"),
])
def test_survives_pickling_with_every_field(error: Exception) -> None:
    back = pickle.loads(pickle.dumps(error))
    assert type(back) is type(error) and str(back) == str(error) and vars(back) == vars(error)
