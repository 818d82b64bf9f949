"""The default processing command: summarise a run folder into ``<out>/summary.json``.

A stand-in for a real reconstruction program, kept to the standard library so a job starts
fast: it reads every file (so a job costs I/O like a real one), counts files and bytes, and
writes the summary. Exit status 0, or 2 when the raw folder is missing.

    python -m socs_like_agents.run_pipeline.process_run RAW_DIR OUT_DIR
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time


def summarise(raw: str, out: str) -> dict[str, object]:
    files = 0
    size = 0
    digest = hashlib.sha256()
    for top, dirs, names in os.walk(raw):
        dirs.sort()
        for name in sorted(names):
            with open(os.path.join(top, name), "rb") as f:
                data = f.read()
            files += 1
            size += len(data)
            digest.update(data)
    summary = {"raw": raw, "files": files, "bytes": size, "sha256": digest.hexdigest()}
    os.makedirs(out, exist_ok=True)
    summary["finished"] = time.time()
    with open(os.path.join(out, "summary.json"), "w") as f:
        json.dump(summary, f)
    return summary


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: process_run RAW_DIR OUT_DIR", file=sys.stderr)
        return 2
    raw, out = args
    if not os.path.isdir(raw):
        print(f"raw folder {raw} not found", file=sys.stderr)
        return 2
    print(json.dumps(summarise(raw, out)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
