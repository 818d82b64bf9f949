"""Drafts left behind: by a grab killed with SIGKILL, by a write that failed. The next run
removes the dead ones, never a live one, and finishes the interrupted window once."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import h5py

from socs_like.testing import wait_until

from .conftest import TRICKLE_DEVICE, run_cli

# two logger nodes: the first file is finished when the second one's grab is killed
LIST = f"MLrn B:VIMIN\nMLslow {TRICKLE_DEVICE}\n"
WINDOW = ("--stopat", "2027-01-15 00:00:00", "--minutes", "10", "--db-path", "stats.db")
DECOYS = [".unrelated.h5.draft", ".MLParamData_notes.h5.draft.keep"]


def hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob(".*"))


def test_cli_killed_mid_grab_its_next_run_removes_the_draft_and_grabs_the_window_once(
    logger_sim, tmp_path
):
    """The command line's defaults: drafts and files both in the current folder."""
    (tmp_path / "list.txt").write_text(LIST)
    params = ("params", "--url", logger_sim.url, "--list", "list.txt", *WINDOW)
    with open(tmp_path / "first.log", "wb") as log:
        first = subprocess.Popen(
            [sys.executable, "-m", "socs_like", "grab", *params],
            cwd=tmp_path,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        [draft] = wait_until(
            lambda: list(tmp_path.glob(".MLParamData_*_From_MLslow_*.h5.draft")),
            timeout=60,
            message="the second node's draft",
        )
        # another grab into the same folder meanwhile leaves the live draft alone
        events = run_cli(
            "events", "--url", logger_sim.url, "--maxEvt", "0x03", *WINDOW, cwd=tmp_path
        )
        assert events.returncode == 0, events.stderr
        assert draft.exists()
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    assert first.returncode == -signal.SIGKILL
    assert draft.exists(), "the grab was killed after it finished"  # so it is a stale draft now
    [node_a] = tmp_path.glob("MLParamData_*_From_MLrn_*.h5")
    for name in DECOYS:  # hidden files of other programs: not ours to remove
        (tmp_path / name).write_text("not a draft of ours\n")

    again = run_cli(*params, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert f"removed {draft.name} (a draft nobody writes" in again.stderr
    assert hidden(tmp_path) == sorted(DECOYS)
    # the window is in one file per node: the first node's file is the one grabbed before
    assert list(tmp_path.glob("MLParamData_*_From_MLrn_*.h5")) == [node_a]
    assert f"{node_a.name}: 1 datasets, " in again.stdout and "(grabbed before)" in again.stdout
    [node_b] = tmp_path.glob("MLParamData_*_From_MLslow_*.h5")
    with h5py.File(node_b) as h5:
        assert list(h5) == [TRICKLE_DEVICE] and h5.attrs["complete"]
    assert len(list(tmp_path.glob("MLEventData_*.h5"))) == 1


def _limit_file_size() -> None:
    # a full disk, portably and without root: writes past 2 KiB fail with EFBIG
    resource.setrlimit(resource.RLIMIT_FSIZE, (2048, 2048))


def test_a_timeline_file_that_cannot_be_written_leaves_no_draft(logger_sim, tmp_path):
    outdir = tmp_path / "timeline"
    draftdir = outdir / ".draft"
    draftdir.mkdir(parents=True)
    # left by a logger killed while it wrote: removed when the next one starts
    stale = draftdir / ".TimelineEventData_1.0_2027-01-14+00:00:00_to_2027-01-14+01:00:00.h5.draft"
    stale.write_bytes(b"\x89HDF half a file")
    done = subprocess.run(
        [
            *(sys.executable, "-m", "socs_like_agents.datalogger.timeline"),
            *("--url", logger_sim.url, "--outdir", str(outdir), "--rotate", "1", "--poll", "0.2"),
        ],
        preexec_fn=_limit_file_size,
        env=os.environ | {"PYTHONDONTWRITEBYTECODE": "1"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "File too large" in done.stderr
    assert not stale.exists()
    assert list(draftdir.iterdir()) == []  # nor the draft of the file that failed
    assert list(outdir.glob("*.h5")) == []
