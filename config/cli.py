"""What every command-line entry point shares: one-line errors with exit status 2, and the
argument types whose meaning must be the same wherever they appear (`--speed`, durations).

argparse's own error prints the usage block and then the problem; an operator reading a failed
start wants the problem alone, on one line that names the flag.
"""

from __future__ import annotations

import argparse
import math
import sys
from typing import NoReturn

SPEED_HELP = "event time per wall time (60 = one market hour a minute); 0 or 'max' = as fast as possible"


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line on stderr, exit status 2."""

    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: error: {' '.join(message.split())}", file=sys.stderr, flush=True)
        raise SystemExit(2)


def parse_speed(raw: str) -> float:
    """A replay speed: a finite number >= 0, or 'max'; 0 and 'max' both mean as fast as possible."""
    text = raw.strip().lower()
    if text == "max":
        return 0.0
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"speed must be a number >= 0 or 'max', got {raw!r}") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"speed must be a number >= 0 or 'max', got {raw!r}")
    return value


def positive_seconds(raw: str) -> float:
    """A duration in seconds, > 0 (a run without a duration is the flag left out, not 0)."""
    try:
        value = float(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {raw!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(
            f"must be more than 0 seconds, got {raw!r} (leave the flag out to run until Ctrl-C)")
    return value


def port_number(raw: str) -> int:
    """A TCP port 1-65535, or 0 for a free one chosen at start."""
    try:
        value = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {raw!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 0 (a free one) to 65535, got {raw!r}")
    return value
