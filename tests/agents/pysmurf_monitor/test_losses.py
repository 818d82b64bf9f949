"""No announcement lost: every file of a burst is registered from its datagram, with rescans
off; losses the kernel or the queue cause are counted, logged, and recovered by a targeted
rescan of the publisher's folders."""

import os
import time

from socs_like.db import Database
from socs_like.testing import free_port, md5_hex, wait_until
from socs_like_agents.filedb.models import FileState, RegisteredFile
from socs_like_agents.pysmurf_monitor.simulator import Publisher

GARBAGE_EVERY = 100


def write_files(folder, n: int, size: int = 200) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        p = folder / f"1732022318_{i:06d}.g3"
        p.write_bytes(os.urandom(size))
        paths.append(str(p))
    return paths


def burst(sock, port: int, publisher: str, paths: list[str]) -> int:
    """Announce ``paths`` back to back, a garbage datagram after every 100; garbage sent."""
    pub = Publisher(publisher, sock, ("127.0.0.1", port))
    garbage = 0
    for i, path in enumerate(paths):
        pub.send("g3_file", {"path": path, "archive_name": "timestreams"})
        if i % GARBAGE_EVERY == GARBAGE_EVERY - 1:
            sock.sendto(b"{garbage", ("127.0.0.1", port))
            garbage += 1
    return garbage


def queued_count(db: Database) -> int:
    return db.read(
        lambda s: s.query(RegisteredFile).filter(RegisteredFile.state == FileState.QUEUED).count()
    )


def test_a_burst_at_full_speed_without_rescan_registers_every_file(
    tmp_path, monitor_args, all_rows, run_agent, make_client, udp_sock
) -> None:
    """3 000 real files announced back to back (garbage mixed in): every one is a row with
    its md5, from its own datagram (no rescan of any kind could run)."""
    port = free_port("udp")
    db_path = str(tmp_path / "db.sqlite")
    agent = run_agent(
        "PysmurfMonitor",
        "pm-burst",
        monitor_args(tmp_path, port, db_path, "--loss-rescan-delay", "3600"),
    )
    client = make_client("pm-burst")
    wait_until(lambda: client.run.status().session.get("status") == "running")
    paths = write_files(tmp_path / "data" / "timestreams" / "17320" / "s1", 3000)
    garbage = burst(udp_sock, port, "STREAMER:s1", paths)

    db = Database(db_path)
    wait_until(lambda: queued_count(db) == len(paths), timeout=60, message="3000 rows hashed")
    rows = all_rows(db)
    assert sorted(r.local_path for r in rows) == paths
    assert all(r.local_md5sum == md5_hex(r.local_path) for r in rows[::97])
    data = client.run.status().session["data"]
    assert data["udp"]["datagrams"] == len(paths) + garbage
    assert data["udp"]["rejected"] == {"bad_json": garbage}
    assert data["udp"]["kernel_drops"] == 0
    assert data["sequence"]["lost"] == 0
    assert data["files"]["announced"] == data["files"]["registered"] == len(paths)
    assert data["files"]["rescanned"] == 0 and data["losses"]["rescans"] == 0
    assert data["udp"]["receive_buffer"] >= 8 * 1024 * 1024
    assert "udp receive buffer: asked 8388608 bytes, kernel granted" in agent.output()
    db.dispose()


def test_a_burst_the_kernel_cannot_hold_is_counted_logged_and_recovered(
    tmp_path, monitor_args, all_rows, run_agent, make_client, udp_sock
) -> None:
    """A receive buffer of a few datagrams: the kernel drops most of the burst. The drops and
    the seq_no gaps are counted and logged, and the rescan they trigger (no --rescan given)
    registers every file."""
    port = free_port("udp")
    db_path = str(tmp_path / "db.sqlite")
    agent = run_agent(
        "PysmurfMonitor",
        "pm-drops",
        monitor_args(tmp_path, port, db_path, "--udp-rcvbuf", "4096", "--loss-rescan-delay", "0.5"),
    )
    client = make_client("pm-drops")
    wait_until(lambda: client.run.status().session.get("status") == "running")
    folder = tmp_path / "data" / "timestreams" / "17320" / "s1"
    paths = write_files(folder, 2000)
    other = write_files(tmp_path / "data" / "timestreams" / "17320" / "s2", 3)  # not s1's
    burst(udp_sock, port, "STREAMER:s1", paths)

    db = Database(db_path)
    wait_until(lambda: queued_count(db) == len(paths), timeout=60, message="2000 rows hashed")
    assert sorted(r.local_path for r in all_rows(db)) == paths  # s2's files were not taken
    assert not set(other) & {r.local_path for r in all_rows(db)}
    data = client.run.status().session["data"]
    assert data["udp"]["kernel_drops"] > 0
    assert data["udp"]["datagrams"] + data["udp"]["kernel_drops"] == len(paths) + 20
    assert data["sequence"]["lost"] > 0 and data["losses"]["gaps"] > 0
    assert data["losses"]["rescans"] >= 1
    assert data["files"]["announced"] + data["losses"]["found"] >= len(paths)
    assert data["publishers"]["STREAMER:s1"]["lost"] == data["sequence"]["lost"]
    out = agent.output()
    assert "udp receive buffer: asked 4096 bytes, kernel granted" in out
    assert "the kernel dropped" in out and "rescanning the folders of STREAMER:s1" in out
    assert "publisher STREAMER:s1:" in out and "datagrams lost before seq_no" in out
    assert "rescan after a loss from STREAMER:s1" in out
    db.dispose()


def test_a_seq_no_gap_rescans_that_publishers_folders_only(
    tmp_path, monitor_args, all_rows, run_agent, make_client, udp_sock
) -> None:
    """Five announcements never sent (the publisher's seq_no jumps): the gap is counted per
    publisher and its files are found by the targeted rescan; a file modified after the gap
    was seen is left for its own announcement."""
    port = free_port("udp")
    db_path = str(tmp_path / "db.sqlite")
    run_agent(
        "PysmurfMonitor",
        "pm-gap",
        monitor_args(tmp_path, port, db_path, "--loss-rescan-delay", "1"),
    )
    client = make_client("pm-gap")
    wait_until(lambda: client.run.status().session.get("status") == "running")
    paths = write_files(tmp_path / "data" / "timestreams" / "17320" / "ufm_mv7", 11)
    stranger = write_files(tmp_path / "data" / "timestreams" / "17320" / "ufm_mv8", 1)
    pub = Publisher("STREAMER:ufm_mv7", udp_sock, ("127.0.0.1", port))
    for p in paths[:5]:
        pub.send("g3_file", {"path": p, "archive_name": "timestreams"})
    pub.seq_no += 5  # the announcements of paths[5:10] are lost on the way
    future = time.time() + 3600
    os.utime(paths[9], (future, future))  # "still being written" when the gap is seen
    pub.send("g3_file", {"path": paths[10], "archive_name": "timestreams"})

    db = Database(db_path)
    expected = paths[:9] + paths[10:]
    wait_until(lambda: queued_count(db) == len(expected), timeout=30)
    time.sleep(1.5)  # a second rescan, had one been asked for, would have run by now
    assert sorted(r.local_path for r in all_rows(db)) == expected
    assert stranger[0] not in {r.local_path for r in all_rows(db)}
    data = client.run.status().session["data"]
    assert data["publishers"]["STREAMER:ufm_mv7"]["lost"] == 5
    assert data["losses"]["gaps"] == 1 and data["losses"]["rescans"] == 1
    assert data["losses"]["found"] == 10  # 6 of them announced too: registered once
    assert data["files"]["registered"] == len(expected)
    db.dispose()
