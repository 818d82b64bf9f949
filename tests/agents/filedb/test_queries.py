"""The queries the monitor and SupRsync run, on SQLite and on a real PostgreSQL."""

import pytest

from socs_like.db import Database
from socs_like_agents.filedb import queries as files
from socs_like_agents.filedb.models import FileState
from socs_like_agents.filedb.queries import Checksum, NewFile
from socs_like_agents.suprsync.verdicts import FileResult, Verdict

from .conftest import registered_files

# every test here runs on both backends (the shared `db` fixture of socs_like.testing)
pytestmark = pytest.mark.parametrize("db", ["sqlite", "postgresql"], indirect=True)


def new(path: str, archive: str = "timestreams", timestamp: float = 100.0, **kw) -> NewFile:
    remote = "/".join(path.strip("/").split("/")[-3:])
    return NewFile(
        local_path=path, archive_name=archive, remote_path=remote, timestamp=timestamp, **kw
    )


def test_register_skips_duplicates_within_a_batch_and_against_the_table(db: Database) -> None:
    first = db.write(
        lambda s: files.register(
            s, [new("/d/17320/a/1.g3"), new("/d/17320/a/1.g3"), new("/d/17320/a/2.g3")]
        )
    )
    again = db.write(lambda s: files.register(s, [new("/d/17320/a/2.g3"), new("/d/17320/a/3.g3")]))
    other_archive = db.write(lambda s: files.register(s, [new("/d/17320/a/3.g3", "smurf")]))

    assert [r.local_path for r in first] == ["/d/17320/a/1.g3", "/d/17320/a/2.g3"]
    assert [r.local_path for r in again] == ["/d/17320/a/3.g3"]
    assert len(other_archive) == 1
    stored = registered_files(db)
    assert len(stored) == 4
    assert {r.state for r in stored} == {FileState.PENDING}
    assert {r.timecode for r in stored} == {17320}
    assert stored[0].remote_path == "17320/a/1.g3"


def test_checksums_move_pending_rows_forward_and_never_overwrite(db: Database) -> None:
    ids = [
        r.id
        for r in db.write(
            lambda s: files.register(s, [new("/d/17320/a/1.g3"), new("/d/17320/a/2.g3")])
        )
    ]
    assert [r.id for r in db.read(lambda s: files.pending_checksums(s, 10))] == ids

    results = [
        Checksum(id=ids[0], md5="a" * 32, size=5, mtime=1.5),
        Checksum(id=ids[1], md5=None, error="No such file or directory"),
    ]
    assert db.write(lambda s: files.record_checksums(s, results)) == 2
    # a late duplicate result changes nothing
    assert db.write(lambda s: files.record_checksums(s, [Checksum(id=ids[0], md5="b" * 32)])) == 0

    ok, missing = registered_files(db)
    assert (ok.state, ok.local_md5sum, ok.local_size, ok.local_mtime) == (
        FileState.QUEUED,
        "a" * 32,
        5,
        1.5,
    )
    assert (missing.state, missing.checksum_error) == (
        FileState.UNREADABLE,
        "No such file or directory",
    )
    assert db.read(lambda s: files.pending_checksums(s, 10)) == []


def _copy(db: Database, archive: str, max_attempts: int, limit: int | None = None):
    return db.read(lambda s: files.next_batch(s, archive, max_attempts, limit))


def _record(db: Database, batch, outcomes: dict[int, tuple[Verdict, str | None]], now: float):
    results = [FileResult(id=i, verdict=v, remote_md5sum=m) for i, (v, m) in outcomes.items()]
    db.write(lambda s: files.record_batch(s, batch, results, now))


def test_copy_verify_delete_cycle_counts_attempts_per_file(db: Database) -> None:
    batch = [
        new(f"/d/17320/a/{i}.g3", timestamp=100.0 + i, local_md5sum=f"{i:032d}") for i in range(5)
    ]
    ids = [r.id for r in db.write(lambda s: files.register(s, batch))]
    db.write(lambda s: files.register(s, [new("/d/17320/b/x.g3", "smurf", local_md5sum="f" * 32)]))

    chosen = _copy(db, "timestreams", max_attempts=2, limit=4)
    assert [f.id for f in chosen] == ids[:4]

    # one good copy, one corrupt, one missing on the remote, one never checked (md5sum down)
    _record(
        db,
        chosen,
        {
            ids[0]: (Verdict.VERIFIED, f"{0:032d}"),
            ids[1]: (Verdict.MISMATCH, "e" * 32),
            ids[2]: (Verdict.NOT_ARRIVED, None),
            ids[3]: (Verdict.UNCHECKED, None),
        },
        now=200.0,
    )
    stored = {r.id: r for r in registered_files(db)}
    assert stored[ids[0]].state == FileState.SYNCED and stored[ids[0]].verified == 200.0
    assert [stored[i].failed_copy_attempts for i in ids] == [0, 1, 1, 0, 0]
    assert (stored[ids[1]].state, stored[ids[1]].remote_md5sum) == (FileState.QUEUED, "e" * 32)
    assert stored[ids[3]].copied == 200.0 and stored[ids[3]].state == FileState.QUEUED

    _record(db, chosen, {ids[1]: (Verdict.NOT_SENT, None)}, now=201.0)
    # ids[1] reached the limit and no longer blocks the queue
    assert [f.id for f in _copy(db, "timestreams", max_attempts=2)] == [ids[2], ids[3], ids[4]]
    assert db.write(lambda s: files.reset_failed(s, "timestreams", 2)) == 1
    assert [f.id for f in _copy(db, "timestreams", max_attempts=2)] == ids[1:]

    # deletion counts from the verified copy
    assert db.read(lambda s: files.deletion_candidates(s, "timestreams", 200.0, (0, 0), 10)) == []
    gone = db.read(lambda s: files.deletion_candidates(s, "timestreams", 200.5, (0, 0), 10))
    assert [f.id for f in gone] == [ids[0]]
    # only a synced row is marked removed: a queued one still has a copy to make
    db.write(lambda s: files.mark_removed(s, {ids[0]: 300.0, ids[2]: 300.0}))
    stored = {r.id: r for r in registered_files(db)}
    assert (stored[ids[0]].state, stored[ids[0]].removed) == (FileState.REMOVED, 300.0)
    assert (stored[ids[2]].state, stored[ids[2]].removed) == (FileState.QUEUED, None)

    total, _ = db.read(lambda s: files.count_files(s, "timestreams", 0))
    stats = db.read(lambda s: files.archive_stats(s, "timestreams", 400.0, total))
    assert stats == {
        "finalized_until": 100.0,  # the oldest file not verified was registered at 101
        "num_files": 5,
        "uncopied_files": 4,
        "last_file_added": "/d/17320/a/4.g3",
        "last_file_copied": "/d/17320/a/0.g3",
    }
    assert db.read(lambda s: files.count_files(s, "smurf", 0))[0] == 1


def test_a_removed_file_may_be_registered_again(db: Database) -> None:
    (first,) = db.write(
        lambda s: files.register(s, [new("/d/17320/a/1.g3", local_md5sum="1" * 32)])
    )
    batch = _copy(db, "timestreams", max_attempts=5)
    _record(db, batch, {first.id: (Verdict.VERIFIED, "1" * 32)}, now=200.0)
    db.write(lambda s: files.mark_removed(s, {first.id: 0}))
    again = db.write(lambda s: files.register(s, [new("/d/17320/a/1.g3")]))
    assert len(again) == 1 and again[0].id != first.id
