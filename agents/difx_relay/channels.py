"""Operation channels multiplexed on the main connection (CHANNEL_ALL_DATA_ON), sans-I/O.

Rules (from guiServer):
- the client picks the channel number of each operation it starts;
- the server announces it with CHANNEL_CONNECTION `[int32 channel]`;
- each inner packet of the operation travels as CHANNEL_DATA `[chan][int32 id]`,
  `[chan][int32 len]`, `[chan][bytes]`, the third omitted when `len` is 0;
- operations that reply raw (ls, vex2difx, file transfers) write their bytes as CHANNEL_DATA
  `[chan][bytes]` with no inner framing: the client, which chose the number, marks such a
  channel with `expect_raw` and gets `RawData` events for it.

`ChannelDemux.handle(packet)` turns those into `ChannelOpened`, `InnerPacket` and `RawData`
events.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .errors import ChannelProtocolError, RemoteProtocolError
from .framing import DEFAULT_MAX_PAYLOAD, Packet, PacketId, unpack_int


@dataclass(frozen=True, slots=True)
class ChannelOpened:
    channel: int


@dataclass(frozen=True, slots=True)
class InnerPacket:
    channel: int
    inner_id: int
    payload: bytes


@dataclass(frozen=True, slots=True)
class RawData:
    channel: int
    data: bytes


ChannelEvent = ChannelOpened | InnerPacket | RawData


@dataclass(slots=True)
class _Partial:
    """Where one channel is in its id → length → bytes cycle."""

    stage: str = "id"
    inner_id: int = 0
    length: int = 0
    data: bytearray = field(default_factory=bytearray)


class ChannelDemux:
    """Reassembles the inner packets of every open channel."""

    def __init__(self, max_payload: int = DEFAULT_MAX_PAYLOAD) -> None:
        self._partial: dict[int, _Partial] = {}
        self._raw: set[int] = set()
        self._max_payload = max_payload

    def expect_raw(self, channel: int) -> None:
        """Deliver `channel`'s bytes as they come (`RawData`), not as inner packets."""
        self._raw.add(channel)

    def handle(self, packet: Packet) -> ChannelEvent | None:
        """The event `packet` completes, or None while an inner packet is still partial."""
        if packet.packet_id == PacketId.CHANNEL_CONNECTION:
            channel = unpack_int(packet.payload, "CHANNEL_CONNECTION")
            self._partial[channel] = _Partial()
            return ChannelOpened(channel)
        if packet.packet_id != PacketId.CHANNEL_DATA:
            raise ChannelProtocolError(-1, f"packet id {packet.packet_id} is not a channel packet")
        channel = unpack_int(packet.payload, "CHANNEL_DATA channel")
        body = packet.payload[4:]
        if channel in self._raw:
            return RawData(channel, body)
        # A server that skips the announcement still gets its data delivered.
        state = self._partial.setdefault(channel, _Partial())
        try:
            return self._advance(channel, state, body)
        except RemoteProtocolError as e:
            self._partial[channel] = _Partial()
            raise ChannelProtocolError(channel, str(e)) from None

    def close(self, channel: int) -> None:
        self._partial.pop(channel, None)
        self._raw.discard(channel)

    def _advance(self, channel: int, state: _Partial, body: bytes) -> InnerPacket | None:
        if state.stage == "id":
            state.inner_id = _exact_int(body, channel, "inner packet id")
            state.stage = "length"
            return None
        if state.stage == "length":
            length = _exact_int(body, channel, "inner packet length")
            if length < 0 or length > self._max_payload:
                raise RemoteProtocolError(
                    f"channel {channel}: inner packet {state.inner_id} announces {length} bytes "
                    f"(allowed 0..{self._max_payload})"
                )
            if length == 0:
                return _finish(channel, state, b"")
            state.length = length
            state.stage = "data"
            return None
        state.data += body
        if len(state.data) > state.length:
            raise RemoteProtocolError(
                f"channel {channel}: inner packet {state.inner_id} carries {len(state.data)} "
                f"bytes, {state.length} announced"
            )
        if len(state.data) == state.length:
            return _finish(channel, state, bytes(state.data))
        return None


def _finish(channel: int, state: _Partial, payload: bytes) -> InnerPacket:
    event = InnerPacket(channel, state.inner_id, payload)
    state.stage, state.length, state.data = "id", 0, bytearray()
    return event


def _exact_int(body: bytes, channel: int, what: str) -> int:
    if len(body) != 4:
        raise RemoteProtocolError(f"channel {channel}: {what} must be 4 bytes, got {len(body)}")
    return unpack_int(body, what)
