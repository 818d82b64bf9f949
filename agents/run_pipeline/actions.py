"""Operator actions on one run (``retry``, ``reprocess``, ``mark`` from a job), each one
compare-and-set through the store, refused with a clear reason when the run's state does not
allow it."""

from __future__ import annotations

from typing import Any

from . import states
from .errors import BadRequest
from .store import RunStore, RunView


def retry(store: RunStore, name: str, *, max_transfer_attempts: int) -> str:
    """Give a run that gave up another go: a failed job goes back to ``none`` (it will be
    submitted again), a run out of transfer attempts gets a fresh count."""
    run = store.get(name)
    if run.processed_status == states.FAILED:
        if store.change(
            name,
            run.status,
            (run.raw_status, states.NONE),
            "retry",
            actor="operator",
            message=f"after exit code {run.exit_code}",
            job_id=None,
        ):
            return f"{name}: will be processed again"
    elif run.raw_status == states.ACQUIRED and run.transfer_attempts >= max_transfer_attempts:
        if store.change(
            name, run.status, run.status, "retry", actor="operator", transfer_attempts=0
        ):
            return f"{name}: will be transferred again"
    else:
        raise BadRequest(
            f"{name} is {states.status_text(*run.status)}: nothing to retry "
            "(only failed jobs and runs out of transfer attempts are)"
        )
    raise BadRequest(f"{name} changed while retrying; look again")


def reprocess(store: RunStore, name: str) -> str:
    """Process a run again whose job ended (processed or failed) while its raw data is
    still on the cluster."""
    run = store.get(name)
    if run.raw_status != states.ONDECK or run.processed_status not in (
        states.PROCESSED,
        states.FAILED,
    ):
        raise BadRequest(
            f"{name} is {states.status_text(*run.status)}: only a run ondeck whose job "
            "ended can be reprocessed"
        )
    if not store.change(
        name, run.status, (states.ONDECK, states.NONE), "reprocess", actor="operator", job_id=None
    ):
        raise BadRequest(f"{name} changed while asking for reprocessing; look again")
    return f"{name}: will be processed again"


def mark(
    store: RunStore,
    name: str,
    status: str,
    *,
    attempt: int,
    job_id: str | None,
    exit_code: int | None,
    log_path: str | None,
) -> RunView:
    """What a job script reports: ``processing`` at its start, ``processed`` or ``failed``
    at its end. Refused (BadRequest) when the run is not where this job could have left it:
    another attempt, or a reset."""
    sources = states.MARKS.get(status)
    if sources is None:
        raise BadRequest(f"cannot mark {status!r}; one of {', '.join(states.MARKS)}")
    actor = f"job {job_id}" if job_id else "job"
    values: dict[str, Any] = {}
    if job_id:
        values["job_id"] = job_id
    if log_path:
        values["job_log"] = log_path
    if status != states.PROCESSING:
        values.update(exit_code=exit_code, owner=None)
    for source in sources:
        if store.change(
            name,
            (states.ONDECK, source),
            (states.ONDECK, status),
            "mark",
            at_attempt=attempt,
            actor=actor,
            code=exit_code,
            **values,
        ):
            return store.get(name)
    run = store.get(name)
    raise BadRequest(
        f"{name} is {states.status_text(*run.status)} at attempt {run.attempts}: "
        f"attempt {attempt} may not mark it {status}"
    )
