"""The sans-I/O parts (walltime, queues, job scripts) and the store's compare-and-set, on
SQLite and on a real PostgreSQL."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from socs_like.paths import Roots
from socs_like_agents.run_pipeline import actions, jobs, legacy, states
from socs_like_agents.run_pipeline.errors import BadRequest, RunNotFound
from socs_like_agents.run_pipeline.schema import open_db
from socs_like_agents.run_pipeline.store import NewRun, RunStore


@pytest.mark.parametrize(
    ("events", "source", "seconds"),
    [
        (0, "physics", 180),  # clipped up to 3 min
        (40 * 60 * 10, "physics", 720),  # 10 min of events x 1.2
        (360 * 60 * 10, "LED", 720),  # LED runs are 9 times faster to process
        (360 * 60 * 10, "physics", 6480),
        (10**12, "physics", 14 * 24 * 3600),  # clipped down to 14 days
    ],
)
def test_walltime_follows_the_original_rule(events, source, seconds):
    assert jobs.walltime(events, source) == seconds


def test_short_jobs_go_to_the_short_queue_and_long_ones_to_the_long_queue():
    q = jobs.Queues()
    assert q.choose(4 * 3600) == "standby"
    assert q.choose(4 * 3600 + 1) == "physics"


def _spec() -> jobs.JobSpec:
    return jobs.JobSpec(
        run="run_0007",
        attempt=2,
        queue="physics",
        walltime=5 * 3600 + 61,
        log_path="/jobs/run_0007.2.log",
        command="process /raw/run_0007 /out/run_0007",
        mark=["python", "-m", "mark", "--db-path", "/db", "run_0007"],
    )


def test_slurm_script_names_partition_walltime_log_and_marks_with_the_attempt():
    text = jobs.script(_spec(), "slurm")
    lines = text.splitlines()
    assert lines[0] == "#!/bin/bash"
    assert "#SBATCH --job-name=run-run_0007-2" in lines
    assert "#SBATCH --partition=physics" in lines
    assert "#SBATCH --time=05:01:01" in lines
    assert "#SBATCH --output=/jobs/run_0007.2.log" in lines
    assert (
        'mark() { python -m mark --db-path /db run_0007 --attempt 2 --job-id "${SLURM_JOB_ID}" '
        '--log /jobs/run_0007.2.log "$@"; }' in lines
    )
    # the processing command runs only after the run was marked processing
    assert lines.index("bash -c 'process /raw/run_0007 /out/run_0007'") > lines.index(
        "mark processing || { echo 'run taken over or reset: nothing to do'; exit 0; }"
    )
    assert 'else mark failed --exit-code "$code"; fi' in lines


def test_pbs_script_is_the_same_job_with_pbs_directives():
    slurm, pbs = jobs.script(_spec(), "slurm"), jobs.script(_spec(), "pbs")
    assert "#PBS -N run-run_0007-2" in pbs.splitlines()
    assert "#PBS -q physics" in pbs.splitlines()
    assert "#PBS -l walltime=05:01:01" in pbs.splitlines()
    assert "${PBS_JOBID}" in pbs
    body = [line for line in slurm.splitlines() if not line.startswith("#")]
    assert [
        line.replace("PBS_JOBID", "SLURM_JOB_ID")
        for line in pbs.splitlines()
        if not line.startswith("#")
    ] == body


def test_process_command_quotes_what_it_substitutes():
    cmd = jobs.process_command("proc {raw} {run}", {"raw": "/a b/$(rm -rf x)", "run": "r_1"})
    assert cmd == "proc '/a b/$(rm -rf x)' r_1"


def _store(tmp_path: Path, url: str | None = None) -> RunStore:
    return RunStore(open_db(url or str(tmp_path / "runs.db")), actor="test")


def _one(store: RunStore, name: str = "run_0001") -> None:
    store.add([NewRun(name=name, raw_location=f"/daq/{name}", events=10)])


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    if request.param == "sqlite":
        return _store(tmp_path)
    server = request.getfixturevalue("postgres_server")
    return _store(tmp_path, server.create_database(f"runs_{tmp_path.name.lower()[-30:]}"))


def test_a_status_change_happens_once_however_many_race_for_it(store):
    _one(store)
    wins = []
    barrier = threading.Barrier(8)

    def claim(i: int) -> None:
        barrier.wait()
        if store.change(
            "run_0001",
            (states.ACQUIRED, states.NONE),
            (states.TRANSFERRING, states.NONE),
            "claim",
            owner=f"racer{i}",
        ):
            wins.append(i)

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(wins) == 1
    run = store.get("run_0001")
    assert run.status == (states.TRANSFERRING, states.NONE)
    assert run.owner == f"racer{wins[0]}"
    assert [e.action for e in store.history("run_0001")] == ["acquired", "claim"]


def test_runs_changed_together_all_move_or_none_does(store):
    """How a bundle's runs are claimed and recorded archived: one of them elsewhere than
    expected (taken by another pipeline, say), and none moves, nor is anything logged."""
    for name in ("run_0001", "run_0002", "run_0003"):
        _one(store, name)
    store.change("run_0002", (states.ACQUIRED, states.NONE), (states.ONDECK, states.NONE), "x")
    before = {n: store.history(n) for n in ("run_0001", "run_0002", "run_0003")}
    moves = [
        (name, (states.ACQUIRED, states.NONE), (states.TRANSFERRING, states.NONE))
        for name in ("run_0001", "run_0002", "run_0003")
    ]
    assert not store.change_all(moves, "claim", owner="me")
    assert [store.get(n).status for n in before] == [
        (states.ACQUIRED, states.NONE),
        (states.ONDECK, states.NONE),
        (states.ACQUIRED, states.NONE),
    ]
    assert {n: store.history(n) for n in before} == before
    moves.pop(1)
    assert store.change_all(moves, "claim", each={"run_0003": {"raw_size": 7}}, owner="me")
    one, three = store.get("run_0001"), store.get("run_0003")
    assert one.status == three.status == (states.TRANSFERRING, states.NONE)
    assert (one.owner, one.raw_size, three.owner, three.raw_size) == ("me", 0, "me", 7)
    assert store.history("run_0003")[-1].action == "claim"


def test_a_job_of_an_earlier_attempt_cannot_mark_the_run(store):
    _one(store)
    assert store.change(
        "run_0001",
        (states.ACQUIRED, states.NONE),
        (states.ONDECK, states.QUEUEING),
        "claim",
        attempts=2,
    )
    with pytest.raises(BadRequest, match="attempt 1 may not mark it processing"):
        actions.mark(
            store, "run_0001", "processing", attempt=1, job_id="11", exit_code=None, log_path=None
        )
    actions.mark(
        store, "run_0001", "processing", attempt=2, job_id="12", exit_code=None, log_path="/l"
    )
    run = actions.mark(
        store, "run_0001", "failed", attempt=2, job_id="12", exit_code=7, log_path="/l"
    )
    assert (run.processed_status, run.exit_code, run.job_id, run.job_log) == (
        "failed",
        7,
        "12",
        "/l",
    )
    assert store.history("run_0001")[-1].exit_code == 7


def test_retry_and_reprocess_refuse_runs_they_cannot_help(store):
    _one(store)
    with pytest.raises(BadRequest, match="acquired/none: nothing to retry"):
        actions.retry(store, "run_0001", max_transfer_attempts=5)
    with pytest.raises(BadRequest, match="only a run ondeck whose job ended"):
        actions.reprocess(store, "run_0001")
    with pytest.raises(RunNotFound, match="no run named 'nope'"):
        actions.retry(store, "nope", max_transfer_attempts=5)


def test_tags_are_kept_sorted_and_logged(store):
    _one(store)
    assert store.set_tags("run_0001", ["do-not-process", "do-not-transfer"], []) == (
        "do-not-process do-not-transfer"
    )
    assert store.set_tags("run_0001", [], ["do-not-transfer"]) == "do-not-process"
    assert store.history("run_0001")[-1].message == "tags: do-not-process"


def test_the_original_database_is_imported_with_tags_logs_and_claims_undone(tmp_path):
    old = tmp_path / "fulliautomatix.db"
    con = sqlite3.connect(old)
    con.executescript(
        """
        CREATE TABLE runs (name TEXT, raw_status TEXT, raw_location TEXT,
            processed_status TEXT, events INT, source TEXT, raw_size INT, comments TEXT);
        CREATE TABLE logs (name TEXT, log TEXT);
        INSERT INTO runs VALUES ('run_1', 'acquired', 'zinc', 'none', 100, 'LED', 10, '#DNT');
        INSERT INTO runs VALUES ('run_2', 'transferring', 'zinc', 'none', 5, 'co57', 20, '');
        INSERT INTO runs VALUES ('run_3', 'ondeck', 'conte/user', 'processing', 7, 'bg', 30,
                                 'noisy #DNP');
        INSERT INTO runs VALUES ('run_4', 'archived', 'fortress', 'processed', 9, 'bg', 40, '');
        INSERT INTO logs VALUES ('run_3', 'submitted job 4431');
        INSERT INTO logs VALUES ('run_3', 'rsync: stderr noise');
        INSERT INTO logs VALUES ('gone_9', 'a log of a run not in runs');
        """
    )
    con.commit()
    con.close()
    store = _store(tmp_path)
    daq = legacy.DaqFolders(Roots(["/data/daq"]), {"zinc": "/data/daq"})
    report = legacy.import_legacy(store, str(old), daq)
    assert (report.runs, report.logs, report.skipped) == (4, 2, 0)
    assert store.get("run_1").tags == "do-not-transfer"
    assert (store.get("run_1").source, store.get("run_1").raw_location) == (
        "LED",
        "/data/daq/run_1",
    )
    assert store.get("run_2").status == ("acquired", "none")
    run3 = store.get("run_3")
    assert (run3.status, run3.tags, run3.comments, run3.raw_location) == (
        ("ondeck", "none"),
        "do-not-process",
        "noisy #DNP",
        "conte/user",
    )
    assert store.get("run_4").status == ("archived", "processed")
    assert [e.message for e in store.history("run_3") if e.action == "legacy-log"] == [
        "submitted job 4431",
        "rsync: stderr noise",
    ]
    # again: every run is known, the host names need no folder now
    assert legacy.import_legacy(store, str(old), legacy.DaqFolders(Roots([]))).skipped == 4
