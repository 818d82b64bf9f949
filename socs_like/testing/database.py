"""Fixtures ``db`` and ``db_migrate``: a database for a test, SQLite by default or the real
PostgreSQL server, migrated by whatever the test folder says.

One fixture for every test folder (the file database, SupRsync and framework tests each had
their own). The framework owns no tables, so the schema comes from the folder: override
``db_migrate`` in its ``conftest.py`` with the agent package's upgrade function::

    @pytest.fixture
    def db_migrate():
        return upgrade            # e.g. socs_like_agents.filedb.schema.upgrade

    @pytest.mark.parametrize("db", ["sqlite", "postgresql"], indirect=True)
    def test_both(db): ...
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from socs_like.db import Database

__all__ = ["db", "db_migrate"]

Migrate = Callable[[Database], object]


@pytest.fixture
def db_migrate() -> Migrate | None:
    """How ``db`` brings a new database to its schema; None (the default): left empty."""
    return None


@pytest.fixture
def db(
    request: pytest.FixtureRequest, tmp_path: Path, db_migrate: Migrate | None
) -> Iterator[Database]:
    """A :class:`~socs_like.db.Database`, migrated by ``db_migrate``: ``sqlite`` (a file in
    ``tmp_path``) or ``postgresql`` (a fresh database on the session's server), per the
    indirect parameter."""
    kind = getattr(request, "param", "sqlite")
    if kind == "postgresql":
        database = Database(request.getfixturevalue("postgres_url"))
    elif kind == "sqlite":
        database = Database(str(tmp_path / "files.db"))
    else:
        raise ValueError(f"db fixture: unknown kind {kind!r} (sqlite or postgresql)")
    if db_migrate is not None:
        db_migrate(database)
    yield database
    database.dispose()
