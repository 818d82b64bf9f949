"""An OCS site's InfluxDB, taken over. OCS's own InfluxDB publisher (ocs 0.12's `Publisher`,
what its InfluxDBAgent runs) and ours write one feed's event into the real InfluxDB: the
measurements, tag sets, field names, field types and points are the same, with either of OCS's
protocols. Then ours writes the next events of a feed into a database OCS's filled: nothing
is refused, and what it adds is what OCS's would have. With ``--layout floats`` it carries on
a database it filled before it followed OCS's layout."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from socs_like.testing import wait_until
from socs_like.testing.influxdb import InfluxDatabase
from socs_like_agents.influx_publisher.layout import Layout
from socs_like_agents.influx_publisher.lineprotocol import Lines
from socs_like_agents.influx_publisher.writer import InfluxWriter
from socs_like_agents.recording.intake import FeedIntake

T0 = 1_795_920_000.0
ADDRESS = "observatory.fake-data1"  # the agent whose feed ocs_publisher.py writes


def ocs_publish(db: InfluxDatabase, protocol: str, *starts: float) -> list[Any]:
    """Write an OCS feed's events (one per start time) with OCS's publisher
    (``ocs_publisher.py``); the events it wrote, as ``[payload, feed_info]`` pairs."""
    script = Path(__file__).with_name("ocs_publisher.py")
    port = str(db.server.http_port)
    done = subprocess.run(
        [sys.executable, script, port, db.name, protocol, *map(str, starts)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    events: list[Any] = json.loads(done.stdout)
    return events


def contents(db: InfluxDatabase) -> dict[str, Any]:
    """Per measurement: its tag keys, its field types, and every point (tags, time, values)."""
    out: dict[str, Any] = {}
    for series in db.query("SHOW FIELD KEYS"):
        out[series["name"]] = {"fields": dict(series["values"]), "tags": [], "points": []}
    for series in db.query("SHOW TAG KEYS"):
        out[series["name"]]["tags"] = sorted(v[0] for v in series["values"])
    for measurement, found in out.items():
        for series in db.query(f'SELECT * FROM "{measurement}" GROUP BY *'):
            tags = tuple(sorted(series["tags"].items()))
            for row in series["values"]:
                values = dict(zip(series["columns"], row, strict=True))
                time = values.pop("time")
                found["points"].append(
                    (tags, time, {k: v for k, v in values.items() if v is not None})
                )
        found["points"].sort(key=repr)
    return out


@pytest.mark.parametrize("protocol", ["line", "json"])
def test_ours_writes_what_ocs_publisher_writes(influxdb: InfluxDatabase, protocol: str):
    theirs = InfluxDatabase(influxdb.server, f"{influxdb.name}_ocs")  # OCS's creates it
    [(event, info)] = ocs_publish(theirs, protocol, T0)
    blocks = FeedIntake("observatory", "exclude_influx").take(copy.deepcopy(event), info, T0)
    result = InfluxWriter(influxdb.url, influxdb.name).write([Lines.of(blocks, T0)])
    assert (result.written, result.rejected) == (12, 0)

    expected = contents(theirs)
    assert {m: (c["tags"], c["fields"]) for m, c in expected.items()} == {
        ADDRESS: (
            ["feed"],
            {"count": "integer", "on": "boolean", "state": "string", "temp": "float"},
        ),
        "FakeDataAgent": (
            ["address_root", "channel", "feed", "instance_id"],
            {"temperature": "float"},
        ),
    }
    assert len(expected[ADDRESS]["points"]) == 4 and len(expected["FakeDataAgent"]["points"]) == 8
    assert contents(influxdb) == expected


def publish_with_ours(ops_driver, db: InfluxDatabase, events: list[Any], *args: str) -> Any:
    """Hand `events` to our InfluxPublisher (in this process) writing to `db`; its
    ``record`` session data once stopped."""
    port = db.url.rsplit(":", 1)[1]
    pub = ops_driver(
        "InfluxPublisher", "--host", "127.0.0.1", "--port", port, "--database", db.name,
        "--flush-interval", "0.05", *args,
    )  # fmt: skip
    assert pub("start", "record").status == 0
    wait_until(lambda: pub("status", "record").session["status"] == "running")
    for payload, info in events:
        pub.call(pub.instance.listener.on_event, payload, info)
    pub("stop", "record")
    return pub("wait", "record", timeout=20).session["data"]


def test_a_database_ocs_filled_is_taken_over_with_nothing_lost(
    influxdb: InfluxDatabase, ops_driver
):
    ocs_publish(influxdb, "line", T0)  # OCS's default protocol
    # the same series, later: what OCS's would have written next (into a database of its own)
    following = InfluxDatabase(influxdb.server, f"{influxdb.name}_next")
    events = ocs_publish(following, "line", T0 + 10, T0 + 20)
    data = publish_with_ours(ops_driver, influxdb, events)
    assert (data["written"], data["rejected"], data["last_rejection"]) == (24, 0, None)
    assert data["empty"] == 0 and data["pending"] == 0
    stored = contents(influxdb)
    assert len(stored[ADDRESS]["points"]) == 12 and len(stored["FakeDataAgent"]["points"]) == 24
    assert stored[ADDRESS]["fields"]["count"] == "integer"
    later = {m: [p for p in c["points"] if p[1] >= (T0 + 10) * 1e6] for m, c in stored.items()}
    assert later == {m: c["points"] for m, c in contents(following).items()}


def test_the_floats_layout_carries_on_a_database_this_publisher_filled_before(
    influxdb: InfluxDatabase, ops_driver
):
    scratch = InfluxDatabase(influxdb.server, f"{influxdb.name}_ocs")
    first, second, third = ocs_publish(scratch, "json", T0, T0 + 10, T0 + 20)
    # what this publisher wrote before it followed OCS's layout: numbers as floats, untagged
    blocks = FeedIntake("observatory", "exclude_influx").take(*first, T0)
    InfluxWriter(influxdb.url, influxdb.name).write([Lines.of(blocks, T0, Layout.FLOATS)])
    data = publish_with_ours(ops_driver, influxdb, [second], "--layout", "floats")
    assert (data["written"], data["rejected"]) == (8, 0)  # both blocks: fields of one point
    [stored] = contents(influxdb).values()
    assert stored["fields"]["count"] == "float" and len(stored["points"]) == 8
    # OCS's layout there loses each status point (a float field written as an integer)
    data = publish_with_ours(ops_driver, influxdb, [third])
    assert (data["written"], data["rejected"]) == (8, 4)
