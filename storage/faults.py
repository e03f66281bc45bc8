"""Storage faults: SQLite cannot write at all (the disk is full, the database is read-only, the
disk fails), as opposed to one record it refuses (a constraint, a bad value).

    fault = storage_fault(exc, path)   # StorageFault or None
    str(fault)  ->  "storage: disk full (SQLITE_FULL) at /data/paper.db"

A storage fault is a state of the disk, not of a record: retrying the records one by one, as the
writer does for a record fault, cannot help, and every write fails until the state changes. The
writer (storage.writer) keeps what it was given and retries; `probe_write` tells it, when nothing
is waiting, whether a write would succeed again. The text names the kind, SQLite's code and the
database's path, never a record.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

# SQLite's primary result code names (sqlite_errorname is the extended one, e.g. SQLITE_IOERR_WRITE)
_KINDS = (
    ("SQLITE_FULL", "disk full"),
    ("SQLITE_READONLY", "read-only database"),
    ("SQLITE_IOERR", "disk I/O error"),
    ("SQLITE_CANTOPEN", "cannot open the database file"),
)
PROBE_BYTES = 8192  # more than a page: the probe must allocate pages as real records do


class StorageFault(RuntimeError):
    """SQLite cannot write to the database; str() is one line: `storage: <kind> (<code>) at <path>`."""

    def __init__(self, kind: str, code: str, path: str) -> None:
        self.kind = kind
        self.code = code
        self.path = path
        super().__init__(f"storage: {kind} ({code}) at {path}")

    def __reduce__(self) -> tuple[type[StorageFault], tuple[str, str, str]]:
        return (StorageFault, (self.kind, self.code, self.path))  # crosses Ray intact


def storage_fault(exc: BaseException, path: str | Path) -> StorageFault | None:
    """The storage fault exc reports, or None when it is about a record (or not SQLite's)."""
    if isinstance(exc, StorageFault):
        return exc
    if not isinstance(exc, sqlite3.Error):
        return None
    name = str(getattr(exc, "sqlite_errorname", "") or "")
    for code, kind in _KINDS:
        if name == code or name.startswith(code + "_"):
            return StorageFault(kind, name, str(path))
    text = str(exc).lower()  # an error raised without a code (e.g. by a wrapper): SQLite's own words
    if "database or disk is full" in text:
        return StorageFault("disk full", "SQLITE_FULL", str(path))
    if "readonly database" in text:
        return StorageFault("read-only database", "SQLITE_READONLY", str(path))
    if "disk i/o error" in text:
        return StorageFault("disk I/O error", "SQLITE_IOERR", str(path))
    return None


def probe_write(conn: sqlite3.Connection) -> None:
    """A write that allocates pages and reaches the disk (a committed transaction), leaving
    nothing behind: a row of schema_version that is deleted before the commit, so no reader ever
    sees it. Raises what SQLite raises when it cannot write."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute("INSERT INTO schema_version (version, description, applied_at_ns) VALUES (-1, ?, 0)",
                     ("storage probe " + "x" * PROBE_BYTES,))
        conn.execute("DELETE FROM schema_version WHERE version = -1")
        conn.execute("COMMIT")
    except BaseException:
        try:
            conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass
        raise
