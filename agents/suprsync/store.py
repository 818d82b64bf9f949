"""The SupRsync queries: each is one short statement on an index, for one archive only.

Every function takes an open SQLAlchemy session (the caller decides the transaction through
`socs_like.db.engine.Database.read`/`write`) and does no file or network I/O, so no write
transaction is ever held across an rsync or an ssh command. Every query names the archive:
two SupRsync instances on one database never touch each other's rows (failure 5 of the old
agent).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, bindparam, func, or_, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from socs_like.db.models import FileState, RegisteredFile, TimecodeDir

from .verdicts import BatchFile, FileResult, Verdict

F = RegisteredFile
UNSYNCED = (FileState.PENDING.value, FileState.QUEUED.value, FileState.UNREADABLE.value)
_CHUNK = 500


def _chunks(items: list, size: int = _CHUNK) -> Iterable[list]:
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


def record_batch(s: Session, batch: list[BatchFile], results: list[FileResult], now: float) -> None:
    """Write each file's verdict. A row whose checksum changed since the batch was chosen
    (a recheck re-hashed it) is left alone: its verdict is about content it no longer has."""
    md5_of = {f.id: f.local_md5sum for f in batch}
    verified = [
        {"b_id": r.id, "b_md5": md5_of[r.id], "b_remote": r.remote_md5sum}
        for r in results
        if r.verdict is Verdict.VERIFIED
    ]
    failed = [
        {"b_id": r.id, "b_md5": md5_of[r.id], "b_remote": r.remote_md5sum}
        for r in results
        if r.failed_attempt and r.sent
    ]
    unsent = [{"b_id": r.id, "b_md5": md5_of[r.id]} for r in results if not r.sent]
    unchecked = [
        {"b_id": r.id, "b_md5": md5_of[r.id]} for r in results if r.verdict is Verdict.UNCHECKED
    ]
    same_row = and_(
        F.id == bindparam("b_id"),
        F.local_md5sum == bindparam("b_md5"),
        F.state == FileState.QUEUED.value,
    )
    table = F.__table__
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
            update(F.__table__)
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
    return list(timecodes), last_id


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
    return result.rowcount


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
        total += s.execute(
            update(F).where(F.archive_name == archive, F.id.in_(chunk)).values(ignore=ignore)
        ).rowcount
    for chunk in _chunks(paths):
        total += s.execute(
            update(F)
            .where(F.archive_name == archive, F.local_path.in_(chunk))
            .values(ignore=ignore)
        ).rowcount
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
