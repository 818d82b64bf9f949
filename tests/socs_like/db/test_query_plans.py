"""The loops' queries are answered from indexes on SQLite, never by scanning the table."""

from sqlalchemy import event, text

from socs_like.db import Database, files, upgrade
from socs_like.db.files import NewFile


def query_plans(tmp_path, fn) -> list[str]:
    """SQLite's plan for every statement ``fn(session)`` runs."""
    db = Database(str(tmp_path / "plans.db"))
    upgrade(db)
    db.write(
        lambda s: files.register(
            s,
            [
                NewFile(
                    local_path=f"/d/{i}", archive_name="a", remote_path=f"17320/x/{i}", timestamp=i
                )
                for i in range(50)
            ],
        )
    )
    db.write(lambda s: s.execute(text("ANALYZE")))
    seen: list[tuple] = []

    def work(session) -> None:
        conn = session.connection()
        event.listen(
            conn,
            "before_cursor_execute",
            lambda _c, _cur, statement, params, _ctx, _many: seen.append((statement, params)),
        )
        fn(session)

    db.read(work)
    plans = [
        detail
        for statement, params in seen
        for detail in db.read(
            lambda s: [
                r[-1]
                for r in s.connection().exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params)
            ]
        )
    ]
    db.dispose()
    return plans


def test_bookkeeping_queries_use_indexes(tmp_path) -> None:
    plans = query_plans(
        tmp_path,
        lambda s: (
            files.next_copy_batch(s, "a", 10, 5),
            files.deletable_files(s, "a", 1e9, 10),
            files.archive_counts(s, "a"),
            files.pending_checksums(s, 10),
        ),
    )
    assert len(plans) >= 5
    assert [p for p in plans if p.startswith("SCAN registered_files") and "INDEX" not in p] == []
    for index in (
        "ix_registered_files_state_archive_id",
        "ix_registered_files_archive_state_verified",
        "ix_registered_files_archive_timestamp",
    ):
        assert any(index in p for p in plans), (index, plans)
