"""What the supervisor checks before Ray starts, so that nothing is sent before it passes (DESIGN
invariant 8: a system talks only to its own venue and its own database): the paper venue's and the
operator API's ports are free, a live venue can be reached, and the database belongs to this run
(storage/identity.py), locked for as long as the run lasts. No Ray here.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from loguru import logger

from config.settings import AppSettings
from storage.identity import DatabaseLock


class PreflightError(Exception):
    """The run cannot start as configured; str() is one line that says why and what to do."""


def preflight(settings: AppSettings, *, fresh: bool) -> DatabaseLock:
    """What is checked before Ray starts, so that nothing is sent before it passes: the paper
    venue's port is free (DESIGN invariant 8: a system talks only to its own venue), the venue is
    reachable (live, or an external paper venue: venue.sim.external), the database belongs to this venue and market and no other run has it (moved
    aside first with `fresh`). Returns the database lock, held for the life of the run."""
    from storage.identity import DatabaseRefused, check_identity, describe, move_aside
    from storage.writer import prepare_database
    from venue.preflight import unreachable_reason
    from venue.sim.ports import port_in_use

    if settings.mode == "paper" and settings.venue.sim.external:  # someone else's paper venue: it must answer
        reason = unreachable_reason(settings.venue.url)
        if reason is not None:
            raise PreflightError(f"the external paper venue {settings.venue.url} cannot be reached: {reason} "
                                 "(start it first: python -m venue.sim --port PORT)")
    elif settings.mode == "paper":
        port = settings.venue.sim.port
        if port_in_use(port):
            raise PreflightError(
                f"venue.sim.port {port} is in use (another paper run on this machine?): nothing was sent; "
                "run a second system with --sim-port 0 --operator-port 0 --db PATH (free ports, a database of its own)")
        upstream = settings.venue.sim.upstream_url
        if settings.venue.sim.source == "lighter" and upstream:  # paper on Lighter's prices: it must answer
            reason = unreachable_reason(upstream)
            if reason is not None:
                raise PreflightError(f"venue.sim.upstream_url {upstream} cannot be reached: {reason}")
    else:
        reason = unreachable_reason(settings.venue.url)
        if reason is not None:
            raise PreflightError(f"venue {settings.venue.url} cannot be reached: {reason}")
    operator_port = settings.operator.port
    if operator_port and any(c.name == "operator" for c in settings.child_specs()) and port_in_use(operator_port):
        raise PreflightError(f"operator.port {operator_port} is in use (another run's operator API?): "
                             "use --operator-port 0 for a free one")
    db_path = Path(settings.storage.db_path)
    db_path.parent.mkdir(parents=True, exist_ok=True)
    lock = DatabaseLock(db_path)
    try:
        lock.acquire()
        if fresh:
            moved = move_aside(db_path, Path(settings.storage.backup_dir))
            if moved is not None:
                logger.bind(actor="supervisor").info("--fresh: the previous database is now {}", moved)
        prepare_database(db_path)
        identity = settings.database_identity()
        conn = sqlite3.connect(db_path, isolation_level=None, timeout=10.0)
        try:
            check_identity(conn, identity, db_path=db_path,
                           fresh_hint="start fresh with --fresh (the old database is moved into "
                                      f"{settings.storage.backup_dir}) or use --db PATH")
        finally:
            conn.close()
    except DatabaseRefused as exc:
        lock.release()
        raise PreflightError(str(exc)) from None
    except BaseException:
        lock.release()
        raise
    logger.bind(actor="supervisor").info("database {}: {}", db_path, describe(identity))
    return lock
