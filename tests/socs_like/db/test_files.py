"""The file bookkeeping every agent relies on, on SQLite and on a real PostgreSQL."""

from socs_like.db import Database, FileState, RegisteredFile, files
from socs_like.db.files import Checksum, NewFile


def new(path: str, archive: str = "timestreams", **kw) -> NewFile:
    remote = "/".join(path.strip("/").split("/")[-3:])
    return NewFile(local_path=path, archive_name=archive, remote_path=remote, timestamp=100.0, **kw)


def rows(db: Database) -> list[RegisteredFile]:
    return db.read(lambda s: list(s.query(RegisteredFile).order_by(RegisteredFile.id)))


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
    stored = rows(db)
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

    ok, missing = rows(db)
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


def test_copy_verify_delete_cycle_counts_attempts_per_file(db: Database) -> None:
    batch = [new(f"/d/17320/a/{i}.g3", local_md5sum=f"{i:032d}") for i in range(4)]
    ids = [r.id for r in db.write(lambda s: files.register(s, batch))]
    db.write(lambda s: files.register(s, [new("/d/17320/b/x.g3", "smurf", local_md5sum="f" * 32)]))

    chosen = db.read(lambda s: files.next_copy_batch(s, "timestreams", 3, max_attempts=2))
    assert [f.id for f in chosen] == ids[:3]

    # one good copy, one corrupt, one missing on the remote
    db.write(
        lambda s: files.record_remote_checksums(
            s, [(ids[0], f"{0:032d}"), (ids[1], "e" * 32), (ids[2], None)], now=200.0
        )
    )
    stored = {r.id: r for r in rows(db)}
    assert stored[ids[0]].state == FileState.SYNCED and stored[ids[0]].verified == 200.0
    assert [stored[i].failed_copy_attempts for i in ids] == [0, 1, 1, 0]
    assert stored[ids[1]].state == FileState.QUEUED

    db.write(lambda s: files.record_remote_checksums(s, [(ids[1], None)], now=201.0))
    # ids[1] reached the limit and no longer blocks the queue
    chosen = db.read(lambda s: files.next_copy_batch(s, "timestreams", 10, max_attempts=2))
    assert [f.id for f in chosen] == [ids[2], ids[3]]

    # deletion counts from the verified copy
    assert db.read(lambda s: files.deletable_files(s, "timestreams", 200.0, 10)) == []
    gone = db.read(lambda s: files.deletable_files(s, "timestreams", 200.5, 10))
    assert [f.id for f in gone] == [ids[0]]
    db.write(lambda s: files.mark_removed(s, ids[0], 300.0))

    counts = db.read(lambda s: files.archive_counts(s, "timestreams"))
    assert counts.num_files == 4
    assert counts.uncopied_files == 3
    assert counts.by_state == {"removed": 1, "queued": 3}
    assert counts.last_file_copied == 200.0
    assert counts.last_file_added == 100.0
    assert db.read(lambda s: files.archive_counts(s, "smurf")).num_files == 1


def test_a_removed_file_may_be_registered_again(db: Database) -> None:
    (first,) = db.write(
        lambda s: files.register(s, [new("/d/17320/a/1.g3", local_md5sum="1" * 32)])
    )
    db.write(lambda s: files.mark_removed(s, first.id, 0))
    again = db.write(lambda s: files.register(s, [new("/d/17320/a/1.g3")]))
    assert len(again) == 1 and again[0].id != first.id
