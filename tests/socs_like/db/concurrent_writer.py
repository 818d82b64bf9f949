"""One writer process for the concurrent-writers test (and bench): ``role db seconds``.

``monitor``: registers 200 files/s in batches and records their checksums, as the monitor does.
``sync:<archive>``: copies, verifies and deletes in short transactions, as SupRsync does.
Prints a JSON summary on stdout; any database error is counted, never hidden.
"""

import json
import sys
import time

from sqlalchemy.exc import DBAPIError

from socs_like.db import Database, files
from socs_like.db.files import Checksum, NewFile


def monitor(db: Database, seconds: float, rate: float = 200.0) -> dict:
    done = 0
    errors: list[str] = []
    start = time.monotonic()
    tick = 0.05
    while time.monotonic() - start < seconds:
        batch = [
            NewFile(
                local_path=f"/data/{done + i}.g3",
                archive_name=("timestreams", "smurf")[(done + i) % 2],
                remote_path=f"17320/s/{done + i}.g3",
                timestamp=time.time(),
            )
            for i in range(int(rate * tick))
        ]
        try:
            made = db.write(lambda s: files.register(s, batch))
            db.write(
                lambda s: files.record_checksums(
                    s, [Checksum(id=r.id, md5=f"{r.id:032x}") for r in made]
                )
            )
            done += len(made)
        except DBAPIError as exc:
            errors.append(str(exc.orig))
        time.sleep(max(0.0, start + tick * (done / (rate * tick) + 1) - time.monotonic()))
    return {"inserted": done, "errors": errors}


def sync(db: Database, archive: str, seconds: float) -> dict:
    synced = removed = 0
    errors: list[str] = []
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        try:
            batch = db.read(lambda s: files.next_copy_batch(s, archive, 100, max_attempts=5))
            time.sleep(0.02)  # the copy itself: no transaction is open meanwhile
            now = time.time()
            db.write(
                lambda s: files.record_remote_checksums(
                    s, [(f.id, f.local_md5sum) for f in batch], now
                )
            )
            synced += len(batch)
            old = db.read(lambda s: files.deletable_files(s, archive, now - 0.5, 100))
            for f in old:
                db.write(lambda s, f=f: files.mark_removed(s, f.id, time.time()))
            removed += len(old)
            db.read(lambda s: files.archive_counts(s, archive))
        except DBAPIError as exc:
            errors.append(str(exc.orig))
        time.sleep(0.03)
    return {"synced": synced, "removed": removed, "errors": errors}


if __name__ == "__main__":
    role, url, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
    database = Database(url)
    if role == "monitor":
        summary = monitor(database, seconds)
    else:
        summary = sync(database, role.split(":", 1)[1], seconds)
    summary["lock_retries"] = database.stats.lock_retries
    print(json.dumps(summary))
