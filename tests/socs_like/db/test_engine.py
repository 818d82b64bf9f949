"""The generic database layer: URLs, short transactions, retry on lock, the migration runner."""

import sqlite3
import threading
from pathlib import Path

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.exc import OperationalError

from socs_like.db import Database, Migrations, database_url, is_lock_error

SAMPLE = Migrations(
    scripts=Path(__file__).with_name("sample_migrations"), version_table="sample_version"
)


def test_database_url_takes_a_path_or_a_url(tmp_path) -> None:
    assert database_url(tmp_path / "a.db") == f"sqlite:///{tmp_path / 'a.db'}"
    assert database_url("postgresql://u@h/d") == "postgresql+psycopg://u@h/d"
    assert database_url("sqlite:///x.db") == "sqlite:///x.db"


def test_sqlite_is_opened_in_wal_with_a_busy_timeout(tmp_path) -> None:
    db = Database(tmp_path / "sub" / "a.db", busy_timeout=2.5)
    pragmas = db.read(
        lambda s: [
            s.execute(text(f"PRAGMA {p}")).scalar() for p in ("journal_mode", "busy_timeout")
        ]
    )
    assert pragmas == ["wal", 2500]
    db.dispose()


def test_a_write_waits_for_the_lock_and_retries_until_it_is_free(tmp_path) -> None:
    """Another process's writer holds the lock longer than the busy timeout: the write is
    retried with backoff, counted, and lands once the lock is free."""
    path = tmp_path / "a.db"
    db = Database(path, busy_timeout=0.05, retries=20)
    db.write(lambda s: s.execute(text("CREATE TABLE t (x INTEGER)")))
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    threading.Timer(0.5, holder.rollback).start()
    db.write(lambda s: s.execute(text("INSERT INTO t VALUES (1)")))
    assert db.read(lambda s: s.execute(text("SELECT count(*) FROM t")).scalar()) == 1
    assert db.stats.lock_retries > 0 and db.stats.lock_failures == 0
    holder.close()
    db.dispose()


def test_a_lock_held_past_every_retry_is_raised_and_counted(tmp_path) -> None:
    path = tmp_path / "a.db"
    db = Database(path, busy_timeout=0.01, retries=2)
    db.write(lambda s: s.execute(text("CREATE TABLE t (x INTEGER)")))
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    with pytest.raises(OperationalError) as caught:
        db.write(lambda s: s.execute(text("INSERT INTO t VALUES (1)")))
    assert is_lock_error(caught.value)
    assert (db.stats.lock_retries, db.stats.lock_failures) == (2, 1)
    holder.rollback()
    holder.close()
    db.dispose()


def test_other_errors_are_not_retried(tmp_path) -> None:
    db = Database(tmp_path / "a.db")
    with pytest.raises(OperationalError) as caught:
        db.write(lambda s: s.execute(text("INSERT INTO missing VALUES (1)")))
    assert not is_lock_error(caught.value)
    assert db.stats.lock_retries == 0
    db.dispose()


def test_migrations_create_upgrade_and_report_revisions(tmp_path) -> None:
    db = Database(tmp_path / "a.db")
    assert SAMPLE.head() == "a1"
    assert SAMPLE.current(db) is None
    assert SAMPLE.upgrade(db) == (None, "a1")
    assert SAMPLE.upgrade(db) == ("a1", "a1")
    assert {"notes", "sample_version"} <= set(
        db.read(lambda s: inspect(s.connection()).get_table_names())
    )
    SAMPLE.downgrade(db, "base")
    assert SAMPLE.current(db) is None
    assert "notes" not in db.read(lambda s: inspect(s.connection()).get_table_names())
    db.dispose()
