"""Typed tables for registered files and timecode directories.

The loops that read these tables (copy the next batch, delete verified copies, finalize a
timecode directory, publish archive statistics) each filter on a handful of columns; every
such filter is backed by an index, and the state a loop needs is a column rather than
something computed in Python over the whole archive:

- ``state`` is where a file is in its life (see :class:`FileState`). "Copied" in the old
  schema meant ``local_md5sum == remote_md5sum``; here that is ``state == 'synced'``, kept
  in step by the functions in :mod:`socs_like_agents.filedb.queries`.
- ``timecode`` is the 5-digit leading directory of ``remote_path`` (or NULL), so a timecode
  directory's completeness is one indexed lookup.
- ``verified`` is when the remote copy was last found identical, so the deletion delay runs
  from the verified copy, not from registration.

The column names the old ``socs`` table ``supersync_v0`` had keep their names and meaning.
"""

from __future__ import annotations

import enum

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

FILES_TABLE = "registered_files"
TIMECODE_TABLE = "timecode_dirs"


class FileState(enum.StrEnum):
    """Where a registered file is in its life. Transitions are one-way except
    ``synced -> queued`` (a remote copy found bad, or the local file changed)."""

    PENDING = "pending"  # row is durable; local checksum not computed yet
    UNREADABLE = "unreadable"  # checksum failed (file missing or unreadable): see checksum_error
    QUEUED = "queued"  # checksummed; the remote copy is missing or differs
    SYNCED = "synced"  # remote md5 == local md5
    REMOVED = "removed"  # local copy deleted (``removed`` holds when; 0 if already gone)


FILE_STATES = tuple(s.value for s in FileState)


def timecode_of(remote_path: str) -> int | None:
    """The 5-digit timecode directory a remote path lives under, or None."""
    head = remote_path.split("/", 1)[0]
    if len(head) == 5 and head.isascii() and head.isdigit():
        return int(head)
    return None


class Base(DeclarativeBase):
    pass


class RegisteredFile(Base):
    """One file handed over for archiving."""

    __tablename__ = FILES_TABLE

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    local_path: Mapped[str] = mapped_column(Text, nullable=False)
    archive_name: Mapped[str] = mapped_column(String(64), nullable=False)
    remote_path: Mapped[str] = mapped_column(Text, nullable=False)
    # registration time (UNIX seconds)
    timestamp: Mapped[float] = mapped_column(Float, nullable=False)
    state: Mapped[str] = mapped_column(String(16), nullable=False, default=FileState.PENDING.value)
    timecode: Mapped[int | None] = mapped_column(Integer)
    local_md5sum: Mapped[str | None] = mapped_column(String(32))
    # size and mtime when the checksum was taken: a later change means the file must be re-sent
    local_size: Mapped[int | None] = mapped_column(BigInteger)
    local_mtime: Mapped[float | None] = mapped_column(Float)
    checksum_error: Mapped[str | None] = mapped_column(Text)
    remote_md5sum: Mapped[str | None] = mapped_column(String(32))
    copied: Mapped[float | None] = mapped_column(Float)  # last copy attempt
    verified: Mapped[float | None] = mapped_column(Float)  # remote copy last found identical
    removed: Mapped[float | None] = mapped_column(Float)  # deleted locally; 0 if already gone
    failed_copy_attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    deletable: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    ignore: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)

    __table_args__ = (
        CheckConstraint(
            "state IN (" + ", ".join(f"'{s}'" for s in FILE_STATES) + ")",
            name="ck_registered_files_state",
        ),
        # the copy queue (one SupRsync per archive)
        Index("ix_registered_files_state_archive_id", "state", "archive_name", "id"),
        # pending checksums of every archive, in id order (the monitor's recovery)
        Index("ix_registered_files_state_id", "state", "id"),
        # deletion candidates and "last file copied"
        Index("ix_registered_files_archive_state_verified", "archive_name", "state", "verified"),
        # file counts and "last file added"
        Index("ix_registered_files_archive_timestamp", "archive_name", "timestamp"),
        # is timecode directory N of archive A fully synced?
        Index("ix_registered_files_archive_timecode_state", "archive_name", "timecode", "state"),
        # duplicate announcements and rescans
        Index("ix_registered_files_local_path", "local_path"),
    )


class TimecodeDir(Base):
    """A 5-digit timecode directory (1e5 s) of one archive, and how far it got."""

    __tablename__ = TIMECODE_TABLE

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    timecode: Mapped[int] = mapped_column(Integer, nullable=False)
    archive_name: Mapped[str] = mapped_column(String(64), nullable=False)
    completed: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    synced: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    finalized: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    finalize_file_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey(f"{FILES_TABLE}.id", name="fk_timecode_dirs_finalize_file")
    )

    __table_args__ = (
        UniqueConstraint("archive_name", "timecode", name="uq_timecode_dirs_archive_timecode"),
    )
