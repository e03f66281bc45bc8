"""The paper venue's port: chosen below the kernel's ephemeral range, never one already bound."""

from __future__ import annotations

import random
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from venue.sim import ports

pytestmark = pytest.mark.timeout(30)


class ScriptedPicks(random.Random):
    """A generator whose randint answers a fixed list in order (the port choice made visible)."""

    def __init__(self, picks: list[int]) -> None:
        super().__init__(0)
        self.picks = iter(picks)
        self.asked: list[tuple[int, int]] = []

    def randint(self, a: int, b: int) -> int:
        self.asked.append((a, b))
        return next(self.picks)


@pytest.fixture
def range_file(tmp_path: Path) -> Path:
    path = tmp_path / "ip_local_port_range"
    path.write_text("40000\t60999\n")
    return path


@pytest.fixture
def wildcard_listener() -> Iterator[int]:
    """A listener on every address, on a port below the test range file's ephemeral range."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        for port in range(39000, 39999):
            try:
                sock.bind(("0.0.0.0", port))
                break
            except OSError:
                continue
        sock.listen()
        yield int(sock.getsockname()[1])


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
    assert ports.in_ephemeral_range(40000, range_file)
    assert ports.in_ephemeral_range(60999, range_file)
    assert not ports.in_ephemeral_range(39999, range_file)
    assert not ports.in_ephemeral_range(8765, range_file)
    # no such file (not Linux): Linux's default range
    assert ports.ephemeral_range(tmp_path / "missing") == ports.DEFAULT_EPHEMERAL_RANGE


def test_the_port_is_chosen_below_the_ephemeral_range(range_file: Path) -> None:
    free = free_below(39999)
    picks = ScriptedPicks([free])
    assert ports.free_static_port(path=range_file, rng=picks) == free
    assert picks.asked == [(ports.STATIC_LOW, 39999)]


def test_a_port_someone_listens_on_is_passed_over(range_file: Path, wildcard_listener: int) -> None:
    free = free_below(39999)
    picks = ScriptedPicks([wildcard_listener, wildcard_listener, free])
    assert ports.free_static_port(path=range_file, rng=picks) == free
    assert len(picks.asked) == 3


def test_a_port_from_the_real_kernel_range_is_free_and_outside_it() -> None:
    port = ports.free_static_port()
    first, _ = ports.ephemeral_range()
    assert ports.STATIC_LOW <= port < first
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", port))  # raises if it was not free
