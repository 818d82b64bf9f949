"""Typed tables of the runs database: one row per run, and a typed event log.

The status columns keep the original's names and values (``raw_status``,
``processed_status``); the states that exist only while a pipeline works on a run
(``transferring``, ``compressing``, ``archiving``) are claims: the row names the process
that holds it (``owner``) and since when (``since``), so the next pass can tell a live claim
from one left by a crash. :mod:`.states` holds the rules; :mod:`.store` the only writers.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

RUNS_TABLE = "pipeline_runs"
EVENTS_TABLE = "pipeline_run_events"


class Base(DeclarativeBase):
    pass


class Run(Base):
    __tablename__ = RUNS_TABLE

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    raw_status: Mapped[str] = mapped_column(String(16))
    raw_location: Mapped[str] = mapped_column(Text)  # host:path, or a path on the cluster
    processed_status: Mapped[str] = mapped_column(String(16))
    events: Mapped[int] = mapped_column(BigInteger, default=0)
    source: Mapped[str] = mapped_column(String(64), default="")
    raw_size: Mapped[int] = mapped_column(BigInteger, default=0)  # bytes of the raw folder
    tags: Mapped[str] = mapped_column(String(200), default="")  # space-separated, sorted
    comments: Mapped[str] = mapped_column(Text, default="")
    job_id: Mapped[str | None] = mapped_column(String(64))
    job_log: Mapped[str | None] = mapped_column(Text)  # path of the job's output
    exit_code: Mapped[int | None] = mapped_column(Integer)
    attempts: Mapped[int] = mapped_column(Integer, default=0)  # processing jobs submitted
    transfer_attempts: Mapped[int] = mapped_column(Integer, default=0)
    # host:pid holding a claim (or, of an archived run, that has yet to clean after it)
    owner: Mapped[str | None] = mapped_column(String(200))
    since: Mapped[float] = mapped_column(Float)  # last status change (UNIX s)
    archive_md5: Mapped[str | None] = mapped_column(String(32))  # of the compressed run
    bundle: Mapped[str | None] = mapped_column(Text)  # archive bundle holding the run
    created: Mapped[float] = mapped_column(Float)

    __table_args__ = (
        Index("ix_pipeline_runs_raw_processed", "raw_status", "processed_status", "name"),
        # recovery looks for runs waiting on a job whatever their raw status
        Index("ix_pipeline_runs_processed", "processed_status"),
    )


class RunEvent(Base):
    """One thing that happened to a run: a status change, a command's outcome, a note."""

    __tablename__ = EVENTS_TABLE

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run: Mapped[str] = mapped_column(
        String(200), ForeignKey(f"{RUNS_TABLE}.name", ondelete="CASCADE"), index=True
    )
    time: Mapped[float] = mapped_column(Float)
    actor: Mapped[str] = mapped_column(String(200))  # host:pid, "job 123", "operator", ...
    action: Mapped[str] = mapped_column(String(32))  # claim, transfer, submit, mark, reset, ...
    from_status: Mapped[str | None] = mapped_column(String(40))  # "raw/processed"
    to_status: Mapped[str | None] = mapped_column(String(40))
    exit_code: Mapped[int | None] = mapped_column(Integer)
    message: Mapped[str] = mapped_column(Text, default="")
