"""The file database's migrations and its ``--db-path`` argument (and setting), one default
for all.

Every agent and command that opens the file database (the pysmurf monitor, SupRsync,
``socs-like db``, ``socs-like suprsync``) takes the same ``--db-path`` with the same default,
so they find the same file unless told otherwise.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from socs_like.db import Migrations, add_db_path_argument, db_path_setting

if TYPE_CHECKING:
    from socs_like.db import Database

DEFAULT_DB = "/data/so/databases/suprsync.db"
# read when the argument is added; lets a site point every command at its file once
DB_ENV = "SUPRSYNC_DB"
DB_WHAT = "The file database (created or upgraded at start unless told otherwise)"

# The version table keeps the name it had when the framework owned these tables, and the
# revisions keep their ids, so existing databases upgrade in place.
MIGRATIONS = Migrations(
    scripts=Path(__file__).with_name("migrations"), version_table="socs_like_alembic_version"
)


def add_db_argument(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup, *, subcommand: bool = False
) -> None:
    """``--db-path`` for the file database. ``subcommand``: the parser of a command's
    subcommand, so ``--db-path`` may also follow it (``socs-like db upgrade --db-path X``)
    without its default hiding one given before."""
    if subcommand:
        parser.add_argument("--db-path", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
        return
    add_db_path_argument(parser, default=DEFAULT_DB, env=DB_ENV, what=DB_WHAT)


def db_setting() -> Any:
    """An agent's ``--db-path`` for the file database (a declared setting)."""
    return db_path_setting(default=DEFAULT_DB, env=DB_ENV, what=DB_WHAT)


def upgrade(db: Database) -> tuple[str | None, str | None]:
    """Create or migrate the tables, importing an old socs database found in the same file;
    returns (revision before, revision after)."""
    return MIGRATIONS.upgrade(db)
