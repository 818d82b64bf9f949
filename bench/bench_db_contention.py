"""Benchmark: one SQLite file, a monitor-like writer at 200 rows/s and two SupRsync-like
writers, for --minutes (default 10; --quick: 30 s). Target: zero "database is locked".

Each writer is a separate process (tests/socs_like/db/concurrent_writer.py) using the same
`socs_like.db` engine and queries as the agents; every database error is counted.

    .venv/bin/python bench/bench_db_contention.py [--quick] [--minutes N]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
WRITER = ROOT / "tests" / "socs_like" / "db" / "concurrent_writer.py"

from socs_like.db import Database  # noqa: E402
from socs_like_agents.filedb.models import RegisteredFile  # noqa: E402
from socs_like_agents.filedb.schema import upgrade  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="30 s instead of --minutes")
    parser.add_argument("--minutes", type=float, default=10.0, help="duration (default 10)")
    args = parser.parse_args()
    seconds = 30.0 if args.quick else args.minutes * 60
    work = Path(tempfile.mkdtemp(prefix="bench-db-"))
    try:
        url = str(work / "suprsync.db")
        db = Database(url)
        upgrade(db)
        procs = [
            subprocess.Popen(
                [sys.executable, str(WRITER), role, url, str(seconds)],
                stdout=subprocess.PIPE,
                text=True,
                cwd=ROOT,
            )
            for role in ("monitor", "sync:timestreams", "sync:smurf")
        ]
        out = [json.loads(p.communicate()[0]) for p in procs]
        rows = db.read(lambda s: s.query(RegisteredFile).count())
        db.dispose()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    monitor, *syncers = out
    errors = len(monitor["errors"]) + sum(len(s["errors"]) for s in syncers)
    locked = sum("locked" in e for o in out for e in o["errors"])
    table = [
        ("duration (s)", f"{seconds:.0f}", ""),
        ("monitor rows inserted", f"{monitor['inserted']:,}", f"~{200 * seconds:,.0f}"),
        ("monitor rows/s", f"{monitor['inserted'] / seconds:,.0f}", "200"),
        ("rows in the table", f"{rows:,}", "= inserted"),
        ("files synced (2 writers)", f"{sum(s['synced'] for s in syncers):,}", ""),
        ("files removed (2 writers)", f"{sum(s['removed'] for s in syncers):,}", ""),
        ('"database is locked" errors', f"{locked}", "0"),
        ("other database errors", f"{errors - locked}", "0"),
        ("lock retries (absorbed)", f"{sum(o['lock_retries'] for o in out)}", ""),
    ]
    width = max(len(r[0]) for r in table)
    print(f"{'measure':<{width}}  {'value':>10}  target")
    for name, value, target in table:
        print(f"{name:<{width}}  {value:>10}  {target}")
    return 0 if errors == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
