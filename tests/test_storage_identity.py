"""A database records the venue and markets it was made against; another run's is refused, with one
line that says how to start fresh; `--fresh` moves it aside and loses nothing; one run per database."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from storage.identity import DatabaseLock, DatabaseRefused, check_identity, move_aside
from storage.writer import prepare_database

SYNTHETIC = {"venue": "paper synthetic seed 7", "markets": "2"}
CANDLES = {"venue": "paper candles /data/sol.csv.gz seed 7", "markets": "2"}
HINT = "start fresh with --fresh"


def connect(path: Path) -> sqlite3.Connection:
    prepare_database(path)
    return sqlite3.connect(path, isolation_level=None)


def test_a_new_database_records_its_identity_and_accepts_the_same_run_again(tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    with connect(db) as conn:
        assert check_identity(conn, SYNTHETIC, db_path=db, fresh_hint=HINT) is True
        assert check_identity(conn, SYNTHETIC, db_path=db, fresh_hint=HINT) is False
        assert dict(conn.execute("SELECT key, value FROM database_identity").fetchall()) == SYNTHETIC


def test_a_database_of_another_source_is_refused_in_one_line_naming_both(tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    with connect(db) as conn:
        check_identity(conn, SYNTHETIC, db_path=db, fresh_hint=HINT)
        with pytest.raises(DatabaseRefused) as refused:
            check_identity(conn, CANDLES, db_path=db, fresh_hint=HINT)
    text = str(refused.value)
    assert "\n" not in text and "paper synthetic seed 7" in text and "/data/sol.csv.gz" in text and HINT in text


def test_another_market_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    with connect(db) as conn:
        check_identity(conn, SYNTHETIC, db_path=db, fresh_hint=HINT)
        with pytest.raises(DatabaseRefused, match="markets 2, this run is markets 1,2"):
            check_identity(conn, {**SYNTHETIC, "markets": "1,2"}, db_path=db, fresh_hint=HINT)


def test_trading_data_without_an_identity_is_refused_and_an_empty_database_is_not(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    with connect(db) as conn:  # as made before identities: a position and no identity row
        conn.execute("INSERT INTO positions (account_index, market_id, size, avg_entry, realized_pnl, source, "
                     "ts_event, seq) VALUES (1001, 2, 0.1, 159.0, 0, 'fill', 1, 1)")
        with pytest.raises(DatabaseRefused, match="positions.*no record of the venue"):
            check_identity(conn, CANDLES, db_path=db, fresh_hint=HINT)
        assert conn.execute("SELECT COUNT(*) FROM database_identity").fetchone()[0] == 0


def test_move_aside_keeps_every_row_in_the_backup_folder(tmp_path: Path) -> None:
    db = tmp_path / "paper.db"
    with connect(db) as conn:
        check_identity(conn, SYNTHETIC, db_path=db, fresh_hint=HINT)
        conn.execute("INSERT INTO positions (account_index, market_id, size, avg_entry, realized_pnl, source, "
                     "ts_event, seq) VALUES (1001, 2, 0.1, 159.0, 0, 'fill', 1, 1)")
    moved = move_aside(db, tmp_path / "backups", now=datetime(2026, 12, 6, 3, 0, tzinfo=UTC))
    assert moved is not None and moved.parent == tmp_path / "backups" and "20261206T030000" in moved.name
    assert not db.exists() and not Path(str(db) + "-wal").exists()
    with sqlite3.connect(moved) as old:
        assert old.execute("SELECT size FROM positions").fetchone()[0] == 0.1
    with connect(db) as conn:  # the fresh one takes any identity
        assert check_identity(conn, CANDLES, db_path=db, fresh_hint=HINT) is True
    assert move_aside(tmp_path / "none.db", tmp_path / "backups") is None


def test_a_second_run_on_the_same_database_is_refused_until_the_first_releases_it(tmp_path: Path) -> None:
    db = tmp_path / "paper.db"
    first, second = DatabaseLock(db), DatabaseLock(db)
    first.acquire()
    try:
        with pytest.raises(DatabaseRefused, match="in use by another running system"):
            second.acquire()
    finally:
        first.release()
    second.acquire()
    second.release()
