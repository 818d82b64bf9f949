"""Fixture ``db``: a migrated database, SQLite by default, or the real PostgreSQL server.

One fixture for every test folder (the monitor, SupRsync and framework database tests each
had their own). SQLite unless the test asks for more::

    @pytest.mark.parametrize("db", ["sqlite", "postgresql"], indirect=True)
    def test_both(db): ...
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from socs_like.db import Database
from socs_like_agents.filedb.schema import upgrade

__all__ = ["db"]


@pytest.fixture
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A migrated :class:`~socs_like.db.Database`: ``sqlite`` (a file in ``tmp_path``) or
    ``postgresql`` (a fresh database on the session's server), per the indirect parameter."""
    kind = getattr(request, "param", "sqlite")
    if kind == "postgresql":
        database = Database(request.getfixturevalue("postgres_url"))
    elif kind == "sqlite":
        database = Database(str(tmp_path / "files.db"))
    else:
        raise ValueError(f"db fixture: unknown kind {kind!r} (sqlite or postgresql)")
    upgrade(database)
    yield database
    database.dispose()
