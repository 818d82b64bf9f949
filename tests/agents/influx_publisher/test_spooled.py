"""The publisher's spool records: the format a later run (or a later version) reads back."""

from __future__ import annotations

import pytest

from socs_like_agents.influx_publisher import spooled
from socs_like_agents.influx_publisher.lineprotocol import Lines


def test_a_record_is_a_json_line_of_what_rebuilds_its_lines_then_its_line_protocol():
    lines = Lines("obs.fd.feeds.f", b"m v=1 1\nm v=2 2\n", 2, 1, 9.5, 2e-6)
    record = spooled.encode(lines, 41)
    assert record == (
        b'{"feed":"obs.fd.feeds.f","points":2,"received":9.5,"newest":2e-06,"last":41}\n'
        b"m v=1 1\nm v=2 2\n"
    )
    # its empty points were counted by the run that received it
    assert spooled.decode(record) == (
        Lines("obs.fd.feeds.f", b"m v=1 1\nm v=2 2\n", 2, 0, 9.5, 2e-6),
        "obs.fd.feeds.f",
        41,
    )


@pytest.mark.parametrize(
    "payload",
    [
        b"not json\n",
        b'{"feed":"f"}\nm v=1 1\n',
        b'["f", 1]\nm v=1 1\n',
        b"\xff\n",
        b'{"feed":"f","points":"2","received":1,"newest":1,"last":null}\nm v=1 1\n',
        b'{"feed":"f","points":2,"received":"x","newest":1,"last":null}\nm v=1 1\n',
    ],
)
def test_a_record_not_of_ours_is_refused_as_unreadable(payload):
    with pytest.raises(spooled.UNREADABLE):
        spooled.decode(payload)
