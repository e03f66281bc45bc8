"""Secrets stay in the process that uses them: the supervisor hands each one to one actor.

Why: Ray workers inherit the environment of the process that called ray.init, so a secret in
the supervisor's environment would be readable in /proc/<pid>/environ of every worker (feed,
risk, strategies, ...); and actor constructor arguments and runtime_env variables are kept in
Ray's GCS and shown by its state API and dashboard. Hence:

1. `take_secrets(os.environ)`: the supervisor, BEFORE ray.init, moves every secret variable
   (`LT_API_KEY_*`, LT_TELEGRAM_BOT_TOKEN, LT_TELEGRAM_CHAT_ID, LT_OPERATOR_TOKEN) out of its
   environment into memory; no process Ray starts has them in its environment.
2. `HandoffServer`: serves them, for the run, on a unix socket in a private directory (mkdtemp,
   0700). A client names its role (`router` or `operator`); the server takes the peer's pid and
   uid from the kernel (SO_PEERCRED) and answers only a process of our uid whose pid is, by
   `verify(role, pid)`, the worker hosting that actor (the supervisor asks Ray's actor table, on
   this node). The router gets the API keys and nothing else; the operator the operator token
   and Telegram's bot token and chat id and nothing else. Only roles, pids and the NAMES of what
   was handed are ever logged or recorded (`handed`).
3. `fetch_secrets(path, role)`: the actor's side, at each start: Ray restarts an actor in a new
   process, which asks again (and is checked again). A whole-node restart starts a new supervisor,
   which reads its environment again.

What this does not stop: a process of the same uid may still read another's memory where the
kernel lets it (ptrace; see kernel.yama.ptrace_scope); key_file keys (0600 files) stay readable
by path, and the router reads them itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import socket
import struct
import tempfile
import threading
from collections.abc import Callable, Mapping, MutableMapping
from pathlib import Path
from typing import Any

API_KEY_PREFIX = "LT_API_KEY_"
TELEGRAM_TOKEN_ENV = "LT_TELEGRAM_BOT_TOKEN"
TELEGRAM_CHAT_ENV = "LT_TELEGRAM_CHAT_ID"
OPERATOR_TOKEN_ENV = "LT_OPERATOR_TOKEN"
OPERATOR_SECRETS = (OPERATOR_TOKEN_ENV, TELEGRAM_TOKEN_ENV, TELEGRAM_CHAT_ENV)
ROLES = ("router", "operator")
FETCH_TIMEOUT_S = 30.0
MAX_REQUEST = 256


class HandoffError(RuntimeError):
    """The hand-off failed; str() is one line and never holds a secret."""


def is_secret_name(name: str) -> bool:
    return name.startswith(API_KEY_PREFIX) or name in OPERATOR_SECRETS


def secret_values(environ: Mapping[str, str]) -> dict[str, str]:
    """The secret variables of an environment (a copy; the environment is left alone)."""
    return {name: value for name, value in environ.items() if is_secret_name(name) and value.strip()}


def take_secrets(environ: MutableMapping[str, str]) -> dict[str, str]:
    """Move the secret variables out of the environment (os.environ: unsetenv too) into a dict."""
    taken = secret_values(environ)
    for name in [n for n in environ if is_secret_name(n)]:
        del environ[name]
    return taken


def grants_for(secrets: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """role -> what it may have: the router the API keys, the operator its token and Telegram's."""
    return {
        "router": {k: v for k, v in secrets.items() if k.startswith(API_KEY_PREFIX)},
        "operator": {k: v for k, v in secrets.items() if k in OPERATOR_SECRETS},
    }


def peer_credentials(conn: socket.socket) -> tuple[int, int, int]:
    """(pid, uid, gid) of the process at the other end of a unix socket, from the kernel."""
    creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    pid, uid, gid = struct.unpack("3i", creds)
    return pid, uid, gid


class HandoffServer:
    """The supervisor's side: one socket for the run, answered by a thread per connection.

    `verify(role, pid)` says whether pid is the process hosting the actor of that role (it may
    wait a little: Ray records a restarted actor's new worker shortly after it starts)."""

    def __init__(self, grants: Mapping[str, Mapping[str, str]], verify: Callable[[str, int], bool]) -> None:
        self._grants = {role: dict(values) for role, values in grants.items()}
        self._verify = verify
        self._dir: Path | None = None
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._closed = threading.Event()
        self.handed: list[tuple[str, int, tuple[str, ...]]] = []  # (role, pid, names): never values
        self.refused: list[tuple[str, int, str]] = []  # (role, pid, why)

    @property
    def path(self) -> str:
        if self._dir is None:
            raise RuntimeError("the hand-off server is not started")
        return str(self._dir / "handoff.sock")

    def grant(self, role: str, name: str, value: str) -> None:
        """Add a secret for a role (e.g. the operator token made at start)."""
        self._grants.setdefault(role, {})[name] = value

    def start(self) -> str:
        self._dir = Path(tempfile.mkdtemp(prefix="lt-secrets-"))  # mode 0700: ours only
        os.chmod(self._dir, 0o700)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(self.path)
        os.chmod(self.path, 0o600)
        sock.listen(16)
        sock.settimeout(0.5)
        self._sock = sock
        self._thread = threading.Thread(target=self._serve, name="secret-handoff", daemon=True)
        self._thread.start()
        return self.path

    def close(self) -> None:
        self._closed.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
        if self._sock is not None:
            self._sock.close()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
        self._grants = {}

    def _serve(self) -> None:
        assert self._sock is not None
        while not self._closed.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._answer, args=(conn,), name="secret-handoff-peer", daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(FETCH_TIMEOUT_S)
            role, pid = "?", 0
            answer: dict[str, Any]
            try:
                pid, uid, _gid = peer_credentials(conn)
                role = _read_role(conn)
                if uid != os.getuid():
                    answer = self._refuse(role, pid, f"peer uid {uid} is not ours")
                elif role not in self._grants:
                    answer = self._refuse(role, pid, f"unknown role {role!r}")
                elif not self._verify(role, pid):
                    answer = self._refuse(role, pid, f"pid {pid} is not the {role} actor's worker")
                else:
                    values = dict(self._grants[role])
                    self.handed.append((role, pid, tuple(sorted(values))))
                    answer = {"secrets": values}
                conn.sendall(json.dumps(answer).encode() + b"\n")
            except (OSError, ValueError) as exc:
                self.refused.append((role, pid, type(exc).__name__))

    def _refuse(self, role: str, pid: int, why: str) -> dict[str, Any]:
        self.refused.append((role, pid, why))
        return {"error": why}


def _read_role(conn: socket.socket) -> str:
    data = b""
    while not data.endswith(b"\n"):
        chunk = conn.recv(MAX_REQUEST)
        if not chunk:
            break
        data += chunk
        if len(data) > MAX_REQUEST:
            raise ValueError("request too long")
    request = json.loads(data or b"{}")
    role = request.get("role") if isinstance(request, dict) else None
    if not isinstance(role, str):
        raise ValueError("no role")
    return role


async def fetch_secrets(path: str, role: str, timeout_s: float = FETCH_TIMEOUT_S) -> dict[str, str]:
    """The secrets the supervisor grants this process for its role; HandoffError (one line) if
    it cannot be reached or refuses."""
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_unix_connection(path), timeout_s)
    except (OSError, TimeoutError) as exc:
        raise HandoffError(f"secret hand-off unreachable at {path}: {type(exc).__name__}") from None
    try:
        writer.write(json.dumps({"role": role}).encode() + b"\n")
        await writer.drain()
        line = await asyncio.wait_for(reader.readline(), timeout_s)
    except (OSError, TimeoutError) as exc:
        raise HandoffError(f"secret hand-off for {role} failed: {type(exc).__name__}") from None
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()
    try:
        answer = json.loads(line)
    except ValueError:
        raise HandoffError(f"secret hand-off for {role}: no answer") from None
    if "error" in answer:
        raise HandoffError(f"secret hand-off refused for {role}: {answer['error']}")
    secrets = answer.get("secrets")
    if not isinstance(secrets, dict):
        raise HandoffError(f"secret hand-off for {role}: malformed answer")
    return {str(k): str(v) for k, v in secrets.items()}
