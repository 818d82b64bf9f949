"""Job bookkeeping from DiFX status documents, sans-I/O: progress and the per-job table.

Progress rule (as DiFX's own monitors compute it): (visibilityMJD − jobstartMJD) /
(jobstopMJD − jobstartMJD) when all three are present and the span is positive, clamped to
0..100 %; otherwise Done/MpiDone are 100 %, Ending keeps the last known value, and every
other state is 0 %.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from .messages import AlertMessage, StatusMessage


def progress_percent(msg: StatusMessage, last: float | None = None) -> float:
    v, start, stop = msg.visibility_mjd, msg.job_start_mjd, msg.job_stop_mjd
    if v is not None and start is not None and stop is not None and stop > start and v > 0:
        return min(100.0, max(0.0, 100.0 * (v - start) / (stop - start)))
    if msg.state in ("Done", "MpiDone"):
        return 100.0
    if msg.state == "Ending":
        return last if last is not None else 0.0
    return 0.0


def job_name(msg: StatusMessage | AlertMessage) -> str:
    """The job a document is about: its identifier, else the basename of its input file."""
    if msg.header.identifier:
        return msg.header.identifier
    base = (msg.input_file or "").rsplit("/", 1)[-1]
    return base[:-6] if base.endswith(".input") else base


@dataclass(frozen=True, slots=True)
class JobRow:
    job: str
    state: str = ""
    progress: float = 0.0
    host: str = ""
    input_file: str | None = None
    last_alert: str | None = None
    last_alert_severity: str | None = None
    updated: float = 0.0

    def as_dict(self) -> dict[str, object]:
        return {
            "state": self.state,
            "progress": round(self.progress, 3),
            "host": self.host,
            "input": self.input_file,
            "last_alert": self.last_alert,
            "last_alert_severity": self.last_alert_severity,
            "updated": self.updated,
        }


class JobTable:
    """Latest state, progress and alert per job; bounded so a long run cannot grow it forever."""

    def __init__(self, max_jobs: int = 500) -> None:
        self._rows: dict[str, JobRow] = {}
        self._max_jobs = max_jobs

    def apply_status(self, msg: StatusMessage, now: float) -> JobRow:
        name = job_name(msg)
        row = self._rows.pop(name, None) or JobRow(job=name)
        # Wrapper messages (mpiProcessId −1) carry no MJDs: the spec's fallback rules apply.
        row = replace(
            row,
            state=msg.state,
            progress=progress_percent(msg, row.progress),
            host=msg.header.from_host,
            input_file=msg.input_file or row.input_file,
            updated=now,
        )
        self._store(name, row)
        return row

    def apply_alert(self, msg: AlertMessage, now: float) -> JobRow | None:
        name = job_name(msg)
        if not name:
            return None
        row = self._rows.pop(name, None) or JobRow(job=name)
        row = replace(
            row, last_alert=msg.message, last_alert_severity=msg.severity_name, updated=now
        )
        self._store(name, row)
        return row

    def get(self, name: str) -> JobRow | None:
        return self._rows.get(name)

    def as_dict(self) -> dict[str, dict[str, object]]:
        return {name: row.as_dict() for name, row in self._rows.items()}

    def _store(self, name: str, row: JobRow) -> None:
        self._rows[name] = row
        while len(self._rows) > self._max_jobs:
            del self._rows[next(iter(self._rows))]
