"""How long to wait before asking the venue again after a call failed.

Start-up calls (market details, accounts, reconciliation) are retried rather than allowed to kill
the actor: one HTTP 429 once cost a restart of risk. A rate-limit answer (429 / code 23000) means
the venue counts our requests: the wait starts at RATE_LIMITED_FIRST_S and doubles up to
RATE_LIMITED_MAX_S, so retries do not keep the limit spent. Anything else (network errors,
timeouts, 5xx, a peer actor restarting) doubles from the caller's first delay up to OTHER_MAX_S.
A VenueError carried through Ray (RayTaskError.cause) counts as the error it carries.
"""

from __future__ import annotations

from venue import codes

RATE_LIMITED_FIRST_S = 0.5
RATE_LIMITED_MAX_S = 8.0
OTHER_MAX_S = 1.0


def _cause(exc: BaseException) -> BaseException:
    cause = getattr(exc, "cause", None)  # ray.exceptions.RayTaskError wraps the actor's exception
    return cause if isinstance(cause, BaseException) else exc


def rate_limited(exc: BaseException) -> bool:
    """Whether the venue refused for its request rate (HTTP 429, or Lighter's code 23000)."""
    from venue.rest import VenueError

    err = _cause(exc)
    return isinstance(err, VenueError) and (err.http_status == 429 or err.code == codes.TOO_MANY_REQUESTS)


def next_delay_s(exc: BaseException, delay_s: float) -> float:
    """The wait after `exc` when the previous wait was delay_s (the caller's first delay at first)."""
    if rate_limited(exc):
        return min(RATE_LIMITED_MAX_S, max(RATE_LIMITED_FIRST_S, delay_s * 2))
    return min(OTHER_MAX_S, delay_s * 2)
