"""``socs-like grab``: the original grabbers' command lines, plus distill and plots.

    socs-like grab params --url URL --list FILE [--stopat ...] [--days N] [--draftdir D]
                          [--outdir D] [--db-path DB] [-v]
    socs-like grab events --url URL [--maxEvt 0xFF] [-o] [window and folder options]
    socs-like grab distill FILE [--db-path DB] [--plot-dir D]
    socs-like grab plots [--db-path DB] [--plot-dir D]

A grab shows a progress bar while it runs; a parameter grab distils its files into the
database and rebuilds the plot page, as the agent does: in ``plots`` beside the statistics
database unless ``--plot-dir`` says otherwise (never in ``--outdir``: the original's was on
tape). Exit status 0 when everything was grabbed, 1 when a device stayed missing (the file is
still written), 2 for a refused request.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from socs_like.settings import add_arguments, from_namespace

from .errors import DataLoggerError
from .options import RequestOptions, add_db_argument

if TYPE_CHECKING:
    from .grab import GrabReport


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="socs-like grab",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("-v", dest="verbose", action="store_true", help="verbose logging")
        add_db_argument(p)
        p.add_argument(
            "--plot-dir",
            type=Path,
            default=None,
            help="plot page folder (default: plots beside the statistics database)",
        )
        p.add_argument("--site-name", default="datalogger", help="title of the plot page")

    def grab(p: argparse.ArgumentParser) -> None:
        common(p)
        p.add_argument("--url", required=True, help="the data logger, http://host:port")
        p.add_argument(
            "--stopat", default=None, help="YYYY-MM-DD hh:mm:ss, UTC (default: the last midnight)"
        )
        for unit in ("days", "hours", "minutes", "seconds"):
            p.add_argument(
                f"--{unit}",
                type=float,
                default=0.0,
                help=f"window length, {unit} (1 s if all are zero)",
            )
        p.add_argument(
            "--draftdir",
            type=Path,
            default=Path.cwd(),
            help="folder the file grows in (default: here)",
        )
        p.add_argument(
            "--outdir",
            type=Path,
            default=Path.cwd(),
            help="folder the finished file is moved to (default: here)",
        )
        add_arguments(p, RequestOptions)

    params = sub.add_parser("params", help="grab parameter samples of a device list")
    grab(params)
    params.add_argument(
        "--list",
        dest="device_list",
        type=Path,
        required=True,
        help="file of '<logger-node> <device>' lines",
    )
    events = sub.add_parser("events", help="grab timing event occurrences")
    grab(events)
    events.add_argument(
        "--maxEvt",
        dest="max_evt",
        type=lambda s: int(s, 0),
        default=0xFF,
        help="highest event code (default 0xFF)",
    )
    events.add_argument(
        "-o",
        dest="only_first",
        action="store_true",
        help="stop after the first event code that has data",
    )
    distill = sub.add_parser("distill", help="statistics of a file into the database")
    common(distill)
    distill.add_argument("file", type=Path)
    plots = sub.add_parser("plots", help="rebuild the plot page from the database")
    common(plots)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING)
    try:
        return _run(args)
    except DataLoggerError as exc:
        print(f"socs-like grab: {exc}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    # HDF5, the database and the progress bar only once the command is known (not for --help)
    from rich.progress import Progress

    from socs_like.db import Database

    from .grab import GrabOptions
    from .service import Grabber, GrabberConfig
    from .store import plot_dir_beside
    from .window import make_window

    request = from_namespace(RequestOptions, args)  # the defaults without a grab's flags
    if args.command in ("distill", "plots"):
        outdir = args.file.resolve().parent if args.command == "distill" else Path.cwd()
        options = GrabOptions(draftdir=outdir, outdir=outdir)
        url = "http://localhost"
    else:
        options = GrabOptions(
            draftdir=args.draftdir,
            outdir=args.outdir,
            concurrency=request.concurrency,
            retries=request.retries,
            retry_delay=request.retry_delay,
        )
        url = args.url
    config = GrabberConfig(
        logger_url=url,
        device_list=getattr(args, "device_list", None),
        options=options,
        plot_dir=(args.plot_dir or plot_dir_beside(args.db_path)).resolve(),
        site=args.site_name,
        timeout=request.timeout,
    )
    grabber = Grabber(config, Database(args.db_path))
    if args.command == "distill":
        stats = grabber.distill(str(args.file.resolve()))
        print(f"{stats.file_name}: {len(stats.rows)} statistics stored in {grabber.db.display_url}")
        return 0
    if args.command == "plots":
        print(f"plot page at {grabber.export_plots()}")
        return 0
    grabber.remove_dead_drafts()
    window = make_window(
        now=time.time(),
        stopat=args.stopat,
        days=args.days,
        hours=args.hours,
        minutes=args.minutes,
        seconds=args.seconds,
    )
    with Progress(transient=True) as bar:
        task = bar.add_task(f"grab {args.command}", total=None)

        def progress(done: int, total: int, name: str) -> None:
            bar.update(task, completed=done, total=total, description=f"{args.command}: {name}")

        reports: list[GrabReport]
        if args.command == "params":
            reports = grabber.grab_params(window, progress=progress)
        else:
            reports = [
                grabber.grab_events(
                    window, max_evt=args.max_evt, only_first=args.only_first, progress=progress
                )
            ]
    for report in reports:
        print(report.summary())
        for device, error in report.missing.items():
            print(f"  missing {device}: {error}")
    if args.command == "params":
        print(f"plot page at {config.plot_dir / 'index.html'}")
    return 0 if all(not r.missing for r in reports) else 1
