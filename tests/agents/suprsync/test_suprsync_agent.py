"""The SupRsync agent as a real process on a real hub, copying over a real sshd."""

import os
import time

import pytest
import yaml
from ocs.ocs_client import OCSClient

from socs_like.db import Database
from socs_like.ops import OpCode
from socs_like.testing import md5_hex, wait_until
from socs_like_agents.filedb import queries as files
from socs_like_agents.filedb.models import FileState, RegisteredFile
from socs_like_agents.filedb.schema import upgrade

from .conftest import agent_ssh_args

NEW = int(time.time() // 100_000)
OLD = NEW - 1


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_agent_copies_verifies_deletes_finalizes(
    request, backend, tmp_path, hub, sshd, run_agent, feed_listener
):
    """The whole life of a batch, with the agent as a process on SQLite and on PostgreSQL."""
    if backend == "sqlite":
        db_path = str(tmp_path / "suprsync.db")
    else:
        db_path = request.getfixturevalue("postgres_url")
    db = Database(db_path)
    upgrade(db)
    local, remote = tmp_path / "readout", tmp_path / "archive side"
    payloads = {}
    new = []
    for i in range(12):
        rel = f"{OLD if i < 10 else NEW}/ufm_mv{i % 3}/{1700000000 + i}_000.g3"
        data = os.urandom(3000 + i)
        (local / rel).parent.mkdir(parents=True, exist_ok=True)
        (local / rel).write_bytes(data)
        payloads[rel] = data
        new.append(
            files.NewFile(
                local_path=str(local / rel),
                archive_name="timestreams",
                remote_path=rel,
                timestamp=time.time(),
                local_md5sum=md5_hex(data),
            )
        )
    # announced, then lost before it could be copied (an operator finds it again later)
    lost_data = os.urandom(500)
    new.append(
        files.NewFile(
            local_path=str(local / "lost.g3"),
            archive_name="timestreams",
            remote_path=f"{OLD}/ufm_mv0/lost.g3",
            timestamp=time.time(),
            local_md5sum=md5_hex(lost_data),
        )
    )
    db.write(lambda s: files.register(s, new))

    archive_stats = feed_listener("sync-ts", "archive_stats")
    run_agent(
        "SupRsync",
        "sync-ts",
        args=[
            "--archive-name",
            "timestreams",
            "--remote-basedir",
            str(remote),
            "--db-path",
            db_path,
            *agent_ssh_args(sshd),
            "--suprsync-file-root",
            str(tmp_path / "fin"),
            "--delete-local-after",
            "0",
            "--sleep-time",
            "0.3",
            "--max-copy-attempts",
            "2",
        ],
    )

    def rows():
        return db.read(lambda s: {r.remote_path: r for r in s.query(RegisteredFile).all()})

    # every file verified on the archive side, byte for byte, and deleted locally after
    wait_until(lambda: sum(r.state == FileState.REMOVED for r in rows().values()) == 12, 30)
    for rel, data in payloads.items():
        assert (remote / rel).read_bytes() == data
        assert not (local / rel).exists()
    # emptied folders of the finished timecode went too; the current one's stay for writers
    assert sorted(os.listdir(local)) == [str(NEW)]
    lost = rows()[f"{OLD}/ufm_mv0/lost.g3"]
    assert lost.state == FileState.QUEUED
    wait_until(lambda: rows()[f"{OLD}/ufm_mv0/lost.g3"].failed_copy_attempts == 2, 20)

    # the lost file holds back the OLD timecode until an operator ignores it; the operator
    # uses the real OCS client, as existing scripts do
    c = OCSClient("sync-ts", args=["--site-file", str(hub.site_file), "--site-host", "localhost"])
    reply = c.list_mismatched()
    assert reply.session["success"] is True
    assert [f["remote_path"] for f in reply.session["data"]["files"]] == [lost.remote_path]
    assert c.set_ignore(ids=[lost.id]).session["data"]["changed"] == 1
    finals = wait_until(
        lambda: [
            r
            for p, r in rows().items()
            if "/suprsync/sync-ts/" in p and r.state == FileState.REMOVED
        ],
        30,
    )
    doc = yaml.safe_load((remote / finals[0].remote_path).read_text())
    assert doc["timecode"] == OLD and doc["num_files"] == 11
    assert doc["subdirs"] == ["ufm_mv0", "ufm_mv1", "ufm_mv2"]

    # the feed and the session data say the same, from SQL
    # (the finalized record is registered, then copied: wait for the event that counts it)
    event = archive_stats.wait_for(
        lambda evs: [
            p
            for p, _ in evs
            if p["timestreams"]["data"]["uncopied_files"][-1] == 0
            and p["timestreams"]["data"]["num_files"][-1] == 14
        ],
        20,
    )
    data = event[-1]["timestreams"]["data"]
    assert data["num_files"][-1] == 14 and data["last_file_copied"][-1].endswith(".yaml")
    status = c.run.status()
    assert status.session["op_code"] == OpCode.RUNNING
    counters = status.session["data"]["counters"]
    assert counters["copies"] == 13 and counters["failed_copies"] == 2
    assert counters["deleted"] == 13 and counters["finalized"] == 1

    # The operator puts the file back: at its attempt limit it is still not tried...
    assert c.set_ignore(ids=[lost.id], ignore=False).session["success"] is True
    (local / "lost.g3").write_bytes(lost_data)
    iterations = c.run.status().session["data"]["counters"]["iterations"]
    wait_until(lambda: c.run.status().session["data"]["counters"]["iterations"] >= iterations + 3)
    assert (rows()[lost.remote_path].state, rows()[lost.remote_path].failed_copy_attempts) == (
        FileState.QUEUED,
        2,
    )
    assert not (remote / lost.remote_path).exists()
    # ...until reset_failed gives it a fresh count: then it is copied, verified and deleted
    assert c.reset_failed().session["data"]["reset"] == 1
    wait_until(lambda: rows()[lost.remote_path].state == FileState.REMOVED, 30)
    assert (remote / lost.remote_path).read_bytes() == lost_data
    assert not (local / "lost.g3").exists()
    assert c.reset_failed().session["data"]["reset"] == 0
    db.dispose()


def _register(db: Database, local, rels: dict[str, bytes], archive: str = "timestreams") -> None:
    new = []
    for rel, data in rels.items():
        (local / rel).parent.mkdir(parents=True, exist_ok=True)
        (local / rel).write_bytes(data)
        new.append(
            files.NewFile(
                local_path=str(local / rel),
                archive_name=archive,
                remote_path=rel,
                timestamp=time.time(),
                local_md5sum=md5_hex(data),
            )
        )
    db.write(lambda s: files.register(s, new))


def test_agent_refuses_an_archive_host_missing_from_known_hosts(
    tmp_path, sshd, run_agent, make_client
):
    """The real agent with a known_hosts that does not name the host: it keeps running, says
    why in its session data, copies nothing, charges no file and does not learn the key."""
    db_path = tmp_path / "suprsync.db"
    db = Database(db_path)
    upgrade(db)
    local, remote = tmp_path / "readout", tmp_path / "archive"
    _register(db, local, {f"{OLD}/s/a.g3": b"a", f"{OLD}/s/b.g3": b"b"})
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text("")
    run_agent(
        "SupRsync",
        "sync-refused",
        args=[
            "--archive-name",
            "timestreams",
            "--remote-basedir",
            str(remote),
            "--db-path",
            str(db_path),
            *agent_ssh_args(sshd, known_hosts),
            "--suprsync-file-root",
            str(tmp_path / "fin"),
            "--sleep-time",
            "0.3",
        ],
    )
    client = make_client("sync-refused")

    def refused():
        data = client.run.status().session.get("data", {})
        if (data.get("counters") or {}).get("iterations", 0) >= 3:
            return data
        return None

    data = wait_until(refused, 30)
    status = client.run.status().session
    assert status["op_code"] == OpCode.RUNNING
    assert "Host key verification failed" in data["last_copy"]["error"]
    assert (data["last_copy"]["verified"], data["last_copy"]["failed"]) == (0, 0)
    assert data["counters"]["copies"] == 0 and data["counters"]["failed_copies"] == 0
    rows = db.read(lambda s: s.query(RegisteredFile).all())
    assert [(r.state, r.failed_copy_attempts) for r in rows] == [(FileState.QUEUED, 0)] * 2
    assert not remote.exists() or list(remote.rglob("*.g3")) == []
    assert known_hosts.read_text() == ""
    db.dispose()
