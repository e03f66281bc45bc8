"""A progress bar on stderr: redrawn in place on a terminal, a line per tenth elsewhere (logs, CI).

    bar = Progress(total=400, label="rsi_bb"); bar.advance(note="fold 1 best +3.2"); bar.close()
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    WIDTH = 30

    def __init__(self, total: int, label: str, stream: TextIO | None = None) -> None:
        self.total = max(1, total)
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.done = 0
        self.began = time.monotonic()
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._last_tenth = -1

    def line(self, note: str = "") -> str:
        filled = self.WIDTH * self.done // self.total
        elapsed = time.monotonic() - self.began
        eta = elapsed / self.done * (self.total - self.done) if self.done else 0.0
        bar = "#" * filled + "." * (self.WIDTH - filled)
        return f"{self.label} [{bar}] {self.done}/{self.total} {elapsed:.0f}s eta {eta:.0f}s {note}".rstrip()

    def advance(self, n: int = 1, note: str = "") -> None:
        self.done = min(self.total, self.done + n)
        if self.tty:
            self.stream.write("\r\x1b[2K" + self.line(note))
            self.stream.flush()
            return
        tenth = 10 * self.done // self.total
        if tenth != self._last_tenth:
            self._last_tenth = tenth
            self.stream.write(self.line(note) + "\n")
            self.stream.flush()

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()
