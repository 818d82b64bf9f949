"""Benchmark the data logger grabber against the targets of issue 9.

    .venv/bin/python bench/bench_datalogger.py [--quick]

- 50 devices × 24 h at 1 Hz (≈ 4.3 million samples) grabbed from the simulator over HTTP
  (a real `socs-like simulate datalogger` process) and written to HDF5 (target ≤ 20 s);
- the statistics of that file into SQLite (target ≤ 5 s);
- the plot page regenerated from the database (target ≤ 2 s).

`--quick` grabs 6 h instead of 24 h (≈ 1.1 million samples), so it ends well within a minute;
the statistics and page figures are then of that smaller file. The simulator shares the
machine's cores with the grabber: its time to make and format the samples is in the figure.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness import bench_parser

from socs_like.db import Database
from socs_like.testing import free_port, wait_until
from socs_like_agents.datalogger.grab import GrabOptions, grab_params
from socs_like_agents.datalogger.listfile import read_device_list
from socs_like_agents.datalogger.service import Grabber, GrabberConfig
from socs_like_agents.datalogger.window import make_window

DEVICES = 50


def _up(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/v1/event?code=2&start=0&stop=1", timeout=1):
            return True
    except OSError:
        return False


def main() -> int:
    parser = bench_parser(__doc__, "6 h instead of 24 h")
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    hours = 6 if args.quick else 24
    port = free_port()
    sim = subprocess.Popen(
        [sys.executable, "-m", "socs_like_agents.datalogger.simulator", "--port", str(port)],
        stdout=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _up(url), 15, message="simulator up")
        with tempfile.TemporaryDirectory(prefix="bench-datalogger-") as tmp:
            work = Path(tmp)
            listing = work / "list.txt"
            listing.write_text("".join(f"MLrn B:DEV{i:02d}\n" for i in range(DEVICES)))
            config = GrabberConfig(
                logger_url=url,
                device_list=listing,
                options=GrabOptions(
                    draftdir=work / "draft", outdir=work / "out", concurrency=args.concurrency
                ),
                plot_dir=work / "plots",
                site="bench",
            )
            grabber = Grabber(config, Database(work / "stats.db"))
            grabber.upgrade()
            grabber.export_plots()  # the first copy of plotly.min.js is not a regeneration
            window = make_window(now=1_800_000_000.0, hours=hours)

            # the grab alone: files, no statistics (grabber.grab_params would distil too)
            started = time.perf_counter()
            [report] = grab_params(
                grabber.source, read_device_list(str(listing)), window, config.options
            )
            grab_s = time.perf_counter() - started
            assert report.path is not None and not report.missing, report.summary()

            started = time.perf_counter()
            stats = grabber.distill(report.path.name)
            stats_s = time.perf_counter() - started

            started = time.perf_counter()
            grabber.export_plots()
            page_s = time.perf_counter() - started
            size = report.path.stat().st_size
    finally:
        sim.terminate()
        sim.wait(10)

    print(f"{'what':<46} {'figure':>10} {'target':>8}")
    print(
        f"{f'grab {DEVICES} devices x {hours} h at 1 Hz':<46} {grab_s:>9.2f}s "
        f"{'20 s' if hours == 24 else '-':>8}"
    )
    print(f"{'  samples written / file size':<46} {report.total_samples:>10} {size / 1e6:>6.1f} MB")
    print(f"{'  samples per second':<46} {report.total_samples / grab_s:>10.0f}")
    print(f"{'statistics of the file + page (distill)':<46} {stats_s:>9.2f}s {'5 s':>8}")
    print(f"{'  statistics rows':<46} {len(stats.rows):>10}")
    print(f"{'plot page regenerated':<46} {page_s:>9.2f}s {'2 s':>8}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
