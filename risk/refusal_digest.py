"""Refusals that repeat, logged once per interval rather than once each.

A strategy whose orders are refused tends to ask again at once, and a refusal that lasts (a rate
limit, a stale feed, a tripped breaker) then fills the log with the same line several times a
second. The first refusal of a kind for an account is reported at once; the ones that follow
within `interval_s` are only counted, and reported together as one line once the interval has
passed ("12 refusals of rate_limit for account 1001 in the last 10 s"). An interval without
any ends the episode: the next refusal is reported at once again.

Pure: the caller passes the time (wall time: this paces log lines for a reader, it is no rule of
trading) and logs the lines it gets back, from `note` as refusals come and from `due` on a
periodic tick, so the count of an episode that has stopped still gets reported.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RefusalLine:
    account: int
    kind: str
    count: int  # 1 for the first refusal of an episode, reported on its own
    span_s: float  # the time the count covers
    reason: str  # the latest refusal's own words

    @property
    def first(self) -> bool:
        return self.span_s == 0.0

    def describe(self) -> str:
        if self.first:
            return f"account {self.account}: {self.kind} refusal: {self.reason}"
        return (f"{self.count} refusals of {self.kind} for account {self.account} in the last "
                f"{self.span_s:.0f} s (latest: {self.reason})")


@dataclass
class _Episode:
    since_s: float
    count: int = 0
    reason: str = ""


class RefusalDigest:
    def __init__(self, interval_s: float = 10.0) -> None:
        self.interval_s = interval_s
        self._episodes: dict[tuple[int, str], _Episode] = {}
        self.total = 0

    def note(self, account: int, kind: str, reason: str, now_s: float) -> list[RefusalLine]:
        """One refusal; returns the lines to log now (none while an interval is counting)."""
        self.total += 1
        key = (account, kind)
        episode = self._episodes.get(key)
        if episode is None:
            self._episodes[key] = _Episode(since_s=now_s)
            return [RefusalLine(account, kind, 1, 0.0, reason)]
        episode.count += 1
        episode.reason = reason
        line = self._close_interval(key, episode, now_s)
        return [] if line is None else [line]

    def due(self, now_s: float) -> list[RefusalLine]:
        """The counts whose interval has passed (call it every second or so)."""
        lines = []
        for key, episode in list(self._episodes.items()):
            line = self._close_interval(key, episode, now_s)
            if line is not None:
                lines.append(line)
        return lines

    def _close_interval(self, key: tuple[int, str], episode: _Episode, now_s: float) -> RefusalLine | None:
        span = now_s - episode.since_s
        if span < self.interval_s:
            return None
        if episode.count == 0:  # a quiet interval: the episode is over
            del self._episodes[key]
            return None
        line = RefusalLine(key[0], key[1], episode.count, span, episode.reason)
        episode.since_s, episode.count = now_s, 0
        return line
