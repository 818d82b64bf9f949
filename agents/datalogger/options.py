"""The agent's arguments, and the flags it shares with ``socs-like grab``, in a module of their
own so a command's help builds its parser without loading the database, HDF5 or the HTTP
client (:mod:`.config` builds the agent's parts from them)."""

from __future__ import annotations

import argparse
from pathlib import Path

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


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The DataGrabber agent's arguments."""
    g = parser.add_argument_group("DataGrabber options")
    g.add_argument("--logger-url", required=True, help="the data logger, http://host:port")
    g.add_argument(
        "--device-list",
        type=Path,
        default=None,
        help="file of '<logger-node> <device>' lines (needed for grab_params)",
    )
    g.add_argument(
        "--outdir", type=Path, required=True, help="folder the finished files are moved into"
    )
    g.add_argument(
        "--draftdir",
        type=Path,
        default=None,
        help="folder files grow in (default <outdir>/.draft)",
    )
    g.add_argument(
        "--plot-dir",
        type=Path,
        default=None,
        help="folder of the plot page (default: plots beside the statistics database)",
    )
    g.add_argument(
        "--site-name", default=None, help="title of the plot page (default the instance id)"
    )
    add_db_argument(g)
    g.add_argument(
        "--param-schedule",
        default="0 1 * * *",
        help="cron expression (UTC) of the parameter grab; 'off' for none (default '0 1 * * *')",
    )
    g.add_argument(
        "--event-schedule",
        default="1 2 * * *",
        help="cron expression (UTC) of the event grab; 'off' for none (default '1 2 * * *')",
    )
    for unit, default in (("days", 1.0), ("hours", 0.0), ("minutes", 0.0), ("seconds", 0.0)):
        g.add_argument(
            f"--{unit}",
            type=float,
            default=default,
            help=f"window length of scheduled grabs, {unit} (default {default:g})",
        )
    g.add_argument(
        "--max-evt",
        type=lambda s: int(s, 0),
        default=0xFF,
        help="highest event code grabbed (default 0xFF)",
    )
    g.add_argument(
        "--max-catchup",
        type=int,
        default=7,
        help="at most this many missed runs per schedule are caught up at start (default 7)",
    )
    add_request_arguments(g)
    g.add_argument(
        "--timeline-outdir",
        type=Path,
        default=None,
        help="run the timeline logger into this folder",
    )
    g.add_argument(
        "--timeline-rotate",
        type=int,
        default=3600,
        help="seconds of events per timeline file (default 3600)",
    )
