"""The system's facts as short human texts (units spelled out: USDC, base units, seconds), and as
`Alert`s with a severity and a dedupe key. Pure: the caller gives every fact and its time.

Dedupe keys name the fact, not the message: the same breaker trip seen in two snapshots has one key
(strategy and trip time); a feed stale for an hour has one key per market, so it is re-sent once
per dedupe window; each restart is its own fact (actor and time).
"""

from __future__ import annotations

from collections.abc import Mapping

from alerts.model import Alert
from messages.control import ALL, Halt
from messages.state import BreakerState

MAX_ERROR_CHARS = 200  # an actor's last error, cut: an alert is read on a phone


def _usdc(value: float, signed: bool = False) -> str:
    return f"{value:+.2f} USDC" if signed else f"{value:.2f} USDC"


def _scope(scope: str) -> str:
    return "all strategies" if scope == ALL else f"strategy {scope}"


# --- halt ------------------------------------------------------------------------------------


def format_halt(halt: Halt) -> str:
    return (f"HALTED {_scope(halt.scope)} (by {halt.issued_by}): {halt.reason}. "
            "New entries are refused; exits still run.")


def halt_alert(halt: Halt) -> Alert:
    return Alert(kind="halt", severity="critical", text=format_halt(halt),
                 key=f"halt:{halt.scope}:{halt.issued_by}:{halt.reason}", ts=halt.ts_event)


# --- breaker ---------------------------------------------------------------------------------


def format_breaker(state: BreakerState) -> str:
    drawdown_pct = 100.0 * (state.peak_equity - state.equity) / state.peak_equity if state.peak_equity > 0 else 0.0
    facts = (f"daily loss {_usdc(state.daily_loss)} on {state.day} (UTC), "
             f"{state.consecutive_losses} losses in a row, equity {_usdc(state.equity)} "
             f"(peak {_usdc(state.peak_equity)}, drawdown {drawdown_pct:.2f}%)")
    if state.tripped:
        return (f"BREAKER TRIPPED on {state.strategy}: {state.reason}. {facts[0].upper()}{facts[1:]}. "
                "New entries are refused until it resets.")
    return f"Breaker reset on {state.strategy}: new entries allowed again. {facts[0].upper()}{facts[1:]}."


def breaker_alert(state: BreakerState) -> Alert:
    if state.tripped:
        return Alert(kind="breaker", severity="critical", text=format_breaker(state),
                     key=f"breaker:{state.strategy}:{state.since_ts}", ts=state.since_ts or state.ts_event)
    return Alert(kind="breaker", severity="info", text=format_breaker(state),
                 key=f"breaker-reset:{state.strategy}:{state.day}", ts=state.ts_event)


# --- a position taken from the venue ---------------------------------------------------------


def format_position_adopted(strategy: str, market_id: int, ours: float, venue_size: float,
                            entry_price: float) -> str:
    notional = abs(venue_size) * entry_price
    return (f"POSITION TAKEN FROM THE VENUE for {strategy} (market {market_id}): the venue holds "
            f"{venue_size:+g} (base units) at {_usdc(entry_price)}, notional {_usdc(notional)}; "
            f"the strategy had {ours:+g}.")


def position_adopted_alert(strategy: str, market_id: int, ours: float, venue_size: float,
                           entry_price: float, ts: int) -> Alert:
    return Alert(kind="position_adopted", severity="warning",
                 text=format_position_adopted(strategy, market_id, ours, venue_size, entry_price),
                 key=f"position_adopted:{strategy}:{market_id}:{venue_size:g}:{entry_price:g}", ts=ts)


# --- feed ------------------------------------------------------------------------------------


def format_feed_stale(market_id: int, silent_s: float, alert_after_s: float) -> str:
    return (f"FEED STALE: market {market_id} has been silent for {silent_s:.0f} s "
            f"(alert after {alert_after_s:g} s). No new entries on it while stale.")


def feed_stale_alert(market_id: int, silent_s: float, alert_after_s: float, ts: int) -> Alert:
    return Alert(kind="feed_stale", severity="warning", text=format_feed_stale(market_id, silent_s, alert_after_s),
                 key=f"feed_stale:{market_id}", ts=ts)


# --- supervision -----------------------------------------------------------------------------


def format_actor_restarted(actor: str, restarts: int, period_s: float, last_error: str | None = None) -> str:
    times = "time" if restarts == 1 else "times"
    text = f"ACTOR RESTARTED: {actor} ({restarts} {times} in the last {period_s:g} s)"
    if last_error:
        error = " ".join(last_error.split())
        if len(error) > MAX_ERROR_CHARS:
            error = error[: MAX_ERROR_CHARS - 3] + "..."
        text += f"; last error: {error}"
    return text + "."


def actor_restarted_alert(actor: str, restarts: int, period_s: float, ts: int,
                          last_error: str | None = None) -> Alert:
    return Alert(kind="actor_restarted", severity="warning",
                 text=format_actor_restarted(actor, restarts, period_s, last_error),
                 key=f"actor_restarted:{actor}:{ts}", ts=ts)


# --- daily summary ---------------------------------------------------------------------------


def format_daily_summary(day: str, per_strategy: Mapping[str, Mapping[str, float]]) -> str:
    """day: "YYYY-MM-DD" (UTC); per_strategy: {name: {"trades": n, "pnl_quote": net PnL in USDC,
    optionally "fees": USDC}} (the names of scripts.pnl_report.Stats)."""
    lines = [f"Daily summary for {day} (UTC):"]
    total_trades = 0
    total_pnl = 0.0
    for name in sorted(per_strategy):
        row = per_strategy[name]
        missing = [k for k in ("trades", "pnl_quote") if k not in row]
        if missing:
            raise ValueError(f"daily summary of {name!r} lacks {', '.join(missing)}")
        trades, pnl = int(row["trades"]), float(row["pnl_quote"])
        total_trades += trades
        total_pnl += pnl
        if trades == 0:
            lines.append(f"{name}: no trades")
            continue
        line = f"{name}: {trades} trade{'' if trades == 1 else 's'}, PnL {_usdc(pnl, signed=True)}"
        if "fees" in row:
            line += f" (fees {_usdc(float(row['fees']))})"
        lines.append(line)
    if not per_strategy:
        lines.append("no strategies ran")
    lines.append(f"Total: {total_trades} trade{'' if total_trades == 1 else 's'}, "
                 f"PnL {_usdc(total_pnl, signed=True)}")
    return "\n".join(lines)


def daily_summary_alert(day: str, per_strategy: Mapping[str, Mapping[str, float]], ts: int) -> Alert:
    return Alert(kind="daily_summary", severity="info", text=format_daily_summary(day, per_strategy),
                 key=f"daily_summary:{day}", ts=ts)
