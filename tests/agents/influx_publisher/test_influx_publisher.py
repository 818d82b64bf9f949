"""The InfluxPublisher as a real process, a real FakeData feeding it through the real hub, and a
real InfluxDB server (`influxdb` fixture): what the server holds is compared with what the
feed published."""

from __future__ import annotations

import time
from typing import Any

from socs_like.testing import wait_until
from socs_like.testing.hub import free_port
from socs_like.testing.influxdb import InfluxDatabase

from .test_writer import NO_CONTENT, scripted_server


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
    run_agent("InfluxPublisher", "influx1", publisher_args(influxdb, "--flush-interval", "0.2"))
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
    # its own recorded feed too (WAMP does not send a publisher its own events unless asked)
    own = wait_until(lambda: influxdb.rows("observatory.influx1"), 10, message="influx_stats")
    assert {r["feed"] for r in own} == {"influx_stats"} and max(r["written"] for r in own) > 0


# An outage of OUTAGE_S at OUTAGE_RATE samples/s: 4 000 samples wait, so the big queue must hold
# them all, and the small one (64 KiB: hundreds of samples as line protocol) overflows by
# thousands. The count, not the length, is what the queues see (once 30 s at 100/s).
OUTAGE_RATE, OUTAGE_S = 500, 8
FEED = "observatory.fd-outage.feeds.false_temperatures"


def test_an_outage_loses_nothing_within_the_queue_bound_and_counts_drops_beyond_it(
    influxdb, run_agent, make_client, feed_listener
):
    small = InfluxDatabase(influxdb.server, f"{influxdb.name}_small")
    influxdb.server.query(f'CREATE DATABASE "{small.name}"')
    run_agent("FakeData", "fd-outage", ["--sample-rate", str(OUTAGE_RATE)])
    published = feed_listener("fd-outage", "false_temperatures")
    run_agent("InfluxPublisher", "influx-big", publisher_args(influxdb, "--max-queue-mb", "16"))
    run_agent(
        "InfluxPublisher",
        "influx-small",
        publisher_args(small, "--max-queue-mb", "0.0625", "--batch-size", "100"),
    )
    big, little = make_client("influx-big"), make_client("influx-small")
    recording(big)
    recording(little)
    fake = make_client("fd-outage")
    fake.acq.start()
    for publisher in (big, little):  # both write before the outage
        wait_until(lambda p=publisher: p.record.status().session["data"].get("written", 0) > 0, 20)
    influxdb.server.stop()
    time.sleep(OUTAGE_S)
    during = big.record.status().session["data"]
    influxdb.server.start()
    time.sleep(1)
    fake.acq.stop()
    fake.acq.wait(timeout=10)
    time.sleep(0.5)
    sent = feed_samples(published.events)
    assert len(sent) >= 3000  # 500 samples/s for 9 s and more: far more than the small queue holds

    assert during["connected"] is False and during["pending"] >= 2500
    stored = wait_until(
        lambda: len(s := stored_samples(influxdb, "fd-outage")) >= len(sent) and s,
        30,
        message=f"{len(sent)} points in InfluxDB",
    )
    assert stored == sent
    # session data is renewed once a second: wait for the one after the reconnection
    stats = wait_until(lambda: (d := big.record.status().session["data"])["connected"] and d, 10)
    assert stats["dropped"] == 0 and stats["write_errors"] >= 1

    def settled() -> dict[str, Any] | None:
        d = little.record.status().session["data"]
        return d if d["pending"] == 0 and d["written"] + d["dropped"] >= len(sent) else None

    stats = wait_until(settled, 30, message="the small queue emptied")
    kept = stored_samples(small, "fd-outage")
    assert all(sent[t] == v for t, v in kept.items())
    assert len(sent) - len(kept) > 2000
    # Every point received (all feeds: the publishers' own stats too) is written or counted.
    assert stats["intake"]["samples"] == stats["written"] + stats["dropped"]
    # Every sample is stored or counted dropped: nothing is lost uncounted. A sample can be
    # both (51 of 5 000, in 2 of some 12 runs): a write that went out and got no answer
    # (`unanswered`), or an event taken whole though some of its records had come before, and
    # one copy dropped by the queue; so the count of drops can exceed the samples lost.
    surplus = len(kept) + stats["dropped_by_feed"][FEED] - len(sent)
    assert surplus >= 0, (surplus, stats["unanswered"])
    # The queue dropped its oldest: the hole is one run of consecutive samples.
    order = sorted(sent)
    holes = [i for i, t in enumerate(order) if t not in kept]
    assert holes == list(range(holes[0], holes[0] + len(holes)))


def test_an_event_delivered_twice_is_written_once(ops_driver, influxdb):
    pub = ops_driver("InfluxPublisher", *publisher_args(influxdb, "--flush-interval", "0.05"))
    assert pub("start", "record").status == 0
    wait_until(lambda: pub("status", "record").session["status"] == "running")
    info = {
        "agent_address": "observatory.fd9",
        "feed_name": "f",
        "address": "observatory.fd9.feeds.f",
        "record": True,
        "agg_params": {},
    }
    for seq_no, t in [(0, 1.0), (1, 2.0), (1, 2.0), (2, 3.0)]:
        payload = {"b": {"block_name": "b", "timestamps": [t], "data": {"v": [t]}}}
        pub.call(pub.instance.listener.on_event, payload, info | {"seq_no": seq_no, "seq_count": 1})
    pub("stop", "record")
    done = pub("wait", "record", timeout=20).session
    # InfluxDB would store the second copy over the first (same series and time): the
    # counters say whether it was sent
    assert done["data"]["intake"]["duplicate_events"] == 1
    assert done["data"]["written"] == 3
    assert [r["v"] for r in influxdb.rows("observatory.fd9")] == [1.0, 2.0, 3.0]


def test_a_write_without_answer_is_sent_again_and_its_points_counted_unanswered(ops_driver):
    # the first write is read and the connection closed unanswered; the second is stored
    with scripted_server([None, NO_CONTENT]) as url:
        port = url.rsplit(":", 1)[1]
        pub = ops_driver(
            "InfluxPublisher", "--host", "127.0.0.1", "--port", port, "--database", "x",
            "--flush-interval", "0.05",
        )  # fmt: skip
        assert pub("start", "record").status == 0
        wait_until(lambda: pub("status", "record").session["status"] == "running")
        payload = {"b": {"block_name": "b", "timestamps": [1.0, 2.0], "data": {"v": [1.0, 2.0]}}}
        info = {"agent_address": "observatory.fd9", "feed_name": "f", "record": True}
        info |= {"address": "observatory.fd9.feeds.f", "agg_params": {}, "seq_no": 0}
        pub.call(pub.instance.listener.on_event, payload, info | {"seq_count": 1})
        done = wait_until(
            lambda: (d := pub("status", "record").session["data"]).get("written") and d,
            10,
            message="written after the retry",
        )
        pub("stop", "record")
    assert (done["written"], done["write_errors"], done["unanswered"]) == (2, 1, 2)


def test_a_publisher_killed_9_sends_its_queue_when_back_and_asks_for_what_went_by_meanwhile(
    tmp_path, influxdb, run_agent, make_client, feed_listener
):
    run_agent("FakeData", "fd-spool", ["--sample-rate", "100"])
    published = feed_listener("fd-spool", "false_temperatures")
    spool = ["--spool-dir", str(tmp_path / "spool")]
    # nothing answers at this port: every point waits in the queue
    away = ["--host", "127.0.0.1", "--port", str(free_port()), "--database", influxdb.name]
    first = run_agent("InfluxPublisher", "influx-spool", [*away, *spool])
    publisher = make_client("influx-spool")
    recording(publisher)
    fake = make_client("fd-spool")
    fake.acq.start()
    wait_until(
        lambda: publisher.record.status().session["data"].get("pending", 0) >= 200,
        20,
        message="queued",
    )
    first.kill()
    time.sleep(1)  # published while no publisher runs
    run_agent("InfluxPublisher", "influx-spool", publisher_args(influxdb, *spool))
    recording(publisher)
    time.sleep(1)
    fake.acq.stop()
    fake.acq.wait(timeout=10)
    time.sleep(0.5)

    expected = feed_samples(published.events)
    assert len(expected) >= 300
    stored = wait_until(
        lambda: len(s := stored_samples(influxdb, "fd-spool")) >= len(expected) and s,
        30,
        message=f"{len(expected)} points in InfluxDB",
    )
    # the first publisher's queue, and what went by asked of FakeData: nothing lost or added
    assert stored == expected
    assert data(publisher)["intake"]["missed_while_down"] == 0


def data(client) -> dict[str, Any]:
    """``record``'s session data ({} until its first renewal)."""
    return client.record.status().session["data"]
