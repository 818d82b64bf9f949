"""Raw channel replies (ls, vex2difx, file transfers) read from bytes in any pieces."""

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from socs_like_agents.difx_relay.errors import RemoteProtocolError
from socs_like_agents.difx_relay.raw import RecordReader, SizedReader


def _records(lines):
    return b"".join(struct.pack(">i", len(x)) + x for x in lines) + struct.pack(">i", 0)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.binary(min_size=1, max_size=40), max_size=8),
    st.lists(st.integers(1, 13), max_size=40),
)
def test_records_in_any_pieces(lines, cuts):
    data, reader, got, pos = _records(lines), RecordReader(), [], 0
    for n in [*cuts, len(data)]:
        got += reader.feed(data[pos : pos + n])
        pos += n
    assert got == lines and reader.records == lines and reader.done


def test_ls_lines_keep_their_newline_and_the_list_ends_at_zero():
    reader = RecordReader()
    assert reader.feed(_records([b"a.input\n", b"b.input\n"])) == [b"a.input\n", b"b.input\n"]
    assert reader.done
    with pytest.raises(RemoteProtocolError, match="3 bytes after the end of the list"):
        reader.feed(b"xyz")


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (struct.pack(">i", -5), "record length -5 is outside 1..1024: the list is corrupt"),
        (struct.pack(">i", 2000), "record length 2000 is outside 1..1024: the list is corrupt"),
        (_records([b"x"]) + b"!", "1 bytes after the end of the list"),
    ],
)
def test_broken_record_streams(data, reason):
    with pytest.raises(RemoteProtocolError) as e:
        RecordReader(max_record=1024).feed(data)
    assert str(e.value) == reason


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=3000), st.integers(1, 1100))
def test_a_get_reply_in_pieces(content, piece):
    data = struct.pack(">i", len(content)) + content
    reader = SizedReader(max_bytes=4096)
    for i in range(0, len(data), piece):
        reader.feed(data[i : i + piece])
    assert reader.done and reader.status == len(content) and reader.data == content


def test_get_failures_and_limits():
    r = SizedReader(100)
    r.feed(struct.pack(">i", -2))
    assert r.done and r.status == -2 and r.data == b""
    with pytest.raises(RemoteProtocolError, match="the file is 101 bytes, more than the 100"):
        SizedReader(100).feed(struct.pack(">i", 101))
    with pytest.raises(RemoteProtocolError, match="5 bytes received, 4 announced"):
        SizedReader(100).feed(struct.pack(">i", 4) + b"12345")
    zero = SizedReader(100)
    zero.feed(struct.pack(">i", 0))
    assert zero.done and zero.data == b""
