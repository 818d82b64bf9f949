"""A pass killed with SIGKILL just before each of its steps in turn — every command it runs
and every record it makes — and then one plain pass: the runs end where an uninterrupted
pass would have taken them, once, with nothing left behind.

The steps are counted as the pass takes them (``StepKiller``), so a step added
to the pipeline is covered without touching these tests."""

from __future__ import annotations

import signal
import subprocess
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from socs_like.testing import wait_until
from socs_like.testing.slurm import SlurmCluster
from socs_like_agents.run_pipeline import cli, states
from socs_like_agents.run_pipeline.pipeline import Pipeline
from socs_like_agents.run_pipeline.settings import PassReport

from .conftest import Site, StepKiller, assert_archived_once, pipeline_settings

ARCHIVE = ("--archive", "--bundle-runs", "2")
PROCESS = ("--process",)


def plain_pass(site: Site, *argv: str) -> PassReport:
    """One pass, as ``socs-like runs ARGV`` makes it (here, in this process)."""
    args = cli._parser().parse_args(site.args(*argv))
    pipeline = Pipeline(site.store, pipeline_settings(site.args(*argv)))
    try:
        if args.process:
            report = pipeline.process_pass()
            pipeline.wait_local()
            return report
        return pipeline.archive_pass(flush=args.flush)
    finally:
        pipeline.close()


def _kill_at_every_step(
    tmp_path: Path,
    argv: tuple[str, ...],
    prepare: Callable[[Site], dict[str, dict[str, str]]],
    check: Callable[[Site, dict[str, dict[str, str]]], None],
    env: dict[str, str] | None = None,
) -> list[str]:
    """For step 1, 2, ... on a fresh site each time: the pass ``argv`` killed before that
    step, then a plain pass, then ``check``. Returns the steps killed at; fails with every
    step after which ``check`` failed."""
    killed_at: list[str] = []
    failures: list[str] = []
    with StepKiller(env) as killer:
        for step in range(1, 200):
            root = tmp_path / f"step{step}"
            root.mkdir()
            site = Site(root)
            want = prepare(site)
            killed = killer.run(site, step, *argv)
            if killed.returncode == 0:
                break  # the pass had fewer steps: every one was tried
            assert killed.returncode == -signal.SIGKILL, killed.stdout + killed.stderr
            where = killed.stderr.strip().splitlines()[-1]
            killed_at.append(where)
            report = plain_pass(site, *argv)
            try:
                assert report.failed == 0, report.failures
                check(site, want)
            except AssertionError as e:
                failures.append(f"{where}\n    {str(e).splitlines()[0]}")
    assert not failures, "\n".join(failures)
    return killed_at


@pytest.mark.slow
def test_an_archive_pass_killed_before_any_of_its_steps_is_finished_by_the_next(tmp_path: Path):
    def prepare(site: Site) -> dict[str, dict[str, str]]:
        return {name: site.ondeck(name) for name in ("step_0001", "step_0002")}

    killed_at = _kill_at_every_step(tmp_path, ARCHIVE, prepare, assert_archived_once)
    # the pass was killed at packing, bundling, the copy and the cleaning
    for word in ("tar --zstd", "tar -C", "rsync", "rm "):
        assert any(word in w for w in killed_at), (word, killed_at)


@pytest.mark.slow
def test_a_process_pass_killed_before_any_of_its_steps_is_finished_by_the_next(tmp_path: Path):
    """Local jobs: the job of a killed pass dies with it; the next pass submits the run again
    (attempt 2) and it is processed once."""

    def prepare(site: Site) -> dict[str, dict[str, str]]:
        return {"proc_0001": site.ondeck("proc_0001", processed=states.NONE)}

    def check(site: Site, want: dict[str, dict[str, str]]) -> None:
        run = site.store.get("proc_0001")
        assert run.status == (states.ONDECK, states.PROCESSED)
        counts = Counter((e.action, e.to_status) for e in site.store.history("proc_0001"))
        assert counts[("mark", "ondeck/processed")] == 1
        assert run.attempts <= 2  # submitted again once at most, after the one crash
        assert '"files": 2' in (site.work / "processed" / "proc_0001" / "summary.json").read_text()

    killed_at = _kill_at_every_step(tmp_path, PROCESS, prepare, check)
    assert len(killed_at) >= 3  # the claim and both marks of the job


def test_a_slurm_submission_killed_at_any_step_gives_one_job(
    tmp_path: Path, slurm: SlurmCluster, monkeypatch: pytest.MonkeyPatch
):
    """Killed before sbatch, the run is released and submitted again; killed after sbatch but
    before its id is recorded, the job is adopted by name: either way one job runs."""
    monkeypatch.setenv("SLURM_CONF", slurm.env()["SLURM_CONF"])  # for the plain passes here

    def prepare(site: Site) -> dict[str, dict[str, str]]:
        name = f"sk_{site.root.name}"  # job names are per run: one run name per site
        return {name: site.ondeck(name, processed=states.NONE)}

    def check(site: Site, want: dict[str, dict[str, str]]) -> None:
        (name,) = want
        wait_until(
            lambda: site.status(name) == (states.ONDECK, states.PROCESSED),
            60,
            message=f"{name} processed, is {site.status(name)}",
        )
        run = site.store.get(name)
        jobs = subprocess.run(
            ["squeue", "--noheader", "--states=all", "--format=%j|%i"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        assert [j for j in jobs if j.startswith(f"run-{name}-")] == [
            f"run-{name}-{run.attempts}|{run.job_id}"
        ]

    killed_at = _kill_at_every_step(
        tmp_path, (*PROCESS, "--backend", "slurm"), prepare, check, env=slurm.env()
    )
    assert any("sbatch" in w for w in killed_at), killed_at
