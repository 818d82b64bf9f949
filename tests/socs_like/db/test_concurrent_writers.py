"""A monitor and two SupRsync-like processes on one SQLite file: no "database is locked"."""

import json
import subprocess
import sys
from pathlib import Path

from socs_like.db import Database, FileState, RegisteredFile, upgrade

WRITER = Path(__file__).with_name("concurrent_writer.py")


def test_three_writer_processes_share_one_sqlite_file_without_lock_errors(tmp_path) -> None:
    url = str(tmp_path / "suprsync.db")
    db = Database(url)
    upgrade(db)
    procs = [
        subprocess.Popen(
            [sys.executable, str(WRITER), role, url, "4"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for role in ("monitor", "sync:timestreams", "sync:smurf")
    ]
    outputs = [p.communicate(timeout=60) for p in procs]
    for p, (_out, err) in zip(procs, outputs, strict=False):
        assert p.returncode == 0, err
    monitor, *syncers = [json.loads(out) for out, _ in outputs]

    assert monitor["errors"] == [] and all(s["errors"] == [] for s in syncers)
    assert monitor["inserted"] >= 400  # ~200 rows/s for 4 s on a busy machine
    stored = db.read(lambda s: s.query(RegisteredFile).count())
    assert stored == monitor["inserted"]
    assert all(s["synced"] > 0 and s["removed"] > 0 for s in syncers)
    states = db.read(lambda s: {r.state for r in s.query(RegisteredFile)})
    assert states <= {FileState.PENDING, FileState.QUEUED, FileState.SYNCED, FileState.REMOVED}
    db.dispose()
