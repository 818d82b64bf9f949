"""The runs database's migrations and its ``--db-path`` argument (one default for the agent,
``socs-like runs`` and the job scripts)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from socs_like.db import Migrations, add_db_path_argument

if TYPE_CHECKING:
    from socs_like.db import Database

DEFAULT_DB = "/data/runs/runs.db"
DB_ENV = "SOCS_LIKE_RUNS_DB"

MIGRATIONS = Migrations(
    scripts=Path(__file__).with_name("migrations"), version_table="run_pipeline_alembic_version"
)


def add_db_argument(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    add_db_path_argument(parser, default=DEFAULT_DB, env=DB_ENV, what="The runs database")


def open_db(path_or_url: str, *, echo: bool = False) -> Database:
    """The runs database, created or migrated to the newest schema."""
    from socs_like.db import Database

    db = Database(path_or_url, echo=echo)
    MIGRATIONS.upgrade(db)
    return db
