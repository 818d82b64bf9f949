"""One writer process of the contention test: ``role db workdir seconds``.

Each role runs the very functions production runs, on real files:

``monitor``: writes small files at ~200/s, registers them and records their checksums with
the monitor's own queries (``queries.register``, ``checksum_rows``, ``queries.record_checksums``).
``sync:<archive>``: SupRsync's ``Syncer`` for that archive, copying with rsync into a local
folder, deleting verified copies after 0.5 s, finalizing timecode dirs, counting statistics:
the steps of the agent's loop, in the agent's order.

Prints a JSON summary on stdout; any database error is counted, never hidden.
"""

import json
import sys
import time
from pathlib import Path
from typing import Any

from sqlalchemy.exc import DBAPIError

from socs_like.db import Database
from socs_like_agents.filedb import queries
from socs_like_agents.filedb.queries import NewFile
from socs_like_agents.pysmurf_monitor.hashing import checksum_rows
from socs_like_agents.suprsync.retention import RetentionPolicy
from socs_like_agents.suprsync.sync import Syncer, SyncSettings

ARCHIVES = ("timestreams", "smurf")


def monitor(db: Database, work: Path, seconds: float, rate: float = 200.0) -> dict[str, Any]:
    done = 0
    errors: list[str] = []
    start = time.monotonic()
    tick = 0.05
    per_tick = int(rate * tick)
    while time.monotonic() - start < seconds:
        batch = []
        for i in range(done, done + per_tick):
            archive = ARCHIVES[i % 2]
            remote = f"17320/s/{i}.g3"
            path = work / "data" / archive / remote
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"x" * (i % 512))
            batch.append(
                NewFile(
                    local_path=str(path),
                    archive_name=archive,
                    remote_path=remote,
                    timestamp=time.time(),
                )
            )
        try:
            made = db.write(lambda s, b=batch: queries.register(s, b))
            sums = checksum_rows(made)
            db.write(lambda s, c=sums: queries.record_checksums(s, c))
        except DBAPIError as exc:
            errors.append(str(exc.orig))
        done += per_tick
        time.sleep(max(0.0, start + tick * (done / per_tick) - time.monotonic()))
    return {"inserted": done, "errors": errors}


def sync(db: Database, archive: str, work: Path, seconds: float) -> dict[str, Any]:
    syncer = Syncer(
        db,
        SyncSettings(
            archive_name=archive,
            instance_id=f"sync-{archive}",
            remote_basedir=str(work / "remote" / archive),
            file_root=str(work / "finalization" / archive),
            retention=RetentionPolicy((), 0.5),
            files_per_batch=200,
        ),
    )
    errors: list[str] = []
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        for step in (
            syncer.copy_batch,
            syncer.delete_due,
            syncer.recheck_slice,
            syncer.update_timecodes,
            syncer.archive_stats,
        ):
            try:
                report = step()
            except DBAPIError as exc:
                errors.append(str(exc.orig))
                continue
            if isinstance(report, dict) and report.get("error"):
                errors.append(report["error"])
        time.sleep(0.05)
    c = syncer.counters
    return {"synced": c.copies, "removed": c.deleted, "failed": c.failed_copies, "errors": errors}


if __name__ == "__main__":
    role, url, workdir, seconds = sys.argv[1], sys.argv[2], Path(sys.argv[3]), float(sys.argv[4])
    database = Database(url)
    if role == "monitor":
        summary = monitor(database, workdir, seconds)
    else:
        summary = sync(database, role.split(":", 1)[1], workdir, seconds)
    summary["lock_retries"] = database.stats.lock_retries
    summary["lock_failures"] = database.stats.lock_failures
    print(json.dumps(summary))
