"""Shared database layer: typed models, engine helpers, migrations, legacy import.

Typical use from an agent (in a worker thread, never on the event loop)::

    db = Database(args.db_path)          # a SQLite path or a SQLAlchemy URL
    upgrade(db)                          # --create-table / `socs-like db upgrade`
    rows = db.write(lambda s: files.register(s, batch))
"""

from socs_like.db import files
from socs_like.db.engine import Database, DatabaseStats, database_url, is_lock_error
from socs_like.db.migrate import current_revision, head_revision, upgrade
from socs_like.db.models import Base, FileState, RegisteredFile, TimecodeDir

__all__ = [
    "Base",
    "Database",
    "DatabaseStats",
    "FileState",
    "RegisteredFile",
    "TimecodeDir",
    "current_revision",
    "database_url",
    "files",
    "head_revision",
    "is_lock_error",
    "upgrade",
]
