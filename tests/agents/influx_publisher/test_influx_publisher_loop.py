"""The InfluxPublisher's heavy path, encoding and sending big batches to a real InfluxDB,
runs off its event loop: the publisher keeps answering the hub while it writes."""

from __future__ import annotations

from socs_like.testing import wait_until
from socs_like.testing.loop import LoopProbe

from .test_influx_publisher import publisher_args, recording

# FakeData at 20000 samples/s on 10 channels, written in batches of 50000 points: each write
# encodes and sends 500 000 values (seconds of work for the loop, if it were done there).
RATE, BATCH = 20_000, 50_000


def test_big_batches_are_written_while_the_loop_stays_free(
    influxdb, run_agent, make_client, feed_listener
):
    run_agent("FakeData", "fd-influx-heavy", ["--sample-rate", str(RATE), "--num-channels", "10"])
    run_agent(
        "InfluxPublisher",
        "influx-heavy",
        publisher_args(influxdb, "--batch-size", str(BATCH), "--flush-interval", "5"),
    )
    publisher = make_client("influx-heavy")
    recording(publisher)
    fake = make_client("fd-influx-heavy")
    with LoopProbe(publisher, feed_listener("influx-heavy", "heartbeat")) as probe:
        fake.acq.start()
        wait_until(
            lambda: publisher.record.status().session["data"].get("written", 0) >= 3 * BATCH,
            90,
            message="three big batches written",
        )
        fake.acq.stop()
    stats = publisher.record.status().session["data"]
    assert stats["rejected"] == 0 and stats["write_errors"] == 0
    probe.assert_responsive()  # writing on the loop stalled it 2.2 s a batch
