"""``socs-like runs``: one pass of the pipeline (cron-style), and the runs database by hand.

    socs-like runs [--transfer] [--process] [--archive] [--run RUN ...] [--dry-run]
                   [--cluster NAME] [--log LEVEL] [settings as the agent takes them]
    socs-like runs list [--status S] [--limit N]
    socs-like runs show RUN
    socs-like runs retry RUN | reprocess RUN
    socs-like runs tag RUN TAG... [--remove]
    socs-like runs import LEGACY_DB --daq-root DIR [--daq-folder HOST=DIR ...]
    socs-like runs mark RUN STATUS --attempt N ...   (what job scripts call)

Without a subcommand and without --transfer/--process/--archive, all three passes run. With
the local backend, the pass waits for its jobs. ``--dry-run`` prints the commands and job
scripts it would use and changes nothing (no row, no file).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time

from socs_like.ops import OpFailed
from socs_like.paths import Roots
from socs_like.settings import add_arguments, from_namespace

from . import options, states
from .schema import add_db_argument
from .settings import PassReport

SUBCOMMANDS = ("list", "show", "retry", "reprocess", "tag", "import", "mark")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="socs-like runs",
        description="Run pipeline: transfer, process and archive DAQ runs",
        epilog=f"subcommands: {', '.join(SUBCOMMANDS)} (socs-like runs SUBCOMMAND --help)",
    )
    p.add_argument("--transfer", action="store_true", help="transfer runs from the DAQ")
    p.add_argument("--process", action="store_true", help="submit processing jobs")
    p.add_argument("--archive", action="store_true", help="compress and archive runs")
    p.add_argument("--flush", action="store_true", help="archive: bundle whatever waits")
    p.add_argument("--run", nargs="+", metavar="RUN", help="only these runs")
    p.add_argument(
        "--dry-run", action="store_true", help="print what would be done; change nothing"
    )
    p.add_argument(
        "--log", default="warning", choices=("debug", "info", "warning", "error", "critical")
    )
    add_arguments(p, options.PipelineOptions)
    return p


def _sub_parser(command: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=f"socs-like runs {command}")
    add_db_argument(p)
    if command == "list":
        p.add_argument("--status", help="a raw or processed status")
        p.add_argument("--limit", type=int, default=100)
    elif command in ("show", "retry", "reprocess"):
        p.add_argument("run")
        p.add_argument("--max-transfer-attempts", type=int, default=5)
    elif command == "tag":
        p.add_argument("run")
        p.add_argument("tags", nargs="+", choices=states.KNOWN_TAGS)
        p.add_argument("--remove", action="store_true")
    elif command == "import":
        p.add_argument("legacy_db", help="the original's SQLite runs database")
        p.add_argument(
            "--daq-root",
            action="append",
            default=[],
            metavar="DIR",
            help="as the passes take it: acquired runs must be in a run folder below one",
        )
        p.add_argument(
            "--daq-folder",
            action="append",
            default=[],
            type=_host_folder,
            metavar="HOST=DIR",
            help="acquired runs whose location is the DAQ host's name HOST (the original's "
            "'zinc') are in DIR/RUN; repeatable",
        )
    return p


def _host_folder(text: str) -> tuple[str, str]:
    host, sep, folder = text.partition("=")
    if not (sep and host and folder):
        raise argparse.ArgumentTypeError(f"{text!r} is not HOST=DIR")
    return host, os.path.abspath(folder)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv and argv[0] == "mark":
            from . import mark

            return mark.main(argv[1:])
        if argv and argv[0] in SUBCOMMANDS:
            return _subcommand(argv[0], _sub_parser(argv[0]).parse_args(argv[1:]))
        return _passes(_parser().parse_args(argv))
    except OpFailed as e:
        print(f"socs-like runs: {e}", file=sys.stderr)
        return 1


def _subcommand(command: str, args: argparse.Namespace) -> int:
    # the database and its tables only once the command is known (not for --help)
    from . import actions, legacy
    from .schema import open_db
    from .store import RunStore

    store = RunStore(open_db(args.db_path), actor="operator")
    if command == "list":
        for run in store.listing(status=args.status, limit=args.limit):
            print(
                f"{run.name:24} {run.raw_status:12} {run.processed_status:10} "
                f"{run.events:>9} {run.source:8} {run.tags}"
            )
        counts = {k: v for k, v in store.counts().items() if v}
        print("  ".join(f"{k}={v}" for k, v in counts.items()) or "no runs")
    elif command == "show":
        run = store.get(args.run)
        for key, value in run.as_dict().items():
            print(f"{key:18} {value}")
        for e in store.history(args.run):
            code = "" if e.exit_code is None else f" exit {e.exit_code}"
            change = f" {e.from_status or ''} -> {e.to_status}" if e.to_status else ""
            when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(e.time))
            print(f"  {when} {e.actor} {e.action}{change}{code} {e.message}".rstrip())
    elif command == "retry":
        print(actions.retry(store, args.run, max_transfer_attempts=args.max_transfer_attempts))
    elif command == "reprocess":
        print(actions.reprocess(store, args.run))
    elif command == "tag":
        add, remove = ((), args.tags) if args.remove else (args.tags, ())
        print(f"{args.run}: {store.set_tags(args.run, add, remove) or '(no tags)'}")
    elif command == "import":
        # relative folders from here, as the passes take them for a DAQ on this machine
        daq = legacy.DaqFolders(
            Roots([os.path.abspath(r) for r in args.daq_root], option="--daq-root"),
            dict(args.daq_folder),
        )
        report = legacy.import_legacy(store, args.legacy_db, daq)
        print(
            f"imported {report.runs} runs and {report.logs} log lines from {args.legacy_db}; "
            f"{report.skipped} runs already known"
        )
    return 0


def _passes(args: argparse.Namespace) -> int:
    logging.basicConfig(level=args.log.upper(), format="%(levelname)s %(name)s: %(message)s")
    every = not (args.transfer or args.process or args.archive)
    passes = {
        "transfer": args.transfer or every,
        "process": args.process or every,
        "archive": args.archive or every,
    }
    from .pipeline import Pipeline
    from .schema import open_db
    from .store import RunStore

    chosen = from_namespace(options.PipelineOptions, args)
    store = RunStore(open_db(chosen.db_path))
    pipeline = Pipeline(store, options.pipeline_settings(chosen), dry_run=args.dry_run)
    failed = 0
    try:
        if pipeline.idle(args.run, **passes):
            reports = [PassReport(kind) for kind, asked in passes.items() if asked]
        else:
            reports = []
            if passes["transfer"]:
                reports.append(pipeline.transfer_pass(args.run))
            if passes["process"]:
                reports.append(pipeline.process_pass(args.run))
                pipeline.wait_local()
            if passes["archive"]:
                reports.append(pipeline.archive_pass(args.run, flush=args.flush))
    finally:
        pipeline.close()
    for r in reports:
        line = f"{r.kind}: {r.done} done, {r.failed} failed, {r.released} released"
        print(line + (f" (skipped: {r.skipped})" if r.skipped else ""))
        for failure in r.failures:
            print(f"  {failure}")
        failed += r.failed
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
