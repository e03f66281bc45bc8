"""Choosing a port for the paper venue that no other process can be handed by the kernel.

The simulator listens on a fixed port (the other actors are configured with its URL, and a restarted
simulator must come back on the same one). A port taken from the kernel's ephemeral range, as
`bind(port 0)` gives, is exposed twice over: between the moment it is chosen and the moment the
simulator binds it (seconds, while Ray spawns workers and the simulator reads its source), every
`bind(port 0)` on the machine may be handed the same number: the actors' own lane servers, Ray's
worker gRPC servers. A client connecting while the simulator restarts may also be given it as its
own local port. Either way the simulator cannot bind its port and the clients talk to a stranger
(seen in CI: a Ray worker's gRPC server had been given the port, so every REST answer was an HTTP/2
frame, "Bad status line", and every websocket handshake failed). The kernel never hands out a port
below its ephemeral range unasked, so a free port from there stays ours.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

EPHEMERAL_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
DEFAULT_EPHEMERAL_RANGE = (32768, 60999)  # Linux's default, when the file cannot be read
STATIC_LOW = 20000  # above Ray's default worker port range (10002-19999) and the well-known services
ATTEMPTS = 200


def ephemeral_range(path: Path = EPHEMERAL_RANGE_FILE) -> tuple[int, int]:
    """(first, last) port the kernel hands out for bind(0) and outgoing connections."""
    try:
        first, last = (int(part) for part in path.read_text().split())
    except (OSError, ValueError):
        return DEFAULT_EPHEMERAL_RANGE
    return first, last


def in_ephemeral_range(port: int, path: Path = EPHEMERAL_RANGE_FILE) -> bool:
    first, last = ephemeral_range(path)
    return first <= port <= last


def free_static_port(*, path: Path = EPHEMERAL_RANGE_FILE, rng: random.Random | None = None) -> int:
    """A port below the ephemeral range that nothing is bound to now, on any address (the check binds
    the wildcard, which any listener on that number refuses). Raises OSError when none is found."""
    first, _ = ephemeral_range(path)
    low, high = (STATIC_LOW, first - 1) if first - 1 > STATIC_LOW else (1024, first - 1)
    if high < low:
        raise OSError(f"no port below the ephemeral range (it starts at {first})")
    pick = rng or random.SystemRandom()  # not the global generator: tests seed that one
    for _ in range(ATTEMPTS):
        port = pick.randint(low, high)
        if _bindable(port):
            return port
    raise OSError(f"no free port in {low}-{high} after {ATTEMPTS} tries")


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("0.0.0.0", port))
        except OSError:
            return False
    return True
