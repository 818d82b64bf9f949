"""SupRsync's operator tasks driven in-process (no hub): typed session data, and a foreseen
failure ending the session failed with its reason, not a crash."""

import dataclasses
import time

from socs_like.db import Database
from socs_like.ops import OpCode
from socs_like_agents.filedb import queries
from socs_like_agents.filedb.schema import upgrade
from socs_like_agents.suprsync.models import MismatchedFile
from socs_like_agents.suprsync.verdicts import FileResult, Verdict


def _suprsync(ops_driver, tmp_path):  # type: ignore[no-untyped-def]
    db_path = str(tmp_path / "files.db")
    return ops_driver(
        "SupRsync",
        "--archive-name",
        "timestreams",
        "--remote-basedir",
        str(tmp_path / "remote"),
        "--suprsync-file-root",
        str(tmp_path / "fin"),
        "--db-path",
        db_path,
        "--max-copy-attempts",
        "1",
    ), db_path


def _outcome(reply) -> str:  # type: ignore[no-untyped-def]
    return [text for _, text in reply.session["messages"]][-2]


def test_set_ignore_refuses_bad_ids_as_a_failure_not_a_crash(ops_driver, tmp_path):
    sync, _ = _suprsync(ops_driver, tmp_path)
    done = sync.run_task("set_ignore", ids=["7"])
    assert done.session["op_code"] == OpCode.FAILED
    assert _outcome(done) == "ids must be a list of whole numbers"
    done = sync.run_task("set_ignore", paths=[3])
    assert _outcome(done) == "paths must be a list of strings"


def test_task_session_data_has_the_documented_fields(ops_driver, tmp_path):
    sync, db_path = _suprsync(ops_driver, tmp_path)
    db = Database(db_path)
    upgrade(db)
    (row,) = db.write(
        lambda s: queries.register(
            s,
            [
                queries.NewFile(
                    local_path=str(tmp_path / "gone.g3"),
                    archive_name="timestreams",
                    remote_path="17000/s/gone.g3",
                    timestamp=time.time(),
                    local_md5sum="0" * 32,
                )
            ],
        )
    )
    # one failed attempt: the file is not there
    batch = db.read(lambda s: queries.next_batch(s, "timestreams", 1, None))
    db.write(
        lambda s: queries.record_batch(
            s, batch, [FileResult(id=row.id, verdict=Verdict.NOT_SENT, remote_md5sum=None)], 1.0
        )
    )
    listed = sync.run_task("list_mismatched")
    assert listed.session["success"] is True
    (entry,) = listed.session["data"]["files"]
    assert set(entry) == {f.name for f in dataclasses.fields(MismatchedFile)}
    assert (entry["id"], entry["failed_copy_attempts"]) == (row.id, 1)
    assert sync.run_task("set_ignore", ids=[row.id]).session["data"] == {"changed": 1}
    assert sync.run_task("reset_failed").session["data"] == {"reset": 1}
    assert sync.run_task("recheck_local").session["data"] == {
        "checked": 1,
        "changed": 0,
        "missing": 1,
    }
    db.dispose()
