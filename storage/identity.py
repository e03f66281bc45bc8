"""What a database belongs to, and one running system per database.

A database holds one system's orders, fills, positions, candles and strategy snapshots, all made
against one venue and one market. Reused against another (a synthetic paper run's database under a
run on real candles, say) it hands the strategies positions and indicators built on other prices,
and nothing notices. So a database records what it belongs to (`identity`: the venue and the
markets, as the supervisor describes them) on first use, and a run whose identity differs is refused
with one line that says how to start fresh. A database that holds trading data but no identity (made
before identities were recorded) cannot be vouched for and is refused the same way.

Starting fresh never deletes: the old file is checkpointed and moved into the backup folder.

A second system on the same database would interleave two journals and two order sequences: the
supervisor holds an exclusive lock on `<db>.lock` (flock, released by the kernel if the process dies)
for as long as it runs.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import sqlite3
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

from storage.schema import TRADING_TABLES

IDENTITY_TABLE = "database_identity"


class DatabaseRefused(Exception):
    """The database cannot be used by this run; str() is one line that says what to do."""


def describe(identity: Mapping[str, str]) -> str:
    return ", ".join(f"{key} {value}" for key, value in sorted(identity.items()))


def check_identity(conn: sqlite3.Connection, identity: Mapping[str, str], *, db_path: Path,
                   fresh_hint: str) -> bool:
    """Record `identity` in a database that has none and holds no trading data (True: recorded
    now); accept one whose recorded identity is the same (False); raise DatabaseRefused otherwise.
    conn is a migrated database in autocommit mode."""
    conn.execute("BEGIN IMMEDIATE")  # two starts at once must not both record
    try:
        stored = dict(conn.execute(f"SELECT key, value FROM {IDENTITY_TABLE}").fetchall())
        if not stored:
            used = next((t for t in TRADING_TABLES if conn.execute(f"SELECT 1 FROM {t} LIMIT 1").fetchone()), None)
            if used is not None:
                raise DatabaseRefused(
                    f"database {db_path} holds trading data ({used}) but no record of the venue and markets it "
                    f"was made against (an older version made it): {fresh_hint}")
            conn.executemany(f"INSERT INTO {IDENTITY_TABLE} (key, value) VALUES (?, ?)", sorted(identity.items()))
            conn.execute("COMMIT")
            return True
        conn.execute("ROLLBACK")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    if stored != dict(identity):
        keys = sorted(set(stored) | set(identity))
        first = next(k for k in keys if stored.get(k) != identity.get(k))
        raise DatabaseRefused(
            f"database {db_path} was made against {first} {stored.get(first, '(none)')}, this run is "
            f"{first} {identity.get(first, '(none)')}: {fresh_hint}")
    return False


def move_aside(db_path: Path, backup_dir: Path, *, now: datetime | None = None) -> Path | None:
    """Checkpoint the database and move it (with its WAL files) into backup_dir; None when there
    is no database. The name carries the UTC time, so nothing already there is overwritten."""
    if not db_path.exists():
        return None
    conn = sqlite3.connect(db_path, isolation_level=None, timeout=10.0)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    backup_dir.mkdir(parents=True, exist_ok=True)
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%S%fZ")
    target = backup_dir / f"{db_path.stem}.before-fresh-{stamp}{db_path.suffix}"
    shutil.move(db_path, target)
    for suffix in ("-wal", "-shm"):
        side = db_path.with_name(db_path.name + suffix)
        if side.exists():
            side.unlink()  # empty after the checkpoint
    return target


class DatabaseLock:
    """An exclusive lock on `<db>.lock` for the life of this object's holder."""

    def __init__(self, db_path: Path) -> None:
        self.path = db_path.with_name(db_path.name + ".lock")
        self._fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 64).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise DatabaseRefused(
                f"database {self.path.with_suffix('')} is in use by another running system (pid {holder}): "
                "stop it, or give this run a database of its own with --db PATH") from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing releases the flock
            self._fd = None
