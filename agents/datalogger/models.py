"""The grabber's tables: statistics per window, device and statistic; the grab runs.

``datalogger_stats`` keeps the original ``ACNETparameterStats(epochUTCsec, paramname,
statname, statval)`` columns under the same meaning, keyed by (window start, parameter,
statistic), plus the file the row came from so re-distilling a file replaces its rows.
``datalogger_runs`` records each scheduled run by its due time, so runs missed while the
agent was down are found and caught up at start.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Float, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

STATS_TABLE = "datalogger_stats"
RUNS_TABLE = "datalogger_runs"
LEGACY_STATS_TABLE = "ACNETparameterStats"


class Base(DeclarativeBase):
    pass


class Stat(Base):
    __tablename__ = STATS_TABLE

    epoch_utc_sec: Mapped[int] = mapped_column(Integer, primary_key=True)
    param_name: Mapped[str] = mapped_column(String(64), primary_key=True)
    stat_name: Mapped[str] = mapped_column(String(16), primary_key=True)
    stat_val: Mapped[float] = mapped_column(Float)
    # None for rows imported from the original table
    file_name: Mapped[str | None] = mapped_column(String(255), index=True)


class Run(Base):
    __tablename__ = RUNS_TABLE

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    schedule: Mapped[str] = mapped_column(String(16), index=True)  # params | events
    due: Mapped[float] = mapped_column(Float)
    finished: Mapped[float] = mapped_column(Float)
    ok: Mapped[bool] = mapped_column(Boolean)
    message: Mapped[str] = mapped_column(Text)
