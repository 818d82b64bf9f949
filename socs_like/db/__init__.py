"""The generic database layer: engines, short transactions with retry on lock, migrations.

Tables belong to agent packages (the file database of the pysmurf monitor and SupRsync is
``socs_like_agents.filedb``). Typical use from an agent, in a worker thread, never on the
event loop::

    db = Database(args.db_path)          # a SQLite path or a SQLAlchemy URL
    MIGRATIONS.upgrade(db)               # the package's Migrations
    rows = db.write(lambda s: queries.register(s, batch))
"""

from socs_like.db.args import add_db_path_argument
from socs_like.db.engine import Database, DatabaseStats, database_url, is_lock_error
from socs_like.db.migrate import Migrations, run_env

__all__ = [
    "Database",
    "DatabaseStats",
    "Migrations",
    "add_db_path_argument",
    "database_url",
    "is_lock_error",
    "run_env",
]
