"""The statistics database on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

import pytest
from sqlalchemy import Column, Float, Integer, MetaData, String, Table, insert, select

from socs_like_agents.datalogger.models import Stat
from socs_like_agents.datalogger.stats import FileStats, StatRow
from socs_like_agents.datalogger.store import (
    MIGRATIONS,
    all_stats,
    last_due,
    record_run,
    replace_file_stats,
)

BOTH = pytest.mark.parametrize("db", ["sqlite", "postgresql"], indirect=True)


@pytest.fixture
def db_migrate():
    return MIGRATIONS.upgrade


def file_stats(name: str, epoch: int, scale: float) -> FileStats:
    rows = [
        StatRow(epoch=epoch, param=p, stat=s, value=scale * i)
        for i, (p, s) in enumerate(
            (p, s) for p in ("B:VIMIN", "Interval_B:VIMIN") for s in ("mode", "max")
        )
    ]
    return FileStats(file_name=name, window_start=epoch, rows=rows)


@BOTH
def test_rows_are_replaced_per_window_and_runs_found_by_due_time(db):
    db.write(lambda s: replace_file_stats(s, file_stats("a.h5", 100, 1.0)))
    db.write(lambda s: replace_file_stats(s, file_stats("b.h5", 200, 1.0)))
    # the same window again (a re-grab or a re-distil): its rows replaced, others kept
    db.write(lambda s: replace_file_stats(s, file_stats("a2.h5", 100, 10.0)))
    rows = db.read(all_stats)
    assert [(r.epoch, r.param, r.stat, r.value) for r in rows if r.epoch == 100] == [
        (100, "B:VIMIN", "max", 10.0),
        (100, "B:VIMIN", "mode", 0.0),
        (100, "Interval_B:VIMIN", "max", 30.0),
        (100, "Interval_B:VIMIN", "mode", 20.0),
    ]
    assert len(rows) == 8
    files = db.read(lambda s: sorted(set(s.scalars(select(Stat.file_name)))))
    assert files == ["a2.h5", "b.h5"]

    assert db.read(lambda s: last_due(s, "params")) is None
    db.write(lambda s: record_run(s, "params", 500.0, 510.0, True, "ok"))
    db.write(lambda s: record_run(s, "params", 400.0, 520.0, False, "late catch-up failed"))
    db.write(lambda s: record_run(s, "events", 900.0, 910.0, True, "ok"))
    assert db.read(lambda s: last_due(s, "params")) == 500.0


@BOTH
def test_the_original_table_is_imported_on_upgrade(db):
    MIGRATIONS.downgrade(db, "0001")
    legacy = Table(
        "ACNETparameterStats",
        MetaData(),
        Column("epochUTCsec", Integer),
        Column("paramname", String(64)),
        Column("statname", String(16)),
        Column("statval", Float),
    )

    def create(session):
        legacy.create(session.connection())
        session.execute(
            insert(legacy),
            [
                {
                    "epochUTCsec": 1562025600,
                    "paramname": "B:VIMIN",
                    "statname": "mode",
                    "statval": 103.35,
                },
                {
                    "epochUTCsec": 1562025600,
                    "paramname": "B:VIMIN",
                    "statname": "std",
                    "statval": None,
                },
            ],
        )

    db.write(create)
    assert MIGRATIONS.upgrade(db) == ("0001", "0002")
    rows = db.read(all_stats)
    # a row without a value has nothing to import
    assert [(r.epoch, r.param, r.stat, r.value) for r in rows] == [
        (1562025600, "B:VIMIN", "mode", 103.35)
    ]
