"""Where a block's values go in InfluxDB (sans-I/O): exactly what OCS's InfluxDB publisher
writes for the same blocks, in both of its layouts (without and with ``influxdb_tags``).
OCS's own formatting code (``ocs.common.influxdb_drivers.format_data``, what its publisher
sends) is the oracle: for any event, our lines and OCS's are the same points."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from influxdb.line_protocol import make_lines
from ocs.common.influxdb_drivers import format_data

from socs_like_agents.influx_publisher.layout import Layout
from socs_like_agents.influx_publisher.lineprotocol import Lines, block_lines
from socs_like_agents.recording.intake import FeedIntake

T0 = 1_795_920_000  # a UNIX time; samples are k/64 s after it, exact in µs and in floats


def feed_info(instance: str = "fake-data1", agent_class: str = "FakeDataAgent") -> dict[str, Any]:
    """An OCS feed's ``feed_info`` (what its ``Feed.encoded`` sends)."""
    address = f"observatory.{instance}"
    return {
        "agent_address": address,
        "agg_params": {},
        "feed_name": "false_temperatures",
        "address": f"{address}.feeds.false_temperatures",
        "record": True,
        "session_id": "1",
        "agent_class": agent_class,
    }


def ours(payload: dict[str, Any], info: dict[str, Any], layout: Layout = Layout.OCS) -> list[str]:
    blocks = FeedIntake("observatory", "exclude_influx").take(copy.deepcopy(payload), info, 0.0)
    # split on line breaks only: a string value may hold other line separators
    return Lines.of(blocks, 0.0, layout).body.decode().split("\n")[:-1] if blocks else []


def tagged_temperatures() -> dict[str, Any]:
    """What OCS's FakeDataAgent publishes: two channels tagged ``channel``, field
    ``temperature``."""
    return {
        "temps": {
            "block_name": "temps",
            "timestamps": [T0 + 0.5, T0 + 1.0],
            "data": {"channel_00": [0.25, 0.5], "channel_01": [1.25, None]},
            "influxdb_tags": {
                "channel_00": {"channel": 0, "_field": "temperature"},
                "channel_01": {"channel": 1, "_field": "temperature"},
            },
        }
    }


def test_without_influxdb_tags_the_measurement_is_the_address_and_values_keep_their_types():
    payload = {
        "status": {
            "block_name": "status",
            "timestamps": [T0 + 0.5, T0 + 1.0],
            "data": {
                "count": [3, None],
                "temp": [1.5, None],
                "state": ['say "hi"', None],
                "on": [True, None],
            },
            "influxdb_tags": None,  # what an OCS block without tags carries
        }
    }
    # the second timestamp has no value at all: not written (OCS's would refuse the batch)
    assert ours(payload, feed_info()) == [
        'observatory.fake-data1,feed=false_temperatures count=3i,temp=1.5,state="say \\"hi\\"",'
        f"on=true {(T0 + 0.5) * 10**6:.0f}"
    ]


def test_with_influxdb_tags_the_measurement_is_the_agent_class_one_point_per_field():
    head = "FakeDataAgent,feed=false_temperatures,address_root=observatory,instance_id=fake-data1"
    assert ours(tagged_temperatures(), feed_info()) == [
        f"{head},channel=0 temperature=0.25 {T0}500000",
        f"{head},channel=0 temperature=0.5 {T0 + 1}000000",
        f"{head},channel=1 temperature=1.25 {T0}500000",  # channel_01's null: no point
    ]
    blocks = FeedIntake("observatory", "exclude_influx").take(tagged_temperatures(), feed_info(), 0)
    lines = Lines.of(blocks, 0.0)
    assert (lines.points, lines.empty) == (3, 1)  # the publisher's `empty` counts such points


def test_the_floats_layout_is_what_this_publisher_wrote_before():
    payload = tagged_temperatures()
    payload["temps"]["data"]["channel_01"] = [7, 8]
    head = "observatory.fake-data1,feed=false_temperatures"
    assert ours(payload, feed_info(), Layout.FLOATS) == [
        f"{head} channel_00=0.25,channel_01=7.0 {T0}500000",
        f"{head} channel_00=0.5,channel_01=8.0 {T0 + 1}000000",
    ]


def test_a_tagged_block_of_a_feed_without_agent_class_keeps_the_address_as_measurement():
    [line, *_] = ours(tagged_temperatures(), feed_info(agent_class=""))
    assert line.startswith("observatory.fake-data1,feed=false_temperatures,address_root=")


def test_a_block_of_one_sample_is_written_as_ocs_publisher_writes_it():
    # OCS's publisher takes a block with one "timestamp" and a value per field too
    payload = {"b": {"block_name": "b", "timestamp": T0 + 0.5, "data": {"n": 1, "x": 0.5}}}
    assert ours(payload, feed_info()) == [
        f"observatory.fake-data1,feed=false_temperatures n=1i,x=0.5 {T0}500000"
    ]


def test_malformed_influxdb_tags_refuse_the_event_with_the_reason():
    intake = FeedIntake("observatory", "exclude_influx")
    payload = tagged_temperatures()
    del payload["temps"]["influxdb_tags"]["channel_01"]["_field"]
    assert intake.take(payload, feed_info(), 0.0) == []
    assert intake.counts.bad_events == 1
    assert "influxdb_tags" in (intake.counts.last_error or "")
    assert "channel_01" in (intake.counts.last_error or "")


def test_block_lines_in_the_ocs_layout_writes_ints_as_integers():
    [block] = FeedIntake("observatory", "x").take(
        {"b": {"block_name": "b", "timestamps": [1.0], "data": {"n": [2], "x": [2.0]}}},
        feed_info(),
        0.0,
    )
    assert block_lines(block, Layout.OCS) == [
        "observatory.fake-data1,feed=false_temperatures n=2i,x=2.0 1000000"
    ]


# --- OCS's formatting code as the oracle -------------------------------------------------

NAME = st.text("abcxyz_019", min_size=1, max_size=6)
VALUE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=8),
)
TAG_SET = st.dictionaries(
    st.sampled_from(["channel", "sensor", "x y", "instance_id"]),  # the last is OCS's own
    st.one_of(
        st.integers(0, 99),
        st.floats(allow_nan=False, allow_infinity=False),
        st.sampled_from(["a", "b c", "x,y", "k=v", ""]),
        st.booleans(),
        st.none(),
    ),
)
FIELD = st.sampled_from(["temperature", "voltage", "on"])


@st.composite
def events(draw: st.DrawFn) -> dict[str, Any]:
    payload = {}
    for name in draw(st.lists(NAME, min_size=1, max_size=3, unique=True)):
        n = draw(st.integers(1, 4))
        fields = draw(st.lists(NAME, min_size=1, max_size=4, unique=True))
        data = {f: draw(st.lists(VALUE, min_size=n, max_size=n)) for f in fields}
        tags = None
        if draw(st.booleans()):
            tags = {f: draw(TAG_SET) | {"_field": draw(FIELD)} for f in fields}
        times = sorted(draw(st.sets(st.integers(0, 64 * 3600), min_size=n, max_size=n)))
        payload[name] = {
            "block_name": name,
            "timestamps": [T0 + k / 64 for k in times],
            "data": data,
            "influxdb_tags": tags,
        }
        if n == 1 and draw(st.booleans()):  # a block of one sample, the other way
            single = {"timestamp": T0 + times[0] / 64, "data": {f: c[0] for f, c in data.items()}}
            payload[name] = {"block_name": name, "influxdb_tags": tags} | single
    return payload


def normal(line: str) -> tuple[str, tuple[str, ...], tuple[str, ...], str] | None:
    """A line with its tags and fields in order, booleans spelled one way; None for a line
    without fields (OCS's for a point whose values are all null: InfluxDB refuses it)."""
    head, fields, time = _split(line)
    if not fields:
        return None
    measurement, *tags = _split_on(head, ",")
    values = [f.removesuffix("=True") + "=true" if f.endswith("=True") else f for f in fields]
    values = [f.removesuffix("=False") + "=false" if f.endswith("=False") else f for f in values]
    return measurement, tuple(sorted(tags)), tuple(sorted(values)), time


def _split(line: str) -> tuple[str, list[str], str]:
    parts = _split_on(line, " ")
    if len(parts) == 2:  # no fields
        return parts[0], [], parts[1]
    head, fields, time = parts
    return head, _split_on(fields, ","), time


def _split_on(text: str, sep: str) -> list[str]:
    """`text` split on `sep` outside escapes and string values."""
    out, part, quoted, escaped = [], "", False, False
    for ch in text:
        if escaped:
            part, escaped = part + ch, False
        elif ch == "\\":
            part, escaped = part + ch, True
        elif ch == '"':
            part, quoted = part + ch, not quoted
        elif ch == sep and not quoted:
            out.append(part)
            part = ""
        else:
            part += ch
    return [*out, part]


@settings(max_examples=200, deadline=None)
@given(events(), st.sampled_from(["fake-data1", "lakeshore-2"]))
def test_our_points_are_ocs_publishers_points(payload: dict[str, Any], instance: str):
    info = feed_info(instance)
    # OCS's publisher, json protocol (its line protocol is the same points unless a value is
    # null or a string holds a quote, which break its lines); times as µs like ours
    theirs = make_lines({"points": format_data(copy.deepcopy(payload), info, "json")}, "u")
    expected = sorted(filter(None, map(normal, theirs.split("\n")[:-1])))
    assert sorted(filter(None, map(normal, ours(payload, info)))) == expected
