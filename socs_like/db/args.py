"""The one spelling of the database argument, for every agent (`db_path_setting`, a declared
setting) and command (`add_db_path_argument`) that takes one."""

from __future__ import annotations

import argparse
import os
from typing import Any

from socs_like.settings import setting


def add_db_path_argument(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup,
    *,
    default: str,
    env: str | None = None,
    what: str = "The database",
) -> None:
    """Add ``--db-path``: a SQLite file path or a SQLAlchemy URL (``postgresql://...``).

    The default is ``$env`` when that variable is set, else ``default``; the help text names
    both so the person at the terminal knows which file is used.
    """
    chosen = os.environ.get(env) if env else None
    parser.add_argument(
        "--db-path", default=chosen or default, metavar=METAVAR, help=_help(default, env, what)
    )


def db_path_setting(*, default: str, env: str | None = None, what: str = "The database") -> Any:
    """An agent's ``--db-path`` setting (socs_like.settings): the flag, else ``$env``, else
    `default`, as `add_db_path_argument` reads it."""
    return setting(default=default, env=env, metavar=METAVAR, help=_help(default, env, what))


METAVAR = "PATH_OR_URL"


def _help(default: str, env: str | None, what: str) -> str:
    origin = f"${env}, else {default}" if env else default
    return (
        f"{what}: a SQLite file path or a SQLAlchemy URL such as "
        f"postgresql://user@host/db (default {origin})"
    )
