"""Run an agent package's Alembic migrations programmatically, on a :class:`Database`.

The framework ships no tables of its own. A package that keeps tables (the file database
shared by the pysmurf monitor and SupRsync, say) ships an Alembic script folder and names it
with a :class:`Migrations`; an agent started with ``--create-table`` and a ``db upgrade``
command call :meth:`Migrations.upgrade`, which creates the tables on a new database and brings
an older schema to the current one. Each package has its own version table, so packages
sharing a database migrate independently.

The script folder's ``env.py`` is one call, :func:`run_env` with the package's metadata: it
takes the connection and the version table :class:`Migrations` hands over.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from alembic import command, context
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, MetaData
from sqlalchemy.orm import Session

from socs_like.db.engine import Database


@dataclass(frozen=True)
class Migrations:
    """One package's migration scripts and the table recording how far a database got."""

    scripts: Path
    version_table: str

    def _config(self, connection: Connection) -> Config:
        config = Config()
        config.set_main_option("script_location", str(self.scripts))
        config.attributes["connection"] = connection
        config.attributes["version_table"] = self.version_table
        return config

    def head(self) -> str:
        """The newest revision the scripts know."""
        head = ScriptDirectory(str(self.scripts)).get_current_head()
        if head is None:
            raise RuntimeError(f"no migrations found in {self.scripts}")
        return head

    def current(self, db: Database) -> str | None:
        """The revision the database is at (None: never migrated)."""

        def work(session: Session) -> str | None:
            context = MigrationContext.configure(
                session.connection(), opts={"version_table": self.version_table}
            )
            return context.get_current_revision()

        return db.read(work)

    def upgrade(self, db: Database, revision: str = "head") -> tuple[str | None, str | None]:
        """Migrate to ``revision``; returns (revision before, revision after)."""
        before = self.current(db)
        # the write engine takes SQLite's write lock up front, like every other writer
        with db.write_engine.connect() as connection:
            command.upgrade(self._config(connection), revision)
            connection.commit()
        return before, self.current(db)

    def downgrade(self, db: Database, revision: str) -> None:
        with db.write_engine.connect() as connection:
            command.downgrade(self._config(connection), revision)
            connection.commit()


def run_env(metadata: MetaData | None = None) -> None:
    """All a script folder's ``env.py`` does: run the migrations Alembic chose on the
    connection :class:`Migrations` handed over, recording them in its version table.
    ``metadata`` (the package's tables) is what Alembic compares against when it writes a
    new revision."""
    connection = context.config.attributes["connection"]
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table=context.config.attributes["version_table"],
        # SQLite cannot ALTER most things in place: let Alembic copy-and-move tables
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()
