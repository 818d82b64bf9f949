"""OCS's own InfluxDB publisher writing one feed's events, in a process of its own (OCS's code
selects txaio's Twisted flavour at import, ours the asyncio one).

``python ocs_publisher.py PORT DATABASE PROTOCOL START...`` writes one event per START (UNIX
s) of an OCS feed to the InfluxDB on 127.0.0.1:PORT with OCS 0.12's `Publisher` (what its
InfluxDBAgent's ``record`` runs), and prints the events as JSON ``[payload, feed_info]``
pairs, so that the test gives ours exactly the same. Each event's blocks are made by OCS's
own feed `Block`: one of integers, floats, strings and booleans, and one tagged as OCS's
FakeDataAgent tags its channels; samples 0.5 s apart (exact as OCS's nanoseconds and as our
microseconds).
"""

import contextlib
import json
import queue
import sys

from ocs.agents.influxdb_publisher.drivers import Publisher
from ocs.ocs_feed import Block

ADDRESS = "observatory.fake-data1"
FEED_INFO = {  # what OCS's Feed.encoded() sends with every event
    "agent_address": ADDRESS,
    "agg_params": {},
    "feed_name": "false_temperatures",
    "address": f"{ADDRESS}.feeds.false_temperatures",
    "record": True,
    "session_id": "1795919999.0",
    "agent_class": "FakeDataAgent",
}
CHANNEL_TAGS = {f"channel_0{c}": {"channel": c, "_field": "temperature"} for c in range(2)}


def event(start):
    times = [start + k * 0.5 for k in range(4)]
    status = Block("status", ["count", "temp", "state", "on"])
    data = {
        "count": [0, 1, 2, 3],
        "temp": [0.5, 1.0, 1.5, 2.0],
        "state": ["idle", "ramp", "ramp", "hold"],
        "on": [False, True, True, False],
    }
    status.extend({"timestamps": times, "data": data})
    temps = Block("temps", list(CHANNEL_TAGS))
    data = {"channel_00": [0.1, 0.2, 0.3, 0.4], "channel_01": [1.1, 1.2, 1.3, 1.4]}
    temps.extend({"timestamps": times, "data": data, "influxdb_tags": CHANNEL_TAGS})
    return {b.name: b.encoded() for b in (status, temps)}


def main(port, database, protocol, *starts):
    events = [[event(float(s)), FEED_INFO] for s in starts]
    incoming = queue.Queue()
    for payload, info in json.loads(json.dumps(events)):  # as they come off the wire
        incoming.put((payload, info))
    with contextlib.redirect_stdout(sys.stderr):  # it prints its settings
        publisher = Publisher("127.0.0.1", database, incoming, port=int(port), protocol=protocol)
        publisher.process_incoming_data()
    if not publisher.connected:
        sys.exit("OCS's publisher failed to write (its log says why)")
    json.dump(events, sys.stdout)


if __name__ == "__main__":
    main(*sys.argv[1:])
