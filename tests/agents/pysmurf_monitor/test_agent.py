"""The monitor as a real process on a real hub: datagrams in, rows, checksums and feeds out."""

import json
import random
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg

from socs_like.agent import LAG_WARNING
from socs_like.db import Database
from socs_like.testing import free_port, md5_hex, wait_until
from socs_like_agents.filedb import queries as files
from socs_like_agents.filedb.models import FileState, RegisteredFile
from socs_like_agents.filedb.queries import NewFile
from socs_like_agents.filedb.schema import upgrade
from socs_like_agents.pysmurf_monitor.datagrams import encode
from socs_like_agents.pysmurf_monitor.simulator import Publisher, flood


def test_datagrams_become_rows_checksums_and_feeds(
    tmp_path, monitor_args, all_rows, run_agent, make_client, feed_listener, udp_sock
) -> None:
    port = free_port("udp")
    db_path = str(tmp_path / "suprsync.db")
    run_agent(
        "PysmurfMonitor",
        "pysmurf-monitor",
        monitor_args(tmp_path, port, db_path, "--meta-buffer-time", "0.2"),
    )
    client = make_client("pysmurf-monitor")
    sessions = feed_listener("pysmurf-monitor", "pysmurf_session_data")
    meta = feed_listener("pysmurf-monitor", "ufm_mv27_meta")
    stats = feed_listener("pysmurf-monitor", "udp_stats")
    wait_until(lambda: client.run.status().session.get("status") == "running")

    data = tmp_path / "data"
    day = data / "smurf_data/20240803/ufm_mv19/1722715985"
    (day / "plots").mkdir(parents=True)
    (day / "outputs").mkdir(parents=True)
    (day / "plots/1722716193_asd_summary.png").write_bytes(b"png" * 1000)
    (day / "outputs/1722716190_tune.npy").write_bytes(b"tune" * 1000)
    (day / "outputs/1722716191_noise.txt").write_bytes(b"noise")
    g3 = data / "timestreams/17320/ufm_mv27/1732022318_000.g3"
    g3.parent.mkdir(parents=True)
    g3.write_bytes(b"g3" * 50_000)
    target = ("127.0.0.1", port)
    pub = Publisher("ufm_mv19", udp_sock, target)
    streamer = Publisher("STREAMER:ufm_mv27", udp_sock, target)
    pub.send(
        "data_file",
        {
            "path": str(day / "plots/1722716193_asd_summary.png"),
            "format": "png",
            "timestamp": 1722716193.0,
            "action": "uxm_relock",
            "action_ts": "1722715985",
            "plot": True,
        },
    )
    pub.send(
        "data_file",
        {
            "path": str(day / "outputs/1722716190_tune"),
            "format": "npy",
            "timestamp": 1722716190.0,
            "action": "uxm_relock",
            "action_ts": "1722715985",
            "plot": False,
        },
    )
    pub.seq_no += 2  # two datagrams "lost" on the way
    pub.send(
        "data_file",
        {
            "path": str(day / "outputs/1722716191_noise.txt"),
            "format": "txt",
            "timestamp": 1722716191.0,
            "plot": False,
        },
    )  # no action: kept
    pub.send("session_data", {"tunefile": "x.npy"})
    pub.send("session_log", "relock done\n")
    pub.send("log", "ignored")
    streamer.send("g3_file", {"path": str(g3), "archive_name": "timestreams"})
    streamer.send("g3_file", {"path": str(g3), "archive_name": "timestreams"})  # repeated
    streamer.seq_no -= 1
    streamer.send(
        "metadata",
        {"path": "AMCc.SmurfProcessor.FileWriter.DataDropCnt", "value": 3, "type": "int"},
    )  # a duplicate seq_no
    streamer.send("metadata", {"path": "AMCc.FpgaTopLevel.Enable", "value": True, "type": "bool"})
    for bad in (
        b"{oops",
        b"\xff",
        json.dumps([1]).encode(),
        b"x" * 64_001,
        encode(id="ufm_mv19", type="telemetry", payload={}, seq_no=None, time=1.0),
        encode(
            id="ufm_mv19", type="g3_file", payload={"path": "/etc/passwd"}, seq_no=None, time=1.0
        ),
        encode(
            id="ufm_mv19",
            type="g3_file",
            payload={"path": f"{data}/../../etc/x/y/z"},
            seq_no=None,
            time=1.0,
        ),
    ):
        udp_sock.sendto(bad, target)

    db = Database(db_path)
    wait_until(
        lambda: len(all_rows(db)) == 4 and all(r.state == FileState.QUEUED for r in all_rows(db)),
        timeout=20,
    )
    rows = {Path(r.local_path).name: r for r in all_rows(db)}
    assert (
        rows["1722716193_asd_summary.png"].remote_path
        == "17227/ufm_mv19/1722715985_uxm_relock/plots/1722716193_asd_summary.png"
    )
    assert (
        rows["1722716190_tune.npy"].remote_path
        == "17227/ufm_mv19/1722715985_uxm_relock/outputs/1722716190_tune.npy"
    )
    assert (
        rows["1722716191_noise.txt"].remote_path
        == "17227/ufm_mv19/unknown_no_action/outputs/1722716191_noise.txt"
    )
    assert rows["1732022318_000.g3"].remote_path == "17320/ufm_mv27/1732022318_000.g3"
    assert {n: r.deletable for n, r in rows.items()} == {
        "1722716193_asd_summary.png": True,
        "1722716190_tune.npy": False,
        "1722716191_noise.txt": True,
        "1732022318_000.g3": True,
    }
    for r in rows.values():
        assert r.local_md5sum == md5_hex(r.local_path)
        assert r.local_size == Path(r.local_path).stat().st_size
    assert {r.archive_name for r in rows.values()} == {"smurf", "timestreams"}

    def settled():
        s = client.run.status().session
        return (
            s
            if s["data"].get("udp", {}).get("datagrams") == 17
            and s["data"]["files"]["checksummed"] == 4
            else None
        )

    data_ = wait_until(settled, timeout=10)["data"]
    assert data_["udp"]["rejected"] == {
        "bad_json": 1,
        "not_utf8": 1,
        "not_an_object": 1,
        "oversize": 1,
        "unknown_type": 1,
        "outside_roots": 1,
        "unsafe_path": 1,
    }
    assert data_["udp"]["ignored"] == {"log": 1}
    assert data_["files"]["registered"] == 4 and data_["files"]["already_registered"] == 1
    assert data_["publishers"]["ufm_mv19"]["lost"] == 2
    assert data_["publishers"]["STREAMER:ufm_mv27"]["duplicates"] == 1
    assert data_["sequence"]["lost"] == 2
    # the loop's health is the framework's (one watchdog), its lag the worst since run started
    assert data_["loop"]["threshold_ms"] == LAG_WARNING * 1000
    assert data_["loop"]["max_lag_ms"] >= 0 and data_["loop"]["stalls"] >= 0

    events = sessions.wait_for(lambda ev: len(ev) >= 2 and ev)
    payloads = [p for p, _ in events]
    assert [(p["type"], p["id"]) for p in payloads] == [
        ("session_data", "ufm_mv19"),
        ("session_log", "ufm_mv19"),
    ]
    assert payloads[0]["payload"] == {"tunefile": "x.npy"}

    def meta_values(events):
        # a recorded feed event is {block_name: {"block_name", "timestamps", "data"}}
        out = {}
        for payload, _info in events:
            for block in payload.values():
                for field, values in block["data"].items():
                    out.setdefault(field, []).extend(values)
        return out

    values = meta.wait_for(lambda ev: len(meta_values(ev)) == 2 and meta_values(ev))
    assert values == {
        "AMCc_SmurfProcessor_FileWriter_DataDropCnt": [3],
        "AMCc_FpgaTopLevel_Enable": [1],
    }
    stat = stats.wait_for(lambda ev: [p for p, _ in ev if p["sequence"]["lost"] == 2])
    assert stat[-1]["publishers"]["ufm_mv19"]["lost"] == 2
    db.dispose()


def test_sigkill_with_1000_announcements_in_flight_loses_none(
    tmp_path, monitor_args, all_rows, run_agent, make_client, udp_sock
) -> None:
    """Killed mid-burst: rows already written are finished after the restart, and what was
    sent while it was down is found by the rescan; each file registered once."""
    port = free_port("udp")
    db_path = str(tmp_path / "suprsync.db")
    data = tmp_path / "data"
    args = monitor_args(
        tmp_path,
        port,
        db_path,
        "--checksum-workers",
        "1",
        "--rescan",
        "--g3-dir",
        str(data / "timestreams"),
        "--rescan-min-age",
        "0",
    )
    first = run_agent("PysmurfMonitor", "pm-kill", args)
    client = make_client("pm-kill")
    wait_until(lambda: client.run.status().session.get("status") == "running")
    db = Database(db_path)
    sender = threading.Thread(
        target=flood,
        args=(
            data,
            Publisher("STREAMER:flood", udp_sock, ("127.0.0.1", port)),
            1000,
            2000.0,
            64 * 1024,
            random.Random(1),
        ),
    )
    sender.start()
    try:
        wait_until(lambda: db.read(lambda s: s.query(RegisteredFile).count()) >= 100, timeout=60)
        first.kill()
    finally:
        sender.join()
    at_kill = all_rows(db)
    pending_at_kill = sum(r.state == FileState.PENDING for r in at_kill)
    assert len(at_kill) < 1000 or pending_at_kill

    run_agent("PysmurfMonitor", "pm-kill", args)
    wait_until(
        lambda: (
            db.read(
                lambda s: (
                    s.query(RegisteredFile).filter(RegisteredFile.state == FileState.QUEUED).count()
                )
            )
            == 1000
        ),
        timeout=60,
    )
    rows = all_rows(db)
    on_disk = sorted(str(p) for p in (data / "timestreams").rglob("*.g3"))
    assert len(on_disk) == 1000
    assert sorted(r.local_path for r in rows) == on_disk  # each once, none missing
    assert all(r.local_md5sum == md5_hex(r.local_path) for r in rows)
    # the rows left pending by the kill were finished by the recovery pages, not the rescan
    files_ = wait_until(lambda: client.run.status().session.get("data", {}).get("files"))
    assert files_["recovered"] == pending_at_kill
    assert files_["registered"] == 1000 - len(at_kill)
    db.dispose()


def test_files_too_young_for_the_start_rescan_are_found_by_the_next(
    tmp_path, monitor_args, all_rows, run_agent, make_client
) -> None:
    """Announced while the monitor was down, just before it restarted: its start rescan skips
    them (they may still be written), one more finds them once they are old enough."""
    data = tmp_path / "data" / "timestreams" / "17320" / "s1"
    data.mkdir(parents=True)
    for i in range(3):
        (data / f"1732000000_{i:03d}.g3").write_bytes(b"frames %d" % i)
    db_path = str(tmp_path / "suprsync.db")
    args = monitor_args(
        tmp_path,
        free_port("udp"),
        db_path,
        "--rescan",
        "--g3-dir",
        str(tmp_path / "data" / "timestreams"),
        "--rescan-min-age",
        "8",  # longer than the monitor takes to start: its start rescan leaves them
    )
    run_agent("PysmurfMonitor", "pm-young", args)
    client = make_client("pm-young")
    wait_until(lambda: client.run.status().session.get("status") == "running")
    db = Database(db_path)
    rows = wait_until(lambda: len(all_rows(db)) == 3 and all_rows(db), timeout=60)
    assert sorted(Path(r.local_path).name for r in rows) == [
        f"1732000000_{i:03d}.g3" for i in range(3)
    ]
    db.dispose()


def test_rows_left_pending_are_finished_on_start_with_postgresql(
    tmp_path, monitor_args, all_rows, run_agent, postgres_url
) -> None:
    data = tmp_path / "data" / "timestreams" / "17320" / "s1"
    data.mkdir(parents=True)
    paths = []
    for i in range(20):
        p = data / f"1732022318_{i:03d}.g3"
        p.write_bytes(bytes([i]) * (1000 + i))
        paths.append(p)
    db = Database(postgres_url)
    upgrade(db)
    db.write(
        lambda s: files.register(
            s,
            [
                NewFile(
                    local_path=str(p),
                    archive_name="timestreams",
                    remote_path=f"17320/s1/{p.name}",
                    timestamp=time.time(),
                )
                for p in paths
            ]
            + [
                NewFile(
                    local_path=str(data / "gone.g3"),
                    archive_name="timestreams",
                    remote_path="17320/s1/gone.g3",
                    timestamp=time.time(),
                )
            ],
        )
    )

    run_agent(
        "PysmurfMonitor",
        "pm-pg",
        monitor_args(tmp_path, free_port("udp"), postgres_url.replace("+psycopg", "")),
    )
    wait_until(lambda: not db.read(lambda s: files.pending_checksums(s, 10)), timeout=20)
    rows = {r.local_path: r for r in all_rows(db)}
    for p in paths:
        assert rows[str(p)].state == FileState.QUEUED
        assert rows[str(p)].local_md5sum == md5_hex(p)
    gone = rows[str(data / "gone.g3")]
    assert gone.state == FileState.UNREADABLE
    assert gone.checksum_error == f"No such file or directory: {data / 'gone.g3'}"
    db.dispose()


def test_test_mode_waits_to_be_started_then_ends_after_its_first_files(
    tmp_path, monitor_args, all_rows, run_agent, make_client, udp_sock
) -> None:
    port = free_port("udp")
    g3 = tmp_path / "data" / "timestreams" / "17320" / "s1" / "1732022318_000.g3"
    g3.parent.mkdir(parents=True)
    g3.write_bytes(b"first file")
    run_agent(
        "PysmurfMonitor",
        "pm-test-mode",
        monitor_args(tmp_path, port, str(tmp_path / "db.sqlite"), "--test-mode"),
    )
    client = make_client("pm-test-mode")
    assert client.run.status().msg == "No session active."

    assert client.run.start().ok
    wait_until(lambda: client.run.status().session.get("status") == "running")
    Publisher("STREAMER:s1", udp_sock, ("127.0.0.1", port)).send(
        "g3_file", {"path": str(g3), "archive_name": "timestreams"}
    )
    done = client.run.wait(timeout=20).session
    assert (done["status"], done["success"]) == ("done", True)
    assert done["data"]["files"]["checksummed"] == 1
    assert any("Stopped: 1 files registered, 1 checksummed." in m for _, m in done["messages"])


def test_the_simulator_speaks_what_the_monitor_accepts(
    tmp_path, monitor_args, all_rows, run_agent, make_client, feed_listener
) -> None:
    """`socs-like simulate pysmurf`: every file it writes is registered with its md5, nothing
    it sends is rejected or lost, session data and metadata reach their feeds; its manifest
    lists every file it announced, with the md5 of what is on disk."""
    port = free_port("udp")
    db_path = str(tmp_path / "db.sqlite")
    run_agent("PysmurfMonitor", "pm-sim", monitor_args(tmp_path, port, db_path))
    client = make_client("pm-sim")
    sessions = feed_listener("pm-sim", "pysmurf_session_data")
    wait_until(lambda: client.run.status().session.get("status") == "running")

    sim = subprocess.run(
        [
            sys.executable,
            "-m",
            "socs_like",
            "simulate",
            "pysmurf",
            "--port",
            str(port),
            "--data-dir",
            str(tmp_path / "data"),
            "--duration",
            "4",
            "--streams",
            "2",
            "--g3-interval",
            "1",
            "--g3-size",
            "4096",
            "--burst-interval",
            "1.5",
            "--session-interval",
            "1",
            "--metadata-rate",
            "50",
            "--seed",
            "3",
            "--manifest",
            str(tmp_path / "manifest.jsonl"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert sim.returncode == 0, sim.stderr
    on_disk = sorted(str(p) for p in (tmp_path / "data").rglob("*") if p.is_file())
    assert any(p.endswith(".g3") for p in on_disk) and any(p.endswith(".npy") for p in on_disk)
    manifest = [json.loads(line) for line in (tmp_path / "manifest.jsonl").read_text().splitlines()]
    assert sorted(m["path"] for m in manifest) == on_disk
    assert all(m["md5"] == md5_hex(m["path"]) for m in manifest)
    assert {m["archive"] for m in manifest if m["path"].endswith(".g3")} == {"timestreams"}
    assert {m["archive"] for m in manifest if not m["path"].endswith(".g3")} == {"smurf"}

    db = Database(db_path)
    wait_until(
        lambda: (
            sorted(r.local_path for r in all_rows(db) if r.state == FileState.QUEUED) == on_disk
        ),
        timeout=20,
    )
    assert all(r.local_md5sum == md5_hex(r.local_path) for r in all_rows(db))
    data_ = client.run.status().session["data"]
    assert data_["udp"]["rejected"] == {}
    assert data_["sequence"]["lost"] == 0 and data_["sequence"]["duplicates"] == 0
    assert data_["metadata"]["samples"] > 50
    assert len(data_["metadata"]["feeds"]) == 2
    assert sessions.wait_for(
        lambda ev: {p["type"] for p, _ in ev} == {"session_data", "session_log"}
    )
    db.dispose()


def test_announcements_wait_in_memory_while_the_database_is_away(
    tmp_path,
    monitor_args,
    all_rows,
    run_agent,
    make_client,
    postgres_server,
    postgres_url,
    udp_sock,
) -> None:
    port = free_port("udp")
    folder = tmp_path / "data" / "timestreams" / "17320" / "s1"
    folder.mkdir(parents=True)
    paths = []
    for i in range(10):
        p = folder / f"1732022318_{i:03d}.g3"
        p.write_bytes(b"x" * (i + 1))
        paths.append(p)
    run_agent(
        "PysmurfMonitor",
        "pm-db-away",
        monitor_args(
            tmp_path, port, postgres_url, "--max-queued", "6", "--loss-rescan-delay", "0.5"
        ),
    )
    client = make_client("pm-db-away")
    wait_until(lambda: client.run.status().session.get("status") == "running")

    name = postgres_url.rsplit("/", 1)[1]
    admin = psycopg.connect(
        host=postgres_server.host,
        port=postgres_server.port,
        user=postgres_server.user,
        dbname="postgres",
        autocommit=True,
    )
    admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    pub = Publisher("STREAMER:s1", udp_sock, ("127.0.0.1", port))
    for p in paths:
        pub.send("g3_file", {"path": str(p), "archive_name": "timestreams"})

    def degraded():
        s = client.run.status().session
        return s if s["degraded"] and s["data"]["files"]["waiting_for_db"] == 6 else None

    away = wait_until(degraded, timeout=20)
    assert away["data"]["db"]["errors"] >= 1
    # the queue holds --max-queued; the rest are refused, counted, and left for a rescan
    assert away["data"]["udp"]["rejected"] == {"queue_full": 4}
    assert away["data"]["losses"]["pending"] == ["STREAMER:s1"]
    assert any("Database unavailable, will retry" in m for _, m in away["messages"])

    admin.execute(f'CREATE DATABASE "{name}"')
    admin.close()
    db = Database(postgres_url)
    upgrade(db)
    wait_until(
        lambda: (
            db.read(
                lambda s: (
                    s.query(RegisteredFile).filter(RegisteredFile.state == FileState.QUEUED).count()
                )
            )
            == 10
        ),
        timeout=60,
    )
    assert sorted((r.local_path, r.local_md5sum) for r in all_rows(db)) == sorted(
        (str(p), md5_hex(p)) for p in paths
    )
    back = client.run.status().session
    assert back["data"]["files"]["announced"] == 6 and back["data"]["losses"]["found"] == 10
    assert back["degraded"] is False
    assert any("Database writes work again." in m for _, m in back["messages"])
    db.dispose()
