"""The FileRecorder as a real process, fed by a real FakeData through the real hub: what its
HDF5 files hold is compared with what the feed published."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

from socs_like.client import ClientError
from socs_like.testing import wait_until
from socs_like_agents.file_recorder.h5file import read_file, read_files


def recording(client) -> dict[str, Any]:
    """Wait until ``record`` runs (its subscription is made before start-up ops start)."""

    def running() -> dict[str, Any] | None:
        try:
            session = client.record.status().session
        except ClientError:  # not (yet, or again) on the hub
            return None
        return session if session.get("status") == "running" else None

    return wait_until(running, 20, message="record running")


def files_in(folder: Path) -> list[Path]:
    return sorted(folder.glob("*/*.h5"), key=lambda p: p.stat().st_mtime)


def test_values_read_back_equal_values_published(tmp_path, run_agent, make_client, feed_listener):
    run_agent("FakeData", "fd-h5", ["--sample-rate", "200", "--num-channels", "3"])
    published = feed_listener("fd-h5", "false_temperatures")
    run_agent(
        "FileRecorder",
        "rec1",
        ["--data-dir", str(tmp_path / "data"), "--flush-interval", "0.2", "--time-per-file", "1"],
    )
    recorder = make_client("rec1")
    recording(recorder)
    fake = make_client("fd-h5")
    fake.acq.start()
    time.sleep(2.5)
    # a reader sees a consistent file while the recorder writes it
    live = read_file(files_in(tmp_path / "data")[-1])
    assert ("fd-h5", "false_temperatures", "temps") in live
    fake.acq.stop()
    sent = int(fake.acq.wait(timeout=10).session["data"]["samples_sent"])
    wait_until(lambda: sum(len(p["temps"]["timestamps"]) for p, _ in published.events) == sent)
    stats = wait_until(
        lambda: (
            (d := recorder.record.status().session["data"])["intake"]["samples"] >= sent
            and d["pending"] == 0
            and d
        ),
        10,
        message="every sample written",
    )
    recorder.record.stop()
    recorder.record.wait(timeout=10)

    files = files_in(tmp_path / "data")
    assert len(files) >= 3  # rotated every second over ~3 s
    assert stats["files_opened"] == len(files)
    got = read_files(files)[("fd-h5", "false_temperatures", "temps")]
    expected_times: list[float] = []
    expected: dict[str, list[float]] = {f"channel_{i:02d}": [] for i in range(3)}
    for payload, _ in published.events:
        expected_times.extend(payload["temps"]["timestamps"])
        for name, column in payload["temps"]["data"].items():
            expected[name].extend(column)
    assert got["timestamps"] == expected_times
    assert got["data"] == expected
    assert stats["dropped"] == 0 and stats["intake"]["records"]["lost"] == 0


def test_a_hub_restart_writes_no_duplicates_and_asks_for_what_went_by_before_it_resubscribed(
    private_hub, tmp_path, run_agent, make_client
):
    fd = run_agent("FakeData", "fd-h5r", ["--sample-rate", "100"], on=private_hub)
    rec = run_agent(
        "FileRecorder",
        "rec-restart",
        ["--data-dir", str(tmp_path / "data"), "--flush-interval", "0.2"],
        on=private_hub,
    )
    recording(make_client("rec-restart", on=private_hub))
    fake = make_client("fd-h5r", on=private_hub, timeout=3.0)
    fake.acq.start()
    time.sleep(1.5)
    private_hub.hub.kill()
    killed = time.time()
    wait_until(lambda: "lost the hub" in rec.output(), message="the recorder lost the hub")
    # frozen until FakeData has re-joined and sent what it buffered: that reaches nobody here
    os.kill(rec.pid, signal.SIGSTOP)
    try:
        time.sleep(1)  # both agents go on: the feed buffers, the recorder waits
        private_hub.hub.start()
        back = time.time()
        wait_until(lambda: "joined the hub" in fd.output().split("lost the hub")[-1], 30)
        time.sleep(0.5)  # what it buffered is sent as it joins
    finally:
        os.kill(rec.pid, signal.SIGCONT)
    recorder = make_client("rec-restart", on=private_hub)
    recording(recorder)
    fake = make_client("fd-h5r", on=private_hub)

    def samples() -> int:
        return int(recorder.record.status().session["data"]["intake"]["samples"])

    # rejoining takes the agents a backoff or two; then well past what the feed buffered
    # during the 2 s outage (100 samples/s), so that samples taken after it are recorded
    at_restart = samples()
    wait_until(lambda: samples() > at_restart + 400, 30, message="samples after the restart")
    fake.acq.stop()
    sent = int(fake.acq.wait(timeout=10).session["data"]["samples_sent"])
    stats = wait_until(
        lambda: (
            (d := recorder.record.status().session["data"])["pending"] == 0
            and d["intake"]["samples"] > 0
            and d
        ),
        10,
    )
    time.sleep(0.5)
    recorder.record.stop()
    recorder.record.wait(timeout=10)

    got = read_files(files_in(tmp_path / "data"))[("fd-h5r", "false_temperatures", "temps")]
    times = got["timestamps"]
    # no sample twice; rows are in arrival order (README), and what was caught up on may
    # arrive after newer samples when the machine is loaded
    assert len(set(times)) == len(times)
    assert times[0] < killed - 1 and times[-1] > back  # before and after the outage
    # What the hub could not deliver (events in flight when it died, and records the
    # agent sent before the recorder had subscribed again) the recorder asked FakeData for.
    assert len(times) == sent
    assert stats["intake"]["missed_while_away"] == 0 and stats["intake"]["records"]["lost"] == 0


def test_a_recorder_killed_9_writes_its_queue_when_back_and_asks_for_what_went_by_meanwhile(
    tmp_path, run_agent, make_client, feed_listener
):
    run_agent("FakeData", "fd-h5k", ["--sample-rate", "100"])
    published = feed_listener("fd-h5k", "false_temperatures")
    data = ["--data-dir", str(tmp_path / "data")]
    # a round an hour: what the first recorder receives waits in its queue
    first = run_agent("FileRecorder", "rec-k", [*data, "--flush-interval", "3600"])
    recorder = make_client("rec-k")
    recording(recorder)
    fake = make_client("fd-h5k")
    fake.acq.start()
    published.wait_for(lambda events: len(events) >= 10)
    first.kill()
    killed = time.time()
    # published while no recorder runs: a second of samples
    published.wait_for(lambda events: events[-1][0]["temps"]["timestamps"][-1] > killed + 1)
    fake.acq.stop()  # and then the feed is quiet: no later event tells of the gap
    sent = int(fake.acq.wait(timeout=10).session["data"]["samples_sent"])
    wait_until(lambda: sum(len(p["temps"]["timestamps"]) for p, _ in published.events) == sent)
    run_agent("FileRecorder", "rec-k", [*data, "--flush-interval", "0.2"])
    recording(recorder)

    expected = [t for payload, _ in published.events for t in payload["temps"]["timestamps"]]
    # the first recorder wrote nothing: this one writes its queue and what went by
    stats = wait_until(
        lambda: (d := recorder.record.status().session["data"]).get("written", 0) >= sent and d,
        10,
        message="every sample written",
    )
    recorder.record.stop()
    recorder.record.wait(timeout=10)
    got = read_files(files_in(tmp_path / "data"))[("fd-h5k", "false_temperatures", "temps")]
    assert stats["intake"]["missed_while_down"] == 0
    assert got["timestamps"] == expected  # the first recorder's queue too, each sample once


def test_a_record_filled_late_leaves_the_spool_resuming_from_the_newest(tmp_path, ops_driver):
    args = ("--data-dir", str(tmp_path / "data"), "--flush-interval", "3600")
    first = ops_driver("FileRecorder", *args)
    assert first("start", "record").status == 0
    wait_until(lambda: first("status", "record").session["status"] == "running")
    info = {
        "agent_address": "observatory.fd9",
        "feed_name": "f",
        "address": "observatory.fd9.feeds.f",
        "record": True,
        "agg_params": {},
    }
    # 0, then the hub is lost; 3 arrives (1..2 counted missed), then 1 asked of the publisher
    for seq_no in (0, None, 3, 1):
        if seq_no is None:
            first.call(first.instance.intake.away)
            continue
        payload = {"b": {"block_name": "b", "timestamps": [float(seq_no)], "data": {"v": [1.0]}}}
        event = info | {"seq_no": seq_no, "seq_count": 1}
        first.call(first.instance.listener.on_event, payload, event)
    # killed -9 before a round committed anything: a new process resumes from its spool
    second = ops_driver("FileRecorder", *args)
    assert second.call(second.instance._resume) == {"observatory.fd9.feeds.f": 3}
    first("stop", "record")
    assert first("wait", "record", timeout=10).session["status"] == "done"
