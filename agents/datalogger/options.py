"""The flags the agent and ``socs-like grab`` share, in a module of their own so a command's
help builds its parser without loading the database, HDF5 or the HTTP client."""

from __future__ import annotations

import argparse

from socs_like.db import add_db_path_argument

DEFAULT_DB = "/data/datalogger/datalogger.db"
DB_ENV = "DATALOGGER_DB"


def add_db_argument(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    add_db_path_argument(
        parser,
        default=DEFAULT_DB,
        env=DB_ENV,
        what="The statistics database (created or upgraded at start)",
    )


def add_request_arguments(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """How requests to the logger are made: the agent's and the command line's flags."""
    parser.add_argument(
        "--concurrency", type=int, default=8, help="requests in flight at once (default 8)"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=60.0,
        help="seconds one request may take, connecting to its answer's last byte (default 60)",
    )
    parser.add_argument(
        "--retries",
        type=int,
        default=2,
        help="retries of a failing device before it is recorded missing (default 2)",
    )
    parser.add_argument(
        "--retry-delay",
        type=float,
        default=1.0,
        help="seconds before the first retry, doubling (default 1)",
    )
