"""Every query the monitor and SupRsync run is answered from an index on SQLite, never by
scanning the table: the same functions production calls, one test each."""

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.orm import Session

from socs_like.db import Database
from socs_like_agents.filedb import queries
from socs_like_agents.filedb.queries import BatchFile, Checksum, NewFile
from socs_like_agents.filedb.schema import upgrade
from socs_like_agents.suprsync.verdicts import FileResult, Verdict

ROWS = 2000


@pytest.fixture(scope="module")
def plan_db(tmp_path_factory) -> Database:
    """Two archives, files in every state, statistics gathered (as a long-running site has)."""
    db = Database(str(tmp_path_factory.mktemp("plans") / "plans.db"))
    upgrade(db)
    new = [
        NewFile(
            local_path=f"/d/{archive}/{i}",
            archive_name=archive,
            remote_path=f"{17320 + i // 500}/x/{i}",
            timestamp=float(i),
            local_md5sum=None if i % 7 == 0 else f"{i:032d}",
        )
        for archive in ("a", "b")
        for i in range(ROWS // 2)
    ]
    made = db.write(lambda s: queries.register(s, new))
    db.write(
        lambda s: queries.record_checksums(
            s, [Checksum(id=r.id, md5=None, error="gone") for r in made[::50]]
        )
    )
    batch = db.read(lambda s: queries.next_batch(s, "a", 5, None))
    results = [FileResult(id=f.id, verdict=Verdict.VERIFIED, remote_md5sum="0") for f in batch]
    db.write(
        lambda s: queries.record_batch(s, batch[: len(batch) // 2], results[: len(batch) // 2], 1.0)
    )
    db.write(lambda s: queries.add_timecode_dirs(s, "a", [17320, 17321]))
    db.write(lambda s: s.execute(text("ANALYZE")))
    yield db
    db.dispose()


def _plans(db: Database, fn: Callable[[Session], Any]) -> list[tuple[str, str]]:
    """(statement, plan line) for every statement ``fn(session)`` runs (rolled back)."""
    seen: list[tuple[str, Any]] = []

    def work(session: Session) -> None:
        conn = session.connection()

        def listen(_c, _cur, statement, params, _ctx, many) -> None:  # type: ignore[no-untyped-def]
            seen.append((statement, params[0] if many else params))

        event.listen(conn, "before_cursor_execute", listen)
        fn(session)
        session.rollback()

    db.read(work)
    assert seen, "the query ran no statement"

    def explain(s: Session, statement: str, params: Any) -> list[tuple[str, str]]:
        plan = s.connection().exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params)
        return [(statement, r[-1]) for r in plan]

    return [
        line
        for statement, params in seen
        for line in db.read(lambda s, st=statement, p=params: explain(s, st, p))
    ]


ONE = BatchFile(id=3, local_path="/d/a/3", local_md5sum="0" * 32, remote_path="17320/x/3")

# name: (query as production calls it, an index at least one of its statements must use)
QUERIES: dict[str, tuple[Callable[[Session], Any], str | None]] = {
    # the monitor
    "register (duplicate lookup and insert)": (
        lambda s: queries.register(
            s, [NewFile(local_path="/d/a/new", archive_name="a", remote_path="1/x", timestamp=1)]
        ),
        "ix_registered_files_local_path",
    ),
    "pending_checksums": (
        # recovery starts from 0: a walk of the primary key would read every row ever made
        lambda s: queries.pending_checksums(s, 10, after_id=0),
        "ix_registered_files_state_id",
    ),
    "max_pending_id": (queries.max_pending_id, "ix_registered_files_state_id"),
    "record_checksums": (
        lambda s: queries.record_checksums(s, [Checksum(id=7, md5="1" * 32)]),
        None,
    ),
    # SupRsync's loop
    "next_batch": (
        lambda s: queries.next_batch(s, "a", 5, 100),
        "ix_registered_files_state_archive_id",
    ),
    "record_batch": (
        lambda s: queries.record_batch(
            s, [ONE], [FileResult(id=3, verdict=Verdict.MISMATCH, remote_md5sum="1")], 2.0
        ),
        None,
    ),
    "deletion_candidates": (
        lambda s: queries.deletion_candidates(s, "a", 1e9, (0.0, 0), 100),
        "ix_registered_files_archive_state_verified",
    ),
    "mark_removed": (lambda s: queries.mark_removed(s, {3: 5.0}), None),
    "requeue": (lambda s: queries.requeue(s, {3: {"remote_md5sum": None}}), None),
    "set_local_stat": (lambda s: queries.set_local_stat(s, {3: {"local_size": 1}}), None),
    "new_timecodes": (lambda s: queries.new_timecodes(s, "a", ROWS - 10), None),
    "open_timecode_dirs": (lambda s: queries.open_timecode_dirs(s, "a"), None),
    "timecode_unsynced": (
        lambda s: queries.timecode_unsynced(s, "a", 17320),
        "ix_registered_files_archive_timecode_state",
    ),
    "timecode_remote_paths": (
        lambda s: queries.timecode_remote_paths(s, "a", 17320),
        "ix_registered_files_archive_timecode_state",
    ),
    "set_timecode_state": (lambda s: queries.set_timecode_state(s, 1, completed=True), None),
    "count_files": (lambda s: queries.count_files(s, "a", ROWS - 10), None),
    "archive_stats": (
        lambda s: queries.archive_stats(s, "a", 1e9, 5),
        "ix_registered_files_archive_timestamp",
    ),
    "recheck_candidates": (lambda s: queries.recheck_candidates(s, "a", 0, 100, False), None),
    # operator tasks
    "reset_failed": (lambda s: queries.reset_failed(s, "a", 5), None),
    "mismatched": (
        lambda s: queries.mismatched(s, "a", 100),
        "ix_registered_files_state_archive_id",
    ),
    "set_ignore": (lambda s: queries.set_ignore(s, "a", [3], ["/d/a/4"], True), None),
}


def test_every_query_of_the_layer_is_planned_here() -> None:
    """A query added to the layer without a plan test fails here."""
    public = {
        name
        for name, value in vars(queries).items()
        if callable(value)
        and not name.startswith("_")
        and getattr(value, "__module__", None) == queries.__name__
        and not isinstance(value, type)
    }
    planned = {name.split(" ")[0] for name in QUERIES}
    assert public - planned == {
        "add_timecode_dirs",
        "finalized_until",
    }  # an insert; in archive_stats


@pytest.mark.parametrize("name", list(QUERIES))
def test_query_uses_an_index(plan_db: Database, name: str) -> None:
    fn, index = QUERIES[name]
    plans = _plans(plan_db, fn)
    # A SCAN reads the whole table. A bare SEARCH is max(id) read from the end of the primary
    # key: one row without a WHERE, but a walk through every row that fails the WHERE with one.
    walks = [
        (statement, p)
        for statement, p in plans
        if "registered_files" in p
        and (p.startswith("SCAN") or (p == "SEARCH registered_files" and "WHERE" in statement))
    ]
    assert walks == [], plans
    if index is not None:
        assert any(index in p for _, p in plans), plans
