"""The DataGrabber's settings (socs_like.settings), and the flags it shares with ``socs-like
grab``, in a module of their own so a command's help builds its parser without loading the
database, HDF5 or the HTTP client (:mod:`.config` builds the agent's parts from them)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from socs_like.db import add_db_path_argument, db_path_setting
from socs_like.settings import part, setting, settings

DEFAULT_DB = "/data/datalogger/datalogger.db"
DB_ENV = "DATALOGGER_DB"
DB_WHAT = "The statistics database (created or upgraded at start)"


def add_db_argument(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """``socs-like grab``'s ``--db-path``, as the agent's."""
    add_db_path_argument(parser, default=DEFAULT_DB, env=DB_ENV, what=DB_WHAT)


@settings("request options")
class RequestOptions:
    """How requests to the logger are made: the agent's and the command line's flags."""

    concurrency: int = setting(default=8, help="requests in flight at once (default 8)")
    timeout: float = setting(
        default=60.0,
        help="seconds one request may take, connecting to its answer's last byte (default 60)",
    )
    retries: int = setting(
        default=2, help="retries of a failing device before it is recorded missing (default 2)"
    )
    retry_delay: float = setting(
        default=1.0, help="seconds before the first retry, doubling (default 1)"
    )


def event_code(text: str) -> int:
    """An event code in any base Python reads (``0xFF``, ``255``)."""
    return int(text, 0)


def window_setting(unit: str, default: float) -> Any:
    return setting(
        default=default, help=f"window length of scheduled grabs, {unit} (default {default:g})"
    )


@settings("DataGrabber options")
class Options:
    logger_url: str = setting(help="the data logger, http://host:port")
    device_list: Path | None = setting(
        default=None, help="file of '<logger-node> <device>' lines (needed for grab_params)"
    )
    outdir: Path = setting(help="folder the finished files are moved into")
    draftdir: Path | None = setting(
        default=None, help="folder files grow in (default <outdir>/.draft)"
    )
    plot_dir: Path | None = setting(
        default=None,
        help="folder of the plot page (default: plots beside the statistics database)",
    )
    site_name: str | None = setting(
        default=None, help="title of the plot page (default the instance id)"
    )
    db_path: str = db_path_setting(default=DEFAULT_DB, env=DB_ENV, what=DB_WHAT)
    param_schedule: str = setting(
        default="0 1 * * *",
        help="cron expression (UTC) of the parameter grab; 'off' for none (default '0 1 * * *')",
    )
    event_schedule: str = setting(
        default="1 2 * * *",
        help="cron expression (UTC) of the event grab; 'off' for none (default '1 2 * * *')",
    )
    days: float = window_setting("days", 1.0)
    hours: float = window_setting("hours", 0.0)
    minutes: float = window_setting("minutes", 0.0)
    seconds: float = window_setting("seconds", 0.0)
    max_evt: int = setting(
        default=0xFF, parse=event_code, help="highest event code grabbed (default 0xFF)"
    )
    max_catchup: int = setting(
        default=7,
        help="at most this many missed runs per schedule are caught up at start (default 7)",
    )
    timeline_outdir: Path | None = setting(
        default=None, help="run the timeline logger into this folder"
    )
    timeline_rotate: int = setting(
        default=3600, help="seconds of events per timeline file (default 3600)"
    )
    request: RequestOptions = part(default_factory=RequestOptions)
