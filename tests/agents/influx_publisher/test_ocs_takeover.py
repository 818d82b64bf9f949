"""An OCS site's InfluxDB, taken over. OCS's own InfluxDB publisher (ocs 0.12's `Publisher`,
what its InfluxDBAgent runs) and ours write one feed's event into the real InfluxDB: the
measurements, tag sets, field names, field types and points are the same, with either of OCS's
protocols. Then ours writes the next events of a feed into a database OCS's filled: nothing
is refused."""

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


def test_a_database_ocs_filled_is_taken_over_with_nothing_lost(
    influxdb: InfluxDatabase, ops_driver
):
    ocs_publish(influxdb, "line", T0)  # OCS's default protocol
    port = influxdb.url.rsplit(":", 1)[1]
    pub = ops_driver(
        "InfluxPublisher", "--host", "127.0.0.1", "--port", port, "--database", influxdb.name,
        "--flush-interval", "0.05",
    )  # fmt: skip
    assert pub("start", "record").status == 0
    wait_until(lambda: pub("status", "record").session["status"] == "running")
    # the same series, later: what OCS's would have written next (into a database of its own)
    following = InfluxDatabase(influxdb.server, f"{influxdb.name}_next")
    for payload, info in ocs_publish(following, "line", T0 + 10, T0 + 20):
        pub.call(pub.instance._on_event, payload, info)
    pub("stop", "record")
    data = pub("wait", "record", timeout=20).session["data"]
    assert (data["written"], data["rejected"], data["last_rejection"]) == (24, 0, None)
    stored = contents(influxdb)
    assert len(stored[ADDRESS]["points"]) == 12
    assert stored[ADDRESS]["fields"]["count"] == "integer"
    assert [p[2]["count"] for p in stored[ADDRESS]["points"]] == [0, 1, 2, 3] * 3
    by_channel = [p[0] for p in stored["FakeDataAgent"]["points"]]
    assert len(by_channel) == 24 and len(set(by_channel)) == 2
