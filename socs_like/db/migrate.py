"""Run an agent package's Alembic migrations programmatically, on a :class:`Database`.

The framework ships no tables of its own. A package that keeps tables (the file database
shared by the pysmurf monitor and SupRsync, say) ships an Alembic script folder and names it
with a :class:`Migrations`; an agent started with ``--create-table`` and a ``db upgrade``
command call :meth:`Migrations.upgrade`, which creates the tables on a new database and brings
an older schema to the current one. Each package has its own version table, so packages
sharing a database migrate independently.

The script folder's ``env.py`` is one call, :func:`run_env` with the package's metadata: it
takes the connection and the version table :class:`Migrations` hands over.

Alembic is imported only when there is something for it to do: a database already at the
newest revision of a straight line of scripts (as every package's here is) is told by one
read of its version table, so a program that opens its database every minute from cron (a
pipeline pass) does not load Alembic to find nothing to do.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from alembic.config import Config
    from sqlalchemy import Connection, MetaData
    from sqlalchemy.orm import Session

    from socs_like.db.engine import Database


@dataclass(frozen=True)
class Migrations:
    """One package's migration scripts and the table recording how far a database got."""

    scripts: Path
    version_table: str

    def _config(self, connection: Connection) -> Config:
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(self.scripts))
        config.attributes["connection"] = connection
        config.attributes["version_table"] = self.version_table
        return config

    def head(self) -> str:
        """The newest revision the scripts know."""
        from alembic.script import ScriptDirectory

        head = ScriptDirectory(str(self.scripts)).get_current_head()
        if head is None:
            raise RuntimeError(f"no migrations found in {self.scripts}")
        return head

    def current(self, db: Database) -> str | None:
        """The revision the database is at (None: never migrated)."""
        from alembic.runtime.migration import MigrationContext

        def work(session: Session) -> str | None:
            context = MigrationContext.configure(
                session.connection(), opts={"version_table": self.version_table}
            )
            return context.get_current_revision()

        return db.read(work)

    def upgrade(self, db: Database, revision: str = "head") -> tuple[str | None, str | None]:
        """Migrate to ``revision``; returns (revision before, revision after)."""
        if revision == "head":
            head = self._straight_head()
            if head is not None and self._stamped(db) == head:
                return head, head
        from alembic import command

        before = self.current(db)
        # the write engine takes SQLite's write lock up front, like every other writer
        with db.write_engine.connect() as connection:
            command.upgrade(self._config(connection), revision)
            connection.commit()
        return before, self.current(db)

    def downgrade(self, db: Database, revision: str) -> None:
        from alembic import command

        with db.write_engine.connect() as connection:
            command.downgrade(self._config(connection), revision)
            connection.commit()

    def _stamped(self, db: Database) -> str | None:
        """The one revision in the version table (None: no table, or not one revision)."""
        from sqlalchemy import column, inspect, select, table

        versions = table(self.version_table, column("version_num"))

        def work(session: Session) -> str | None:
            if not inspect(session.connection()).has_table(self.version_table):
                return None
            found = list(session.scalars(select(versions.c.version_num)))
            return str(found[0]) if len(found) == 1 else None

        return db.read(work)

    def _straight_head(self) -> str | None:
        """The newest revision, read from the scripts' text when each names its revision and
        one parent as plain strings and they make one line; None otherwise (Alembic then
        decides)."""
        parents: dict[str, object] = {}
        for path in (self.scripts / "versions").glob("*.py"):
            names: dict[str, object] = {}
            for node in ast.parse(path.read_text()).body:
                if (
                    isinstance(node, ast.Assign)
                    and len(node.targets) == 1
                    and isinstance(node.targets[0], ast.Name)
                    and isinstance(node.value, ast.Constant)
                ):
                    names[node.targets[0].id] = node.value.value
            revision, parent = names.get("revision"), names.get("down_revision")
            if not isinstance(revision, str) or not (parent is None or isinstance(parent, str)):
                return None
            parents[revision] = parent
        heads = set(parents) - set(parents.values())
        if len(heads) != 1 or len(set(parents.values())) != len(parents):
            return None  # branches (or no scripts)
        return heads.pop()


def run_env(metadata: MetaData | None = None) -> None:
    """All a script folder's ``env.py`` does: run the migrations Alembic chose on the
    connection :class:`Migrations` handed over, recording them in its version table.
    ``metadata`` (the package's tables) is what Alembic compares against when it writes a
    new revision."""
    from alembic import context

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
