"""Crashes in the middle of the archive step's commands: the pass and everything it started
killed while a run is packed, while a bundle is written, while a bundle is copied to the
archive; and a copy to the archive left running on the cluster by a killed pass.

Commands are slowed so that "in the middle" is a state the tests see on disk (a partial file
growing), not a moment they guess: tar through GNU tar's own ``TAR_OPTIONS`` (a checkpoint
sleep after each record), the copy with ``--archive-bwlimit``."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import tarfile
from pathlib import Path

import pytest

from socs_like.testing import md5_hex, wait_until
from socs_like.testing.sshd_server import SshServer
from socs_like_agents.run_pipeline import states

from .conftest import CLI, Site, assert_archived_once, copies_into, kill_tree, rsyncs_into, tree
from .test_crash_points import ARCHIVE, plain_pass

KIB = 1024
SLOW_TAR = {"TAR_OPTIONS": "--checkpoint=1 --checkpoint-action=sleep=1"}  # 10 KiB a second
SLOW_COPY = ("--archive-bwlimit", "64")  # KiB/s


def _files_in(folder: Path) -> list[str]:
    """Files (hidden ones too) directly in ``folder``."""
    with contextlib.suppress(FileNotFoundError):
        return [p.name for p in folder.iterdir() if p.is_file()]
    return []


def _start_pass(
    site: Site, *extra: str, env: dict[str, str] | None = None
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*CLI, *site.args(*ARCHIVE, *extra)],
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for_partial(folder: Path, proc: subprocess.Popen[str]) -> None:
    def started() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"the pass ended before writing in {folder}: {proc.communicate()}")
        return bool(_files_in(folder))

    wait_until(started, 60, message=f"a file being written in {folder}")


@pytest.mark.parametrize("moment", ["packing", "bundling", "copying"])
def test_a_pass_killed_with_its_children_mid_command_is_finished_by_the_next(
    site: Site, moment: str
):
    want = {name: site.ondeck(name, files=1, size=256 * KIB) for name in ("mid_0001", "mid_0002")}
    compressed, archive = site.work / "compressed", site.work / "archive"
    if moment == "packing":
        proc = _start_pass(site, env=SLOW_TAR)
        watch = compressed
    elif moment == "bundling":
        plain_pass(site, "--archive", "--bundle-runs", "3")  # both packed, not yet bundled
        assert len(_files_in(compressed)) == 2
        proc = _start_pass(site, env=SLOW_TAR)
        watch = compressed / "bundles"
    else:
        proc = _start_pass(site, *SLOW_COPY)
        watch = archive
    _wait_for_partial(watch, proc)
    kill_tree(proc)
    assert _files_in(watch), "the crash left a partial file, as in the field"

    report = plain_pass(site, *ARCHIVE)
    assert report.failed == 0, report.failures
    assert_archived_once(site, want)


def test_a_copy_to_the_archive_left_running_on_the_cluster_is_waited_for_not_joined(
    site: Site, sshd: SshServer
):
    """The cluster is reached over ssh: killing the pass ends its ssh, not the rsync that
    copies the bundle from the cluster. The next pass must not copy alongside it."""
    ssh = ("--cluster-host", "worker", "--ssh-config", str(sshd.ssh_config))
    want = {name: site.ondeck(name, files=1, size=256 * KIB) for name in ("left_0001", "left_0002")}
    archive = site.work / "archive"
    proc = _start_pass(site, *ssh, *SLOW_COPY)
    _wait_for_partial(archive, proc)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate()
    assert rsyncs_into(archive), "the copy runs on"

    # The copy left running takes 8 s, longer than the next pass takes to reach its own copy
    # (some ten ssh commands); that copy, 4 times as fast, still takes 2 s: were it to run
    # alongside, the watcher would see two copies at once for seconds.
    with copies_into(archive) as copies:
        report = plain_pass(site, *ARCHIVE, *ssh, "--archive-bwlimit", "256")
    assert max(copies) <= 1, f"never two copies into the archive: {copies}"
    assert report.failed == 0, report.failures
    assert_archived_once(site, want)


def test_the_cleaning_takes_what_is_the_pipelines_and_only_that(site: Site):
    """A killed pass of an older version (which named each attempt anew) left a bundle no run
    belongs to; files of other names are someone else's. The next pass removes the one and
    keeps the others."""
    want = {name: site.ondeck(name) for name in ("own_0001", "own_0002")}
    compressed = site.work / "compressed"
    (compressed / "bundles").mkdir(parents=True)
    (compressed / "bundles" / "bundle-20260101T000000-4242-own_0001.tar").write_bytes(b"half")
    foreign = {"notes.txt": "x", "bundles/keep.tar": "y", "own_0001.tar.gz": "z"}
    for path, text in foreign.items():
        (compressed / path).write_text(text)
    report = plain_pass(site, *ARCHIVE)
    assert report.failed == 0, report.failures
    assert tree(compressed) == {path: md5_hex(text.encode()) for path, text in foreign.items()}
    for path in foreign:
        (compressed / path).unlink()
    assert_archived_once(site, want)


def test_a_bundle_an_older_version_archived_in_part_is_not_made_again(site: Site):
    """Older versions recorded a bundle's runs archived one at a time: killed in between, one
        run is archived in bundle B and the other waits, still of B. B made again without the
        first would replace the archived B; the waiting run goes into a new bundle instead (once
    one is due, as for any run)."""
    want = {name: site.ondeck(name) for name in ("old_0001", "old_0002")}
    plain_pass(site, "--archive", "--bundle-runs", "3")  # both packed, waiting
    archive = site.work / "archive"
    archive.mkdir()
    old = "bundle-20260101T000000-4242-old_0001.tar"
    with tarfile.open(archive / old, "w") as b:
        b.add(site.work / "compressed" / "old_0001.tar.zst", "old_0001.tar.zst")
    first = site.store.get("old_0001")
    site.store.change(
        "old_0001",
        first.status,
        (states.ARCHIVED, states.PROCESSED),
        "archived",
        bundle=old,
        raw_location=f"{archive}/{old}#old_0001.tar.zst",
    )
    second = site.store.get("old_0002")
    site.store.change("old_0002", second.status, second.status, "release", bundle=old)

    report = plain_pass(site, *ARCHIVE, "--flush")  # a bundle of one
    assert report.done == 1 and report.failed == 0, report.failures
    assert site.store.get("old_0002").bundle != old
    plain_pass(site, *ARCHIVE)  # a pipeline's first pass cleans after the old bundle
    assert_archived_once(site, want)
