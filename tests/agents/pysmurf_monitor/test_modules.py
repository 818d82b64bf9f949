"""The monitor's parts in-process, no sockets: intake (and its per-datagram guard), the
bounded announcement queue, the hash pool, the retry gate, crash-recovery paging, loss
recovery (and the rescans it asks for) and the kernel's drop counter."""

import logging
import os

import pytest

from socs_like.backoff import Backoff
from socs_like.paths import Roots
from socs_like.testing import md5_hex, run_in_new_loop, wait_until_async
from socs_like_agents.filedb.queries import NewFile, Registered
from socs_like_agents.pysmurf_monitor.announcements import AnnouncementQueue
from socs_like_agents.pysmurf_monitor.datagrams import DataFile, Envelope, G3File, encode
from socs_like_agents.pysmurf_monitor.hashing import HashPool
from socs_like_agents.pysmurf_monitor.intake import Intake
from socs_like_agents.pysmurf_monitor.lost import LossRecovery, TargetedRescan
from socs_like_agents.pysmurf_monitor.recovery import RecoveryPager
from socs_like_agents.pysmurf_monitor.registration import RegistrationRules
from socs_like_agents.pysmurf_monitor.rescan import scan_target
from socs_like_agents.pysmurf_monitor.retry import RetryGate, describe
from socs_like_agents.pysmurf_monitor.udp import KernelDrops, ReceiveBuffer, parse_drops


def g3(i: int, stream: str = "s1", seq: int | None = None, root: str = "/data/ts") -> bytes:
    return encode(
        id=f"STREAMER:{stream}",
        type="g3_file",
        payload={"path": f"{root}/17320/{stream}/1732022318_{i:03d}.g3"},
        seq_no=i if seq is None else seq,
        time=1732022318.0,
    )


class Sinks:
    def __init__(self) -> None:
        self.sessions: list[dict] = []
        self.meta: list[tuple[str, dict]] = []
        self.fail_with: Exception | None = None

    def session(self, message: dict) -> None:
        if self.fail_with is not None:
            raise self.fail_with
        self.sessions.append(message)

    def publish_meta(self, feed: str, sample: dict) -> None:
        self.meta.append((feed, sample))


def make_intake(max_queued: int = 100, delay: float = 2.0) -> tuple[Intake, Sinks]:
    sinks = Sinks()
    intake = Intake(
        rules=RegistrationRules(local_roots=Roots(["/data"])),
        queue=AnnouncementQueue(max_queued, batch_size=10),
        losses=LossRecovery(delay=delay),
        publish_session=sinks.session,
        publish_meta=sinks.publish_meta,
    )
    return intake, sinks


def test_a_bug_handling_one_datagram_costs_that_datagram_only(caplog) -> None:
    intake, sinks = make_intake()
    sinks.fail_with = RuntimeError("feed exploded")
    session = encode(id="c1", type="session_data", payload={"a": 1}, seq_no=0, time=1.0)
    with caplog.at_level(logging.ERROR):
        intake.receive(session, 1.0, 1.0)
    assert intake.rejected == {"internal_error": 1}
    assert "unexpected error handling a datagram" in caplog.text
    assert "RuntimeError: feed exploded" in caplog.text
    sinks.fail_with = None
    intake.receive(encode(id="c1", type="session_data", payload={"a": 2}, seq_no=1, time=1.0), 1, 1)
    intake.receive(g3(0), 1.0, 1.0)
    assert [m["payload"] for m in sinks.sessions] == [{"a": 2}]
    assert len(intake.queue) == 1 and intake.counts["datagrams"] == 3


def test_a_refused_feed_message_is_a_counted_rejection_not_a_bug() -> None:
    intake, sinks = make_intake()
    sinks.fail_with = ValueError("message of 300000 bytes is too large")
    intake.receive(encode(id="c1", type="session_log", payload="x", seq_no=0, time=1.0), 1, 1)
    assert intake.rejected == {"session_feed_refused": 1}


def test_queue_full_refuses_counts_and_asks_for_a_rescan() -> None:
    intake, _ = make_intake(max_queued=3)
    for i in range(5):
        intake.receive(g3(i), 100.0, 100.0)
    assert len(intake.queue) == 3 and intake.counts["announced"] == 3
    assert intake.rejected == {"queue_full": 2}
    # the publisher's folder was learned from its accepted announcements
    assert intake.losses.pending == ["STREAMER:s1"]
    (rescan,) = intake.losses.due(102.0)
    assert (rescan.publisher, rescan.g3_dirs, rescan.modified_before) == (
        "STREAMER:s1",
        ("/data/ts",),
        100.0,
    )


def test_a_gap_is_logged_once_a_minute_per_publisher_and_asks_for_a_rescan(caplog) -> None:
    intake, _ = make_intake()
    with caplog.at_level(logging.WARNING):
        intake.receive(g3(0), 10.0, 10.0)
        intake.receive(g3(4), 10.5, 10.5)  # 1..3 lost
        intake.receive(g3(9), 11.0, 11.0)  # 5..8 lost, within the minute: counted only
        intake.receive(g3(70), 80.0, 80.0)  # 10..69 lost, a minute later: logged
    gaps = [r.getMessage() for r in caplog.records if "datagrams lost" in r.getMessage()]
    assert gaps == [
        "publisher STREAMER:s1: 3 datagrams lost before seq_no 4 (3 lost from it so far); "
        "rescanning its folders in 2 s",
        "publisher STREAMER:s1: 60 datagrams lost before seq_no 70 (67 lost from it so far, "
        "1 more gaps not logged); rescanning its folders in 2 s",
    ]
    assert intake.counts["gaps"] == 3
    assert [r.modified_before for r in intake.losses.due(12.5)] == [80.0]  # the last loss


def test_a_gap_of_a_publisher_with_no_known_folder_is_unrecoverable(caplog) -> None:
    intake, _ = make_intake()
    meta = {"path": "AMCc.x", "value": 1}
    with caplog.at_level(logging.WARNING):
        intake.receive(
            encode(id="STREAMER:s9", type="metadata", payload=meta, seq_no=0, time=1), 1, 1
        )
        intake.receive(
            encode(id="STREAMER:s9", type="metadata", payload=meta, seq_no=5, time=1), 1, 1
        )
    assert intake.losses.unrecoverable == 1 and intake.losses.pending == []
    assert "no folder of it is known to rescan (see --g3-dir/--smurf-dir)" in caplog.text


def test_the_announcement_queue_is_bounded_and_keeps_a_batch_until_written() -> None:
    q = AnnouncementQueue(max_queued=5, batch_size=2)
    rows = [
        NewFile(local_path=f"/d/{i}", archive_name="a", remote_path=f"r/{i}", timestamp=0)
        for i in range(6)
    ]
    assert [q.offer(r) for r in rows] == [True] * 5 + [False]
    assert q.batch_ready and q.room == 0
    assert q.offer(rows[5], bounded=False) and len(q) == 6  # a rescan's files
    q.written(1)
    assert q.batch() == rows[1:3] and len(q) == 5  # not gone until written
    q.written(2)
    assert q.batch() == rows[3:5] and len(q) == 3 and q.room == 2
    with pytest.raises(ValueError):
        AnnouncementQueue(0, 1)


def test_the_hash_pool_hashes_real_files_and_reports_unreadable_ones(tmp_path) -> None:
    paths = []
    for i in range(40):
        p = tmp_path / f"f{i}"
        p.write_bytes(bytes([i]) * (1000 * i + 1))
        paths.append(p)
    rows = [Registered(id=i, local_path=str(p)) for i, p in enumerate(paths)]
    rows.append(Registered(id=99, local_path=str(tmp_path / "gone")))

    async def scenario():
        ready = []
        pool = HashPool(workers=2, read_size=4096, chunk=7, on_ready=lambda: ready.append(1))
        pool.start()
        pool.submit(rows)
        results = []

        async def all_in():
            results.extend(pool.take())
            return len(results) == len(rows)

        await wait_until_async(all_in, timeout=20)
        waiting = pool.waiting
        pool.put_back(results[:3])
        back = pool.take()
        await pool.close()
        return results, ready, waiting, back

    results, ready, waiting, back = run_in_new_loop(scenario())
    by_id = {r.id: r for r in results}
    assert all(
        by_id[i].md5 == md5_hex(p) and by_id[i].size == p.stat().st_size
        for i, p in enumerate(paths)
    )
    assert (
        by_id[99].md5 is None
        and by_id[99].error == f"No such file or directory: {tmp_path / 'gone'}"
    )
    assert ready and waiting == 0 and back == results[:3]


def test_the_retry_gate_backs_off_and_opens_again() -> None:
    gate = RetryGate(Backoff(initial=0.5, factor=2, cap=2))
    assert gate.open(0.0) and not gate.failing
    assert [gate.failed(t) for t in (10.0, 10.5, 11.5, 13.5)] == [0.5, 1.0, 2, 2]
    assert not gate.open(15.0) and gate.open(15.5) and gate.errors == 4
    gate.failed(20.0, "OperationalError: database is locked")
    gate.force()
    assert gate.open(20.0)
    assert gate.succeeded() is True and gate.succeeded() is False
    assert gate.last_error == "OperationalError: database is locked"  # kept for the operator


def test_a_database_error_is_named_by_the_drivers_error_it_wraps() -> None:
    class OperationalError(Exception):
        orig = ConnectionRefusedError("connection refused")

    assert describe(OperationalError("(psycopg) long SQL")) == (
        "OperationalError: connection refused"
    )
    assert describe(TimeoutError("no answer")) == "TimeoutError: no answer"


def test_recovery_reads_pages_up_to_the_highest_pending_id_at_start() -> None:
    pager = RecoveryPager(until=12, page=5)
    assert pager.wants_page(backlog=0) and not pager.wants_page(backlog=5)
    page1 = [Registered(id=i, local_path="") for i in (1, 2, 4, 5, 7)]
    assert [r.id for r in pager.accept(page1)] == [1, 2, 4, 5, 7] and pager.after == 7
    page2 = [Registered(id=i, local_path="") for i in (9, 12, 13, 14, 15)]  # 13+: this run's
    assert [r.id for r in pager.accept(page2)] == [9, 12] and pager.done
    assert pager.recovered == 7 and not pager.wants_page(backlog=0)
    short = RecoveryPager(until=100, page=5)
    short.accept([Registered(id=3, local_path="")])
    assert short.done  # a short page is the last one


def test_loss_recovery_learns_folders_and_action_names_from_announcements() -> None:
    losses = LossRecovery(g3_dirs=("/cfg/g3",), delay=1.0, max_dirs=2)
    env = Envelope(host="", id="ufm_mv19", script="", time=None, seq_no=1, type="data_file")
    announced = DataFile(
        envelope=env,
        path="/data/smurf_data/20240803/ufm_mv19/1722715985/plots/1722716193_asd.png",
        file_type=None,
        format="png",
        timestamp=1722716193.0,
        action="uxm_relock",
        action_ts="1722715985",
        plot=True,
        archive_name="smurf",
    )
    losses.learn(announcement=announced)
    for root in ("/a", "/b", "/c"):  # only max_dirs are kept
        senv = Envelope(host="", id="STREAMER:s1", script="", time=None, seq_no=1, type="g3_file")
        losses.learn(
            G3File(envelope=senv, path=f"{root}/17320/s1/x.g3", archive_name="timestreams")
        )
    assert losses.lost("ufm_mv19", 50.0) and losses.lost("STREAMER:s1", 50.5)
    assert losses.due(50.9) == []
    smurf, stream = losses.due(51.5)
    assert (smurf.smurf_dirs, smurf.g3_dirs) == (("/data/smurf_data",), ("/cfg/g3",))
    assert stream.g3_dirs == ("/a", "/b", "/cfg/g3") and stream.modified_before == 50.5
    found = DataFile(**{**announced.__dict__, "action": None, "path": "/data/smurf_data/x"})
    assert losses.named(found).action == "uxm_relock"
    assert losses.lost_from_anyone(60.0) == ["STREAMER:s1", "ufm_mv19"]


def test_kernel_drops_are_read_from_the_row_of_our_socket() -> None:
    table = (
        "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid"
        "  timeout inode ref pointer drops\n"
        "  123: 0100007F:A3F1 00000000:0000 07 00000000:00000000 00:00000000 00000000     0"
        "        0 555 2 0000000000000000 0\n"
        "  124: 0100007F:A3F2 00000000:0000 07 00000000:00045600 00:00000000 00000000     0"
        "        0 777 2 0000000000000000 1215\n"
    )
    assert parse_drops(table, 777) == 1215 and parse_drops(table, 555) == 0
    assert parse_drops(table, 1) is None and parse_drops("", 777) is None


def test_a_short_receive_buffer_says_what_to_do() -> None:
    short = ReceiveBuffer(wanted=8388608, granted=425984, forced=False)
    assert short.short and short.describe() == (
        "udp receive buffer: asked 8388608 bytes, kernel granted 425984 (capped by "
        "net.core.rmem_max; run as root or raise net.core.rmem_max to 8388608 so bursts are "
        "not dropped by the kernel)"
    )
    assert not ReceiveBuffer(wanted=100, granted=200, forced=True).short


def test_kernel_drops_count_from_the_reading_at_start() -> None:
    unknown = KernelDrops(base=None)  # no /proc/net/udp row for the socket
    assert unknown.update(50) == 0 and unknown.total is None
    drops = KernelDrops(base=10)
    assert drops.update(None) == 0 and drops.total is None  # unreadable this time
    assert [drops.update(r) for r in (12, 12, 15)] == [2, 0, 3] and drops.total == 5


def test_kernel_drops_ask_a_rescan_of_every_publisher_and_say_so(caplog) -> None:
    intake, _ = make_intake()
    intake.receive(g3(0), 10.0, 10.0)  # teaches /data/ts for STREAMER:s1
    losses = intake.losses
    losses.kernel_dropped(0, 0, 425984, 11.0)
    assert losses.requested == 0 and losses.pending == []
    with caplog.at_level(logging.WARNING):
        losses.kernel_dropped(3, 5, 425984, 11.0)
    assert losses.pending == ["STREAMER:s1"]
    assert caplog.messages == [
        "the kernel dropped 3 datagrams (5 so far): the receive buffer (425984 bytes) was "
        "full; rescanning the folders of STREAMER:s1"
    ]


def test_a_targeted_rescan_takes_the_publishers_files_older_than_the_loss(tmp_path, caplog) -> None:
    old, new, other = (
        tmp_path / "ts/17320/s1/1732000000_000.g3",
        tmp_path / "ts/17320/s1/1732000001_000.g3",
        tmp_path / "ts/17320/s2/1732000000_000.g3",
    )
    for path, mtime in ((old, 1000.0), (new, 3000.0), (other, 1000.0)):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"frames")
        os.utime(path, (mtime, mtime))
    target = TargetedRescan(
        publisher="STREAMER:s1",
        g3_dirs=(str(tmp_path / "ts"),),
        smurf_dirs=(),
        modified_before=2000.0,
    )
    result = scan_target(target, now=5000.0)
    assert [f.path for f in result.found] == [str(old)] and result.too_recent == 1

    intake, _ = make_intake(max_queued=1)
    intake.receive(g3(0), 1.0, 1.0)
    intake.receive(g3(1), 1.0, 1.0)  # refused: the queue is full; rescanned files go in still
    env = result.found[0].envelope
    rooted = [
        G3File(envelope=env, path=f"/data/ts/17320/s1/{i}.g3", archive_name="timestreams")
        for i in range(2)
    ]
    outside = G3File(envelope=rooted[0].envelope, path="/etc/x.g3", archive_name="timestreams")
    assert intake.rescanned([*rooted, outside], 2.0, 2.0) == 2
    assert intake.counts["rescanned"] == 2 and len(intake.queue) == 3
    assert intake.counts["announced"] == 1 and intake.rejected == {
        "queue_full": 1,
        "outside_roots": 1,
    }
    with caplog.at_level(logging.INFO):
        intake.losses.rescanned(target, 2)
    assert (intake.losses.rescans, intake.losses.found) == (1, 2)
    assert f"rescan after a loss from STREAMER:s1: 2 files found in {tmp_path}/ts" in caplog.text
