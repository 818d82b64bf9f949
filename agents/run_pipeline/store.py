"""The only code that writes the runs database: inserts, compare-and-set status changes,
and the event log, each in one short transaction.

Every status change is one ``UPDATE ... WHERE name = ? AND raw_status = ? AND
processed_status = ?`` plus its event row, committed together: the caller learns from the
row count whether it won the run. Nothing here runs a command or touches a file; callers
read, act, then record the outcome in a new transaction (never holding one across I/O).
All methods block: call them from a worker thread.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import KW_ONLY, dataclass, fields
from typing import Any

from sqlalchemy import and_, func, insert, or_, select, update
from sqlalchemy.orm import Session

from socs_like.db import Database

from . import states
from .errors import RunNotFound
from .tables import Run, RunEvent

Status = tuple[str, str]  # (raw_status, processed_status)


class _NotAll(Exception):
    """One run of :meth:`RunStore.change_all` was not where expected: roll all back."""


def actor_id() -> str:
    """This process, as claims and events name it: ``host:pid``."""
    return f"{socket.gethostname()}:{os.getpid()}"


def owner_alive(owner: str | None) -> bool | None:
    """True/False for an owner on this host (its process exists or not); None when the owner
    is on another host (we cannot tell: the claim's age decides)."""
    if not owner:
        return False
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return None
    return os.path.exists(f"/proc/{pid}")


@dataclass(frozen=True, kw_only=True)
class RunView:
    """A run as read from the database (a snapshot; change it through the store)."""

    name: str
    raw_status: str
    raw_location: str
    processed_status: str
    events: int
    source: str
    raw_size: int
    tags: str
    comments: str
    job_id: str | None
    job_log: str | None
    exit_code: int | None
    attempts: int
    transfer_attempts: int
    owner: str | None
    since: float
    archive_md5: str | None
    bundle: str | None
    created: float

    @property
    def status(self) -> Status:
        return (self.raw_status, self.processed_status)

    @classmethod
    def of(cls, row: Run) -> RunView:
        return cls(**{f.name: getattr(row, f.name) for f in fields(cls)})

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True, kw_only=True)
class EventView:
    run: str
    time: float
    actor: str
    action: str
    from_status: str | None
    to_status: str | None
    exit_code: int | None
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True, kw_only=True)
class NewRun:
    """What the DAQ knows at the end of a run."""

    name: str
    raw_location: str  # host:path on the DAQ (or a path on the pipeline host)
    events: int = 0
    source: str = ""
    raw_size: int = 0
    tags: frozenset[str] = frozenset()
    comments: str = ""
    raw_status: str = states.ACQUIRED
    processed_status: str = states.NONE


@dataclass(frozen=True)
class Due:
    """The runs one step of a pass takes: in ``raw_status`` (and ``processed_status``, or one
    of several), only those named ``only`` when given, without the tag ``without_tag``, with
    fewer than ``max_transfer_attempts`` failed transfers."""

    raw_status: str
    processed_status: str | Sequence[str] | None = None
    _: KW_ONLY
    only: Sequence[str] | None = None
    without_tag: str | None = None
    max_transfer_attempts: int | None = None

    def where(self) -> Any:
        conditions: list[Any] = [Run.raw_status == self.raw_status]
        if isinstance(self.processed_status, str):
            conditions.append(Run.processed_status == self.processed_status)
        elif self.processed_status is not None:
            conditions.append(Run.processed_status.in_(list(self.processed_status)))
        if self.only is not None:
            conditions.append(Run.name.in_(list(self.only)))
        if self.without_tag is not None:
            conditions.append((" " + Run.tags + " ").not_like(f"% {self.without_tag} %"))
        if self.max_transfer_attempts is not None:
            conditions.append(Run.transfer_attempts < self.max_transfer_attempts)
        return and_(*conditions)


def _claimed() -> Any:
    """Runs held by a claim, or waiting on a job."""
    return or_(
        Run.raw_status.in_(list(states.CLAIM_FALLBACK)),
        Run.processed_status.in_([states.QUEUEING, states.PROCESSING]),
    )


def _uncleaned() -> Any:
    """Archived runs whose files the pipeline may still have to remove (see :mod:`.states`)."""
    return and_(Run.raw_status == states.ARCHIVED, Run.owner.is_not(None))


class RunStore:
    """Reads and atomic writes of runs, on behalf of ``actor``."""

    def __init__(self, db: Database, actor: str | None = None) -> None:
        self.db = db
        self.actor = actor or actor_id()

    # --- writes -------------------------------------------------------------------------

    def add(self, runs: Iterable[NewRun], *, action: str = "acquired") -> int:
        """Insert runs not yet known (a known name is left alone); returns how many were new."""
        batch = list(runs)
        now = time.time()

        def work(s: Session) -> int:
            names = [r.name for r in batch]
            known = set(s.scalars(select(Run.name).where(Run.name.in_(names)))) if names else set()
            fresh = [r for r in batch if r.name not in known]
            if not fresh:
                return 0
            s.execute(
                insert(Run),
                [
                    {
                        "name": r.name,
                        "raw_status": r.raw_status,
                        "raw_location": r.raw_location,
                        "processed_status": r.processed_status,
                        "events": r.events,
                        "source": r.source,
                        "raw_size": r.raw_size,
                        "tags": states.tags_text(sorted(r.tags)),
                        "comments": r.comments,
                        "attempts": 0,
                        "transfer_attempts": 0,
                        "since": now,
                        "created": now,
                    }
                    for r in fresh
                ],
            )
            s.execute(
                insert(RunEvent),
                [
                    {
                        "run": r.name,
                        "time": now,
                        "actor": self.actor,
                        "action": action,
                        "to_status": states.status_text(r.raw_status, r.processed_status),
                        "message": r.raw_location,
                    }
                    for r in fresh
                ],
            )
            return len(fresh)

        return self.db.write(work)

    def change(
        self,
        name: str,
        expect: Status,
        to: Status,
        action: str,
        *,
        message: str = "",
        code: int | None = None,
        at_attempt: int | None = None,
        actor: str | None = None,
        **values: Any,
    ) -> bool:
        """Move ``name`` from ``expect`` to ``to`` if, and only if, it is in ``expect`` (and,
        given ``at_attempt``, at that attempt); set the columns in ``values`` and log the
        event (with ``code``, a command's exit status) in the same transaction. True when this
        call made the change."""
        return self.db.write(
            lambda s: self._change(
                s, name, expect, to, action, message, code, at_attempt, actor, values
            )
        )

    def change_all(
        self,
        moves: Sequence[tuple[str, Status, Status]],
        action: str,
        *,
        message: str = "",
        each: Mapping[str, Mapping[str, Any]] | None = None,
        **values: Any,
    ) -> bool:
        """:meth:`change` for several runs (``(name, expect, to)`` each) in one transaction:
        all of them move, or none does (False). ``each`` adds columns for some runs."""

        def work(s: Session) -> bool:
            for name, expect, to in moves:
                mine = {**values, **(each or {}).get(name, {})}
                if not self._change(s, name, expect, to, action, message, None, None, None, mine):
                    raise _NotAll
            return True

        try:
            return self.db.write(work)
        except _NotAll:
            return False

    def _change(
        self,
        s: Session,
        name: str,
        expect: Status,
        to: Status,
        action: str,
        message: str,
        code: int | None,
        at_attempt: int | None,
        actor: str | None,
        values: Mapping[str, Any],
    ) -> bool:
        now = time.time()
        conditions = [
            Run.name == name,
            Run.raw_status == expect[0],
            Run.processed_status == expect[1],
        ]
        if at_attempt is not None:
            conditions.append(Run.attempts == at_attempt)
        result = s.execute(
            update(Run)
            .where(*conditions)
            .values(raw_status=to[0], processed_status=to[1], since=now, **values)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            return False
        s.add(
            RunEvent(
                run=name,
                time=now,
                actor=actor or self.actor,
                action=action,
                from_status=states.status_text(*expect),
                to_status=states.status_text(*to),
                exit_code=code,
                message=message,
            )
        )
        return True

    def cleaned(self, names: Sequence[str], message: str) -> None:
        """What archived runs no longer need is removed: their owner lets go of them."""
        now = time.time()

        def work(s: Session) -> None:
            done = s.scalars(
                update(Run)
                .where(Run.name.in_(list(names)), _uncleaned())
                .values(owner=None)
                .returning(Run.name)
                .execution_options(synchronize_session=False)
            ).all()
            s.add_all(
                RunEvent(run=name, time=now, actor=self.actor, action="cleaned", message=message)
                for name in done
            )

        self.db.write(work)

    def set_job_id(self, name: str, attempt: int, job_id: str) -> bool:
        """Record the id the scheduler gave attempt ``attempt`` (whatever the job has marked
        since: it may have started already)."""

        def work(s: Session) -> bool:
            result = s.execute(
                update(Run)
                .where(Run.name == name, Run.attempts == attempt)
                .values(job_id=job_id)
                .execution_options(synchronize_session=False)
            )
            return bool(result.rowcount == 1)  # type: ignore[attr-defined]

        return self.db.write(work)

    def note(self, name: str, action: str, message: str, *, code: int | None = None) -> None:
        """An event without a status change (a failed command that will be retried, say)."""

        def work(s: Session) -> None:
            s.add(
                RunEvent(
                    run=name,
                    time=time.time(),
                    actor=self.actor,
                    action=action,
                    exit_code=code,
                    message=message,
                )
            )

        self.db.write(work)

    def set_tags(self, name: str, add: Iterable[str], remove: Iterable[str]) -> str:
        """Add and remove tags; returns the run's tags afterwards."""

        def work(s: Session) -> str:
            row = s.get(Run, name, with_for_update=True)
            if row is None:
                raise RunNotFound(name)
            tags = (states.tags_of(row.tags) | set(add)) - set(remove)
            row.tags = states.tags_text(sorted(tags))
            s.add(
                RunEvent(
                    run=name,
                    time=time.time(),
                    actor=self.actor,
                    action="tag",
                    message=f"tags: {row.tags or '(none)'}",
                )
            )
            return row.tags

        return self.db.write(work)

    # --- reads --------------------------------------------------------------------------

    def get(self, name: str) -> RunView:
        row = self.db.read(lambda s: s.get(Run, name))
        if row is None:
            raise RunNotFound(name)
        return RunView.of(row)

    def due(self, due: Due, *, limit: int = 100) -> list[RunView]:
        """The runs ``due`` names, oldest name first (an indexed range: cheap on a large
        table)."""
        query = select(Run).where(due.where()).order_by(Run.name).limit(limit)
        return [RunView.of(r) for r in self.db.read(lambda s: list(s.scalars(query)))]

    def anything(self, due: Sequence[Due], *, uncleaned: bool) -> bool:
        """Whether a pass has something to do: a run claimed or waiting on a job (for
        recovery), due for one of ``due``, or (``uncleaned``) archived but maybe not cleaned
        after. One query, so that a pass with nothing to do ends there."""
        wanted = [_claimed(), *(d.where() for d in due), *([_uncleaned()] if uncleaned else [])]
        query = select(Run.name).where(or_(*wanted)).limit(1)
        return self.db.read(lambda s: s.scalar(query)) is not None

    def named(self, names: Sequence[str]) -> list[RunView]:
        """The runs of these names that exist."""
        return self._where_in(Run.name, names)

    def in_bundles(self, bundles: Sequence[str]) -> list[RunView]:
        """The runs recorded in these bundles. Not indexed: for recovery and cleaning, which
        ask only after something went wrong."""
        return self._where_in(Run.bundle, bundles)

    def _where_in(self, column: Any, values: Sequence[str]) -> list[RunView]:
        out: list[RunView] = []
        # a few hundred at a time: a database takes only so many parameters in one query
        for i in range(0, len(values), 500):
            query = select(Run).where(column.in_(list(values[i : i + 500]))).order_by(Run.name)

            def work(s: Session, query: Any = query) -> list[Run]:
                return list(s.scalars(query))

            out += [RunView.of(r) for r in self.db.read(work)]
        return out

    def claims(self) -> list[RunView]:
        """Runs held by a claim, or waiting on a job: what :meth:`Pipeline.recover` checks."""
        query = select(Run).where(_claimed())
        return [RunView.of(r) for r in self.db.read(lambda s: list(s.scalars(query)))]

    def uncleaned(self) -> list[RunView]:
        """Archived runs not yet known cleaned after: a pass died before it removed their
        files, or that removal failed."""
        query = select(Run).where(_uncleaned()).order_by(Run.name)
        return [RunView.of(r) for r in self.db.read(lambda s: list(s.scalars(query)))]

    def counts(self) -> dict[str, int]:
        """Runs per raw status and per processed status (``raw_<s>``, ``processed_<s>``)."""

        def work(s: Session) -> dict[str, int]:
            out = {f"raw_{x}": 0 for x in states.RAW_STATUSES}
            out.update({f"processed_{x}": 0 for x in states.PROCESSED_STATUSES})
            rows = s.execute(
                select(Run.raw_status, Run.processed_status, func.count()).group_by(
                    Run.raw_status, Run.processed_status
                )
            )
            for raw, processed, n in rows:
                out[f"raw_{raw}"] = out.get(f"raw_{raw}", 0) + n
                out[f"processed_{processed}"] = out.get(f"processed_{processed}", 0) + n
            return out

        return self.db.read(work)

    def listing(
        self, *, status: str | None = None, limit: int = 100, after: str = ""
    ) -> list[RunView]:
        """Runs by name, optionally in one raw or processed status."""
        query = select(Run).where(Run.name > after)
        if status is not None:
            query = query.where(or_(Run.raw_status == status, Run.processed_status == status))
        query = query.order_by(Run.name).limit(limit)
        return [RunView.of(r) for r in self.db.read(lambda s: list(s.scalars(query)))]

    def history(self, name: str) -> list[EventView]:
        query = select(RunEvent).where(RunEvent.run == name).order_by(RunEvent.id)
        rows = self.db.read(lambda s: list(s.scalars(query)))
        return [EventView(**{f.name: getattr(r, f.name) for f in fields(EventView)}) for r in rows]

    def events_after(self, after: int, limit: int = 500) -> list[tuple[int, EventView]]:
        """Events with an id above ``after``, oldest first, with their ids (for a feed)."""
        query = select(RunEvent).where(RunEvent.id > after).order_by(RunEvent.id).limit(limit)
        rows = self.db.read(lambda s: list(s.scalars(query)))
        return [
            (r.id, EventView(**{f.name: getattr(r, f.name) for f in fields(EventView)}))
            for r in rows
        ]

    def last_event_id(self) -> int:
        return self.db.read(lambda s: int(s.scalar(select(func.max(RunEvent.id))) or 0))

    def count_events(self, action: str, run: str | None = None) -> int:
        query = select(func.count()).select_from(RunEvent).where(RunEvent.action == action)
        if run is not None:
            query = query.where(RunEvent.run == run)
        return self.db.read(lambda s: int(s.scalar(query) or 0))
