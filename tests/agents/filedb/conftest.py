import pytest

from socs_like_agents.filedb.schema import upgrade


@pytest.fixture
def db_migrate():  # type: ignore[no-untyped-def]
    """The shared ``db`` fixture creates the file database's tables."""
    return upgrade
