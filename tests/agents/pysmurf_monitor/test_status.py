"""What the monitor shows, built from its parts without an agent: the ``run`` session data,
``udp_stats``, the stop message, when a ``--test-mode`` run is done; and when ``run`` does its
periodic work."""

from socs_like.db import Database
from socs_like.paths import Roots
from socs_like.watchdog import LoopStats
from socs_like_agents.filedb.queries import Registered
from socs_like_agents.pysmurf_monitor import status
from socs_like_agents.pysmurf_monitor.announcements import AnnouncementQueue
from socs_like_agents.pysmurf_monitor.datagrams import encode
from socs_like_agents.pysmurf_monitor.hashing import HashPool
from socs_like_agents.pysmurf_monitor.intake import Intake
from socs_like_agents.pysmurf_monitor.lost import LossRecovery
from socs_like_agents.pysmurf_monitor.recovery import RecoveryPager
from socs_like_agents.pysmurf_monitor.registration import RegistrationRules
from socs_like_agents.pysmurf_monitor.retry import RetryGate
from socs_like_agents.pysmurf_monitor.schedule import Every, RescanSchedule
from socs_like_agents.pysmurf_monitor.udp import KernelDrops, ReceiveBuffer

HEALTH = {"lag_ms": 12.0, "warning_ms": 250.0, "stalls": 2}  # the agent's loop_health()


def g3(i: int, seq: int) -> bytes:
    path = f"/data/ts/17320/s1/1732022318_{i:03d}.g3"
    return encode(id="STREAMER:s1", type="g3_file", payload={"path": path}, seq_no=seq, time=1.0)


def busy_intake() -> Intake:
    intake = Intake(
        rules=RegistrationRules(local_roots=Roots(["/data"])),
        queue=AnnouncementQueue(100, batch_size=10),
        losses=LossRecovery(delay=2.0),
        publish_session=lambda message: None,
        publish_meta=lambda feed, sample: None,
    )
    for i, seq in enumerate((0, 1, 4)):  # 2 and 3 lost
        intake.receive(g3(i, seq), 100.0, 100.0)
    intake.receive(b"{oops", 100.0, 100.0)
    return intake


def test_run_session_data_is_read_from_the_parts(tmp_path) -> None:
    intake = busy_intake()
    intake.counts["registered"] += 1
    gate = RetryGate()
    gate.failed(1.0, "OperationalError: database is locked")
    db = Database(str(tmp_path / "files.db"))
    drops = KernelDrops(base=10)
    drops.update(13)
    running = status.Running(
        db=db,
        recovery=RecoveryPager(until=0),
        receive_buffer=ReceiveBuffer(wanted=8, granted=425984, forced=False),
        drops=drops,
    )
    running.loop_stats(0.3004, HEALTH)
    data = status.run_session_data(
        now=123.0,
        intake=intake,
        hashes=HashPool(),
        gate=gate,
        running=running,
        loop=running.loop_stats(0.1, HEALTH),  # the worst since run started stays
        meta_feeds={"ufm_mv27_meta": object(), "ufm_mv19_meta": object()},
    ).as_dict()
    assert data["timestamp"] == 123.0
    assert {k: data["udp"][k] for k in ("datagrams", "receive_buffer", "kernel_drops")} == {
        "datagrams": 4,
        "receive_buffer": 425984,
        "kernel_drops": 3,
    }
    assert data["udp"]["rejected"] == {"bad_json": 1} and data["udp"]["by_type"] == {"g3_file": 3}
    assert data["sequence"]["lost"] == 2 and data["publishers"]["STREAMER:s1"]["lost"] == 2
    files = data["files"]
    assert (files["announced"], files["registered"], files["waiting_for_db"]) == (3, 1, 3)
    assert files["last_file"] == "/data/ts/17320/s1/1732022318_002.g3"
    assert data["losses"] == {
        "gaps": 1,
        "requested": 1,
        "unrecoverable": 0,
        "rescans": 0,
        "found": 0,
        "pending": ["STREAMER:s1"],
    }
    assert data["loop"] == {"max_lag_ms": 300.4, "stalls": 2, "threshold_ms": 250.0}
    assert data["metadata"] == {"samples": 0, "feeds": ["ufm_mv19_meta", "ufm_mv27_meta"]}
    assert data["db"] == {
        "url": db.display_url,
        "errors": 1,
        "last_error": "OperationalError: database is locked",
        "lock_retries": 0,
    }
    db.dispose()


def test_before_run_opened_anything_the_session_data_says_so() -> None:
    data = status.run_session_data(
        now=1.0,
        intake=busy_intake(),
        hashes=HashPool(),
        gate=RetryGate(),
        running=None,
        loop=LoopStats(max_lag_ms=0.0, stalls=0, threshold_ms=250.0),
        meta_feeds=(),
    ).as_dict()
    assert (data["udp"]["receive_buffer"], data["udp"]["kernel_drops"]) == (None, None)
    assert data["db"] == {"url": None, "errors": 0, "last_error": None, "lock_retries": 0}
    assert data["files"]["recovered"] == 0


def test_udp_stats_and_the_stop_message() -> None:
    intake = busy_intake()
    stats = status.udp_stats(5.0, intake, kernel_drops=7).as_dict()
    assert stats == {
        "timestamp": 5.0,
        "datagrams": 4,
        "rejected": {"bad_json": 1},
        "ignored": {},
        "kernel_drops": 7,
        "sequence": stats["sequence"] | {"lost": 2},
        "publishers": {"STREAMER:s1": stats["publishers"]["STREAMER:s1"]},
    }
    intake.counts.update(registered=2, checksummed=1)
    assert status.stopped(intake) == (
        "Stopped: 2 files registered, 1 checksummed, 3 announcements not yet written."
    )
    intake.queue.written(3)
    assert status.stopped(intake) == "Stopped: 2 files registered, 1 checksummed."


def test_a_test_mode_run_is_done_after_its_first_files_are_written_and_hashed() -> None:
    intake, hashes = busy_intake(), HashPool()
    recovery = RecoveryPager(until=0)
    assert not status.first_files_done(intake, hashes, recovery)  # nothing registered yet
    intake.counts["registered"] = 3
    assert not status.first_files_done(intake, hashes, recovery)  # still queued
    intake.queue.written(3)
    hashes.submit([Registered(id=1, local_path="/data/x")])
    assert not status.first_files_done(intake, hashes, recovery)  # still to be hashed
    assert not status.first_files_done(intake, HashPool(), RecoveryPager(until=5))  # recovering
    assert status.first_files_done(intake, HashPool(), recovery)


def test_periodic_work_comes_due_then_waits_its_interval() -> None:
    stats = Every(10.0, first=10.0)
    assert [stats.due(t) for t in (0.0, 10.0, 15.0, 20.5, 30.0, 30.5)] == [
        False, True, False, True, False, True,
    ]  # fmt: skip


def test_rescans_at_start_twice_more_when_old_enough_then_every_interval() -> None:
    once = RescanSchedule(100.0, enabled=True, min_age=10.0, interval=0.0)
    # the pass at 120 takes files written up to 110: those still written after the start
    assert [once.due(t) for t in (100.0, 105.0, 110.0, 115.0, 120.0, 1000.0)] == [
        True, False, True, False, True, False,
    ]  # fmt: skip
    every = RescanSchedule(100.0, enabled=True, min_age=10.0, interval=30.0)
    due = [t for t in (100.0, 105.0, 110.0, 120.0, 125.0, 150.0, 155.0, 180.0) if every.due(t)]
    assert due == [100.0, 110.0, 120.0, 150.0, 180.0]
    off = RescanSchedule(100.0, enabled=False, min_age=10.0, interval=30.0)
    assert not any(off.due(t) for t in (100.0, 110.0, 1000.0))
