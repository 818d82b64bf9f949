"""Crashes in the middle of a copy: the pass killed with its rsync while a file is half
written, the pass alone killed (its rsync must not run on by itself), and a copy left running
on the cluster by a killed pass (the next one must wait for it, never copy alongside it).

Copies are slowed with ``--transfer-bwlimit`` so that "mid-copy" is a state the tests see on
disk (rsync's temporary file growing in the run folder), not a moment they guess."""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import os
import signal
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from socs_like.testing import descendants, process_alive, wait_until
from socs_like.testing.sshd_server import SshServer
from socs_like_agents.run_pipeline import states
from socs_like_agents.run_pipeline.pipeline import Pipeline

from .conftest import CLI, Site, copies_into, kill_tree, pipeline_settings, rsyncs_into, tree

MIB = 1024 * 1024
SLOW = ("--transfer-bwlimit", "64")  # KiB/s: a MiB takes 16 s


def _start_pass(site: Site, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*CLI, *site.args("--transfer", *extra)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _half_written(folder: Path) -> list[str]:
    """rsync's temporary files in ``folder`` (hidden, ``.NAME.XXXXXX``) that hold data."""
    found = []
    with contextlib.suppress(FileNotFoundError):
        for p in folder.iterdir():
            with contextlib.suppress(FileNotFoundError):
                if p.name.startswith(".") and p.stat().st_size > 0:
                    found.append(p.name)
    return found


def _wait_mid_copy(folder: Path, proc: subprocess.Popen[str]) -> None:
    def mid_copy() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"the pass ended before copying: {proc.communicate()}")
        return bool(_half_written(folder))

    wait_until(mid_copy, 60, message=f"a half-written file in {folder}")


def _assert_transferred_once(site: Site, name: str, want: dict[str, str]) -> None:
    assert site.status(name) == (states.ONDECK, states.NONE)
    # byte-equal, and nothing else in the run folder: no temporary file left behind
    assert tree(site.work / "raw" / name) == want
    counts = Counter(e.action for e in site.store.history(name))
    assert counts["transferred"] == 1 and counts["release"] == 1


@pytest.mark.slow
def test_a_pass_killed_with_its_rsync_mid_file_is_completed_by_the_next_pass(site: Site):
    want = site.acquire("crash_0001", files=2, size=MIB)
    dest = site.work / "raw" / "crash_0001"
    proc = _start_pass(site, *SLOW)
    _wait_mid_copy(dest, proc)
    kill_tree(proc)
    assert _half_written(dest), "the crash left rsync's temporary file, as in the field"
    assert site.status("crash_0001") == (states.TRANSFERRING, states.NONE)

    out = site.cli("--transfer")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "transfer: 1 done, 0 failed, 1 released" in out.stdout
    _assert_transferred_once(site, "crash_0001", want)


@pytest.mark.slow
def test_a_pass_killed_alone_takes_its_rsync_along(site: Site):
    want = site.acquire("alone_0001", files=2, size=2 * MIB)
    dest = site.work / "raw" / "alone_0001"
    proc = _start_pass(site, *SLOW)
    _wait_mid_copy(dest, proc)
    children = descendants(proc.pid)
    assert rsyncs_into(dest), "the copy runs"
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate()
    # the copy had a minute to go at its pace: gone well before means it died with the pass
    wait_until(
        lambda: not any(process_alive(pid) for pid in children),
        30,
        message="the killed pass's rsync to end",
    )
    assert not rsyncs_into(dest)

    out = site.cli("--transfer")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "transfer: 1 done, 0 failed, 1 released" in out.stdout
    _assert_transferred_once(site, "alone_0001", want)


def test_a_copy_left_running_on_the_cluster_is_waited_for_not_joined(site: Site, sshd: SshServer):
    """The cluster is reached over ssh: killing the pass ends its ssh, not the rsync that runs
    on the cluster. The next pass must not start a second copy into the same folder."""
    ssh = ("--cluster-host", "worker", "--ssh-config", str(sshd.ssh_config))
    want = site.acquire("left_0001", files=1, size=MIB)
    dest = site.work / "raw" / "left_0001"
    proc = _start_pass(site, *ssh, "--transfer-bwlimit", "128")  # about 8 s
    _wait_mid_copy(dest, proc)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate()

    with copies_into(dest) as copies:
        out = site.cli("--transfer", *ssh)
    assert max(copies) <= 1, f"never two copies into one folder: {copies}"
    assert out.returncode == 0, out.stdout + out.stderr
    assert "transfer: 1 done, 0 failed, 1 released" in out.stdout
    _assert_transferred_once(site, "left_0001", want)


def test_a_held_folder_gets_no_copy_and_the_run_returns_with_why(site: Site):
    """Whoever holds the lock on the run's folder (the test here, a copy left running in the
    field), the pass copies nothing into it: it waits its time, then gives the run back."""
    want = site.acquire("held_0001")
    dest = site.work / "raw" / "held_0001"
    dest.mkdir(parents=True)
    settings = pipeline_settings(site.args())
    impatient = dataclasses.replace(settings, rsync_timeout=1)
    fd = os.open(dest, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        report = Pipeline(site.store, impatient).transfer_pass()
        assert os.listdir(dest) == []
    finally:
        os.close(fd)
    assert report.failures == [f"held_0001: an earlier copy into {dest} still runs after 1 s"]
    assert site.status("held_0001") == (states.ACQUIRED, states.NONE)
    # let go: the next pass copies
    assert Pipeline(site.store, settings).transfer_pass().done == 1
    assert tree(dest) == want
