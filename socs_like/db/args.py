"""The one spelling of the database argument, for every agent and command that takes one."""

from __future__ import annotations

import argparse
import os


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
    origin = f"${env}, else {default}" if env else default
    parser.add_argument(
        "--db-path",
        default=chosen or default,
        metavar="PATH_OR_URL",
        help=f"{what}: a SQLite file path or a SQLAlchemy URL such as "
        f"postgresql://user@host/db (default {origin})",
    )
