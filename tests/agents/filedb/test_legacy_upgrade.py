"""An existing socs database (supersync_v0 / timecode_dirs_v0) is upgraded in place,
losing no row."""

import subprocess
import sys

import pytest
from sqlalchemy import (
    Boolean,
    Column,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    create_engine,
    insert,
    select,
)

from socs_like.db import Database, database_url
from socs_like_agents.filedb import queries as files
from socs_like_agents.filedb.db_cli import main as db_cli
from socs_like_agents.filedb.models import FileState, RegisteredFile, TimecodeDir
from socs_like_agents.filedb.queries import NewFile


def old_schema(with_ignore: bool, with_timecodes: bool) -> tuple[Table, Table | None]:
    """The tables as the socs package creates them (sqlalchemy create_all of its models)."""
    meta = MetaData()
    cols = [
        Column("id", Integer, primary_key=True),
        Column("local_path", String, nullable=False),
        Column("local_md5sum", String, nullable=False),
        Column("archive_name", String, nullable=False),
        Column("remote_path", String, nullable=False),
        Column("timestamp", Float, nullable=False),
        Column("remote_md5sum", String),
        Column("copied", Float),
        Column("removed", Float),
        Column("failed_copy_attempts", Integer, default=0),
        Column("deletable", Boolean, default=True),
    ]
    if with_ignore:
        cols.append(Column("ignore", Boolean, default=False))
    files_table = Table("supersync_v0", meta, *cols)
    tc = None
    if with_timecodes:
        tc = Table(
            "timecode_dirs_v0",
            meta,
            Column("id", Integer, primary_key=True),
            Column("timecode", Integer, nullable=False),
            Column("archive_name", String, nullable=False),
            Column("completed", Boolean, default=False),
            Column("synced", Boolean, default=False),
            Column("finalized", Boolean, default=False),
            Column("finalize_file_id", Integer, ForeignKey("supersync_v0.id")),
        )
    return files_table, tc


def old_rows(with_ignore: bool) -> list[dict]:
    rows = []
    for i in range(1, 2501):
        row = {
            "id": i * 2,  # gaps in ids, as after deletions
            "local_path": f"/data/so/timestreams/17320/ufm_mv{i % 7}/1732022318_{i:03d}.g3",
            "local_md5sum": f"{i:032x}",
            "archive_name": "timestreams" if i % 3 else "smurf",
            "remote_path": f"17320/ufm_mv{i % 7}/1732022318_{i:03d}.g3",
            "timestamp": 1732022318.0 + i,
            "remote_md5sum": None,
            "copied": None,
            "removed": None,
            "failed_copy_attempts": 0,
            "deletable": bool(i % 5),
        }
        kind = i % 4
        if kind == 1:  # copied and verified
            row.update(remote_md5sum=row["local_md5sum"], copied=1732100000.0 + i)
        elif kind == 2:  # copied then deleted; some were already gone (removed = 0)
            row.update(
                remote_md5sum=row["local_md5sum"],
                copied=1732100000.0 + i,
                removed=0.0 if i % 8 == 2 else 1732200000.0 + i,
            )
        elif kind == 3:  # a corrupt copy, counted
            row.update(remote_md5sum="0" * 32, copied=1732100000.0 + i, failed_copy_attempts=2)
        if with_ignore:
            row["ignore"] = i % 11 == 0
        rows.append(row)
    return rows


@pytest.mark.parametrize(
    "with_ignore,with_timecodes", [(True, True), (False, True), (False, False)]
)
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_old_socs_database_is_upgraded_in_place(
    request: pytest.FixtureRequest, tmp_path, backend: str, with_ignore: bool, with_timecodes: bool
) -> None:
    url = (
        str(tmp_path / "suprsync.db")
        if backend == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    files_table, tc_table = old_schema(with_ignore, with_timecodes)
    source = old_rows(with_ignore)
    engine = create_engine(database_url(url))
    files_table.metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(insert(files_table), source)
        if tc_table is not None:
            conn.execute(
                insert(tc_table),
                [
                    {
                        "id": 1,
                        "timecode": 17319,
                        "archive_name": "timestreams",
                        "completed": True,
                        "synced": True,
                        "finalized": True,
                        "finalize_file_id": 4,
                    },
                    {
                        "id": 2,
                        "timecode": 17320,
                        "archive_name": "timestreams",
                        "completed": False,
                        "synced": False,
                        "finalized": False,
                        "finalize_file_id": None,
                    },
                ],
            )
    engine.dispose()

    assert db_cli(["upgrade", "--db-path", url]) == 0

    db = Database(url)
    try:
        new_rows = {r.id: r for r in db.read(lambda s: s.scalars(select(RegisteredFile)).all())}
        assert len(new_rows) == len(source)
        for old in source:
            new = new_rows[old["id"]]
            for key in (
                "local_path",
                "local_md5sum",
                "archive_name",
                "remote_path",
                "timestamp",
                "remote_md5sum",
                "copied",
                "removed",
                "failed_copy_attempts",
                "deletable",
            ):
                assert getattr(new, key) == old[key], (key, old)
            assert new.ignore == old.get("ignore", False)
            assert new.timecode == 17320
            expected = (
                FileState.REMOVED
                if old["removed"] is not None
                else FileState.SYNCED
                if old["remote_md5sum"] == old["local_md5sum"]
                else FileState.QUEUED
            )
            assert new.state == expected

        timecodes = db.read(lambda s: s.scalars(select(TimecodeDir).order_by(TimecodeDir.id)).all())
        if with_timecodes:
            assert [(t.id, t.timecode, t.finalized, t.finalize_file_id) for t in timecodes] == [
                (1, 17319, True, 4),
                (2, 17320, False, None),
            ]
        else:
            assert timecodes == []

        # the old tables are left as they were
        check = create_engine(database_url(url))
        with check.connect() as conn:
            assert len(conn.execute(select(files_table)).all()) == len(source)
        check.dispose()

        # new registrations continue after the imported ids
        (fresh,) = db.write(
            lambda s: files.register(
                s,
                [
                    NewFile(
                        local_path="/data/new.g3",
                        archive_name="timestreams",
                        remote_path="17321/a/new.g3",
                        timestamp=1.0,
                    )
                ],
            )
        )
        assert fresh.id > max(r["id"] for r in source)
    finally:
        db.dispose()

    # upgrading again is a no-op, not a second import
    assert db_cli(["upgrade", "--db-path", url]) == 0
    db = Database(url)
    assert db.read(lambda s: s.query(RegisteredFile).count()) == len(source) + 1
    db.dispose()


def test_upgrade_reports_a_bad_database_in_one_line(tmp_path, capsys) -> None:
    bad = tmp_path / "not-a-db.db"
    bad.write_bytes(b"this is not a database" * 100)
    assert db_cli(["upgrade", "--db-path", str(bad)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "file is not a database" in err


def test_socs_like_db_upgrade_command(tmp_path) -> None:
    db = str(tmp_path / "new.db")

    def run(*argv: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "socs_like", "db", *argv, "--db-path", db],
            capture_output=True,
            text=True,
            timeout=60,
        )

    up = run("upgrade")
    assert up.returncode == 0, up.stderr
    assert f"sqlite:///{db}: schema none -> 0003" in up.stdout
    assert "registered_files: 0 rows" in up.stdout
    current = run("current")
    assert current.stdout.strip() == f"sqlite:///{db}: schema 0003 (newest 0003)"
