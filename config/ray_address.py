"""Whether a Ray cluster address answers at all, before ray.init waits minutes on it.

    unreachable("10.0.0.5:6379")  -> "nothing answers there (Connection refused)" or None

Used by the supervisor's and the sweep's `--address`. A plain TCP connect to the head's GCS port;
Ray's own forms ("auto", "ray://...") are left to Ray. Reaching the port is not joining: a
cluster may still refuse (token authentication), which ray.init reports.
"""

from __future__ import annotations

import socket


def unreachable(address: str, timeout_s: float = 5.0) -> str | None:
    """Why nothing can be joined at `address` (one phrase), or None when its port answers."""
    host, sep, port = address.rpartition(":")
    if address == "auto" or address.startswith("ray://") or not sep or not port.isdigit():
        return None
    try:
        socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout_s).close()
    except OSError as exc:
        return f"nothing answers there ({exc.strerror or exc})"
    return None
