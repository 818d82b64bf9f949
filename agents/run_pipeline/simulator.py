"""``socs-like simulate daq-runs``: a DAQ that takes runs, as the run pipeline sees one.

Each cycle it goes live (a process named ``--live-name`` runs, which the pipeline's
``--daq-live-process`` check finds with ``pgrep -x``), writes a run folder of files under
``--data-dir`` during ``--run-seconds``, stops being live, and inserts the run into the runs
database as ``acquired`` (the end-of-run insert of the original DAQ). Then it waits
``--gap`` seconds and takes the next run. Run names are ``<prefix>_<number>``; every fifth run
is an LED run. Stops after ``--runs`` runs (0: never) or at SIGINT/SIGTERM.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

from .schema import add_db_argument, open_db
from .store import NewRun, RunStore


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="socs-like simulate daq-runs", description=__doc__)
    add_db_argument(p)
    p.add_argument("--data-dir", required=True, help="where run folders are written")
    p.add_argument("--prefix", default="run", help="run names: PREFIX_NNNNNN")
    p.add_argument("--runs", type=int, default=0, help="stop after this many runs (0: never)")
    p.add_argument("--run-seconds", type=float, default=5.0, help="how long a run is live")
    p.add_argument("--gap", type=float, default=5.0, help="seconds between runs")
    p.add_argument("--files", type=int, default=4, help="files per run")
    p.add_argument("--size", type=int, default=256 * 1024, help="bytes per file")
    p.add_argument(
        "--live-name",
        default="daq-acquire",
        help="name of the process that runs while the DAQ is live",
    )
    return p


def _next_number(store: RunStore, prefix: str) -> int:
    runs = store.listing(limit=1_000_000, after=f"{prefix}_")
    numbers = [
        int(r.name.rsplit("_", 1)[1])
        for r in runs
        if r.name.startswith(f"{prefix}_") and r.name.rsplit("_", 1)[1].isdigit()
    ]
    return max(numbers, default=0) + 1


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    data = Path(args.data_dir).absolute()
    data.mkdir(parents=True, exist_ok=True)
    store = RunStore(open_db(args.db_path), actor="daq")
    # a process whose name is --live-name: a link to sleep carries that name
    live_program = data / ".bin" / args.live_name
    live_program.parent.mkdir(exist_ok=True)
    if not live_program.exists():
        os.symlink(shutil.which("sleep") or "/bin/sleep", live_program)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    number = _next_number(store, args.prefix)
    taken = 0
    while not stop.is_set() and (args.runs == 0 or taken < args.runs):
        name = f"{args.prefix}_{number:06d}"
        folder = data / name
        folder.mkdir(exist_ok=True)
        live = subprocess.Popen([str(live_program), "infinity"])
        try:
            for i in range(args.files):
                (folder / f"{name}_{i:03d}.dat").write_bytes(os.urandom(args.size))
                if stop.wait(args.run_seconds / max(args.files, 1)):
                    break
        finally:
            live.terminate()
            live.wait()
        if stop.is_set():
            shutil.rmtree(folder, ignore_errors=True)  # an interrupted run is not kept
            break
        source = "led" if number % 5 == 0 else "physics"
        store.add(
            [
                NewRun(
                    name=name,
                    raw_location=str(folder),
                    events=args.files * 1000,
                    source=source,
                    raw_size=args.files * args.size,
                )
            ]
        )
        print(f"{name} acquired ({source}, {args.files} files)", flush=True)
        number += 1
        taken += 1
        stop.wait(args.gap)
    return 0


if __name__ == "__main__":
    sys.exit(main())
