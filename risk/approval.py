"""An approval's deadline: an entry risk approved reaches the venue soon after, or never.

Risk stamps each OrderCommand with `approved_ns` (its wall clock) and `max_age_ms`
(`risk.approval_ttl_ms`). The router asks `approval_refusal` just before the order leaves: an
entry whose approval is older than that is refused and never sent - the market, the breakers or
the kill switch may have moved since (a call Ray retried into a restarted router reached the
venue 3.2 s after its approval, after risk itself had died). Exits (is_exit or reduce_only),
modifies and cancels are never refused for age: getting out must not depend on a timely router.
Wall time is right here: this is a timeout, not a trading rule.
"""

from __future__ import annotations

from messages.orders import OrderCommand, OrderIntent

STALE_APPROVAL = 40003  # OrderRejected.code: the approval expired before the order could be sent


def approval_deadline_ns(command: OrderCommand) -> int | None:
    """The wall-clock ns after which this command must not be sent; None when it has no deadline
    (an exit, a cancel or modify, or a command approved without one)."""
    intent = command.intent
    if not isinstance(intent, OrderIntent) or intent.is_exit or intent.reduce_only:
        return None
    if command.approved_ns <= 0 or command.max_age_ms <= 0:
        return None
    return command.approved_ns + command.max_age_ms * 1_000_000


def approval_refusal(command: OrderCommand, now_ns: int) -> str | None:
    """Why the command may not be sent at wall time now_ns (its approval expired), else None."""
    deadline = approval_deadline_ns(command)
    if deadline is None or now_ns <= deadline:
        return None
    age_ms = (now_ns - command.approved_ns) / 1e6
    return (f"approval expired: approved {age_ms:.0f} ms ago, an entry must be sent within "
            f"{command.max_age_ms} ms (risk.approval_ttl_ms); never sent")
