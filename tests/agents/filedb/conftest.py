import pytest

from socs_like.db import Database
from socs_like_agents.filedb.models import RegisteredFile
from socs_like_agents.filedb.schema import upgrade


@pytest.fixture
def db_migrate():  # type: ignore[no-untyped-def]
    """The shared ``db`` fixture creates the file database's tables."""
    return upgrade


def registered_files(db: Database) -> list[RegisteredFile]:
    """Every row of ``registered_files``, by id."""
    return db.read(lambda s: list(s.query(RegisteredFile).order_by(RegisteredFile.id)))
