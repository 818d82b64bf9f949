"""The whole chain on real processes: publisher datagrams -> Pysmurf monitor -> database ->
SupRsync over a real sshd -> archive side, then local deletion and the finalization file."""

import os
import socket
import time

import yaml

from socs_like.db import Database
from socs_like.testing import free_port, md5_hex, wait_until
from socs_like_agents.filedb.models import FileState, RegisteredFile
from socs_like_agents.pysmurf_monitor.simulator import Publisher

NEW = int(time.time() // 100_000)
OLD = NEW - 1


def test_announced_files_reach_the_archive_and_leave_the_readout(
    tmp_path, sshd, run_agent, make_client
):
    port = free_port("udp")
    data, remote = tmp_path / "data", tmp_path / "archive"
    db_path = str(tmp_path / "suprsync.db")
    run_agent(
        "PysmurfMonitor",
        "pm-chain",
        [
            "--udp-port",
            str(port),
            "--udp-host",
            "127.0.0.1",
            "--db-path",
            db_path,
            "--local-root",
            str(data),
        ],
    )
    run_agent(
        "SupRsync",
        "sync-chain",
        [
            "--archive-name",
            "timestreams",
            "--remote-basedir",
            str(remote),
            "--db-path",
            db_path,
            "--ssh-host",
            sshd.alias,
            "--ssh-config",
            str(sshd.ssh_config),
            "--suprsync-file-root",
            str(tmp_path / "suprsync"),
            "--delete-local-after",
            "0",
            "--sleep-time",
            "0.3",
        ],
    )

    # callable is not ready: each opens the database (and the monitor its socket) in ``run``
    for instance_id in ("pm-chain", "sync-chain"):
        client = make_client(instance_id)
        wait_until(lambda c=client: c.run.status().session.get("status") == "running", 20)

    written = {}
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        streamer = Publisher("STREAMER:ufm_mv27", sock, ("127.0.0.1", port))
        for i, tc in enumerate([OLD] * 5 + [NEW]):
            g3 = data / "timestreams" / str(tc) / "ufm_mv27" / f"{tc}00000_{i:03d}.g3"
            g3.parent.mkdir(parents=True, exist_ok=True)
            g3.write_bytes(os.urandom(20_000 + i))
            written[f"{tc}/ufm_mv27/{g3.name}"] = (g3, md5_hex(g3))
            streamer.send("g3_file", {"path": str(g3), "archive_name": "timestreams"})

    db = Database(db_path)

    def removed():
        return db.read(
            lambda s: (
                s.query(RegisteredFile).filter(RegisteredFile.state == FileState.REMOVED).count()
            )
        )

    # six data files and the finalization file of OLD: copied, verified, deleted locally
    wait_until(lambda: removed() == 7, 60)
    for rel, (local, digest) in written.items():
        assert md5_hex(remote / rel) == digest
        assert not local.exists()
    assert not (data / "timestreams" / str(OLD)).exists()  # emptied folders removed
    (final,) = (remote / str(NEW) / "suprsync" / "sync-chain").iterdir()
    doc = yaml.safe_load(final.read_text())
    assert (doc["timecode"], doc["num_files"], doc["subdirs"]) == (OLD, 5, ["ufm_mv27"])
    db.dispose()
