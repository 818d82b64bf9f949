"""The timeline logger: records every timing event continuously into rotating files.

Run by the agent's ``timeline`` process (which restarts it when it dies) as
``python -m socs_like_agents.datalogger.timeline --url URL --outdir DIR ...``. Every
``--poll`` seconds it asks the logger for the events since the last answer (``/v1/timeline``),
and every ``--rotate`` seconds of logger time it writes them as
``TimelineEventData_<created>_<start>_to_<stop>.h5`` (one dataset ``timeline``: utc_seconds,
code, offset_us) through the draft folder. It resumes after the newest file already in the
output folder, so a restart leaves no hole and no overlap; drafts a killed logger left are
removed at start, and a file that fails to be written (a full disk) leaves none. On SIGTERM it
writes what it holds.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import signal
import sys
import threading
import time
from pathlib import Path

import h5py
import numpy as np

from socs_like.backoff import Backoff

from .client import HttpLogger
from .drafts import publish, remove_dead, writing
from .errors import SourceError
from .protocol import Floats
from .window import TIMELINE_PREFIX, Window, timeline_file_name

log = logging.getLogger("timeline")
COLUMNS = ["utc_seconds", "code", "offset_us"]


def resume_point(outdir: Path) -> float | None:
    """The stop of the newest timeline file in ``outdir`` (None: there is none)."""
    stops = []
    for path in outdir.glob(f"{TIMELINE_PREFIX}_*.h5"):
        try:
            with h5py.File(path, "r") as h5:
                stops.append(float(h5.attrs["window_stop"]))
        except (OSError, KeyError):
            log.warning("cannot read %s; ignored for resuming", path.name)
    return max(stops) if stops else None


def write_file(events: Floats, window: Window, draftdir: Path, outdir: Path, source: str) -> Path:
    draftdir.mkdir(parents=True, exist_ok=True)
    outdir.mkdir(parents=True, exist_ok=True)
    name = timeline_file_name(time.time(), window)
    with writing(draftdir, name) as draft:
        with h5py.File(draft, "w", locking=False) as h5:  # the draft holds our own lock
            h5.attrs.update(
                {
                    "kind": "timeline",
                    "window_start": window.start,
                    "window_stop": window.stop,
                    "source": source,
                }
            )
            dataset = h5.create_dataset("timeline", data=events.reshape(-1, 3))
            dataset.attrs["columns"] = json.dumps(COLUMNS)
        return publish(draft, outdir / name)


def run(args: argparse.Namespace, stop: threading.Event) -> int:
    logger = HttpLogger(args.url, timeout=args.timeout)
    outdir = Path(args.outdir)
    draftdir = Path(args.draftdir) if args.draftdir else outdir / ".draft"
    outdir.mkdir(parents=True, exist_ok=True)
    for path in remove_dead([draftdir, outdir], [TIMELINE_PREFIX]):
        log.warning("removed %s (a draft nobody writes: its logger was killed)", path.name)
    resumed = resume_point(outdir)
    # whole seconds, as the logger takes them; a file of an older version may end within a
    # second: its last fraction of a second is asked again rather than lost
    start = math.floor(resumed if resumed is not None else time.time())
    fetched_to = start
    chunks: list[Floats] = []
    backoff = Backoff(initial=0.5, cap=10.0)
    print(f"timeline logger from {start} into {outdir}", flush=True)
    while True:
        stopping = stop.is_set()
        now = math.floor(time.time())  # the logger takes whole seconds
        if now > fetched_to:
            try:
                chunks.append(logger.timeline(fetched_to, now))
                fetched_to = now
                backoff.success()
            except SourceError as exc:
                log.warning("timeline request failed: %s", exc)
                if not stopping:
                    stop.wait(backoff.failure())
                    continue
        while fetched_to - start >= args.rotate or (stopping and fetched_to > start):
            end = min(fetched_to, start + args.rotate)
            events = np.concatenate(chunks) if chunks else np.empty((0, 3))
            inside = events[:, 0] < end
            path = write_file(
                events[inside], Window(start=start, stop=end), draftdir, outdir, logger.name
            )
            print(f"wrote {path.name}: {int(inside.sum())} events", flush=True)
            chunks = [events[~inside]]
            start = end
        if stopping:
            return 0
        stop.wait(args.poll)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="datalogger-timeline", description=__doc__)
    parser.add_argument("--url", required=True, help="the data logger, http://host:port")
    parser.add_argument("--outdir", required=True)
    parser.add_argument("--draftdir", default=None, help="default: <outdir>/.draft")
    parser.add_argument("--rotate", type=int, default=3600, help="whole seconds per file")
    parser.add_argument("--poll", type=float, default=1.0, help="seconds between requests")
    parser.add_argument("--timeout", type=float, default=10.0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    return run(args, stop)


if __name__ == "__main__":
    sys.exit(main())
