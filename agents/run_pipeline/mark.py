"""``socs-like runs mark``: what a job script reports about its run (kept light: a job
runs it twice, so it imports only the database layer).

    python -m socs_like_agents.run_pipeline.mark --db-path DB RUN STATUS --attempt N
        [--job-id ID] [--exit-code N] [--log PATH]

Exit status 0 when recorded; 3 when the run is no longer this attempt's to mark (the job
script then does nothing); 2 for bad input or a database error.
"""

from __future__ import annotations

import argparse
import sys

from socs_like.ops import OpFailed

from .schema import add_db_argument


def parser(prog: str = "socs-like runs mark") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description="record what a processing job did")
    add_db_argument(p)
    p.add_argument("run")
    p.add_argument("status", choices=("processing", "processed", "failed"))
    p.add_argument("--attempt", type=int, required=True, help="the attempt the job belongs to")
    p.add_argument("--job-id", default=None)
    p.add_argument("--exit-code", type=int, default=None)
    p.add_argument("--log", default=None, help="the job's log file")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    from socs_like.db import Database

    from .actions import mark
    from .store import RunStore

    store = RunStore(Database(args.db_path), actor=f"job {args.job_id or '?'}")
    try:
        run = mark(
            store,
            args.run,
            args.status,
            attempt=args.attempt,
            job_id=args.job_id,
            exit_code=args.exit_code,
            log_path=args.log,
        )
    except OpFailed as e:
        print(f"socs-like runs mark: {e}", file=sys.stderr)
        return 3
    except Exception as e:
        print(f"socs-like runs mark: {type(e).__name__}: {e}", file=sys.stderr)
        return 2
    print(f"{run.name}: {run.raw_status}/{run.processed_status}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
