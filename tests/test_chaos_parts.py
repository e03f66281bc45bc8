"""The pieces the fault campaign (scripts/chaos.py) relies on, without Ray: the simulator's
expire-tokens fault (venue.sim.auth, venue.sim.faults) and the external paper venue option
(venue.sim.external: no venue-sim actor, preflight wants the venue reachable instead of its port free).
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest

from actors.preflight import PreflightError, preflight
from config.settings import AppSettings
from tests.ray_fixtures import settings_data
from venue import codes
from venue.sim.auth import AuthGate, AuthRefused
from venue.sim.faults import Faults
from venue.sim.ports import free_static_port


def _token(expiry: int, account: int = 7, key: int = 0) -> str:
    return f"{expiry}:{account}:{key}:{'0' * 160}"


def test_revoked_tokens_are_refused_as_expired_and_new_ones_accepted() -> None:
    now = [1_000_000.0]
    gate = AuthGate(clock=lambda: now[0])
    old = _token(1_000_600)
    assert gate.check(old, 7) is not None
    assert gate.revoke_all() == 1
    with pytest.raises(AuthRefused) as refused:
        gate.check(old, 7)
    assert refused.value.code == codes.AUTH_EXPIRED
    now[0] += 1
    assert gate.check(_token(1_000_601), 7) is not None  # a token made after the revocation
    with pytest.raises(AuthRefused):
        gate.check(old, 7)  # still refused: revocation is not undone by the next one
    gate.revoke_all()
    with pytest.raises(AuthRefused):
        gate.check(_token(1_000_601), 7)


def test_expire_tokens_now_is_a_one_shot_action_that_drops_connections() -> None:
    faults = Faults()
    assert faults.update({"expire_tokens_now": True}) is True  # the server cuts every websocket too
    assert faults.take_token_expiry() is True
    assert faults.take_token_expiry() is False
    assert faults.update({"expire_tokens_now": False}) is False
    with pytest.raises(ValueError, match="expire_tokens_now"):
        faults.update({"expire_tokens_now": "yes"})


def _settings(tmp_path: Path, **sim: Any) -> AppSettings:
    data = settings_data(tmp_path)
    data["venue"]["sim"].update(sim)
    port = data["venue"]["sim"]["port"]  # venue.url names the venue's port (validated)
    data["venue"]["url"], data["venue"]["ws_url"] = f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}/stream"
    return AppSettings.model_validate(data)


def test_an_external_paper_venue_starts_no_venue_actor(tmp_path: Path) -> None:
    assert "venue-sim" in [c.name for c in _settings(tmp_path).child_specs()]
    names = [c.name for c in _settings(tmp_path, external=True).child_specs()]
    assert "venue-sim" not in names and "router" in names


def test_preflight_wants_an_external_venue_listening(tmp_path: Path) -> None:
    port = free_static_port()
    settings = _settings(tmp_path, external=True, port=port)
    with pytest.raises(PreflightError, match="external paper venue .* cannot be reached"):
        preflight(settings, fresh=False)
    with socket.socket() as listening:  # the venue is up: its port being in use is no refusal
        listening.bind(("127.0.0.1", port))
        listening.listen()
        preflight(settings, fresh=False).release()
    internal = _settings(tmp_path, port=port)
    with socket.socket() as listening, pytest.raises(PreflightError, match="in use"):
        listening.bind(("127.0.0.1", port))
        listening.listen()
        preflight(internal, fresh=False)
