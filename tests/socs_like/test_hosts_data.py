"""Data across hosts over SSH (network namespaces): copies cut in the middle by a partition
that closes no socket, and finished after it, byte-equal, each file and run recorded once.

One set of hosts, sshds and hub serves the module (`socs_like.testing.data_hosts`)."""

import os
import socket
import time
from pathlib import Path

import pytest

from socs_like.db import Database
from socs_like.testing import md5_hex, wait_until
from socs_like.testing.data_hosts import SSH_PORT, DataHosts
from socs_like.testing.netns import open_network
from socs_like_agents.filedb.models import FileState, RegisteredFile
from socs_like_agents.filedb.schema import upgrade
from socs_like_agents.pysmurf_monitor.simulator import Publisher
from socs_like_agents.run_pipeline import states
from socs_like_agents.run_pipeline.schema import open_db
from socs_like_agents.run_pipeline.store import NewRun, RunStore
from tests.agents.daq_worker.conftest import SimulatedWorker

# one worker runs this module's tests, so its hosts are built once, not once per worker
pytestmark = pytest.mark.xdist_group("data-hosts")

# the copies cross the DAQ host's link at this rate until the partition heals, so the
# partition finds both in the middle of a file; a short queue, so that the copy that starts
# second is not held up seconds a round trip behind the first (once 9 s of the test)
SLOW_KBIT, SLOW_QUEUE_MS = 1000, 50
FILE_BYTES = 1 << 20
# a host cut off is noticed after ~4 keep-alives of 1 s (the default, 5 s, takes ~20 s)
SSH_QUICK = ("--ssh-connect-timeout", "3", "--ssh-keepalive", "1")
ORGANIZE = {"experiment": "e21", "run": 7}
PYSMURF_PORT = 8200


@pytest.fixture(scope="module")
def hosts(tmp_path_factory):
    with open_network() as network:
        site = DataHosts.start(network, tmp_path_factory.mktemp("data-hosts"))
        yield site
        site.close()


def in_flight(folder: Path) -> list[str]:
    """rsync's hidden temporary files below `folder`: a file it is receiving."""
    return [name for _, _, names in os.walk(folder) for name in names if name.startswith(".")]


def announce(paths: list[Path]) -> None:
    """What pysmurf's streamer sends when it has written time-stream files (UDP, called on
    the readout host)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        streamer = Publisher("STREAMER:ufm_mv0", sock, ("127.0.0.1", PYSMURF_PORT))
        for path in paths:
            streamer.send("g3_file", {"path": str(path), "archive_name": "timestreams"})


def write_files(folder: Path, names: list[str]) -> dict[str, str]:
    """Random (incompressible) files; name -> md5."""
    digests = {}
    for name in names:
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        data = os.urandom(FILE_BYTES)
        path.write_bytes(data)
        digests[name] = md5_hex(data)
    return digests


@pytest.mark.timeout(240)
def test_suprsync_and_a_pipeline_transfer_finish_after_a_partition_mid_copy(hosts):
    """On the readout host (``daq``), the pysmurf monitor registers the files pysmurf
    announces and SupRsync copies them to the archive host over SSH; the run
    pipeline on the cluster's head node (``archive``) pulls a run from the DAQ over SSH. A
    partition between the two hosts stalls both copies until ssh gives their connections up;
    after the heal each copy is made again and verified: the bytes equal, each file and run
    one row, no copy attempt charged (SupRsync's files are allowed only one)."""
    root = hosts.folder / "copies"
    sshd_daq, sshd_archive = hosts.sshd["daq"], hosts.sshd["archive"]
    # the monitor and SupRsync: their database and files on the readout host, the
    # archive's folder remote
    sync_db = str(root / "suprsync.db")
    readout, archived = root / "readout", root / "archive-timestreams"
    archived.mkdir(parents=True)
    upgrade(Database(sync_db))
    monitor = ("--udp-host", "127.0.0.1", "--udp-port", str(PYSMURF_PORT))
    hosts.spawn(
        hosts.daq,
        "PysmurfMonitor",
        "pysmurf-monitor",
        [*monitor, "--db-path", sync_db, "--local-root", str(readout)],
    )
    hosts.spawn(
        hosts.daq,
        "SupRsync",
        "sync-smurf",
        [
            *("--archive-name", "timestreams", "--db-path", sync_db),
            *("--remote-basedir", str(archived), "--suprsync-file-root", str(root / "fin")),
            *("--ssh-host", f"{sshd_archive.user}@{hosts.archive.address}"),
            *("--ssh-port", str(SSH_PORT), "--ssh-key", str(sshd_archive.client_key)),
            *("--known-hosts", str(sshd_archive.known_hosts), *SSH_QUICK),
            *("--sleep-time", "0.5", "--max-copy-attempts", "1"),
        ],
    )
    # the pipeline: its database and work folders on the cluster, the run on the DAQ
    runs_db, daq_root, work = str(root / "runs.db"), root / "daq-runs", root / "cluster"
    hosts.spawn(
        hosts.archive,
        "RunPipeline",
        "pipeline",
        [
            *("--db-path", runs_db, "--daq-root", str(daq_root), "--work-dir", str(work)),
            *("--daq-host", "daq", "--ssh-config", str(sshd_daq.ssh_config)),
            *(*SSH_QUICK, "--transfer-period", "0.5"),
            *("--process-period", "600", "--archive-period", "600"),
        ],
    )
    try:
        hosts.network.limit_rate(hosts.daq, SLOW_KBIT, SLOW_QUEUE_MS)
        timecode = int(time.time() // 100_000)
        # the archive keeps the last three parts of a time stream's path
        smurf = write_files(
            readout / "timestreams", [f"{timecode}/ufm_mv{i}/{i}.g3" for i in range(2)]
        )
        run = write_files(daq_root / "run001", ["f0.dat", "f1.dat"])
        wait_until(
            lambda: (
                hosts.request("pysmurf-monitor", "status", "run").session["status"] == "running"
            ),
            30,
            0.2,
            message="the monitor listening",
        )
        hosts.daq.call(announce, [readout / "timestreams" / name for name in smurf])
        db = Database(sync_db)
        store = RunStore(open_db(runs_db), actor="test")
        store.add(
            [
                NewRun(
                    name="run001",
                    raw_location=str(daq_root / "run001"),
                    events=1000,
                    tags=frozenset({states.DO_NOT_PROCESS}),
                )
            ]
        )

        # both copies under way, then cut
        wait_until(
            lambda: in_flight(archived) and in_flight(work / "raw"),
            60,
            0.05,
            message="both copies under way",
        )
        cut = time.monotonic()
        hosts.network.partition(hosts.daq, hosts.archive)

        def last_copy():
            return hosts.request("sync-smurf", "status", "run").session["data"]["last_copy"]

        # ssh notices the dead link (its keep-alives go unanswered): both copies break off
        broke = wait_until(
            lambda: (c := last_copy()) and c["error"] and c,
            90,
            0.5,
            message="SupRsync's copy to break off",
        )
        wait_until(
            lambda: store.count_events("transfer-failed", "run001"),
            90,
            0.5,
            message="the pipeline's transfer to break off",
        )
        print(f"\nboth copies broke off {time.monotonic() - cut:.1f} s into the partition")
        print(f"SupRsync: {broke['error']}")
        # a copy broken off by the network costs SupRsync's files no attempt
        assert [
            f.failed_copy_attempts for f in db.read(lambda s: s.query(RegisteredFile).all())
        ] == [0, 0]
        hosts.network.heal()
        hosts.network.limit_rate(hosts.daq, None)

        rows = wait_until(
            lambda: (
                (r := db.read(lambda s: s.query(RegisteredFile).all()))
                and all(f.state == FileState.SYNCED for f in r)
                and r
            ),
            90,
            0.5,
            message="SupRsync's files verified on the archive host",
        )
        wait_until(
            lambda: store.get("run001").raw_status == states.ONDECK,
            90,
            0.5,
            message="the run on the cluster",
        )
    finally:
        hosts.network.heal()
        hosts.network.limit_rate(hosts.daq, None)
        hosts.stop("pysmurf-monitor")
        hosts.stop("sync-smurf")
        hosts.stop("pipeline")

    assert sorted(f.remote_path for f in rows) == sorted(smurf)
    assert all(f.failed_copy_attempts == 0 for f in rows)
    assert {n: md5_hex(archived / n) for n in smurf} == smurf
    raw = work / "raw" / "run001"
    assert {p.name: md5_hex(p) for p in raw.iterdir()} == run
    assert store.get("run001").raw_location == f"localhost:{raw}"
    assert store.count_events("transferred", "run001") == 1
    # the transfers the partition broke cost the run no attempt either
    assert store.count_events("transfer-failed", "run001") >= 1
    assert store.get("run001").transfer_attempts == 1


@pytest.mark.timeout(180)
def test_the_daq_worker_finishes_a_move_a_partition_broke(hosts):
    """The DAQ worker on the hub host drives the DAQ host over SSH. A partition between them
    in the middle of organize_files breaks the move off (asyncssh's keep-alives); after the
    heal the same call finishes it: every file once in the run folder, none left behind,
    and the reports account for each file once."""
    sim = SimulatedWorker(hosts.folder / "stage")
    sim.workdir.mkdir()
    sim.start()
    written = sim.write_graw(4000)
    run_dir = sim.workdir / "e21" / "run_0007"
    hosts.spawn(
        hosts.hub_host,
        "DaqWorker",
        "daq-worker",
        [
            *("--hosts", "daq", "--ssh-config", str(hosts.sshd["daq"].ssh_config), *SSH_QUICK),
            *("--data-router-name", sim.router_name, "--ecc-server-name", sim.ecc_name),
            *("--rename-concurrency", "1", "--monitor-interval", "60"),
        ],
    )

    def organize() -> dict:
        assert hosts.request("daq-worker", "start", "organize_files", ORGANIZE).ok
        session = wait_until(
            lambda: (
                (s := hosts.request("daq-worker", "status", "organize_files").session)
                and s["status"] == "done"
                and s
            ),
            60,
            0.2,
            message="organize_files to end",
        )
        return session["data"]["hosts"]["daq"]

    try:
        assert hosts.request("daq-worker", "start", "organize_files", ORGANIZE).ok
        wait_until(
            lambda: len(sim.graw_names(run_dir)) >= 200, 60, 0.02, message="the move under way"
        )
        hosts.network.partition(hosts.hub_host, hosts.daq)
        first = wait_until(
            lambda: (
                (s := hosts.request("daq-worker", "status", "organize_files").session)
                and s["status"] == "done"
                and s["data"]["hosts"]["daq"]
            ),
            60,
            0.2,
            message="the move broken off",
        )
        hosts.network.heal()
        second = organize()
    finally:
        hosts.network.heal()
        hosts.stop("daq-worker")
        sim.stop()

    print(f"\nfirst call: {first['summary']}\nsecond call: {second['summary']}")
    assert first["interrupted"] and not first["complete"]
    assert 200 <= len(first["done"]) < len(written)
    assert second["complete"] and not second["failed"] and not second["clashes"]
    # the second call finds what the first moved (and what it had in flight, if it landed)
    assert set(first["done"]) <= set(second["already_there"])
    assert sorted(second["done"] + second["already_there"]) == sorted(written)
    assert {n: (run_dir / n).read_bytes() for n in sim.graw_names(run_dir)} == written
    assert sim.graw_names() == []
