"""The grabber's database: migrations, its ``--db-path``, and the queries it runs.

Every function taking a ``Session`` runs inside one short transaction of
:class:`socs_like.db.Database` (``db.write(lambda s: replace_file_stats(s, stats))``), in a
worker thread, never on the event loop.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Connection, MetaData, Table, delete, func, insert, inspect, make_url, select
from sqlalchemy.orm import Session

from socs_like.db import Migrations, database_url

from .errors import RequestError
from .models import LEGACY_STATS_TABLE, Run, Stat
from .stats import FileStats, StatRow

MIGRATIONS = Migrations(
    scripts=Path(__file__).with_name("migrations"), version_table="datalogger_alembic_version"
)


def plot_dir_beside(db_path: str) -> Path:
    """The default plot folder: ``plots`` beside the statistics database, the page's one
    source, so the agent and every ``socs-like grab`` on that database rebuild one page (not
    one per output folder: the original's output folder was on tape)."""
    url = make_url(database_url(db_path))
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        shown = make_url(db_path).render_as_string(hide_password=True)
        raise RequestError(
            "give --plot-dir: the plot page goes beside the statistics database by default, "
            f"and {shown} is not a file"
        )
    return Path(url.database).parent / "plots"


def replace_file_stats(session: Session, stats: FileStats) -> int:
    """Store a file's rows in place of the rows with the same window and parameters (its own
    from an earlier run, or imported original rows); returns rows written."""
    params = stats.params
    for i in range(0, len(params), 500):
        session.execute(
            delete(Stat).where(
                Stat.epoch_utc_sec == stats.window_start, Stat.param_name.in_(params[i : i + 500])
            )
        )
    rows = [
        {
            "epoch_utc_sec": r.epoch,
            "param_name": r.param,
            "stat_name": r.stat,
            "stat_val": r.value,
            "file_name": stats.file_name,
        }
        for r in stats.rows
    ]
    if rows:
        session.execute(insert(Stat), rows)
    return len(rows)


def has_file_stats(session: Session, file_name: str) -> bool:
    """Whether statistics of the file named ``file_name`` are stored."""
    query = select(Stat.file_name).where(Stat.file_name == file_name).limit(1)
    return session.scalar(query) is not None


def all_stats(session: Session) -> list[StatRow]:
    query = select(Stat).order_by(Stat.param_name, Stat.epoch_utc_sec, Stat.stat_name)
    return [
        StatRow(epoch=s.epoch_utc_sec, param=s.param_name, stat=s.stat_name, value=s.stat_val)
        for s in session.scalars(query)
    ]


def record_run(
    session: Session, schedule: str, due: float, finished: float, ok: bool, message: str
) -> None:
    session.add(Run(schedule=schedule, due=due, finished=finished, ok=ok, message=message[:2000]))


def last_due(session: Session, schedule: str) -> float | None:
    """The latest due time a run of ``schedule`` was made for (ok or not)."""
    value = session.scalar(select(func.max(Run.due)).where(Run.schedule == schedule))
    return None if value is None else float(value)


def import_legacy_stats(connection: Connection) -> int:
    """Copy ``ACNETparameterStats(epochUTCsec, paramname, statname, statval)`` rows into the
    statistics table, skipping keys already there; the original table is left untouched."""
    if LEGACY_STATS_TABLE not in inspect(connection).get_table_names():
        return 0
    legacy = Table(LEGACY_STATS_TABLE, MetaData(), autoload_with=connection)
    have = {
        (e, p, s)
        for e, p, s in connection.execute(
            select(Stat.epoch_utc_sec, Stat.param_name, Stat.stat_name)
        )
    }
    rows = []
    for e, p, s, v in connection.execute(
        select(legacy.c.epochUTCsec, legacy.c.paramname, legacy.c.statname, legacy.c.statval)
    ):
        key = (int(e), str(p), str(s))
        if key in have or v is None:
            continue
        have.add(key)
        rows.append(
            {
                "epoch_utc_sec": key[0],
                "param_name": key[1],
                "stat_name": key[2],
                "stat_val": float(v),
                "file_name": None,
            }
        )
    if rows:
        connection.execute(insert(Stat), rows)
    return len(rows)
