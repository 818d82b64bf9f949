"""An InfluxDB outage that overflows the publisher's queue, with the demo's kind of feed at a
high rate: a PysmurfMonitor publishing register values (a one-point block per register, so
batches of thousands of blocks) and a FakeData beside it, all real processes on the real hub,
and a real InfluxDB stopped and started. The publisher stays joined to the hub and loses
nothing at its intake; the queue drops its oldest, counted by feed; once the server is back,
every point published is in InfluxDB or counted as dropped, exactly."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

from socs_like.testing import free_port, wait_until
from socs_like.testing.influxdb import InfluxDatabase
from socs_like_agents.pysmurf_monitor.simulator import Publisher

from .test_influx_publisher import feed_samples, publisher_args, recording, stored_samples

RATE = 4000  # register values per second
REGISTERS = RATE  # distinct registers: each event carries a block of about one point for each
# Two writes of 20 000 points in flight, so 40 000 one-point blocks out at once; the queue
# holds about 10 s of the feeds as line protocol.
BATCH = "20000"
BOUND_MB = "4"
# Retries at most 1 s apart (5 s by default): the dozen it takes come within the outage, and
# more of them carry full batches.
RETRY_MAX = "1"


class RegisterSender(threading.Thread):
    """Sends `RATE` register values a second to a monitor, each its own time, until stopped."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.stopping = threading.Event()

    def run(self) -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            streamer = Publisher("STREAMER:ufm_mv1", sock, ("127.0.0.1", self.port))
            start, sent, when = time.monotonic(), 0, time.time()
            while not self.stopping.is_set():
                due = int((time.monotonic() - start) * RATE)
                for _ in range(due - sent):
                    when = max(time.time(), when + 1e-5)  # distinct times, so no point merges
                    path = f"AMCc.FpgaTopLevel.AppTop.reg{sent % REGISTERS}"
                    streamer.send("metadata", {"path": path, "value": sent, "type": "int"}, when)
                    sent += 1
                time.sleep(0.01)


class Published:
    """Points of every recorded feed on the hub, by feed address, each event once."""

    def __init__(self) -> None:
        self.points: dict[str, int] = {}
        self._seen: set[tuple[str, int]] = set()
        self._lock = threading.Lock()

    def __call__(self, payload: Any, info: dict[str, Any]) -> None:
        if not info.get("record"):
            return
        with self._lock:
            key = (info["address"], info["seq_no"])
            if key not in self._seen:
                self._seen.add(key)
                n = sum(len(block["timestamps"]) for block in payload.values())
                self.points[info["address"]] = self.points.get(info["address"], 0) + n


def register_values_stored(db: InfluxDatabase, measurement: str) -> int:
    # one field per point (its register), so the counts of all fields add up to the points
    [series] = db.query(f'SELECT COUNT(*) FROM "{measurement}"')
    return sum(series["values"][0][1:])


def test_an_outage_past_the_queue_bound_keeps_the_hub_and_accounts_for_every_point(
    influxdb, run_agent, make_client, feed_listener, tmp_path
):
    port = free_port("udp")
    run_agent(
        "PysmurfMonitor",
        "pm-outage",
        [
            *("--udp-port", str(port), "--udp-host", "127.0.0.1"),
            *("--db-path", str(tmp_path / "files.db"), "--local-root", str(tmp_path / "data")),
        ],
    )
    run_agent("FakeData", "fd-witness", ["--sample-rate", "50"])
    publisher_proc = run_agent(
        "InfluxPublisher",
        "influx-outage",
        publisher_args(
            influxdb, "--max-queue-mb", BOUND_MB, "--batch-size", BATCH, "--retry-max", RETRY_MAX
        ),
    )
    publisher = make_client("influx-outage")
    recording(publisher)
    published = Published()
    make_client("influx-outage").subscribe("observatory..feeds.", published, match="wildcard")
    witness = feed_listener("fd-witness", "false_temperatures")
    fake = make_client("fd-witness")
    monitor = make_client("pm-outage")
    wait_until(lambda: monitor.run.status().session.get("status") == "running", 20)
    sender = RegisterSender(port)
    fake.acq.start()
    sender.start()
    try:
        wait_until(lambda: publisher.record.status().session["data"].get("written", 0) > RATE, 30)
        influxdb.server.stop()
        largest = 0

        def overflowed_and_retried() -> bool:
            nonlocal largest
            d = publisher.record.status().session["data"]
            largest = max(largest, d["pending_bytes"])
            # a dozen failed writes: the retries that once stalled the loop for seconds
            return d["dropped"] > RATE and d["write_errors"] >= 12

        wait_until(overflowed_and_retried, 180, interval=0.5, message="the queue overflowed")
        influxdb.server.start()
        wait_until(lambda: publisher.record.status().session["data"]["connected"], 30)
    finally:
        sender.stopping.set()
        sender.join()
    fake.acq.stop()
    fake.acq.wait(timeout=10)

    meta = "observatory.pm-outage.feeds.ufm_mv1_meta"
    witness_feed = "observatory.fd-witness.feeds.false_temperatures"

    def accounted() -> dict[str, Any] | None:
        d = publisher.record.status().session["data"]
        by_feed = d["dropped_by_feed"]
        stored = {
            meta: register_values_stored(influxdb, "observatory.pm-outage"),
            witness_feed: len(stored_samples(influxdb, "fd-witness")),
        }
        over = {f: stored[f] + by_feed.get(f, 0) - published.points.get(f, 0) for f in stored}
        # stored or counted dropped, each point (a point may be both: see the outage test of
        # test_influx_publisher)
        return d if min(over.values()) >= 0 and d["pending"] == 0 else None

    final = wait_until(accounted, 120, interval=1.0, message="every point written or dropped")
    # it stayed joined: one join, no loss, not a record missing at its intake
    log = publisher_proc.output()
    assert log.count("joined the hub") == 1 and "lost the hub" not in log
    assert final["intake"]["records"]["lost"] == 0
    # within its bound, and overflow dropped: the oldest, so the witness lost one run of samples
    assert largest <= final["max_queue_bytes"] == 4 * 2**20
    assert final["dropped_by_feed"][meta] > RATE and final["dropped_by_feed"][witness_feed] > 0
    assert final["rejected"] == 0 and final["empty"] == 0
    sent = feed_samples(witness.events)
    kept = stored_samples(influxdb, "fd-witness")
    assert all(sent[t] == v for t, v in kept.items())
    order = sorted(sent)
    holes = [i for i, t in enumerate(order) if t not in kept]
    assert holes == list(range(holes[0], holes[0] + len(holes)))
