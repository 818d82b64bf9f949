"""Import the original's SQLite runs database (tables ``runs`` and ``logs``).

- Statuses keep their values. Claims and jobs the original held (``transferring``,
  ``queueing``, ``processing``) cannot be resumed from here: those runs come in at the state
  before (``acquired``, ``none``), with an event saying so.
- ``#DNT`` / ``#DNP`` in the comments become the ``do-not-transfer`` / ``do-not-process``
  tags; the comments are kept as they were.
- Each ``logs`` row becomes an event of its run (action ``legacy-log``), in table order.
- Runs already in our database are left alone (an import can be run again).
- The runs still to be transferred (``acquired``) must name their folder on the DAQ, as the
  transfer takes it: the original wrote the DAQ host's name instead (``zinc``). A host name
  given a DAQ folder (``--daq-folder zinc=/data/daq``) becomes ``/data/daq/<run>``; then every
  such location is checked against the DAQ roots as the transfer checks it. One that fails
  refuses the whole import, each location said once with its runs: refused now, it is
  mended with one more option, instead of failing every pass after.
"""

from __future__ import annotations

import posixpath
import sqlite3
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from sqlalchemy import insert

from socs_like.paths import PathRefused, Roots, check_name

from . import states
from .errors import PipelineError
from .store import NewRun, RunStore
from .tables import RunEvent

_RESUME = {states.TRANSFERRING: states.ACQUIRED}
_RESUME_PROCESSED = {states.QUEUEING: states.NONE, states.PROCESSING: states.NONE}


@dataclass(frozen=True)
class DaqFolders:
    """Where runs to transfer are on the DAQ: the folders the transfer takes them from
    (``--daq-root``), and the DAQ folder holding the run folders of each host name the
    original wrote as a location (``--daq-folder HOST=DIR``)."""

    roots: Roots
    hosts: Mapping[str, str] = field(default_factory=dict)

    def run_folder(self, name: str, location: str) -> str:
        """The folder of run ``name`` recorded at ``location``, as the transfer will accept
        it; ``PathRefused`` or ``PipelineError`` saying why not."""
        folder = self.hosts.get(location)
        if folder is not None:
            location = posixpath.join(folder, check_name(name, "run name"))
        elif location and "/" not in location:
            raise PipelineError(
                f"the DAQ host's name; give --daq-folder {location}=DIR, DIR the DAQ folder "
                "that holds their run folders"
            )
        return self.roots.check(location, what="raw location")


class ImportRefused(PipelineError):
    """Runs of the original's database that no pass could take; nothing was imported."""


@dataclass(frozen=True)
class ImportReport:
    runs: int
    logs: int
    skipped: int


def _tags(comments: str) -> frozenset[str]:
    return frozenset(tag for mark, tag in states.LEGACY_TAGS.items() if mark in comments)


def import_legacy(store: RunStore, path: str, daq: DaqFolders) -> ImportReport:
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = con.execute(
            "SELECT name, raw_status, raw_location, processed_status, events, source, "
            "raw_size, comments FROM runs ORDER BY rowid"
        ).fetchall()
        logs = con.execute("SELECT name, log FROM logs ORDER BY rowid").fetchall()
    finally:
        con.close()
    known = {r.name for r in store.named([str(row[0]) for row in rows])}  # left alone
    runs = []
    refused: dict[str, tuple[list[str], str]] = {}  # location -> its runs, why
    for name, raw, location, processed, events, source, size, comments in rows:
        raw = (raw or states.ACQUIRED).strip()
        raw = _RESUME.get(raw, raw if raw in states.RAW_STATUSES else states.ACQUIRED)
        processed = (processed or states.NONE).strip()
        comments = comments or ""
        location = location or ""
        if raw == states.ACQUIRED and str(name) not in known:
            try:
                location = daq.run_folder(str(name), location)
            except (PathRefused, PipelineError) as e:
                refused.setdefault(location, ([], str(e)))[0].append(str(name))
                continue
        runs.append(
            NewRun(
                name=str(name),
                raw_location=location,
                events=int(events or 0),
                source=source or "",
                raw_size=int(size or 0),
                tags=_tags(comments),
                comments=comments,
                raw_status=raw,
                processed_status=_RESUME_PROCESSED.get(
                    processed, processed if processed in states.PROCESSED_STATUSES else states.NONE
                ),
            )
        )
    if refused:
        raise ImportRefused(_refusal(path, refused))
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


def _refusal(path: str, refused: dict[str, tuple[list[str], str]]) -> str:
    plural = "s" if len(refused) > 1 else ""
    lines = [
        f"cannot import {path}, nothing imported: the acquired runs of {len(refused)} raw "
        f"location{plural} are not in run folders below a --daq-root:"
    ]
    for location, (names, why) in refused.items():
        shown = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
        runs = f"{len(names)} run{'s' if len(names) > 1 else ''}"
        lines.append(f"  {location!r} ({runs}: {shown}): {why}")
    return "\n".join(lines)
