"""A package's Alembic environment as socs_like.db.Migrations expects it (for the tests)."""

from socs_like.db import run_env

run_env()
