"""The monitor's and two SupRsyncs' own code, each in its own process, on one SQLite file:
no database error, every file registered, copied and deleted. How fast is the benchmark's
business (bench/bench_db_contention.py, with the real agents); here only the outcome counts."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from socs_like.db import Database
from socs_like_agents.filedb.models import FileState, RegisteredFile
from socs_like_agents.filedb.schema import upgrade

WRITER = Path(__file__).with_name("concurrent_writer.py")


@pytest.mark.slow
def test_monitor_and_two_suprsyncs_share_one_sqlite_file_without_lock_errors(tmp_path) -> None:
    url = str(tmp_path / "suprsync.db")
    db = Database(url)
    upgrade(db)
    procs = [
        subprocess.Popen(
            [sys.executable, str(WRITER), role, url, str(tmp_path), "6"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for role in ("monitor", "sync:timestreams", "sync:smurf")
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    for p, (_out, err) in zip(procs, outputs, strict=True):
        assert p.returncode == 0, err
    monitor, *syncers = [json.loads(out) for out, _ in outputs]

    assert monitor["errors"] == [] and [s["errors"] for s in syncers] == [[], []]
    assert [o["lock_failures"] for o in (monitor, *syncers)] == [0, 0, 0]
    assert monitor["inserted"] > 0
    rows = db.read(
        lambda s: list(
            s.query(
                RegisteredFile.local_path,
                RegisteredFile.state,
                RegisteredFile.archive_name,
                RegisteredFile.remote_path,
            )
        )
    )
    data = str(tmp_path / "data")
    # every file the monitor made is registered once and hashed (the rest are finalization
    # files SupRsync registered itself)
    made = [r for r in rows if r.local_path.startswith(data)]
    assert len(made) == monitor["inserted"]
    assert [r for r in made if r.state == FileState.PENDING] == []
    for archive, s in zip(("timestreams", "smurf"), syncers, strict=True):
        assert s["synced"] > 0 and s["removed"] > 0 and s["failed"] == 0, (archive, s)
        base = tmp_path / "remote" / archive
        on_remote = {str(p.relative_to(base)) for p in base.rglob("*.g3")}
        # every file the database calls synced (or synced and then removed) is in the archive;
        # (the copy counter counts copies made, so a file copied twice counts twice)
        archived = {
            r.remote_path
            for r in made
            if r.archive_name == archive and r.state in (FileState.SYNCED, FileState.REMOVED)
        }
        assert archived and archived <= on_remote
        assert s["synced"] >= len(on_remote)
    assert {r.state for r in rows} <= {
        FileState.PENDING,
        FileState.QUEUED,
        FileState.SYNCED,
        FileState.REMOVED,
    }
    db.dispose()
