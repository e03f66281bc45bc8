"""The secret hand-off (actors.secret_handoff) without Ray: secrets leave the environment, each role
gets only its own, and only the process `verify` names gets an answer (its pid from the kernel)."""

from __future__ import annotations

import asyncio
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from actors.secret_handoff import HandoffError, HandoffServer, fetch_secrets, grants_for, take_secrets

KEY = "ab" * 40
SECRETS = {"LT_API_KEY_2001_0": KEY, "LT_TELEGRAM_BOT_TOKEN": "123:" + "t" * 30, "LT_TELEGRAM_CHAT_ID": "-100",
           "LT_OPERATOR_TOKEN": "operator-token-value"}
REPO = Path(__file__).resolve().parent.parent


def test_take_secrets_empties_the_environment_of_secrets_only() -> None:
    env = {**SECRETS, "LT_RISK__MAX_NET_NOTIONAL": "500", "LT_CONFIG": "x.yaml", "PATH": "/bin"}
    taken = take_secrets(env)
    assert taken == SECRETS
    assert env == {"LT_RISK__MAX_NET_NOTIONAL": "500", "LT_CONFIG": "x.yaml", "PATH": "/bin"}


def test_each_role_is_granted_only_its_own() -> None:
    grants = grants_for(SECRETS)
    assert grants["router"] == {"LT_API_KEY_2001_0": KEY}
    assert set(grants["operator"]) == {"LT_TELEGRAM_BOT_TOKEN", "LT_TELEGRAM_CHAT_ID", "LT_OPERATOR_TOKEN"}


def test_the_verified_process_gets_its_role_s_secrets_and_another_pid_gets_nothing() -> None:
    asked: list[tuple[str, int]] = []

    def verify(role: str, pid: int) -> bool:
        asked.append((role, pid))
        return pid == os.getpid()

    server = HandoffServer(grants_for(SECRETS), verify)
    path = server.start()
    try:
        folder = Path(path).parent
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700 and stat.S_IMODE(Path(path).stat().st_mode) == 0o600
        assert asyncio.run(fetch_secrets(path, "router")) == {"LT_API_KEY_2001_0": KEY}
        operator = asyncio.run(fetch_secrets(path, "operator"))
        assert operator["LT_OPERATOR_TOKEN"] == "operator-token-value" and "LT_API_KEY_2001_0" not in operator
        assert asked == [("router", os.getpid()), ("operator", os.getpid())]  # the kernel's pid, not a claim
        with pytest.raises(HandoffError, match="unknown role 'feed'"):
            asyncio.run(fetch_secrets(path, "feed"))
        # another process (its own pid) asking as the router is refused, and learns no secret
        code = ("import asyncio, sys; from actors.secret_handoff import fetch_secrets\n"
                "try:\n  asyncio.run(fetch_secrets(sys.argv[1], 'router'))\n"
                "except Exception as exc:\n  print(exc)\nelse:\n  print('GOT KEYS')")
        child = subprocess.run([sys.executable, "-c", code, path], capture_output=True, text=True, timeout=60,
                               cwd=REPO)
        assert "is not the router actor's worker" in child.stdout, (child.stdout, child.stderr)
        assert KEY not in child.stdout + child.stderr and "GOT KEYS" not in child.stdout
        assert server.handed == [("router", os.getpid(), ("LT_API_KEY_2001_0",)),
                                 ("operator", os.getpid(),
                                  ("LT_OPERATOR_TOKEN", "LT_TELEGRAM_BOT_TOKEN", "LT_TELEGRAM_CHAT_ID"))]
        assert KEY not in repr(server.handed) + repr(server.refused)
    finally:
        server.close()
    assert not Path(path).parent.exists()
    with pytest.raises(HandoffError, match="unreachable"):
        asyncio.run(fetch_secrets(path, "router", timeout_s=2.0))
