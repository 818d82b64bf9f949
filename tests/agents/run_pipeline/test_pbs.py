"""PBS: no PBS server exists here, so the generated script is checked, and `qsub`/`qstat` are
stand-ins that record their arguments and answer as PBS does."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from socs_like_agents.run_pipeline import states

from .conftest import Site

QSUB = """#!/bin/sh
echo "$@" >> "{log}"
echo 4711.pbs-head
"""
QSTAT = """#!/bin/sh
echo "$@" >> "{log}"
cat <<'END'
Job id            Name             User              Time Use S Queue
----------------  ---------------- ----------------  -------- - -----
{listing}
END
"""


def _fake_pbs(tmp_path: Path, listing: str) -> dict[str, str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for name, text in (("qsub", QSUB), ("qstat", QSTAT)):
        path = bin_dir / name
        path.write_text(text.format(log=tmp_path / f"{name}.args", listing=listing))
        path.chmod(0o755)
    return {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}


@pytest.mark.slow
def test_pbs_jobs_are_submitted_with_qsub_and_a_vanished_one_is_reset(site: Site, tmp_path):
    site.acquire("pbs_0001", events=40 * 60 * 300)
    env = _fake_pbs(tmp_path, "")
    out = site.cli("--transfer", "--process", "--backend", "pbs", env=env)
    assert out.returncode == 0, out.stdout + out.stderr
    script = site.work / "jobs" / "pbs_0001.1.sh"
    assert (tmp_path / "qsub.args").read_text() == f"{script}\n"
    run = site.store.get("pbs_0001")
    assert (run.status, run.job_id) == ((states.ONDECK, states.QUEUEING), "4711.pbs-head")
    lines = script.read_text().splitlines()
    assert "#PBS -N run-pbs_0001-1" in lines
    assert "#PBS -q physics" in lines
    assert "#PBS -l walltime=06:00:00" in lines
    assert f"#PBS -o {site.work}/jobs/pbs_0001.1.log" in lines
    assert '--job-id "${PBS_JOBID}"' in script.read_text()
    # qstat still lists it: left alone
    env = _fake_pbs(
        tmp_path, "4711.pbs-head     run-pbs_0001-1   root              0        R physics"
    )
    out = site.cli("--process", "--backend", "pbs", "--run", "pbs_0001", env=env)
    assert "process: 0 done, 0 failed, 0 released" in out.stdout
    assert site.status("pbs_0001") == (states.ONDECK, states.QUEUEING)
    # gone from qstat without reporting: reset and submitted again
    env = _fake_pbs(tmp_path, "")
    out = site.cli("--process", "--backend", "pbs", env=env)
    assert "process: 1 done, 0 failed, 1 released" in out.stdout
    reset = [e for e in site.store.history("pbs_0001") if e.action == "reset"]
    assert reset[0].message == "job 4711.pbs-head vanished from the scheduler"
    assert site.store.get("pbs_0001").attempts == 2
    assert (tmp_path / "qstat.args").read_text().splitlines()[-1] == "-x"
