"""The file database's queries: every one the pysmurf monitor and SupRsync run, and no other.

Each is one short statement (or a few) on an index. Every function takes an open SQLAlchemy
session, so the caller decides the transaction through
:meth:`socs_like.db.Database.read`/:meth:`~socs_like.db.Database.write`, and none does file or
network I/O, so no write transaction is ever held across an rsync, an ssh command or a hash.
State changes go through these functions so that ``state`` always agrees with the columns it
summarises.

- Registration (the monitor, and SupRsync for its finalization files): :func:`register`,
  :func:`pending_checksums`, :func:`max_pending_id`, :func:`record_checksums`.
- Copying, deleting, timecode dirs, statistics and operator tasks (SupRsync): every such query
  names the archive, so two SupRsync instances on one database never touch each other's rows
  (failure 5 of the old agent).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, cast

from sqlalchemy import CursorResult, Table, and_, bindparam, func, or_, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from .models import FileState, RegisteredFile, TimecodeDir, timecode_of

F = RegisteredFile
# the Core table, for bulk statements with bound parameters per row
FILES = cast(Table, RegisteredFile.__table__)
UNSYNCED = (FileState.PENDING.value, FileState.QUEUED.value, FileState.UNREADABLE.value)
_CHUNK = 500  # bound the size of IN (...) lists


# -- registration --------------------------------------------------------------------------


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
    table = FILES
    made = session.execute(
        table.insert().returning(table.c.id, table.c.archive_name, table.c.local_path), rows
    )
    ids = {(archive, path): i for i, archive, path in made}
    return [
        Registered(id=ids[(f.archive_name, f.local_path)], local_path=f.local_path) for f in fresh
    ]


def _registered_keys(
    session: Session, files: dict[tuple[str, str], NewFile]
) -> set[tuple[str, str]]:
    paths = sorted({path for _, path in files})
    found: set[tuple[str, str]] = set()
    for start in range(0, len(paths), _CHUNK):
        chunk = paths[start : start + _CHUNK]
        found.update(
            (archive, path)
            for archive, path in session.execute(
                select(RegisteredFile.archive_name, RegisteredFile.local_path).where(
                    RegisteredFile.local_path.in_(chunk),
                    RegisteredFile.state != FileState.REMOVED.value,
                )
            )
        )
    return found


def pending_checksums(session: Session, limit: int, after_id: int = 0) -> list[Registered]:
    """Rows still waiting for a local checksum, oldest first (for restart recovery)."""
    rows = session.execute(
        select(RegisteredFile.id, RegisteredFile.local_path)
        .where(RegisteredFile.state == FileState.PENDING.value, RegisteredFile.id > after_id)
        .order_by(RegisteredFile.id)
        .limit(limit)
    )
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
    table = FILES
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
        updated += _rowcount(session.connection().execute(stmt, params))
    return updated


def _rowcount(result: Any) -> int:
    """Rows an UPDATE matched (``execute`` is typed as returning a plain ``Result``)."""
    return int(cast(CursorResult[Any], result).rowcount)


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


# -- copying -------------------------------------------------------------------------------


def next_batch(s: Session, archive: str, max_attempts: int, limit: int | None) -> list[BatchFile]:
    """The oldest copyable files: queued, not ignored, below the attempt limit."""
    q = (
        select(F.id, F.local_path, F.local_md5sum, F.remote_path)
        .where(
            F.state == FileState.QUEUED.value,
            F.archive_name == archive,
            F.failed_copy_attempts < max_attempts,
            F.ignore.is_(False),
        )
        .order_by(F.id)
    )
    if limit:
        q = q.limit(limit)
    return [
        BatchFile(
            id=r.id, local_path=r.local_path, local_md5sum=r.local_md5sum, remote_path=r.remote_path
        )
        for r in s.execute(q)
    ]


@dataclass(frozen=True, kw_only=True)
class BatchFile:
    """A file chosen for copying: what the copy and its verification need."""

    id: int
    local_path: str
    local_md5sum: str
    remote_path: str


class CopyOutcome(Protocol):
    """What became of one file of a batch (SupRsync's ``verdicts.FileResult``)."""

    @property
    def id(self) -> int: ...
    @property
    def remote_md5sum(self) -> str | None: ...
    @property
    def verified(self) -> bool: ...
    @property
    def sent(self) -> bool: ...
    @property
    def failed_attempt(self) -> bool: ...
    @property
    def unchecked(self) -> bool: ...


def record_batch(
    s: Session, batch: Sequence[BatchFile], results: Sequence[CopyOutcome], now: float
) -> None:
    """Write each file's outcome. A row whose checksum changed since the batch was chosen
    (a recheck re-hashed it) is left alone: its outcome is about content it no longer has."""
    md5_of = {f.id: f.local_md5sum for f in batch}
    verified = [
        {"b_id": r.id, "b_md5": md5_of[r.id], "b_remote": r.remote_md5sum}
        for r in results
        if r.verified
    ]
    failed = [
        {"b_id": r.id, "b_md5": md5_of[r.id], "b_remote": r.remote_md5sum}
        for r in results
        if r.failed_attempt and r.sent
    ]
    unsent = [{"b_id": r.id, "b_md5": md5_of[r.id]} for r in results if not r.sent]
    unchecked = [{"b_id": r.id, "b_md5": md5_of[r.id]} for r in results if r.unchecked]
    same_row = and_(
        F.id == bindparam("b_id"),
        F.local_md5sum == bindparam("b_md5"),
        F.state == FileState.QUEUED.value,
    )
    table = FILES
    if verified:
        s.execute(
            update(table)
            .where(same_row)
            .values(
                state=FileState.SYNCED.value,
                remote_md5sum=bindparam("b_remote"),
                verified=now,
                copied=now,
            ),
            verified,
        )
    if failed:
        s.execute(
            update(table)
            .where(same_row)
            .values(
                remote_md5sum=bindparam("b_remote"),
                copied=now,
                failed_copy_attempts=F.failed_copy_attempts + 1,
            ),
            failed,
        )
    if unsent:
        s.execute(
            update(table).where(same_row).values(failed_copy_attempts=F.failed_copy_attempts + 1),
            unsent,
        )
    if unchecked:
        s.execute(update(table).where(same_row).values(copied=now), unchecked)


# -- deleting ------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Deletable:
    id: int
    local_path: str
    local_md5sum: str
    remote_path: str
    verified: float
    local_mtime: float | None


def deletion_candidates(
    s: Session, archive: str, verified_before: float, after: tuple[float, int], limit: int
) -> list[Deletable]:
    """Verified, deletable copies verified before a time, in (verified, id) order after a
    cursor, so rows kept longer by a rule are not re-read on every pass."""
    q = (
        select(F.id, F.local_path, F.local_md5sum, F.remote_path, F.verified, F.local_mtime)
        .where(
            F.archive_name == archive,
            F.state == FileState.SYNCED.value,
            F.verified < verified_before,
            tuple_(F.verified, F.id) > tuple_(*after),
            F.deletable.is_(True),
            F.ignore.is_(False),
        )
        .order_by(F.verified, F.id)
        .limit(limit)
    )
    return [Deletable(**r._asdict()) for r in s.execute(q)]


def mark_removed(s: Session, removed: dict[int, float]) -> None:
    """`removed[id]` is when the local copy was deleted, 0 when it was already gone."""
    if removed:
        s.execute(
            update(FILES)
            .where(F.id == bindparam("b_id"), F.state == FileState.SYNCED.value)
            .values(state=FileState.REMOVED.value, removed=bindparam("b_removed")),
            [{"b_id": i, "b_removed": t} for i, t in removed.items()],
        )


def requeue(s: Session, changes: dict[int, dict[str, Any]]) -> None:
    """Send files again: their remote copy went bad, or their local copy changed
    (`changes[id]` may carry new `local_md5sum`, `local_size`, `local_mtime`, `remote_md5sum`)."""
    for file_id, values in changes.items():
        s.execute(
            update(F)
            .where(F.id == file_id, F.state.in_((FileState.SYNCED.value, FileState.QUEUED.value)))
            .values(state=FileState.QUEUED.value, verified=None, failed_copy_attempts=0, **values)
        )


def set_local_stat(s: Session, stats: dict[int, dict[str, Any]]) -> None:
    """Record size and mtime of files found unchanged, so they are not re-hashed again."""
    for file_id, values in stats.items():
        s.execute(update(F).where(F.id == file_id).values(**values))


# -- timecode dirs -------------------------------------------------------------------------


def new_timecodes(s: Session, archive: str, after_id: int) -> tuple[list[int], int]:
    """Timecodes of the archive's files registered after id `after_id`, and the last id seen.

    A range scan on the primary key, so it costs what was registered since the last pass.
    """
    last_id = s.scalar(select(func.max(F.id)).where(F.id > after_id)) or after_id
    timecodes = s.scalars(
        select(F.timecode)
        .where(F.id > after_id, F.id <= last_id, F.archive_name == archive, F.timecode.is_not(None))
        .distinct()
    ).all()
    return [tc for tc in timecodes if tc is not None], last_id


def add_timecode_dirs(s: Session, archive: str, timecodes: list[int]) -> None:
    """Create the archive's timecode dirs that do not exist yet."""
    if timecodes:
        dialect = postgresql if s.get_bind().dialect.name == "postgresql" else sqlite
        s.execute(
            dialect.insert(TimecodeDir)
            .values(
                [
                    {
                        "timecode": tc,
                        "archive_name": archive,
                        "completed": False,
                        "synced": False,
                        "finalized": False,
                    }
                    for tc in timecodes
                ]
            )
            .on_conflict_do_nothing(index_elements=["archive_name", "timecode"])
        )


def open_timecode_dirs(s: Session, archive: str) -> tuple[list[TimecodeDir], int | None]:
    """This archive's dirs not yet finalized, and its newest timecode."""
    newest = s.scalar(
        select(func.max(TimecodeDir.timecode)).where(TimecodeDir.archive_name == archive)
    )
    dirs = s.scalars(
        select(TimecodeDir)
        .where(TimecodeDir.archive_name == archive, TimecodeDir.finalized.is_(False))
        .order_by(TimecodeDir.timecode)
    ).all()
    return list(dirs), newest


def timecode_unsynced(s: Session, archive: str, timecode: int) -> bool:
    return (
        s.scalar(
            select(F.id)
            .where(
                F.archive_name == archive,
                F.timecode == timecode,
                F.state.in_(UNSYNCED),
                F.ignore.is_(False),
            )
            .limit(1)
        )
        is not None
    )


def timecode_remote_paths(s: Session, archive: str, timecode: int) -> list[str]:
    return list(
        s.scalars(select(F.remote_path).where(F.archive_name == archive, F.timecode == timecode))
    )


def set_timecode_state(s: Session, tcdir_id: int, **values: Any) -> None:
    s.execute(update(TimecodeDir).where(TimecodeDir.id == tcdir_id).values(**values))


# -- statistics ----------------------------------------------------------------------------


def finalized_until(s: Session, archive: str, now: float) -> float:
    """Every file registered before this time is verified or ignored."""
    # One equality query per state, and min(timestamp + 0) rather than min(timestamp): both
    # keep SQLite's planner on the (archive, state) index, i.e. on the few unsynced rows. A
    # bare min() would walk the timestamp index from the oldest row through every synced
    # file, and `state IN (...)` may make it give up the index altogether.
    oldest = [
        s.scalar(
            select(func.min(F.timestamp + 0)).where(
                F.archive_name == archive, F.state == state, F.ignore.is_(False)
            )
        )
        for state in UNSYNCED
    ]
    known = [t for t in oldest if t is not None]
    return min(known) - 1 if known else now


def count_files(s: Session, archive: str, after_id: int) -> tuple[int, int]:
    """(files of the archive registered after id `after_id`, the last id counted).

    Rows are never deleted, so a running total plus this count of new rows (a range scan on
    the primary key) is the archive's size, without counting it all again each minute.
    """
    last_id = s.scalar(select(func.max(F.id))) or after_id
    n = s.scalar(
        select(func.count())
        .select_from(F)
        .where(F.id > after_id, F.id <= last_id, F.archive_name == archive)
    )
    return n or 0, last_id


def archive_stats(s: Session, archive: str, now: float, num_files: int) -> dict[str, Any]:
    """The `archive_stats` feed: a few indexed aggregates, never a scan in Python."""
    uncopied = sum(
        s.scalar(
            select(func.count())
            .select_from(F)
            .where(F.archive_name == archive, F.state == state, F.ignore.is_(False))
        )
        or 0
        for state in UNSYNCED
    )
    last_added = s.scalar(
        select(F.local_path).where(F.archive_name == archive).order_by(F.timestamp.desc()).limit(1)
    )
    last_copied = None
    newest = None
    for state in (FileState.SYNCED.value, FileState.REMOVED.value):
        row = s.execute(
            select(F.local_path, F.verified)
            .where(F.archive_name == archive, F.state == state, F.verified.is_not(None))
            .order_by(F.verified.desc())
            .limit(1)
        ).first()
        if row is not None and (newest is None or row.verified > newest):
            last_copied, newest = row.local_path, row.verified
    return {
        "finalized_until": finalized_until(s, archive, now),
        "num_files": num_files,
        "uncopied_files": uncopied,
        "last_file_added": last_added or "",
        "last_file_copied": last_copied or "",
    }


# -- operator tasks ------------------------------------------------------------------------


def reset_failed(s: Session, archive: str, max_attempts: int) -> int:
    """Give files at or over the attempt limit a fresh start; returns how many."""
    result = s.execute(
        update(F)
        .where(
            F.state == FileState.QUEUED.value,
            F.archive_name == archive,
            F.failed_copy_attempts >= max_attempts,
        )
        .values(failed_copy_attempts=0)
    )
    return _rowcount(result)


def mismatched(s: Session, archive: str, limit: int) -> list[dict[str, Any]]:
    """Queued files that have failed at least once: what went wrong so far."""
    rows = s.execute(
        select(
            F.id,
            F.local_path,
            F.remote_path,
            F.local_md5sum,
            F.remote_md5sum,
            F.failed_copy_attempts,
            F.copied,
            F.ignore,
        )
        .where(
            F.state == FileState.QUEUED.value,
            F.archive_name == archive,
            or_(F.failed_copy_attempts > 0, F.remote_md5sum.is_not(None)),
        )
        .order_by(F.id)
        .limit(limit)
    )
    return [r._asdict() for r in rows]


def set_ignore(s: Session, archive: str, ids: list[int], paths: list[str], ignore: bool) -> int:
    total = 0
    for chunk in _chunks(ids):
        total += _rowcount(
            s.execute(
                update(F).where(F.archive_name == archive, F.id.in_(chunk)).values(ignore=ignore)
            )
        )
    for chunk in _chunks(paths):
        total += _rowcount(
            s.execute(
                update(F)
                .where(F.archive_name == archive, F.local_path.in_(chunk))
                .values(ignore=ignore)
            )
        )
    return total


@dataclass(frozen=True, kw_only=True)
class LocalCopy:
    id: int
    local_path: str
    local_md5sum: str
    local_size: int | None
    local_mtime: float | None


def recheck_candidates(
    s: Session, archive: str, after_id: int, limit: int, only_failed: bool
) -> list[LocalCopy]:
    """Files whose local copy is still expected to be there (queued or synced), by id."""
    q = select(F.id, F.local_path, F.local_md5sum, F.local_size, F.local_mtime).where(
        F.state.in_((FileState.QUEUED.value, FileState.SYNCED.value)),
        F.archive_name == archive,
        F.id > after_id,
    )
    if only_failed:
        q = q.where(F.state == FileState.QUEUED.value, F.failed_copy_attempts > 0)
    return [LocalCopy(**r._asdict()) for r in s.execute(q.order_by(F.id).limit(limit))]
