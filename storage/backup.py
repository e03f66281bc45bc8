"""Online backups with SQLite's backup API, while the writer keeps writing.

    path = backup_database("data/paper.db", "backups/paper", keep=10)
    path = await backup_database_async(...)        # the same, in a worker thread

A backup is `<db stem>-<UTC timestamp with microseconds>Z.db` in backup_dir (names sort by time).
It is copied from a read-only connection in one step (a consistent snapshot; in WAL mode this
does not block the writer), switched to a self-contained rollback-journal file, checked with
`PRAGMA quick_check`, then renamed into place, so a half-written backup never carries a final
name. Afterwards only the newest `keep` backups of that database are kept; other files in
backup_dir are never touched.
"""

from __future__ import annotations

import asyncio
import os
import re
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

_STAMP = "%Y%m%dT%H%M%S_%f"


def _pattern(db_path: Path) -> re.Pattern[str]:
    return re.compile(rf"^{re.escape(db_path.stem)}-\d{{8}}T\d{{6}}_\d{{6}}Z\.db$")


def list_backups(db_path: str | Path, backup_dir: str | Path) -> list[Path]:
    """The backups of this database in backup_dir, oldest first."""
    directory = Path(backup_dir)
    if not directory.is_dir():
        return []
    pattern = _pattern(Path(db_path))
    return sorted(path for path in directory.iterdir() if pattern.match(path.name))


def prune_backups(db_path: str | Path, backup_dir: str | Path, keep: int) -> list[Path]:
    """Delete all but the newest `keep` backups; returns the deleted paths."""
    if keep < 1:
        raise ValueError(f"keep must be at least 1, got {keep}")
    backups = list_backups(db_path, backup_dir)
    removed = backups[:-keep]
    for path in removed:
        path.unlink(missing_ok=True)
    return removed


def backup_database(
    db_path: str | Path, backup_dir: str | Path, *, keep: int = 10, now: datetime | None = None
) -> Path:
    """Copy the live database to a new timestamped backup, then prune; returns the new path."""
    source_path = Path(db_path)
    if not source_path.is_file():
        raise FileNotFoundError(f"no database at {source_path}")
    directory = Path(backup_dir)
    directory.mkdir(parents=True, exist_ok=True)
    target = _free_name(source_path, directory, now or datetime.now(UTC))
    partial = target.with_name(target.name + ".partial")

    source = sqlite3.connect(f"{source_path.resolve().as_uri()}?mode=ro", uri=True, timeout=10.0)
    try:
        destination = sqlite3.connect(partial, isolation_level=None)
        try:
            source.backup(destination)  # pages=-1: the whole database in one consistent step
            destination.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
            verdict = destination.execute("PRAGMA quick_check").fetchone()[0]
            if verdict != "ok":
                raise sqlite3.DatabaseError(f"backup of {source_path} failed its check: {verdict}")
        finally:
            destination.close()
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    finally:
        source.close()
    os.replace(partial, target)
    prune_backups(source_path, directory, keep)
    return target


async def backup_database_async(
    db_path: str | Path, backup_dir: str | Path, *, keep: int = 10, now: datetime | None = None
) -> Path:
    return await asyncio.to_thread(backup_database, db_path, backup_dir, keep=keep, now=now)


def _free_name(db_path: Path, directory: Path, moment: datetime) -> Path:
    moment = moment.astimezone(UTC)
    while True:  # two backups in one microsecond: move the second one on, names stay in time order
        candidate = directory / f"{db_path.stem}-{moment.strftime(_STAMP)}Z.db"
        if not candidate.exists():
            return candidate
        moment += timedelta(microseconds=1)
