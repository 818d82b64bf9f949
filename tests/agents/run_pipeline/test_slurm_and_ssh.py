"""Through a real single-node Slurm (the session's ``slurm`` fixture) and a real sshd with
rsync on loopback: the full path, failing and cancelled jobs, crashes mid-submit, racing
pipelines, dry runs; and the push transfer mode with source removal."""

from __future__ import annotations

import shutil
import subprocess
from collections import Counter

import pytest

from socs_like.testing import wait_until
from socs_like_agents.run_pipeline import states

from .conftest import CLI, Site, tree


@pytest.fixture
def slurm_site(site: Site, slurm, sshd):
    """A site whose DAQ is reached over sshd and whose jobs go to the test Slurm."""
    site.env = slurm.env()
    site.extra = [
        "--daq-host",
        "worker",
        "--ssh-config",
        str(sshd.ssh_config),
        "--backend",
        "slurm",
    ]
    return site


def _cli(site: Site, *extra: str) -> subprocess.CompletedProcess[str]:
    return site.cli(*site.extra, *extra, env=site.env)


def _squeue(site: Site) -> dict[str, tuple[str, str]]:
    out = subprocess.run(
        ["squeue", "--noheader", "--states=all", "--format=%j|%i|%T"],
        capture_output=True,
        text=True,
        env=site.env,
        check=True,
    ).stdout
    return {line.split("|")[0]: tuple(line.split("|")[1:]) for line in out.splitlines()}


def _wait_status(site: Site, name: str, status: tuple[str, str], timeout: float = 60) -> None:
    wait_until(
        lambda: site.status(name) == status,
        timeout,
        message=f"{name} to be {status}, is {site.status(name)}",
    )


def test_runs_go_from_acquired_to_archived_through_ssh_and_slurm(slurm_site: Site):
    site = slurm_site
    names = ["sfull_0001", "sfull_0002"]
    want = {n: site.acquire(n, source="led") for n in names}
    out = _cli(site, "--transfer", "--process")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "transfer: 2 done" in out.stdout and "process: 2 done" in out.stdout
    for name in names:
        _wait_status(site, name, (states.ONDECK, states.PROCESSED))
        run = site.store.get(name)
        job = (run.job_id, "COMPLETED")
        wait_until(lambda n=name, j=job: _squeue(site)[f"run-{n}-1"] == j, 30)
        assert run.exit_code == 0 and run.attempts == 1
        assert tree(site.work / "raw" / name) == want[name]
        marks = [(e.actor, e.to_status) for e in site.store.history(name) if e.action == "mark"]
        assert marks == [
            (f"job {run.job_id}", "ondeck/processing"),
            (f"job {run.job_id}", "ondeck/processed"),
        ]
        script = (site.work / "jobs" / f"{name}.1.sh").read_text()
        assert "#SBATCH --partition=standby" in script
    out = _cli(site, "--archive", "--flush")
    assert "archive: 4 done" in out.stdout  # each run: compressed, then archived
    for name in names:
        assert site.status(name) == (states.ARCHIVED, states.PROCESSED)


def test_a_failing_slurm_job_is_failed_with_exit_code_and_log_path(slurm_site: Site):
    site = slurm_site
    site.acquire("sfail_0001")
    command = "echo going wrong; exit 4"
    assert _cli(site, "--transfer", "--process", "--process-command", command).returncode == 0
    _wait_status(site, "sfail_0001", (states.ONDECK, states.FAILED))
    run = site.store.get("sfail_0001")
    assert run.exit_code == 4
    assert run.job_log == str(site.work / "jobs" / "sfail_0001.1.log")
    assert "going wrong" in (site.work / "jobs" / "sfail_0001.1.log").read_text()
    # an operator asks again; the next pass submits attempt 2
    retry = subprocess.run(
        [*CLI, "retry", "sfail_0001", "--db-path", str(site.db_path)],
        capture_output=True,
        text=True,
    )
    assert retry.stdout.strip() == "sfail_0001: will be processed again"
    _cli(site, "--process")
    assert site.store.get("sfail_0001").attempts == 2


def test_a_job_cancelled_in_slurm_is_reset_and_submitted_again(slurm_site: Site):
    site = slurm_site
    site.acquire("scancel_0001")
    assert _cli(site, "--transfer", "--process", "--process-command", "sleep 120").returncode == 0
    _wait_status(site, "scancel_0001", (states.ONDECK, states.PROCESSING))
    job_id = site.store.get("scancel_0001").job_id
    subprocess.run(["scancel", str(job_id)], env=site.env, check=True)
    wait_until(lambda: _squeue(site)["run-scancel_0001-1"][1] == "CANCELLED", 30)
    out = _cli(site, "--process", "--process-command", "true")
    assert "process: 1 done, 0 failed, 1 released" in out.stdout
    reset = [e for e in site.store.history("scancel_0001") if e.action == "reset"]
    assert reset[0].message == f"job {job_id} ended CANCELLED in the scheduler"
    assert reset[0].to_status == "ondeck/none"
    _wait_status(site, "scancel_0001", (states.ONDECK, states.PROCESSED))
    assert site.store.get("scancel_0001").attempts == 2


def test_a_pipeline_killed_mid_submit_is_resumed_without_a_second_job(slurm_site: Site):
    site = slurm_site
    site.acquire("skill_0001")
    assert _cli(site, "--transfer").returncode == 0
    # the node is full, so the job waits and cannot report its own id
    blocker = subprocess.run(
        ["sbatch", "--parsable", "--cpus-per-task=8", "--output=/dev/null", "--wrap", "sleep 120"],
        env=site.env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    try:
        # sbatch has accepted the job; the pipeline dies before recording its id
        killed = site.cli_killed_at(
            "store.RunStore.set_job_id", *site.extra, "--process", env=site.env
        )
        assert killed.returncode == -9
        run = site.store.get("skill_0001")
        assert (run.status, run.job_id) == ((states.ONDECK, states.QUEUEING), None)
        job_id, state = _squeue(site)["run-skill_0001-1"]
        assert state == "PENDING"
        out = _cli(site, "--process")
        assert "process: 0 done, 0 failed, 0 released" in out.stdout
        adopt = [e for e in site.store.history("skill_0001") if e.action == "adopt"]
        assert adopt[0].message == f"job {job_id} found by name run-skill_0001-1"
        assert site.store.get("skill_0001").job_id == job_id
    finally:
        subprocess.run(["scancel", blocker], env=site.env, check=True)
    _wait_status(site, "skill_0001", (states.ONDECK, states.PROCESSED))
    run = site.store.get("skill_0001")
    assert run.attempts == 1 and run.job_id == job_id
    assert [name for name in _squeue(site) if "skill_0001" in name] == ["run-skill_0001-1"]


def test_two_pipelines_racing_submit_each_run_once(slurm_site: Site):
    site = slurm_site
    names = [f"srace_{i:04d}" for i in range(1, 11)]
    for name in names:  # transferred already (the full path over ssh is tested above)
        site.ondeck(name, processed=states.NONE, files=1, size=1000)
    procs = [
        subprocess.Popen(
            [*CLI, *site.args(*site.extra, "--process")],
            env=site.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    for p in procs:
        p.communicate(timeout=120)
    for name in names:
        _wait_status(site, name, (states.ONDECK, states.PROCESSED))
        counts = Counter((e.action, e.to_status) for e in site.store.history(name))
        assert counts[("claim", "ondeck/queueing")] == 1
        assert site.store.get(name).attempts == 1
    jobs = [name for name in _squeue(site) if name.startswith("run-srace_")]
    assert sorted(jobs) == [f"run-{n}-1" for n in names]


def test_dry_run_prints_the_job_script_and_submits_nothing(slurm_site: Site):
    site = slurm_site
    site.acquire("sdry_0001", events=40 * 60 * 300)  # 5 h of events: the long queue
    assert _cli(site, "--transfer").returncode == 0
    before = site.dump()
    out = _cli(site, "--dry-run", "--process")
    assert out.returncode == 0
    assert f"# process sdry_0001: sbatch --parsable {site.work}/jobs/sdry_0001.1.sh" in out.stdout
    assert "#SBATCH --partition=physics" in out.stdout
    assert "#SBATCH --time=06:00:00" in out.stdout
    assert site.dump() == before
    assert not (site.work / "jobs").exists()
    assert not [n for n in _squeue(site) if "sdry" in n]


def test_push_mode_copies_from_the_daq_side_and_removes_the_verified_source(site: Site, sshd):
    want = site.acquire("push_0001")
    out = site.cli(
        "--transfer",
        "--daq-host",
        "worker",
        "--ssh-config",
        str(sshd.ssh_config),
        "--transfer-mode",
        "push",
        "--remove-source",
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert site.status("push_0001") == (states.ONDECK, states.NONE)
    assert tree(site.work / "raw" / "push_0001") == want
    assert not (site.daq / "push_0001").exists()
    assert [e.action for e in site.store.history("push_0001")][-1] == "source-removed"


def test_a_run_outside_the_daq_roots_is_refused(site: Site, tmp_path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    site.acquire("bad_0001")
    site.store.change(
        "bad_0001",
        (states.ACQUIRED, states.NONE),
        (states.ACQUIRED, states.NONE),
        "edit",
        raw_location=str(outside),
    )
    out = site.cli("--transfer")
    assert out.returncode == 1
    assert f"bad_0001: raw location '{outside}' refused (outside_roots)" in out.stdout
    assert site.status("bad_0001") == (states.ACQUIRED, states.NONE)


def test_a_cluster_reached_over_ssh_gets_the_same_treatment(site: Site, sshd):
    """Every cluster-side command (rsync, md5sum, du, tar, the archive's rsync) goes
    through ``ssh worker``; the DAQ is this machine, which the cluster reaches by path."""
    site.acquire("remote_0001")
    out = site.cli(
        "--cluster-host",
        "worker",
        "--ssh-config",
        str(sshd.ssh_config),
        "--bundle-runs",
        "1",
        "--process-command",
        "mkdir -p {out}",
    )
    assert out.returncode == 0, out.stdout + out.stderr
    run = site.store.get("remote_0001")
    assert run.status == (states.ARCHIVED, states.PROCESSED)
    assert run.raw_size > 60_000
    assert "#remote_0001.tar.zst" in run.raw_location
    md5 = [e.message for e in site.store.history("remote_0001") if e.action == "compressed"]
    assert md5 == [f"md5 {run.archive_md5}"]
    bundle = next((site.work / "archive").glob("bundle-*.tar"))
    assert bundle.name == run.bundle


def test_a_job_that_dies_without_reporting_is_failed_by_the_next_pass(slurm_site: Site):
    site = slurm_site
    site.acquire("sdie_0001")
    # the command kills its job script: no final mark is ever written
    command = "kill -9 $PPID"
    assert _cli(site, "--transfer", "--process", "--process-command", command).returncode == 0
    # a final state: COMPLETING still counts as a job alive (its steps are being cleaned up)
    alive = ("PENDING", "CONFIGURING", "RUNNING", "COMPLETING")
    wait_until(lambda: _squeue(site)["run-sdie_0001-1"][1] not in alive, 30)
    job_id, state = _squeue(site)["run-sdie_0001-1"]
    assert site.status("sdie_0001") == (states.ONDECK, states.PROCESSING)
    out = _cli(site, "--process")
    assert "process: 0 done, 1 failed, 0 released" in out.stdout
    assert out.returncode == 1
    assert site.status("sdie_0001") == (states.ONDECK, states.FAILED)
    last = site.store.history("sdie_0001")[-1]
    assert (last.action, last.message) == (
        "job-ended",
        f"job {job_id} ended {state} without reporting",
    )


def test_a_daq_host_out_of_reach_costs_no_transfer_attempt(site: Site, sshd):
    """ssh cannot reach the DAQ (its status 255: down, cut off, or lost mid-copy): the run
    goes back to ``acquired`` uncharged, so an outage longer than the attempts allow does not
    leave every run waiting for ``retry``; once the host answers, the run is transferred. A
    failure while the host answers is the run's, and costs it an attempt."""
    want = site.acquire("out_0001")
    site.acquire("gone_0001")
    shutil.rmtree(site.daq / "gone_0001")
    args = ("--transfer", "--daq-host", "worker", "--ssh-config", str(sshd.ssh_config))
    sshd.stop()
    for _ in range(2):
        out = site.cli(*args, "--max-transfer-attempts", "1")
        assert out.returncode == 1, out.stdout + out.stderr
        for name in ("out_0001", "gone_0001"):
            run = site.store.get(name)
            assert (run.status, run.transfer_attempts) == ((states.ACQUIRED, states.NONE), 0)
    failed = [e for e in site.store.history("out_0001") if e.action == "transfer-failed"]
    assert [e.exit_code for e in failed] == [255, 255]
    sshd.start()
    out = site.cli(*args, "--max-transfer-attempts", "1")
    assert out.returncode == 1, out.stdout + out.stderr
    assert site.store.get("out_0001").status == (states.ONDECK, states.NONE)
    assert tree(site.work / "raw" / "out_0001") == want
    gone = site.store.get("gone_0001")
    assert (gone.status, gone.transfer_attempts) == ((states.ACQUIRED, states.NONE), 1)
    assert site.store.history("gone_0001")[-1].exit_code == 23  # rsync: some files failed
