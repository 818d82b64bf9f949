"""SupRsync's heavy path, rsync and md5 of big files over a real sshd, runs off its event
loop: the agent keeps answering the hub while it copies and verifies."""

import os
import time

import pytest

from socs_like.db import Database
from socs_like.testing import md5_hex, wait_until
from socs_like.testing.loop import LoopProbe
from socs_like_agents.filedb import queries as files
from socs_like_agents.filedb.models import FileState, RegisteredFile
from socs_like_agents.filedb.schema import upgrade

from .conftest import agent_ssh_args

FILES, SIZE = 3, 200 * 1024 * 1024  # 600 MB to copy and hash on both sides


@pytest.mark.timeout(300)
def test_big_files_are_copied_and_verified_while_the_loop_stays_free(
    tmp_path, sshd, run_agent, make_client, feed_listener
):
    db_path = str(tmp_path / "suprsync.db")
    db = Database(db_path)
    upgrade(db)
    local, remote = tmp_path / "readout", tmp_path / "archive"
    new = []
    for i in range(FILES):
        rel = f"17000/ufm_mv{i}/{1700000000 + i}_000.g3"
        path = local / rel
        path.parent.mkdir(parents=True)
        with open(path, "wb") as f:  # random head, sparse body: big without filling the disk
            f.write(os.urandom(1024 * 1024))
            f.truncate(SIZE)
        new.append(
            files.NewFile(
                local_path=str(path),
                archive_name="timestreams",
                remote_path=rel,
                timestamp=time.time(),
                local_md5sum=md5_hex(path),
            )
        )
    run_agent(
        "SupRsync",
        "sync-heavy",
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
            "--sleep-time",
            "0.3",
        ],
    )
    client = make_client("sync-heavy")
    beats = feed_listener("sync-heavy", "heartbeat")
    wait_until(lambda: beats.events, 30, message="the agent's first heartbeat")

    def synced() -> int:
        return db.read(lambda s: s.query(RegisteredFile).filter_by(state=FileState.SYNCED).count())

    wait_until(lambda: client.run.status().session.get("status") == "running", 30)
    with LoopProbe(client, beats) as probe:
        db.write(lambda s: files.register(s, new))  # as the monitor would, while it runs
        wait_until(lambda: synced() == FILES, 120, message="every file copied and verified")
    for n in new:
        assert md5_hex(remote / n.remote_path) == n.local_md5sum
    probe.assert_responsive()  # on the loop this work lags 3 s or more
