"""Schema migrations (Alembic, shipped inside the package) run programmatically.

An agent started with ``--create-table`` and ``socs-like db upgrade`` both call
:func:`upgrade`: it creates the tables on a new database, brings an older schema to the
current one, and imports an old ``socs`` database found in the same file.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.orm import Session

from socs_like.db.engine import Database

VERSION_TABLE = "socs_like_alembic_version"
_SCRIPTS = Path(__file__).with_name("migrations")


def _config(connection: object) -> Config:
    config = Config()
    config.set_main_option("script_location", str(_SCRIPTS))
    config.attributes["connection"] = connection
    config.attributes["version_table"] = VERSION_TABLE
    return config


def head_revision() -> str:
    head = ScriptDirectory(str(_SCRIPTS)).get_current_head()
    if head is None:
        raise RuntimeError(f"no migrations found in {_SCRIPTS}")
    return head


def current_revision(db: Database) -> str | None:
    def work(session: Session) -> str | None:
        return MigrationContext.configure(
            session.connection(), opts={"version_table": VERSION_TABLE}
        ).get_current_revision()

    return db.read(work)


def upgrade(db: Database, revision: str = "head") -> tuple[str | None, str | None]:
    """Migrate to ``revision``; returns (revision before, revision after)."""
    before = current_revision(db)
    # the write engine takes SQLite's write lock up front, like every other writer
    with db.write_engine.connect() as connection:
        command.upgrade(_config(connection), revision)
        connection.commit()
    return before, current_revision(db)


def downgrade(db: Database, revision: str) -> None:
    with db.write_engine.connect() as connection:
        command.downgrade(_config(connection), revision)
        connection.commit()
