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
outside its ephemeral range unasked, so a free port from there stays ours.
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


def ephemeral_port_warning(port: int, path: Path = EPHEMERAL_RANGE_FILE) -> str | None:
    """What to tell the operator when the configured simulator port can be handed to others."""
    first, last = ephemeral_range(path)
    if not first <= port <= last:
        return None
    return (f"venue.sim.port {port} lies in the kernel's ephemeral port range {first}-{last}: another process "
            "may be handed it while the simulator starts or restarts (see venue/sim/ports.py)")


def free_static_port(*, path: Path = EPHEMERAL_RANGE_FILE, rng: random.Random | None = None) -> int:
    """A port outside the ephemeral range (below it, else above it) that nothing is bound to now, on
    any address: the check binds the wildcard, which any listener on that number refuses. When the
    kernel's range covers every unprivileged port there is no such port, and the kernel picks one
    (exposed to the race above). Raises OSError when every try finds its port taken."""
    spans = static_spans(*ephemeral_range(path))
    if not spans:
        return _kernel_port()
    total = sum(high - low + 1 for low, high in spans)
    pick = rng or random.SystemRandom()  # not the global generator: tests seed that one
    for _ in range(ATTEMPTS):
        offset = pick.randrange(total)
        for low, high in spans:
            if offset <= high - low:
                port = low + offset
                break
            offset -= high - low + 1
        if _bindable(port):
            return port
    raise OSError(f"no free port in {spans} after {ATTEMPTS} tries")


def static_spans(first: int, last: int) -> list[tuple[int, int]]:
    """The (low, high) spans of unprivileged ports the kernel never hands out unasked."""
    low = STATIC_LOW if first - 1 >= STATIC_LOW else 1024
    return [(a, b) for a, b in ((low, first - 1), (last + 1, 65535)) if b >= a]


def _kernel_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("0.0.0.0", 0))
        return int(sock.getsockname()[1])


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("0.0.0.0", port))
        except OSError:
            return False
    return True


def port_in_use(port: int) -> bool:
    """True when a process listens on `port` on any address. SO_REUSEADDR as the simulator's own
    server sets it, so the connections an earlier run left in TIME_WAIT do not count: only a
    listener, another run's simulator say, refuses the bind."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("0.0.0.0", port))
        except OSError:
            return True
    return False
