"""Framing and channel demultiplexing: round trips, chunking, garbage."""

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from socs_like_agents.difx_relay import commands
from socs_like_agents.difx_relay.channels import (
    ChannelDemux,
    ChannelOpened,
    InnerPacket,
    RawData,
)
from socs_like_agents.difx_relay.connection import (
    ClientConnection,
    Diagnostic,
    Other,
    Relayed,
    VersionReply,
)
from socs_like_agents.difx_relay.errors import (
    DiFXProtocolError,
    LocalProtocolError,
    RemoteProtocolError,
)
from socs_like_agents.difx_relay.framing import (
    NEED_DATA,
    FrameDecoder,
    Packet,
    PacketId,
    encode_packet,
)

packets = st.builds(Packet, st.integers(-(2**31), 2**31 - 1), st.binary(max_size=300))


def _decode_all(data: bytes, chunks: list[int]) -> list[Packet]:
    dec, out, pos = FrameDecoder(), [], 0
    for n in [*chunks, len(data)]:
        dec.receive_data(data[pos : pos + n])
        pos += n
        out.extend(dec.packets())
    return out


@settings(max_examples=150, deadline=None)
@given(st.lists(packets, max_size=8), st.lists(st.integers(0, 40), max_size=30))
def test_any_chunking_gives_the_same_packets(ps, chunks):
    data = b"".join(encode_packet(p) for p in ps)
    assert _decode_all(data, chunks) == ps


def test_byte_by_byte_and_trailing_partial():
    ps = [Packet(PacketId.RELAY, b"<x/>"), Packet(PacketId.GUISERVER_VERSION), Packet(99, b"z")]
    data = b"".join(encode_packet(p) for p in ps) + encode_packet(Packet(4, b"abc"))[:-1]
    dec, out = FrameDecoder(), []
    for i in range(len(data)):
        dec.receive_data(data[i : i + 1])
        out.extend(dec.packets())
    assert out == ps
    assert dec.next_packet() is NEED_DATA
    assert dec.buffered == 10


@pytest.mark.parametrize("length", [-1, -(2**31), 2**20 + 1])
def test_bad_length_is_a_protocol_error_and_sticks(length):
    dec = FrameDecoder(max_payload=2**20)
    dec.receive_data(struct.pack(">ii", 1, length))
    with pytest.raises(RemoteProtocolError, match=f"announces {length} bytes"):
        dec.next_packet()
    dec.receive_data(encode_packet(Packet(1, b"ok")))
    with pytest.raises(RemoteProtocolError):
        dec.next_packet()


def channel_connection(channel):
    """guiServer's announcement of a reply channel: 21 [int32 P]."""
    return Packet(PacketId.CHANNEL_CONNECTION, struct.pack(">i", channel))


def channel_packets(channel, inner_id, payload=b""):
    """An inner packet as guiServer writes it: 22 [P][id], 22 [P][len], 22 [P][bytes] (the
    third left out when len is 0)."""
    head = struct.pack(">i", channel)
    out = [
        Packet(PacketId.CHANNEL_DATA, head + struct.pack(">i", inner_id)),
        Packet(PacketId.CHANNEL_DATA, head + struct.pack(">i", len(payload))),
    ]
    return out + ([Packet(PacketId.CHANNEL_DATA, head + payload)] if payload else [])


_GOOD_STREAM = b"".join(
    encode_packet(p)
    for p in [
        Packet(PacketId.RELAY, b"<doc/>"),
        channel_connection(5),
        *channel_packets(5, 102, b"started"),
    ]
)


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(["packet_length", "inner_length", "inner_id", "channel_number"]),
    st.integers(1, 2**30),
    st.integers(1, 17),
)
def test_one_broken_field_in_a_valid_stream(field, n, step):
    """A valid stream (relay, channel announcement, one inner packet) with one field broken,
    delivered in pieces: the exact reason, after the events before the break."""
    stream = bytearray(_GOOD_STREAM)
    relay_len = 8 + len(b"<doc/>")
    inner_id_at = relay_len + 12  # after the 21 packet
    length_at = inner_id_at + 16  # the second 22 packet: header, channel, length
    if field == "packet_length":
        stream[4:8] = struct.pack(">i", -n)
        reason = (
            f"packet id 1 announces {-n} bytes of payload (allowed 0..4096): the stream is corrupt"
        )
    elif field == "inner_length":
        stream[length_at + 12 : length_at + 16] = struct.pack(">i", 4096 + n)
        reason = f"channel 5: inner packet 102 announces {4096 + n} bytes (allowed 0..4096)"
    elif field == "inner_id":
        # the inner id packet carries 3 bytes instead of 4
        stream[inner_id_at + 4 : inner_id_at + 8] = struct.pack(">i", 7)
        del stream[inner_id_at + 15]
        reason = "channel 5: inner packet id must be 4 bytes, got 3"
    else:
        stream[relay_len + 4 : relay_len + 8] = struct.pack(">i", 2)
        stream[relay_len + 8 : relay_len + 12] = b"\x00\x05"
        del stream[relay_len + 10 : relay_len + 12]
        reason = "CHANNEL_CONNECTION: expected a 4-byte integer, got 2 bytes"
    conn = ClientConnection(max_payload=4096)
    events = []
    with pytest.raises(RemoteProtocolError) as e:
        for i in range(0, len(stream), step):
            conn.receive_data(bytes(stream[i : i + step]))
            while (ev := conn.next_event()) is not None:
                events.append(ev)
    assert str(e.value) == reason
    if field != "packet_length":
        assert events[0] == Relayed(b"<doc/>")


def test_raw_channels_deliver_bytes_as_they_come():
    demux = ChannelDemux()
    demux.expect_raw(4)
    head = struct.pack(">i", 4)
    assert demux.handle(channel_connection(4)) == ChannelOpened(4)
    assert demux.handle(Packet(22, head + struct.pack(">i", 6))) == RawData(4, b"\x00\x00\x00\x06")
    assert demux.handle(Packet(22, head + b"a.txt\n")) == RawData(4, b"a.txt\n")
    # a channel not marked raw still reads inner packets: this is ls's reply read wrongly
    demux.close(4)
    demux.handle(Packet(22, head + struct.pack(">i", 6)))
    with pytest.raises(RemoteProtocolError, match="inner packet length must be 4 bytes, got 6"):
        demux.handle(Packet(22, head + b"a.txt\n"))


def test_channel_round_trip_with_empty_payload_and_interleaving():
    wire = [channel_connection(7), channel_connection(8)]
    a, b = channel_packets(7, 102, b""), channel_packets(8, 200, b"/data/x.input")
    # Two operations interleaved packet by packet, as two server threads would.
    for x, y in zip([*a, None], b, strict=True):
        wire += [p for p in (x, y) if p is not None]
    demux = ChannelDemux()
    events = [e for p in wire if (e := demux.handle(p)) is not None]
    assert events == [
        ChannelOpened(7),
        ChannelOpened(8),
        InnerPacket(7, 102, b""),
        InnerPacket(8, 200, b"/data/x.input"),
    ]
    assert len(a) == 2 and len(b) == 3


def test_channel_data_split_across_packets_and_overflow():
    demux = ChannelDemux()
    head = struct.pack(">i", 3)
    assert demux.handle(Packet(22, head + struct.pack(">i", 301))) is None
    assert demux.handle(Packet(22, head + struct.pack(">i", 5))) is None
    assert demux.handle(Packet(22, head + b"ab")) is None
    assert demux.handle(Packet(22, head + b"cde")) == InnerPacket(3, 301, b"abcde")
    demux.handle(Packet(22, head + struct.pack(">i", 301)))
    demux.handle(Packet(22, head + struct.pack(">i", 2)))
    with pytest.raises(RemoteProtocolError, match="carries 3 bytes, 2 announced"):
        demux.handle(Packet(22, head + b"xyz"))
    with pytest.raises(RemoteProtocolError, match="inner packet id must be 4 bytes, got 1"):
        demux.handle(Packet(22, head + b"x"))


def test_version_burst_and_diagnostics():
    # guiServer's order: 8, 11, 16 (only when it knows the user), 10 per version (or a
    # WARNING when none is installed), 12 per environment entry, an empty 18
    burst = [
        Packet(PacketId.GUISERVER_VERSION, b"2.8.1"),
        Packet(PacketId.DIFX_BASE, b"/opt/difx"),
        Packet(PacketId.GUISERVER_USER, b"difx"),
        Packet(PacketId.AVAILABLE_DIFX_VERSION, b"DIFX-2.8"),
        Packet(PacketId.AVAILABLE_DIFX_VERSION, b"DIFX_DEVEL"),
        Packet(PacketId.GUISERVER_ENVIRONMENT, b"DIFX_GROUP_ID=difx=x"),
        Packet(PacketId.CHANNEL_ALL_DATA),
        Packet(PacketId.WARNING, b"disk low"),
        Packet(PacketId.RELAY, b"<doc/>"),
        Packet(77, b"?"),
    ]
    conn = ClientConnection()
    conn.receive_data(b"".join(encode_packet(p) for p in burst))
    events = []
    while (e := conn.next_event()) is not None:
        events.append(e)
    v = events[0]
    assert isinstance(v, VersionReply)
    assert (v.version, v.difx_base, v.user, v.available) == (
        "2.8.1",
        "/opt/difx",
        "difx",
        ("DIFX-2.8", "DIFX_DEVEL"),
    )
    assert dict(v.environment) == {"DIFX_GROUP_ID": "difx=x"}
    assert events[1:] == [
        Diagnostic("warning", "disk low"),
        Relayed(b"<doc/>"),
        Other(Packet(77, b"?")),
    ]


def test_version_burst_without_user_or_versions_and_with_a_9():
    """Under a daemon guiServer knows no user (no 16); with no DiFX installed it sends a
    WARNING where the 10s would be. A 9 (never sent by the real server) is kept."""
    burst = [
        Packet(PacketId.GUISERVER_VERSION, b"2.8.1"),
        Packet(PacketId.DIFX_BASE, b""),
        Packet(PacketId.WARNING, b"no DiFX versions found"),
        Packet(PacketId.GUISERVER_DIFX_VERSION, b"DIFX-2.8.1"),
        Packet(PacketId.GUISERVER_ENVIRONMENT, b"HOME=/home/difx"),
        Packet(PacketId.CHANNEL_ALL_DATA),
    ]
    conn = ClientConnection()
    conn.receive_data(b"".join(encode_packet(p) for p in burst))
    events = []
    while (e := conn.next_event()) is not None:
        events.append(e)
    assert events[0] == Diagnostic("warning", "no DiFX versions found")
    v = events[1]
    assert (v.version, v.user, v.difx_base, v.available, v.difx_version) == (
        "2.8.1",
        "",
        "",
        (),
        "DIFX-2.8.1",
    )
    assert dict(v.environment) == {"HOME": "/home/difx"}


def test_client_packets_have_the_documented_payloads():
    assert commands.relay(True) == Packet(1, b"\x00\x00\x00\x01")
    assert commands.relay(False) == Packet(1, b"\x00\x00\x00\x00")
    assert commands.version_request() == Packet(8, b"")
    assert commands.message_selection(None).payload == b"ALL_MESSAGES"
    assert commands.message_selection(["DifxStatusMessage", "ALERT_MESSAGES"]).payload == (
        b"SELECTED_MESSAGES\nSTATUS_MESSAGES\nALERT_MESSAGES"
    )
    assert commands.channel_all_data(True) == Packet(19) and commands.channel_all_data(
        False
    ) == Packet(20)
    assert commands.difx_setup_path("/x").payload == b"/x"
    req = commands.get_job_status("/data/*.input", 12, short=False, address="me")
    assert req.payload == (
        b"\x00\x00\x00\x00"
        + b"\x00\x00\x00\x0d/data/*.input"
        + b"\x00\x00\x00\x02me"
        + b"\x00\x00\x00\x0c"
    )
    with pytest.raises(LocalProtocolError, match="unknown message type 'BOGUS'"):
        commands.message_selection(["BOGUS"])
    assert issubclass(RemoteProtocolError, DiFXProtocolError)
