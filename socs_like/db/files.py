"""What the agents do to registered files, each as one short statement on an indexed path.

Every function takes an open :class:`~sqlalchemy.orm.Session` and runs inside the caller's
transaction, so a caller groups them as it needs (``db.write(lambda s: register(s, batch))``).
State changes go through these functions so that ``state`` always agrees with the columns it
summarises.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import and_, bindparam, func, select, update
from sqlalchemy.orm import Session

from socs_like.db.models import FileState, RegisteredFile, timecode_of

_IN_CHUNK = 500  # bound the size of IN (...) lists


@dataclass(frozen=True, kw_only=True)
class NewFile:
    """A file to register. ``local_md5sum`` may be given when the caller already knows it
    (e.g. a file it just wrote); otherwise the row waits in ``pending`` for a checksum."""

    local_path: str
    archive_name: str
    remote_path: str
    timestamp: float
    deletable: bool = True
    local_md5sum: str | None = None
    local_size: int | None = None
    local_mtime: float | None = None


@dataclass(frozen=True, kw_only=True)
class Checksum:
    """The outcome of hashing a registered file: ``md5`` or an ``error``."""

    id: int
    md5: str | None
    size: int | None = None
    mtime: float | None = None
    error: str | None = None


@dataclass(frozen=True, kw_only=True)
class Registered:
    """One row created by :func:`register`."""

    id: int
    local_path: str


def register(session: Session, files: Sequence[NewFile]) -> list[Registered]:
    """Insert the files not already registered (same archive and path, not removed).

    Duplicates within ``files`` and against the table are skipped, so a repeated
    announcement or a rescan is harmless. Returns the rows created, in input order.
    """
    unique: dict[tuple[str, str], NewFile] = {}
    for f in files:
        unique.setdefault((f.archive_name, f.local_path), f)
    existing = _registered_keys(session, unique)
    fresh = [f for key, f in unique.items() if key not in existing]
    if not fresh:
        return []
    rows = [
        {
            "local_path": f.local_path,
            "archive_name": f.archive_name,
            "remote_path": f.remote_path,
            "timestamp": f.timestamp,
            "state": (FileState.PENDING if f.local_md5sum is None else FileState.QUEUED).value,
            "timecode": timecode_of(f.remote_path),
            "local_md5sum": f.local_md5sum,
            "local_size": f.local_size,
            "local_mtime": f.local_mtime,
            "failed_copy_attempts": 0,
            "deletable": f.deletable,
            "ignore": False,
        }
        for f in fresh
    ]
    # RETURNING the key (not relying on row order) lets SQLAlchemy send one multi-row INSERT
    # per batch on SQLite and PostgreSQL alike
    table = RegisteredFile.__table__
    made = session.execute(
        table.insert().returning(table.c.id, table.c.archive_name, table.c.local_path), rows
    ).tuples()
    ids = {(archive, path): i for i, archive, path in made}
    return [
        Registered(id=ids[(f.archive_name, f.local_path)], local_path=f.local_path) for f in fresh
    ]


def _registered_keys(
    session: Session, files: dict[tuple[str, str], NewFile]
) -> set[tuple[str, str]]:
    paths = sorted({path for _, path in files})
    found: set[tuple[str, str]] = set()
    for start in range(0, len(paths), _IN_CHUNK):
        chunk = paths[start : start + _IN_CHUNK]
        found.update(
            session.execute(
                select(RegisteredFile.archive_name, RegisteredFile.local_path).where(
                    RegisteredFile.local_path.in_(chunk),
                    RegisteredFile.state != FileState.REMOVED.value,
                )
            ).tuples()
        )
    return found


def pending_checksums(session: Session, limit: int, after_id: int = 0) -> list[Registered]:
    """Rows still waiting for a local checksum, oldest first (for restart recovery)."""
    rows = session.execute(
        select(RegisteredFile.id, RegisteredFile.local_path)
        .where(RegisteredFile.state == FileState.PENDING.value, RegisteredFile.id > after_id)
        .order_by(RegisteredFile.id)
        .limit(limit)
    ).tuples()
    return [Registered(id=i, local_path=p) for i, p in rows]


def max_pending_id(session: Session) -> int:
    """The newest row still waiting for a checksum (0 if none): where recovery stops."""
    return (
        session.scalar(
            select(func.max(RegisteredFile.id)).where(
                RegisteredFile.state == FileState.PENDING.value
            )
        )
        or 0
    )


def record_checksums(session: Session, results: Sequence[Checksum]) -> int:
    """Store checksums (or why they failed) for pending rows; returns rows updated.

    Only ``pending`` rows change, so a late result never overwrites a newer state.
    """
    done = [r for r in results if r.md5 is not None]
    failed = [r for r in results if r.md5 is None]
    updated = 0
    table = RegisteredFile.__table__
    for group, state in ((done, FileState.QUEUED), (failed, FileState.UNREADABLE)):
        if not group:
            continue
        params = [
            {
                "b_id": r.id,
                "b_md5": r.md5,
                "b_size": r.size,
                "b_mtime": r.mtime,
                "b_error": r.error,
            }
            for r in group
        ]
        stmt = (
            update(table)
            .where(table.c.id == bindparam("b_id"), table.c.state == FileState.PENDING.value)
            .values(
                state=state.value,
                local_md5sum=bindparam("b_md5"),
                local_size=bindparam("b_size"),
                local_mtime=bindparam("b_mtime"),
                checksum_error=bindparam("b_error"),
            )
        )
        updated += session.connection().execute(stmt, params).rowcount
    return updated


def next_copy_batch(
    session: Session, archive_name: str, limit: int, max_attempts: int
) -> list[RegisteredFile]:
    """The oldest files of an archive whose remote copy is missing or differs, not ignored
    and below the attempt limit."""
    return list(
        session.scalars(
            select(RegisteredFile)
            .where(
                RegisteredFile.state == FileState.QUEUED.value,
                RegisteredFile.archive_name == archive_name,
                RegisteredFile.ignore.is_(False),
                RegisteredFile.failed_copy_attempts < max_attempts,
            )
            .order_by(RegisteredFile.id)
            .limit(limit)
        )
    )


def record_remote_checksums(
    session: Session, checks: Sequence[tuple[int, str | None]], now: float
) -> None:
    """Store the remote md5 found for each (id, md5 or None) after a copy attempt.

    A match makes the file ``synced`` (verified now); anything else counts one failed
    attempt for that file only.
    """
    for file_id, remote_md5 in checks:
        row = session.get(RegisteredFile, file_id)
        if row is None or row.state == FileState.REMOVED.value:
            continue
        row.copied = now
        row.remote_md5sum = remote_md5
        if remote_md5 is not None and remote_md5 == row.local_md5sum:
            row.state = FileState.SYNCED.value
            row.verified = now
        else:
            row.state = FileState.QUEUED.value
            row.failed_copy_attempts += 1


def deletable_files(
    session: Session, archive_name: str, verified_before: float, limit: int
) -> list[RegisteredFile]:
    """Synced, deletable, not ignored files whose copy was verified before the cutoff."""
    return list(
        session.scalars(
            select(RegisteredFile)
            .where(
                RegisteredFile.archive_name == archive_name,
                RegisteredFile.state == FileState.SYNCED.value,
                RegisteredFile.verified < verified_before,
                RegisteredFile.deletable.is_(True),
                RegisteredFile.ignore.is_(False),
            )
            .order_by(RegisteredFile.verified)
            .limit(limit)
        )
    )


def mark_removed(session: Session, file_id: int, when: float) -> None:
    """The local copy is gone: ``when`` it was deleted, or 0 if it was already missing."""
    session.execute(
        update(RegisteredFile)
        .where(RegisteredFile.id == file_id)
        .values(state=FileState.REMOVED.value, removed=when)
    )


@dataclass(frozen=True, kw_only=True)
class ArchiveCounts:
    num_files: int
    uncopied_files: int
    by_state: dict[str, int]
    last_file_added: float | None
    last_file_copied: float | None


def archive_counts(session: Session, archive_name: str) -> ArchiveCounts:
    """Counts and times for ``archive_stats``, from indexes only (no table scan in Python)."""
    by_state = dict(
        session.execute(
            select(RegisteredFile.state, func.count())
            .where(RegisteredFile.archive_name == archive_name)
            .group_by(RegisteredFile.state)
        )
        .tuples()
        .all()
    )
    last_added = session.scalar(
        select(func.max(RegisteredFile.timestamp)).where(
            RegisteredFile.archive_name == archive_name
        )
    )
    last_copied = max(
        (
            v
            for v in (
                session.scalar(
                    select(func.max(RegisteredFile.verified)).where(
                        and_(
                            RegisteredFile.archive_name == archive_name,
                            RegisteredFile.state == state.value,
                        )
                    )
                )
                for state in (FileState.SYNCED, FileState.REMOVED)
            )
            if v is not None
        ),
        default=None,
    )
    return ArchiveCounts(
        num_files=sum(by_state.values()),
        uncopied_files=by_state.get(FileState.PENDING.value, 0)
        + by_state.get(FileState.QUEUED.value, 0),
        by_state=by_state,
        last_file_added=last_added,
        last_file_copied=last_copied,
    )
