from collections.abc import Iterator

import pytest

from socs_like.db import Database
from socs_like_agents.filedb.schema import upgrade


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path) -> Iterator[Database]:
    """A migrated database: a SQLite file, or a fresh database on the real PostgreSQL server."""
    if request.param == "sqlite":
        url = str(tmp_path / "files.db")
    else:
        url = request.getfixturevalue("postgres_url")
    database = Database(url)
    upgrade(database)
    yield database
    database.dispose()
