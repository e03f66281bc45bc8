"""Per-strategy circuit breakers: daily loss, consecutive losses, drawdown from the equity peak.

A tripped breaker halts new entries of that strategy; exits always run. The state is a plain
dict so the risk actor can persist it and a restart does not clear a tripped breaker. The daily
loss resets at 00:00 UTC of event time (and with it a breaker tripped by the daily loss); the
other two stay tripped until an operator resumes the strategy.
"""

from __future__ import annotations

from typing import Any

import msgspec

MS_PER_DAY = 86_400_000


class BreakerLimits(msgspec.Struct, frozen=True, kw_only=True):
    daily_loss_pct: float = 2.0  # of the account's equity at the start of the UTC day
    max_consecutive_losses: int = 5
    max_drawdown_pct: float = 5.0  # from the equity peak


class CircuitBreaker:
    DAILY_LOSS = "daily_loss"
    CONSECUTIVE_LOSSES = "consecutive_losses"
    DRAWDOWN = "drawdown"

    def __init__(self, strategy: str, equity: float, limits: BreakerLimits | None = None) -> None:
        self.strategy = strategy
        self.limits = limits or BreakerLimits()
        self.equity = equity
        self.peak_equity = equity
        self.day = -1  # days since the epoch (UTC) of the last event seen
        self.day_start_equity = equity
        self.daily_pnl = 0.0
        self.consecutive_losses = 0
        self.tripped_reason: str | None = None
        self.tripped_since_ms: int | None = None
        self._time_seen = False  # not state: each start takes its first event time as it comes

    @property
    def tripped(self) -> bool:
        return self.tripped_reason is not None

    def on_time(self, ts_ms: int) -> bool:
        """Roll the UTC day of event time: the daily loss resets and so does a daily-loss trip
        (True when this cleared one).

        The day only moves forward: a trade closed just before midnight and reported after the
        day rolled counts toward the new day rather than starting the old one again (which would
        wipe the new day's losses). Only the first time seen by this instance (after a start or a
        restore) may lie before the stored day: a replay of older data against state written
        later is a timeline of its own, and its days are the ones that count.
        """
        day = ts_ms // MS_PER_DAY
        first, self._time_seen = not self._time_seen, True
        if day == self.day or (day < self.day and not first):
            return False
        self.day = day
        self.daily_pnl = 0.0
        self.day_start_equity = self.equity
        if self.tripped_reason == self.DAILY_LOSS:
            self.tripped_reason = None
            self.tripped_since_ms = None
            return True
        return False

    def on_trade_closed(self, pnl: float, ts_ms: int) -> str | None:
        """Account one closed trade (PnL net of fees); return the reason if this trade trips it."""
        self.on_time(ts_ms)
        self.equity += pnl
        self.daily_pnl += pnl
        self.peak_equity = max(self.peak_equity, self.equity)
        self.consecutive_losses = self.consecutive_losses + 1 if pnl < 0 else 0
        if self.tripped:
            return None
        reason = self._breach()
        if reason is not None:
            self.tripped_reason = reason
            self.tripped_since_ms = ts_ms
        return reason

    def _breach(self) -> str | None:
        lim = self.limits
        if self.day_start_equity > 0 and -self.daily_pnl >= self.day_start_equity * lim.daily_loss_pct / 100:
            return self.DAILY_LOSS
        if self.consecutive_losses >= lim.max_consecutive_losses:
            return self.CONSECUTIVE_LOSSES
        if self.peak_equity > 0 and self.equity <= self.peak_equity * (1 - lim.max_drawdown_pct / 100):
            return self.DRAWDOWN
        return None

    def reset(self) -> None:
        """An operator's resume: clear the trip and the loss streak, keep the equity history."""
        self.tripped_reason = None
        self.tripped_since_ms = None
        self.consecutive_losses = 0
        self.peak_equity = self.equity

    def describe(self) -> str:
        if not self.tripped:
            return "ok"
        return f"{self.tripped_reason} (equity {self.equity:.2f}, peak {self.peak_equity:.2f}, " \
               f"day pnl {self.daily_pnl:.2f}, losses in a row {self.consecutive_losses})"

    def to_state(self) -> dict[str, Any]:
        return {
            "strategy": self.strategy,
            "limits": msgspec.to_builtins(self.limits),
            "equity": self.equity,
            "peak_equity": self.peak_equity,
            "day": self.day,
            "day_start_equity": self.day_start_equity,
            "daily_pnl": self.daily_pnl,
            "consecutive_losses": self.consecutive_losses,
            "tripped_reason": self.tripped_reason,
            "tripped_since_ms": self.tripped_since_ms,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> CircuitBreaker:
        limits = msgspec.convert(state["limits"], BreakerLimits)
        breaker = cls(state["strategy"], state["equity"], limits)
        for name in ("peak_equity", "day", "day_start_equity", "daily_pnl", "consecutive_losses",
                     "tripped_reason", "tripped_since_ms"):
            setattr(breaker, name, state[name])
        return breaker
