"""The one error type of the research commands: its message is the single line printed (exit 2)."""

from __future__ import annotations


class ResearchInputError(ValueError):
    """A bad flag, search space or data file; str(exc) is the whole line the command prints."""
