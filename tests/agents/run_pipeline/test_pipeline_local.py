"""The whole pipeline with the local backend, run as `socs-like runs` processes on real
files, real rsync, tar and zstd: outcomes checked in the database and on disk."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest

from socs_like.testing import wait_until
from socs_like_agents.run_pipeline import states
from socs_like_agents.run_pipeline.pipeline import Pipeline
from socs_like_agents.run_pipeline.schema import open_db
from socs_like_agents.run_pipeline.store import NewRun, RunStore

from .conftest import CLI, Site, pipeline_settings, tree, unbundle


def test_runs_go_from_acquired_to_archived_with_their_bytes_intact(site: Site):
    want = {f"run_{i:04d}": site.acquire(f"run_{i:04d}") for i in range(1, 4)}
    done = site.cli("--bundle-runs", "3")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "transfer: 3 done" in done.stdout and "process: 3 done" in done.stdout
    for name in want:
        run = site.store.get(name)
        assert run.status == (states.ARCHIVED, states.PROCESSED)
        assert run.exit_code == 0
        assert run.raw_location.startswith(str(site.work / "archive" / "bundle-"))
        assert run.raw_location.endswith(f"#{name}.tar.zst")
        summary = (site.work / "processed" / name / "summary.json").read_text()
        assert '"files": 3' in summary
        actions = [e.action for e in site.store.history(name)]
        assert actions == [
            "acquired",
            "claim",
            "transferred",
            "claim",
            "mark",
            "mark",
            "claim",
            "compressed",
            "claim",
            "archived",
            "cleaned",
        ]
    assert unbundle(site.work / "archive") == want
    # the uncompressed and packed copies are gone once archived
    assert list((site.work / "raw").iterdir()) == []
    assert not list((site.work / "compressed").glob("*.tar.zst"))
    assert all((site.daq / name).is_dir() for name in want)  # --remove-source is off


def test_a_run_is_bundled_only_when_enough_are_compressed(site: Site):
    site.acquire("run_0001")
    assert site.cli("--bundle-runs", "2").returncode == 0
    assert site.status("run_0001") == (states.COMPRESSED, states.PROCESSED)
    site.acquire("run_0002")
    assert site.cli("--bundle-runs", "2").returncode == 0
    assert site.status("run_0001") == site.status("run_0002") == (states.ARCHIVED, states.PROCESSED)


@pytest.mark.slow
def test_every_full_bundle_is_archived_in_one_pass_and_flush_sends_the_rest(site: Site):
    for i in range(1, 6):
        site.acquire(f"run_{i:04d}", files=1, size=1000)
    assert site.cli("--bundle-runs", "2").returncode == 0
    assert len(list((site.work / "archive").glob("bundle-*.tar"))) == 2
    assert site.status("run_0005") == (states.COMPRESSED, states.PROCESSED)
    assert site.cli("--archive", "--flush", "--bundle-runs", "2").returncode == 0
    assert len(list((site.work / "archive").glob("bundle-*.tar"))) == 3
    assert site.status("run_0005") == (states.ARCHIVED, states.PROCESSED)


def test_dry_run_prints_the_commands_and_changes_nothing(site: Site):
    site.acquire("run_0001")
    site.acquire("run_0002")
    assert site.cli("--transfer", "--run", "run_0001").returncode == 0
    # the database is compared row by row (its files change as SQLite reads them)
    before_db, before_files = site.dump(), (tree(site.daq), tree(site.work))
    out = site.cli("--dry-run", "--bundle-runs", "1")
    assert out.returncode == 0, out.stderr
    assert (
        "rsync --archive --whole-file --compress --delete "
        f"{site.daq}/run_0002/ {site.work}/raw/run_0002/"
    ) in out.stdout
    assert "# process run_0001 here (local backend):" in out.stdout
    assert "process_run" in out.stdout
    assert site.dump() == before_db
    assert (tree(site.daq), tree(site.work)) == before_files


def test_nothing_moves_while_the_daq_is_live(site: Site, tmp_path: Path):
    site.acquire("run_0001")
    program = tmp_path / "kodiaq"
    program.symlink_to(shutil.which("sleep") or "/bin/sleep")
    live = subprocess.Popen([str(program), "60"])
    try:
        out = site.cli("--transfer", "--daq-live-process", "kodiaq")
        assert out.returncode == 0
        assert "skipped: DAQ live (kodiaq runs on localhost)" in out.stdout
        assert site.status("run_0001") == (states.ACQUIRED, states.NONE)
        assert not (site.work / "raw").exists()
    finally:
        live.kill()
        live.wait()
    out = site.cli("--transfer", "--daq-live-process", "kodiaq")
    assert "transfer: 1 done" in out.stdout
    assert site.status("run_0001") == (states.ONDECK, states.NONE)


@pytest.mark.slow
def test_a_failed_rsync_fails_that_run_and_the_pass_goes_on(site: Site):
    site.acquire("run_0001")
    site.acquire("run_0002")
    shutil.rmtree(site.daq / "run_0001")
    out = site.cli("--transfer", "--max-transfer-attempts", "2")
    assert out.returncode == 1
    assert "transfer: 1 done, 1 failed" in out.stdout
    assert "run_0001: rsync exited with 23" in out.stdout
    assert site.status("run_0002") == (states.ONDECK, states.NONE)
    run = site.store.get("run_0001")
    assert (run.status, run.transfer_attempts) == ((states.ACQUIRED, states.NONE), 1)
    last = site.store.history("run_0001")[-1]
    assert (last.action, last.exit_code, last.to_status) == ("transfer-failed", 23, "acquired/none")
    site.cli("--transfer", "--max-transfer-attempts", "2")
    # out of attempts: left alone until an operator retries
    out = site.cli("--transfer", "--max-transfer-attempts", "2")
    assert "transfer: 0 done, 0 failed" in out.stdout
    assert site.store.get("run_0001").transfer_attempts == 2
    retry = subprocess.run(
        [*CLI, "retry", "run_0001", "--db-path", str(site.db_path), "--max-transfer-attempts", "2"],
        capture_output=True,
        text=True,
    )
    assert retry.stdout.strip() == "run_0001: will be transferred again"
    assert site.store.get("run_0001").transfer_attempts == 0


def test_tagged_runs_stay_where_their_tag_holds_them(site: Site):
    site.acquire("run_0001", tags=frozenset({states.DO_NOT_TRANSFER}))
    site.acquire("run_0002", tags=frozenset({states.DO_NOT_PROCESS}))
    assert site.cli().returncode == 0
    assert site.status("run_0001") == (states.ACQUIRED, states.NONE)
    assert site.status("run_0002") == (states.ONDECK, states.NONE)


def test_a_failing_job_is_failed_with_its_exit_code_and_log(site: Site):
    site.acquire("run_0001")
    site.acquire("run_0002")
    # stderr alone is noise, not failure: only the exit status counts
    command = (
        "echo noise >&2; if [ {run} = run_0001 ]; then echo broken >&2; exit 3; fi; mkdir -p {out}"
    )
    assert site.cli("--process-command", command).returncode == 0
    run = site.store.get("run_0001")
    assert (run.status, run.exit_code) == ((states.ONDECK, states.FAILED), 3)
    assert Path(run.job_log or "").read_text() == "noise\nbroken\n"
    assert site.status("run_0002") == (states.COMPRESSED, states.PROCESSED)


def test_kill_9_mid_transfer_leaves_a_claim_the_next_pass_releases(site: Site):
    want = site.acquire("run_0001")
    # killed once rsync has copied, before the checksums are compared
    killed = site.cli_killed_at("pipeline.Pipeline._checksums", "--transfer")
    assert killed.returncode == -signal.SIGKILL
    run = site.store.get("run_0001")
    assert run.status == (states.TRANSFERRING, states.NONE)
    out = site.cli("--transfer")
    assert "transfer: 1 done, 0 failed, 1 released" in out.stdout
    assert site.status("run_0001") == (states.ONDECK, states.NONE)
    assert tree(site.work / "raw" / "run_0001") == want
    release = [e for e in site.store.history("run_0001") if e.action == "release"]
    assert release[0].message == f"claim of {run.owner} released: process gone"


@pytest.mark.slow
def test_a_claim_from_another_host_is_released_after_max_transfer_time(site: Site):
    site.acquire("run_0001")
    assert site.store.change(
        "run_0001",
        (states.ACQUIRED, states.NONE),
        (states.TRANSFERRING, states.NONE),
        "claim",
        owner="elsewhere:1",
    )
    out = site.cli("--transfer")
    assert "transfer: 0 done, 0 failed, 0 released" in out.stdout
    time.sleep(1.1)
    out = site.cli("--transfer", "--max-transfer-time", "1")
    assert "transfer: 1 done, 0 failed, 1 released" in out.stdout
    release = site.store.history("run_0001")[-3]
    assert release.action == "release"
    assert re.fullmatch(
        r"claim of elsewhere:1 released after \d+ s \(max_transfer_time 1 s\)", release.message
    )


@pytest.mark.slow
def test_two_pipelines_racing_take_each_run_once(site: Site):
    names = [f"run_{i:04d}" for i in range(1, 13)]
    for name in names:
        site.acquire(name, files=2, size=5000)
    procs = [
        subprocess.Popen(
            [*CLI, *site.args("--bundle-runs", "4", "--batch", "50")],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    for p in procs:
        p.communicate(timeout=120)
    # whatever is left over (bundles not yet full for one of them) is finished by a third
    site.cli("--flush")
    wait_until(lambda: all(site.status(n)[0] == states.ARCHIVED for n in names), 30)
    for name in names:
        counts = Counter((e.action, e.to_status) for e in site.store.history(name))
        assert counts[("transferred", "ondeck/none")] == 1
        assert counts[("claim", "ondeck/queueing")] == 1
        assert counts[("mark", "ondeck/processed")] == 1
        assert counts[("archived", "archived/processed")] == 1
    assert len(os.listdir(site.work / "processed")) == 12


def test_the_same_pipeline_runs_on_postgresql(site: Site, postgres_server):
    url = postgres_server.create_database("runs_pipeline_local")
    store = RunStore(open_db(url), actor="test")
    for name in ("pg_0001", "pg_0002"):
        folder = site.daq / name
        folder.mkdir()
        (folder / "data.bin").write_bytes(os.urandom(1000))
        store.add([NewRun(name=name, raw_location=str(folder), events=10)])
    argv = site.args("--bundle-runs", "2")
    argv[argv.index("--db-path") + 1] = url
    out = subprocess.run([*CLI, *argv], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert [r.status for r in store.listing()] == [(states.ARCHIVED, states.PROCESSED)] * 2


def test_a_copy_that_differs_from_the_source_is_not_put_ondeck(site: Site, monkeypatch):
    site.acquire("run_0001")
    pipeline = Pipeline(site.store, pipeline_settings(site.args()))
    real = Pipeline.rsync_argv

    def incomplete(self, source, dest):  # rsync "succeeds" but leaves a file behind
        runner, argv = real(self, source, dest)
        return runner, [argv[0], "--exclude", "f1.dat", *argv[1:]]

    monkeypatch.setattr(Pipeline, "rsync_argv", incomplete)
    report = pipeline.transfer_pass()
    assert report.failures == ["run_0001: checksums differ after rsync for 1 files: ['f1.dat']"]
    assert site.status("run_0001") == (states.ACQUIRED, states.NONE)
    assert site.store.history("run_0001")[-1].action == "transfer-failed"
