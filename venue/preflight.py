"""Can the venue be reached at all? Asked once before a live start, so that a machine without a
network (or a mistyped host) is told so in one line within seconds, instead of every actor
retrying DNS for a minute and the first failure surfacing as an exception Ray cannot carry."""

from __future__ import annotations

import socket
import threading
from urllib.parse import urlsplit

DEFAULT_PORTS = {"http": 80, "ws": 80, "https": 443, "wss": 443}


def unreachable_reason(url: str, timeout_s: float = 5.0) -> str | None:
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
    last = "no address"
    for family, kind, proto, _name, address in infos:
        with socket.socket(family, kind, proto) as sock:
            sock.settimeout(timeout_s)
            try:
                sock.connect(address)
                return None
            except TimeoutError:
                last = f"no answer from {host}:{port} within {timeout_s:g} s"
            except OSError as exc:
                last = f"{host}:{port}: {exc.strerror or exc}"
    return last


def _resolve(host: str, port: int, answer: list[object]) -> None:
    try:
        answer.append(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))
    except socket.gaierror as exc:
        answer.append(exc)
