"""Open a database and run short transactions on it, safely shared by several processes.

SQLite is the embedded default. Several agents (a monitor and one SupRsync per archive) write
the same file, so:

- WAL journal: readers never block writers nor the reverse.
- Every write transaction starts with ``BEGIN IMMEDIATE``. A deferred transaction that reads
  and then writes can fail at once with "database is locked" when another writer committed in
  between (SQLite cannot wait for that case); taking the write lock up front makes the busy
  timeout apply.
- A long busy timeout (30 s by default), and on top of it a retry with exponential backoff and
  jitter (:class:`socs_like.backoff.Backoff`) for the rare lock error that still escapes.
- Callers keep transactions short and never hold one across file or network I/O: read, do the
  I/O, then write the outcome in a new transaction. :meth:`Database.write` makes that the easy
  path.

PostgreSQL goes through the same code; there the retry covers serialization failures and
deadlocks. All methods block: call them from a worker thread (``agent.to_thread``), never
from the event loop.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from socs_like.backoff import Backoff

log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_BUSY_TIMEOUT = 30.0
DEFAULT_RETRIES = 8
_WRITE_OPTION = "socs_like_write"
_RETRYABLE_SQLSTATES = {"40001", "40P01"}  # serialization failure, deadlock detected


def database_url(path_or_url: str | Path) -> str:
    """A SQLAlchemy URL from either a URL or a plain path to a SQLite file."""
    text = str(path_or_url)
    if "://" in text:
        if text.startswith("postgresql://"):
            # psycopg 3 is the driver we ship; the bare scheme would pick psycopg2
            return "postgresql+psycopg://" + text[len("postgresql://") :]
        return text
    return f"sqlite:///{Path(text).expanduser().absolute()}"


def is_lock_error(exc: BaseException) -> bool:
    """True for errors that a retry of the same transaction may cure."""
    if not isinstance(exc, DBAPIError):
        return False
    orig = exc.orig
    if getattr(orig, "sqlstate", None) in _RETRYABLE_SQLSTATES:
        return True
    text = str(orig).lower()
    return "database is locked" in text or "database table is locked" in text


@dataclass
class DatabaseStats:
    """Counters a caller can show in its session data."""

    transactions: int = 0
    lock_retries: int = 0
    lock_failures: int = 0


class Database:
    """An engine plus short read and write transactions with retry on lock.

    ``url`` is a SQLAlchemy URL or a path to a SQLite file (its folder is created).
    """

    def __init__(
        self,
        url: str | Path,
        *,
        echo: bool = False,
        busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
        retries: int = DEFAULT_RETRIES,
    ) -> None:
        self.url = database_url(url)
        self.retries = retries
        self.stats = DatabaseStats()
        self._stats_lock = threading.Lock()
        parsed = make_url(self.url)
        self.display_url = parsed.render_as_string(hide_password=True)
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        if self.is_sqlite:
            if parsed.database and parsed.database != ":memory:":
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            self.engine = create_engine(
                self.url,
                echo=echo,
                connect_args={"timeout": busy_timeout, "check_same_thread": False},
            )
            _configure_sqlite(self.engine, busy_timeout)
        else:
            self.engine = create_engine(self.url, echo=echo, pool_pre_ping=True)
        self.write_engine = self.engine.execution_options(**{_WRITE_OPTION: True})

    def write(self, work: Callable[[Session], T]) -> T:
        """Run ``work(session)`` in one write transaction, committed on return.

        On a lock error the whole transaction is rolled back and ``work`` runs again, so it
        must not have side effects outside the session.
        """
        return self._run(self.write_engine, work, write=True)

    def read(self, work: Callable[[Session], T]) -> T:
        """Run ``work(session)`` in a read transaction (rolled back at the end)."""
        return self._run(self.engine, work, write=False)

    def _run(self, engine: Engine, work: Callable[[Session], T], *, write: bool) -> T:
        # one per transaction: a retry waits for the lock this transaction met, not for
        # failures of others
        backoff = Backoff(initial=0.01, factor=2.0, cap=2.0, jitter=0.5)
        attempt = 0
        while True:
            try:
                with Session(engine, expire_on_commit=False) as session:
                    if write:
                        with session.begin():
                            result = work(session)
                    else:
                        # leaving the block closes the session: the read transaction ends
                        # and loaded objects stay readable (close does not expire them)
                        result = work(session)
                with self._stats_lock:
                    self.stats.transactions += 1
                return result
            except DBAPIError as exc:
                retryable = is_lock_error(exc)
                if not retryable or attempt >= self.retries:
                    if retryable:
                        with self._stats_lock:
                            self.stats.lock_failures += 1
                    raise
                attempt += 1
                with self._stats_lock:
                    self.stats.lock_retries += 1
                delay = backoff.failure()
                log.warning("database busy (%s); retry %d in %.2f s", exc.orig, attempt, delay)
                time.sleep(delay)

    def dispose(self) -> None:
        self.engine.dispose()


def _configure_sqlite(engine: Engine, busy_timeout: float) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # let SQLAlchemy's "begin" event below issue BEGIN, instead of pysqlite guessing
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
        # FULL: a committed registration survives a power cut, not only a crash
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        if connection.get_execution_options().get(_WRITE_OPTION):
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            connection.exec_driver_sql("BEGIN")
