"""Import the original's SQLite runs database (tables ``runs`` and ``logs``).

- Statuses keep their values. Claims and jobs the original held (``transferring``,
  ``queueing``, ``processing``) cannot be resumed from here: those runs come in at the state
  before (``acquired``, ``none``), with an event saying so.
- ``#DNT`` / ``#DNP`` in the comments become the ``do-not-transfer`` / ``do-not-process``
  tags; the comments are kept as they were.
- Each ``logs`` row becomes an event of its run (action ``legacy-log``), in table order.
- Runs already in our database are left alone (an import can be run again).
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass

from sqlalchemy import insert

from . import states
from .store import NewRun, RunStore
from .tables import RunEvent

_RESUME = {states.TRANSFERRING: states.ACQUIRED}
_RESUME_PROCESSED = {states.QUEUEING: states.NONE, states.PROCESSING: states.NONE}


@dataclass(frozen=True)
class ImportReport:
    runs: int
    logs: int
    skipped: int


def _tags(comments: str) -> frozenset[str]:
    return frozenset(tag for mark, tag in states.LEGACY_TAGS.items() if mark in comments)


def import_legacy(store: RunStore, path: str) -> ImportReport:
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = con.execute(
            "SELECT name, raw_status, raw_location, processed_status, events, source, "
            "raw_size, comments FROM runs ORDER BY rowid"
        ).fetchall()
        logs = con.execute("SELECT name, log FROM logs ORDER BY rowid").fetchall()
    finally:
        con.close()
    runs = []
    for name, raw, location, processed, events, source, size, comments in rows:
        raw = (raw or states.ACQUIRED).strip()
        processed = (processed or states.NONE).strip()
        comments = comments or ""
        runs.append(
            NewRun(
                name=str(name),
                raw_location=location or "",
                events=int(events or 0),
                source=source or "",
                raw_size=int(size or 0),
                tags=_tags(comments),
                comments=comments,
                raw_status=_RESUME.get(raw, raw if raw in states.RAW_STATUSES else states.ACQUIRED),
                processed_status=_RESUME_PROCESSED.get(
                    processed, processed if processed in states.PROCESSED_STATUSES else states.NONE
                ),
            )
        )
    added = store.add(runs, action="imported")
    names = {r.name for r in runs}
    now = time.time()
    events = [
        {
            "run": str(name),
            "time": now,
            "actor": "legacy",
            "action": "legacy-log",
            "message": text or "",
        }
        for name, text in logs
        if str(name) in names
    ]
    if events:
        store.db.write(lambda s: s.execute(insert(RunEvent), events))
    return ImportReport(runs=added, logs=len(events), skipped=len(runs) - added)
