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


@pytest.mark.timeout(60)
async def test_revoked_tokens_are_replaced_and_the_account_stream_resumes() -> None:
    """The venue revokes every token (the campaign's expire_tokens fault) and cuts the websocket:
    the client's resubscription with the old token is refused, the router's AuthTokens is told
    (on_auth_refused) and the next subscription carries a new token: fills arrive again."""
    import asyncio

    import lighter

    from tests.test_ws_client_auth import BOOK, until
    from venue.auth_tokens import AuthTokens
    from venue.markets import SOL_DEFAULT
    from venue.order_client import OrderClient, TxAccepted
    from venue.sim.server import SimServer
    from venue.wire import AccountUpdated
    from venue.ws_client import LighterWsClient

    account, sol = 5151, SOL_DEFAULT.market_id
    async with SimServer(source=[BOOK], speed=0) as venue:
        await asyncio.wait_for(venue.source_done.wait(), 10.0)
        key, _public, error = lighter.create_api_key()
        assert error is None and key
        async with await OrderClient.create(venue.url, account, 1, key, {sol: SOL_DEFAULT}, rate_limit=None) as client:
            tokens = AuthTokens(client.auth_token, 3600)
            updates: list[AccountUpdated] = []
            ws = LighterWsClient(venue.ws_url, accounts={account: tokens.current}, on_auth_refused=lambda a: tokens.refused(),
                                 on_event=lambda e: updates.append(e) if isinstance(e, AccountUpdated) else None)
            async with ws:
                await until(lambda: any(u.is_snapshot for u in updates), 5.0, "the first snapshot")
                await asyncio.sleep(1.0)  # a new token must differ from the revoked one: expiries are whole seconds
                venue.faults.update({"expire_tokens_now": True})
                venue.drop_connections()
                await until(lambda: ws.stats.auth_refused >= 1, 10.0, "the old token refused")
                await until(lambda: tokens.made >= 2, 10.0, "a new token")
                before = {t.trade_id for u in updates for t in u.trades}
                assert isinstance(await client.limit_order(sol, False, 0.1, 150.1, tif="ioc"), TxAccepted)
                await until(lambda: {t.trade_id for u in updates for t in u.trades} - before, 10.0,
                            "a fill after the revocation")
    assert venue.auth.revocations == 1
