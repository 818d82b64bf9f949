"""Packed blocks (socs_like/packing.py), sans-I/O: what goes in packed comes out as the lists
the feed would have sent, and a feed given arrays sends what it sends for lists."""

from __future__ import annotations

import math
from array import array
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from socs_like.feed import Feed, Undecodable, feed_event
from socs_like.packing import (
    column_from,
    column_slice,
    join_columns,
    pack_blocks,
    pack_column,
    unpack_blocks,
    unpack_column,
)

floats = st.floats(allow_nan=True, allow_infinity=True)
ints = st.integers(min_value=-(2**70), max_value=2**70)  # some beyond 64 bits
scalars = st.one_of(floats, ints, st.booleans(), st.text(max_size=5))
columns = st.one_of(
    st.lists(floats, max_size=30),
    st.lists(ints, max_size=30),
    st.lists(scalars, max_size=30),
)


def as_json(values: list[Any]) -> list[Any]:
    """What a subscriber of the lists form gets: JSON's null for NaN and infinities."""
    return [None if isinstance(v, float) and not math.isfinite(v) else v for v in values]


def same(a: list[Any], b: list[Any]) -> bool:
    """Equal value by value and type by type (1 == 1.0 == True would hide a wrong type)."""
    pairs = zip(a, b, strict=True) if len(a) == len(b) else None
    return pairs is not None and all(type(x) is type(y) and x == y for x, y in pairs)


def as_kept(values: list[Any]) -> list[Any]:
    """A column as a feed keeps it: a column of floats as given (packing turns its non-finite
    values into NaN), any other with JSON's null already in place of them."""
    return values if all(type(v) is float for v in values) else as_json(values)


@given(columns)
def test_a_column_comes_back_as_its_json_form(values):
    packed = pack_column(as_kept(values))
    assert same(unpack_column(packed), as_json(values))
    if values and all(type(v) is float for v in values):
        assert isinstance(packed, bytes) and len(packed) == 1 + 8 * len(values)


@given(st.lists(floats, max_size=40), st.integers(0, 40), st.integers(0, 40))
def test_an_array_column_slices_and_joins_like_its_list(values, a, b):
    a, b = sorted((min(a, len(values)), min(b, len(values))))
    column = column_from(np.array(values, dtype=np.float64))
    parts = [column_slice(column, 0, a), column_slice(column, a, b), column_slice(column, b, 99)]
    assert same(unpack_column(join_columns(parts)), as_json(values))
    assert same(unpack_column(parts[1]), as_json(values[a:b]))


blocks = st.dictionaries(
    st.sampled_from(["a", "b", "c"]),
    st.integers(0, 12).flatmap(
        lambda n: st.fixed_dictionaries(
            {
                "timestamps": st.lists(floats, min_size=n, max_size=n),
                "data": st.dictionaries(
                    st.sampled_from(["x", "y", "z_1", "w"]),
                    st.one_of(
                        st.lists(floats, min_size=n, max_size=n),
                        st.lists(ints, min_size=n, max_size=n),
                        st.lists(scalars, min_size=n, max_size=n),
                    ),
                    max_size=4,
                ),
            }
        )
    ),
    max_size=3,
)


@settings(max_examples=50)
@given(blocks)
def test_several_blocks_round_trip_through_a_packed_event(payload):
    for name, block in payload.items():
        block["block_name"] = name
        block["data"] = {k: as_kept(v) for k, v in block["data"].items()}
    info = {"agent_address": "site.a", "seq_no": 0, "seq_count": 1, "packed": 1}
    got, got_info = feed_event(([pack_blocks(payload), info],))
    assert "packed" not in got_info and got_info["seq_no"] == 0
    assert got.keys() == payload.keys()
    for name, block in payload.items():
        assert same(got[name]["timestamps"], as_json(block["timestamps"]))
        assert got[name]["data"].keys() == block["data"].keys()
        for field, values in block["data"].items():
            assert same(got[name]["data"][field], as_json(values))


@given(st.lists(st.lists(floats, min_size=1, max_size=50), min_size=1, max_size=5))
def test_a_feed_given_arrays_sends_what_it_sends_for_lists(chunks):
    by_list = Feed("site.a", "f", record=True, max_event_bytes=2048)
    by_array = Feed("site.a", "f", record=True, max_event_bytes=2048)
    t = 0.0
    for chunk in chunks:
        stamps = [t + i for i in range(len(chunk))]
        t += len(chunk)
        by_list.publish({"block_name": "b", "timestamps": stamps, "data": {"x": chunk}})
        by_array.publish(
            {"block_name": "b", "timestamps": array("d", stamps), "data": {"x": np.array(chunk)}}
        )
    lists = by_list.take_events()
    packed = by_array.take_events()
    # a value packed counts 8 bytes, in a list 24: never more events, and the same samples
    assert 0 < len(packed) <= len(lists)
    flat = {"t": [], "x": []}
    for payload, _ in packed:
        block = unpack_blocks(payload)["b"]
        flat["t"] += block["timestamps"]
        flat["x"] += block["data"]["x"]
    assert flat["t"] == [t for p, _ in lists for t in p["b"]["timestamps"]]
    assert same(flat["x"], [x for p, _ in lists for x in p["b"]["data"]["x"]])


@pytest.mark.parametrize(
    "column",
    [b"d\x00\x01", b"z" + bytes(8), 3.5, {"a": 1}],
)
def test_a_packed_event_that_does_not_decode_comes_as_undecodable_with_why(column):
    payload = {"b": {"block_name": "b", "timestamps": column, "data": {}}}
    got, info = feed_event(([payload, {"agent_address": "site.a", "packed": 1}],))
    assert isinstance(got, Undecodable) and "packed column" in got.reason
    assert info == {"agent_address": "site.a"}


def test_an_event_of_an_unknown_packing_version_is_undecodable():
    got, _ = feed_event(([{}, {"agent_address": "site.a", "packed": 2}],))
    assert got == Undecodable("packed feed events of version 2 are not known")
