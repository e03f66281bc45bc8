"""Can the venue be reached at all? Asked once before a live start, so that a machine without a
network (or a mistyped host) is told so in one line within seconds, instead of every actor
retrying DNS for a minute and the first failure surfacing as an exception Ray cannot carry.

A refused connection is asked again a few times (REFUSED_RETRIES_S: a venue restarting, or a
paper venue run apart coming up); a name that does not resolve and a host that does not answer
within timeout_s are not (they would only make the one-line answer slower)."""

from __future__ import annotations

import errno
import socket
import threading
import time
from typing import Any
from urllib.parse import urlsplit

DEFAULT_PORTS = {"http": 80, "ws": 80, "https": 443, "wss": 443}
REFUSED_RETRIES_S = (0.5, 1.0, 2.0)  # the waits before asking again after a refused connection


def unreachable_reason(url: str, timeout_s: float = 5.0,
                       refused_retries_s: tuple[float, ...] = REFUSED_RETRIES_S) -> str | None:
    """None when a TCP connection to the URL's host and port opens within timeout_s; else why not,
    in a few words (name resolution failed, connection refused, timed out)."""
    parts = urlsplit(url)
    host = parts.hostname
    if not host:
        return f"no host in {url!r}"
    port = parts.port or DEFAULT_PORTS.get(parts.scheme, 443)
    answer: list[object] = []
    # the resolver's own retries can take a minute: ask on a daemon thread and stop waiting in time
    lookup = threading.Thread(target=_resolve, args=(host, port, answer), daemon=True)
    lookup.start()
    lookup.join(timeout_s)
    if not answer:
        return f"cannot resolve {host} within {timeout_s:g} s"
    if isinstance(answer[0], socket.gaierror):
        return f"cannot resolve {host} ({answer[0].strerror or answer[0]})"
    infos = answer[0]
    assert isinstance(infos, list)
    for wait_s in (*refused_retries_s, None):
        reason, refused = _connect(infos, host, port, timeout_s)
        if reason is None or not refused or wait_s is None:
            return reason
        time.sleep(wait_s)  # back-off before asking a venue that refused again
    return None  # not reached: the last wait is None


def _connect(infos: list[Any], host: str, port: int, timeout_s: float) -> tuple[str | None, bool]:
    """(None, False) when one of the addresses accepts a TCP connection; else (why not, whether
    every failure was a refused connection)."""
    last = "no address"
    refused = True
    for family, kind, proto, _name, address in infos:
        with socket.socket(family, kind, proto) as sock:
            sock.settimeout(timeout_s)
            try:
                sock.connect(address)
                return None, False
            except TimeoutError:
                last, refused = f"no answer from {host}:{port} within {timeout_s:g} s", False
            except OSError as exc:
                last = f"{host}:{port}: {exc.strerror or exc}"
                refused = refused and exc.errno == errno.ECONNREFUSED
    return last, refused


def _resolve(host: str, port: int, answer: list[object]) -> None:
    try:
        answer.append(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))
    except socket.gaierror as exc:
        answer.append(exc)
