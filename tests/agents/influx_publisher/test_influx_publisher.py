"""The InfluxPublisher as a real process, a real FakeData feeding it through the real hub, and a
real InfluxDB server (`influxdb` fixture): what the server holds is compared with what the
feed published."""

from __future__ import annotations

import time
from typing import Any

from socs_like.testing import wait_until
from socs_like.testing.influxdb import InfluxDatabase


def feed_samples(events: list[tuple[Any, dict[str, Any]]]) -> dict[int, tuple[float, float]]:
    """time (µs) -> (channel_00, channel_01) of every sample a feed listener saw."""
    out = {}
    for payload, _ in events:
        block = payload["temps"]
        for i, t in enumerate(block["timestamps"]):
            out[round(t * 1e6)] = (block["data"]["channel_00"][i], block["data"]["channel_01"][i])
    return out


def stored_samples(db: InfluxDatabase, instance_id: str) -> dict[int, tuple[float, float]]:
    rows = db.rows(f"observatory.{instance_id}", "feed = 'false_temperatures'")
    return {r["time"]: (r["channel_00"], r["channel_01"]) for r in rows}


def publisher_args(db: InfluxDatabase, *extra: str) -> list[str]:
    port = db.url.rsplit(":", 1)[1]
    return ["--host", "127.0.0.1", "--port", port, "--database", db.name, *extra]


def recording(client) -> dict[str, Any]:
    """Wait until ``record`` runs (its subscription is made before start-up ops start)."""
    return wait_until(
        lambda: (r := client.record.status()).session.get("status") == "running" and r.session,
        20,
        message="record running",
    )


def test_the_server_holds_every_sample_of_a_feed_with_its_values_and_times(
    influxdb, run_agent, make_client, feed_listener
):
    run_agent("FakeData", "fd-influx", ["--sample-rate", "200", "--frame-length", "0.05"])
    published = feed_listener("fd-influx", "false_temperatures")
    run_agent(
        "InfluxPublisher", "influx1", publisher_args(influxdb, "--flush-interval", "0.2")
    )
    publisher = make_client("influx1")
    recording(publisher)
    fake = make_client("fd-influx")
    fake.acq.start()
    time.sleep(2)
    fake.acq.stop()
    fake.acq.wait(timeout=10)
    time.sleep(0.5)  # the last block's event is on its way to both subscribers
    sent = feed_samples(published.events)
    assert len(sent) >= 200
    stored = wait_until(
        lambda: len(s := stored_samples(influxdb, "fd-influx")) >= len(sent) and s,
        20,
        message=f"{len(sent)} points in InfluxDB",
    )
    assert stored == sent  # every time, every value, exactly: nothing lost, nothing added
    stats = wait_until(
        lambda: (d := publisher.record.status().session["data"])["written"] >= len(sent) and d,
        10,
        message="written counter",
    )
    assert stats["dropped"] == 0 and stats["rejected"] == 0 and stats["pending"] == 0
    assert stats["intake"]["records"]["lost"] == 0
    assert stats["connected"] is True
