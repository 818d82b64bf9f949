"""guiServer TCP framing, sans-I/O: `int32 packet_id`, `int32 n_bytes` (big-endian), payload.

`FrameDecoder.receive_data(bytes)` buffers whatever arrives (whole, chunked, byte by byte);
`next_packet()` returns a `Packet` or `NEED_DATA`. A negative length or one above the
decoder's limit is a `RemoteProtocolError`, after which the decoder stays broken: the stream
has lost its frame boundaries and only a new connection can recover it.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass
from typing import Final

from .errors import LocalProtocolError, RemoteProtocolError

_HEADER = struct.Struct(">ii")
_INT = struct.Struct(">i")
HEADER_SIZE: Final = _HEADER.size

# guiServer itself reads relayed datagrams of up to 10 KiB; file transfers and listings are the
# only big payloads and arrive in channel chunks, so 16 MiB is far above anything legitimate
# while still refusing a garbage length before we try to buffer it.
DEFAULT_MAX_PAYLOAD: Final = 16 * 1024 * 1024


class PacketId(enum.IntEnum):
    """Packet ids of the guiServer protocol (guiServer's own numbering)."""

    RELAY = 1
    RELAY_COMMAND = 2
    COMMAND = 3
    INFORMATION = 4
    WARNING = 5
    ERROR = 6
    MULTICAST_SETTINGS = 7
    GUISERVER_VERSION = 8
    GUISERVER_DIFX_VERSION = 9
    AVAILABLE_DIFX_VERSION = 10
    DIFX_BASE = 11
    GUISERVER_ENVIRONMENT = 12
    DIFX_SETUP_PATH = 13
    START_DIFX_MONITOR = 14
    DIFX_RUN_LABEL = 15
    GUISERVER_USER = 16
    MESSAGE_SELECTION = 17
    CHANNEL_ALL_DATA = 18
    CHANNEL_ALL_DATA_ON = 19
    CHANNEL_ALL_DATA_OFF = 20
    CHANNEL_CONNECTION = 21
    CHANNEL_DATA = 22
    GENERATE_FILELIST = 23
    GET_JOB_STATUS = 24


@dataclass(frozen=True, slots=True)
class Packet:
    """One framed packet. `packet_id` stays an int: unknown ids are legal and skipped."""

    packet_id: int
    payload: bytes = b""

    def __post_init__(self) -> None:
        if not -(2**31) <= self.packet_id < 2**31:
            raise LocalProtocolError(f"packet id {self.packet_id} does not fit in an int32")


class _NeedData:
    def __repr__(self) -> str:
        return "NEED_DATA"


NEED_DATA: Final = _NeedData()


def encode_packet(packet: Packet) -> bytes:
    return _HEADER.pack(packet.packet_id, len(packet.payload)) + packet.payload


def pack_int(value: int) -> bytes:
    if not -(2**31) <= value < 2**31:
        raise LocalProtocolError(f"{value} does not fit in an int32")
    return _INT.pack(value)


def unpack_int(data: bytes, what: str) -> int:
    """The leading big-endian int32 of `data`; `what` names it in the error."""
    if len(data) < 4:
        raise RemoteProtocolError(f"{what}: expected a 4-byte integer, got {len(data)} bytes")
    return int(_INT.unpack_from(data)[0])


class FrameDecoder:
    """Bytes in, packets out. One per connection and direction."""

    def __init__(self, max_payload: int = DEFAULT_MAX_PAYLOAD) -> None:
        self._buffer = bytearray()
        self._max_payload = max_payload
        self._error: RemoteProtocolError | None = None

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    def receive_data(self, data: bytes) -> None:
        if self._error is None:
            self._buffer += data

    def next_packet(self) -> Packet | _NeedData:
        if self._error is not None:
            raise self._error
        if len(self._buffer) < HEADER_SIZE:
            return NEED_DATA
        packet_id, n_bytes = _HEADER.unpack_from(self._buffer)
        if n_bytes < 0 or n_bytes > self._max_payload:
            self._error = RemoteProtocolError(
                f"packet id {packet_id} announces {n_bytes} bytes of payload "
                f"(allowed 0..{self._max_payload}): the stream is corrupt"
            )
            self._buffer.clear()
            raise self._error
        end = HEADER_SIZE + n_bytes
        if len(self._buffer) < end:
            return NEED_DATA
        payload = bytes(self._buffer[HEADER_SIZE:end])
        del self._buffer[:end]
        return Packet(packet_id, payload)

    def packets(self) -> list[Packet]:
        """Every complete packet buffered so far."""
        out: list[Packet] = []
        while isinstance(packet := self.next_packet(), Packet):
            out.append(packet)
        return out
