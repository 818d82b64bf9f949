"""Run pipeline benchmark: runs through every state, a scheduling pass on a large runs
database, and Slurm submissions.

    .venv/bin/python bench/bench_run_pipeline.py            # 1 000 runs, 100 000-row db
    .venv/bin/python bench/bench_run_pipeline.py --quick    # 100 runs, same 100 000-row db

Targets (issue 8): 1 000 runs through transfer -> process (local backend, trivial job) ->
archive <= 5 min; one scheduling pass over a 100 000-run database <= 100 ms; 100 Slurm
submissions <= 10 s (a real single-node Slurm started here, when slurm-wlm, munge and root
are available; skipped otherwise).
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness import bench_parser
from sqlalchemy import insert

from socs_like.commands import SshSettings
from socs_like.paths import Roots
from socs_like.testing.slurm import SlurmCluster, SlurmError
from socs_like_agents.run_pipeline import states
from socs_like_agents.run_pipeline.hosts import Host
from socs_like_agents.run_pipeline.pipeline import Pipeline, Settings
from socs_like_agents.run_pipeline.schema import open_db
from socs_like_agents.run_pipeline.store import NewRun, RunStore
from socs_like_agents.run_pipeline.tables import Run

ROWS: list[tuple[str, str, str, str]] = []


def settings(root: Path, **over: object) -> Settings:
    here = Host(None, SshSettings())
    base: dict[str, object] = {
        "daq": here,
        "cluster_host": here,
        "daq_roots": Roots([str(root / "daq")]),
        "raw_area": str(root / "work/raw"),
        "processed_area": str(root / "work/processed"),
        "jobs_dir": str(root / "work/jobs"),
        "compressed_area": str(root / "work/compressed"),
        "archive_target": str(root / "work/archive"),
        "process_command": "mkdir -p {out}",
        "local_slots": 2,
        "bundle_runs": 50,
        "batch": 200,
        "mark_argv": (
            sys.executable,
            "-m",
            "socs_like_agents.run_pipeline.mark",
            "--db-path",
            str(root / "runs.db"),
        ),
    }
    base.update(over)
    return Settings(**base)  # type: ignore[arg-type]


def through_every_state(n: int) -> float:
    with tempfile.TemporaryDirectory(prefix="bench-runs-") as tmp:
        root = Path(tmp)
        (root / "daq").mkdir()
        runs = []
        for i in range(n):
            folder = root / "daq" / f"run_{i:06d}"
            folder.mkdir()
            (folder / "data.bin").write_bytes(os.urandom(4096))
            runs.append(NewRun(name=folder.name, raw_location=str(folder), events=100))
        store = RunStore(open_db(str(root / "runs.db")))
        store.add(runs)
        pipeline = Pipeline(store, settings(root), say=lambda _: None)
        t0 = time.perf_counter()
        while store.counts()["raw_archived"] < n:
            pipeline.transfer_pass()
            pipeline.process_pass()
            pipeline.wait_local()
            pipeline.archive_pass(flush=store.counts()["raw_acquired"] == 0)
        elapsed = time.perf_counter() - t0
        pipeline.close()
        return elapsed


def scheduling_pass(rows: int) -> list[float]:
    with tempfile.TemporaryDirectory(prefix="bench-runs-") as tmp:
        root = Path(tmp)
        db = open_db(str(root / "runs.db"))
        now = time.time()
        chunk = []
        for i in range(rows):
            # mostly history; 1 % waiting for each step
            if i % 100 == 0:
                raw, processed = states.ONDECK, states.NONE
            elif i % 100 == 1:
                raw, processed = states.ACQUIRED, states.NONE
            else:
                raw, processed = states.ARCHIVED, states.PROCESSED
            chunk.append(
                {
                    "name": f"run_{i:07d}",
                    "raw_status": raw,
                    "processed_status": processed,
                    "raw_location": f"{root}/daq/run_{i:07d}",
                    "events": 100,
                    "source": "",
                    "raw_size": 0,
                    "tags": "",
                    "comments": "",
                    "attempts": 0,
                    "transfer_attempts": 0,
                    "since": now,
                    "created": now,
                }
            )
            if len(chunk) == 10_000:
                db.write(lambda s, c=chunk: s.execute(insert(Run), c))
                chunk = []
        if chunk:
            db.write(lambda s, c=chunk: s.execute(insert(Run), c))
        pipeline = Pipeline(RunStore(db), settings(root), dry_run=True, say=lambda _: None)
        times = []
        for _ in range(10):
            t0 = time.perf_counter()
            pipeline.process_pass()
            times.append(time.perf_counter() - t0)
        return times


def slurm_submissions(n: int) -> float | str:
    with tempfile.TemporaryDirectory(prefix="bench-slurm-", ignore_cleanup_errors=True) as tmp:
        root = Path(tmp)
        cluster = SlurmCluster(root / "slurm")
        try:
            cluster.start()
        except SlurmError as e:
            cluster.stop()
            return f"skipped: {str(e).splitlines()[0]}"
        try:
            os.environ["SLURM_CONF"] = str(cluster.conf)
            store = RunStore(open_db(str(root / "runs.db")))
            store.add(
                [
                    NewRun(
                        name=f"bench_{i:04d}", raw_location="", events=100, raw_status=states.ONDECK
                    )
                    for i in range(n)
                ]
            )
            pipeline = Pipeline(
                store,
                settings(root, backend="slurm", process_command="true", batch=n),
                say=lambda _: None,
            )
            t0 = time.perf_counter()
            report = pipeline.process_pass()
            elapsed = time.perf_counter() - t0
            if report.done != n:
                return f"only {report.done} of {n} submitted: {report.failures[:3]}"
            return elapsed
        finally:
            cluster.stop()


def main() -> int:
    parser = bench_parser(__doc__)
    args = parser.parse_args()
    n = 100 if args.quick else 1000
    print("run pipeline (figures are noisy on a shared 2-core machine)")
    elapsed = through_every_state(n)  # first: the other two do not depend on it
    target = 300 * n / 1000
    print(
        f"{n} runs acquired -> archived (local backend): {elapsed:6.1f} s "
        f"({n / elapsed:5.1f} runs/s; target {target:g} s for {n}, i.e. 1000 in 300 s) "
        f"{'ok' if elapsed <= target else 'MISSED'}"
    )
    slurm = slurm_submissions(100)
    if isinstance(slurm, str):
        print(f"100 Slurm submissions: {slurm}")
    else:
        print(
            f"100 Slurm submissions: {slurm:6.2f} s (target 10 s) "
            f"{'ok' if slurm <= 10 else 'MISSED'}"
        )
    times = scheduling_pass(100_000)
    median = statistics.median(times) * 1000
    print(
        f"scheduling pass over 100 000 runs: median {median:6.1f} ms, max "
        f"{max(times) * 1000:6.1f} ms (target 100 ms) {'ok' if median <= 100 else 'MISSED'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
