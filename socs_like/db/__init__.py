"""The generic database layer: engines, short transactions with retry on lock, migrations.

Tables belong to agent packages (the file database of the pysmurf monitor and SupRsync is
``socs_like_agents.filedb``). Typical use from an agent, in a worker thread, never on the
event loop::

    db = Database(args.db_path)          # a SQLite path or a SQLAlchemy URL
    MIGRATIONS.upgrade(db)               # the package's Migrations
    rows = db.write(lambda s: queries.register(s, batch))
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from socs_like.db.args import add_db_path_argument, db_path_setting
from socs_like.db.migrate import Migrations, run_env

if TYPE_CHECKING:
    from socs_like.db.engine import Database, DatabaseStats, database_url, is_lock_error

__all__ = [
    "Database",
    "DatabaseStats",
    "Migrations",
    "add_db_path_argument",
    "database_url",
    "db_path_setting",
    "is_lock_error",
    "run_env",
]


def __getattr__(name: str) -> Any:
    # The engine brings in SQLAlchemy: a command's --db-path argument and its migrations'
    # names must not pay for it (`socs-like runs --help`, a cron pass's parsing).
    if name in ("Database", "DatabaseStats", "database_url", "is_lock_error"):
        from socs_like.db import engine

        return getattr(engine, name)
    raise AttributeError(name)
