"""The client side of one guiServer connection, sans-I/O: bytes in → events out.

`receive_data(bytes)` then `next_events()` yields, in order:
- `Relayed(document)`: a relayed multicast datagram (RELAY), to be parsed by the caller so a
  bad document costs only that document;
- `Diagnostic(level, text)`: INFORMATION / WARNING / ERROR packets;
- `VersionReply(...)`: the version burst, in the order guiServer sends it: 8 (its version),
  11 (DiFX base, maybe empty), 16 (user, only when the server knows it), either a WARNING 5
  (no DiFX version installed) or one 10 per version, one 12 per environment entry, and an
  empty 18 that completes it. 9 (the DiFX version the server runs under) is kept if a server
  sends it; the real one does not;
- `ChannelOpened` / `InnerPacket` / `RawData`: operation channels (see `channels`);
- `Other(packet)`: anything else, unknown ids included (guiServer skips them too).
A framing error raises `RemoteProtocolError` and leaves the connection unusable; an error
inside one channel raises it too, but the framing stays intact and the caller may go on.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from .channels import ChannelDemux, ChannelOpened, InnerPacket, RawData
from .framing import DEFAULT_MAX_PAYLOAD, FrameDecoder, Packet, PacketId, encode_packet


@dataclass(frozen=True, slots=True)
class Relayed:
    document: bytes


@dataclass(frozen=True, slots=True)
class Diagnostic:
    level: str  # information | warning | error
    text: str


@dataclass(frozen=True, slots=True, kw_only=True)
class VersionReply:
    version: str
    user: str
    difx_base: str
    available: tuple[str, ...]
    difx_version: str = ""
    environment: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    def as_dict(self) -> dict[str, object]:
        return {
            "version": self.version,
            "user": self.user,
            "difx_base": self.difx_base,
            "difx_version": self.difx_version,
            "available_versions": list(self.available),
            "environment": dict(self.environment),
        }


@dataclass(frozen=True, slots=True)
class Other:
    packet: Packet


Event = Relayed | Diagnostic | VersionReply | ChannelOpened | InnerPacket | RawData | Other


@dataclass(slots=True)
class _VersionBurst:
    """The version reply as its packets arrive (8 starts it, 18 ends it)."""

    version: str = ""
    user: str = ""
    difx_base: str = ""
    difx_version: str = ""
    available: list[str] = field(default_factory=list)
    environment: dict[str, str] = field(default_factory=dict)


_DIAGNOSTICS = {
    PacketId.INFORMATION: "information",
    PacketId.WARNING: "warning",
    PacketId.ERROR: "error",
}


def _text(payload: bytes) -> str:
    return payload.decode("utf-8", errors="replace").rstrip("\x00")


class ClientConnection:
    def __init__(self, max_payload: int = DEFAULT_MAX_PAYLOAD) -> None:
        self._decoder = FrameDecoder(max_payload)
        self._demux = ChannelDemux(max_payload)
        self._version = _VersionBurst()

    @staticmethod
    def send(packet: Packet) -> bytes:
        return encode_packet(packet)

    def receive_data(self, data: bytes) -> None:
        self._decoder.receive_data(data)

    def close_channel(self, channel: int) -> None:
        self._demux.close(channel)

    def expect_raw(self, channel: int) -> None:
        self._demux.expect_raw(channel)

    def next_event(self) -> Event | None:
        """The next complete event, or None when more bytes are needed."""
        while isinstance(packet := self._decoder.next_packet(), Packet):
            event = self._handle(packet)
            if event is not None:
                return event
        return None

    def _handle(self, p: Packet) -> Event | None:
        pid = p.packet_id
        if pid == PacketId.RELAY:
            return Relayed(p.payload)
        if pid in _DIAGNOSTICS:
            return Diagnostic(_DIAGNOSTICS[PacketId(pid)], _text(p.payload))
        if pid in (PacketId.CHANNEL_CONNECTION, PacketId.CHANNEL_DATA):
            return self._demux.handle(p)
        v = self._version
        if pid == PacketId.GUISERVER_VERSION:
            self._version = _VersionBurst(version=_text(p.payload))
        elif pid == PacketId.DIFX_BASE:
            v.difx_base = _text(p.payload)
        elif pid == PacketId.GUISERVER_DIFX_VERSION:
            v.difx_version = _text(p.payload)
        elif pid == PacketId.GUISERVER_USER:
            v.user = _text(p.payload)
        elif pid == PacketId.AVAILABLE_DIFX_VERSION:
            v.available.append(_text(p.payload))
        elif pid == PacketId.GUISERVER_ENVIRONMENT:
            name, _, value = _text(p.payload).partition("=")
            v.environment[name] = value
        elif pid == PacketId.CHANNEL_ALL_DATA:
            self._version = _VersionBurst()
            return VersionReply(
                version=v.version,
                user=v.user,
                difx_base=v.difx_base,
                difx_version=v.difx_version,
                available=tuple(v.available),
                environment=MappingProxyType(dict(v.environment)),
            )
        else:
            return Other(p)
        return None
