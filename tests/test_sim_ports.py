"""The paper venue's port: chosen outside the kernel's ephemeral range, never one already bound."""

from __future__ import annotations

import random
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from venue.sim import ports

pytestmark = pytest.mark.timeout(30)


class ScriptedPicks(random.Random):
    """A generator whose randrange answers, in order, the offsets of a fixed list of ports below the
    test range file's ephemeral range (40000-60999), where the first span starts at STATIC_LOW."""

    def __init__(self, ports: list[int]) -> None:
        super().__init__(0)
        self.ports = iter(ports)
        self.asked: list[int] = []

    def randrange(self, stop: int) -> int:  # type: ignore[override]
        self.asked.append(stop)
        return next(self.ports) - ports.STATIC_LOW


@pytest.fixture
def range_file(tmp_path: Path) -> Path:
    path = tmp_path / "ip_local_port_range"
    path.write_text("40000\t60999\n")
    return path


@pytest.fixture
def wildcard_listener() -> Iterator[int]:
    """A listener on every address, on a port below the test range file's ephemeral range."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("0.0.0.0", free_below(39999)))
        sock.listen()
        yield int(sock.getsockname()[1])


def test_a_configured_port_in_the_range_is_warned_about(range_file: Path) -> None:
    warning = ports.ephemeral_port_warning(45000, range_file)
    assert warning is not None and "45000" in warning and "40000-60999" in warning
    assert ports.ephemeral_port_warning(40000, range_file) is not None
    assert ports.ephemeral_port_warning(60999, range_file) is not None
    assert ports.ephemeral_port_warning(39999, range_file) is None
    assert ports.ephemeral_port_warning(61000, range_file) is None
    assert ports.ephemeral_port_warning(8765, range_file) is None


def free_below(limit: int) -> int:
    """Some port under limit that is free now (the picks scripted below must be free ones)."""
    for port in range(25000, limit):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("0.0.0.0", port))
            except OSError:
                continue
            return port
    raise AssertionError("no free port to script")


def test_the_ephemeral_range_is_read_from_the_kernel_file(range_file: Path, tmp_path: Path) -> None:
    assert ports.ephemeral_range(range_file) == (40000, 60999)
    # no such file (not Linux): Linux's default range
    assert ports.ephemeral_range(tmp_path / "missing") == ports.DEFAULT_EPHEMERAL_RANGE


def test_the_port_is_chosen_outside_the_ephemeral_range(range_file: Path) -> None:
    assert ports.static_spans(40000, 60999) == [(ports.STATIC_LOW, 39999), (61000, 65535)]
    free = free_below(39999)
    picks = ScriptedPicks([free])
    assert ports.free_static_port(path=range_file, rng=picks) == free
    # one draw over both spans: 20000-39999 and 61000-65535
    assert picks.asked == [(39999 - ports.STATIC_LOW + 1) + (65535 - 61000 + 1)]


def test_a_range_that_starts_low_leaves_the_ports_above_it_or_below_it() -> None:
    assert ports.static_spans(10000, 65535) == [(1024, 9999)]
    assert ports.static_spans(1024, 60999) == [(61000, 65535)]
    assert ports.static_spans(1024, 65535) == []


def test_with_no_port_outside_the_range_the_kernel_picks_one(tmp_path: Path) -> None:
    path = tmp_path / "ip_local_port_range"
    path.write_text("1024 65535\n")
    port = ports.free_static_port(path=path)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", port))  # raises if it was not free


def test_a_port_someone_listens_on_is_passed_over(range_file: Path, wildcard_listener: int) -> None:
    free = free_below(39999)
    picks = ScriptedPicks([wildcard_listener, wildcard_listener, free])
    assert ports.free_static_port(path=range_file, rng=picks) == free
    assert len(picks.asked) == 3


def test_a_port_from_the_real_kernel_range_is_free_and_outside_it() -> None:
    port = ports.free_static_port()
    first, last = ports.ephemeral_range()
    assert not first <= port <= last
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", port))  # raises if it was not free
