"""How the simulated guiServer writes an operation's reply (protocol spec §4).

guiServer's operations write through one object (`GUIClient`) that hides whether the reply
goes over the main connection ("channel mode", packets 21/22) or over a TCP connection the
server opens to the client's own port. Both are modelled here:

- `ChannelPath`: on open, packet 21 with int32 P; then each write becomes one packet
  `22[int32 P][bytes]`. There is no close notice (GC:408-418).
- `SocketPath`: the server connects to address:P; writes go out raw; closing closes the socket.

On either, an *inner packet* is three writes (id, length, payload), the third left out when the
payload is empty (GC:152-167); `raw_int` and `record` are the raw forms `ls`, transfers and
vex2difx use. Reads (`read_exact`) come from the channel's upload queue or from the socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from collections.abc import Callable
from typing import Final, Protocol

from .framing import Packet, PacketId

_INT: Final = struct.Struct(">i")

# A reply path's reader waits forever in guiServer (GC:119-127); ours gives up after this long
# so an abandoned operation does not pin a task for the life of the simulator.
READ_GIVE_UP_SECONDS: Final = 3600.0


def int32(value: int) -> bytes:
    return _INT.pack(value)


class ReplyPath(Protocol):
    """Where one operation writes (and, for two-way operations, reads)."""

    def write(self, data: bytes) -> None: ...

    async def read_exact(self, n: int) -> bytes: ...

    async def close(self) -> None: ...


def inner(path: ReplyPath, packet_id: int, payload: bytes = b"") -> None:
    """One inner packet: three writes, the payload's left out when empty (GC:152-167)."""
    path.write(int32(packet_id))
    path.write(int32(len(payload)))
    if payload:
        path.write(payload)


def record(path: ReplyPath, text: bytes) -> None:
    """A raw length-prefixed record, as `ls` and vex2difx send them: two writes."""
    path.write(int32(len(text)))
    path.write(text)


class ChannelQueue:
    """Bytes the client sent with packet 22 for one channel number, read in order.

    guiServer keeps these per port whether or not an operation reads them yet (SSC:619-631)."""

    def __init__(self) -> None:
        self._data = bytearray()
        self._more = asyncio.Event()

    def feed(self, data: bytes) -> None:
        self._data += data
        self._more.set()

    def __len__(self) -> int:
        return len(self._data)

    async def read_exact(self, n: int) -> bytes:
        async with asyncio.timeout(READ_GIVE_UP_SECONDS):
            while len(self._data) < n:
                self._more.clear()
                await self._more.wait()
        out = bytes(self._data[:n])
        del self._data[:n]
        return out


class ChannelPath:
    """Channel mode: 21 on open, each write one 22 packet on the main connection."""

    def __init__(self, send: Callable[[Packet], None], channel: int, queue: ChannelQueue) -> None:
        self._send = send
        self._prefix = int32(channel)
        self._queue = queue
        send(Packet(PacketId.CHANNEL_CONNECTION, self._prefix))

    def write(self, data: bytes) -> None:
        self._send(Packet(PacketId.CHANNEL_DATA, self._prefix + data))

    async def read_exact(self, n: int) -> bytes:
        return await self._queue.read_exact(n)

    async def close(self) -> None:
        """Nothing goes on the wire: channel mode has no close notice (GC:408-418)."""


class SocketPath:
    """Channel mode off: the server is the TCP *client* of the operation's port."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader, self._writer = reader, writer

    @classmethod
    async def connect(cls, address: str, port: int) -> SocketPath:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(address, port), 10.0)
        return cls(reader, writer)

    def write(self, data: bytes) -> None:
        if not self._writer.is_closing():
            self._writer.write(data)

    async def read_exact(self, n: int) -> bytes:
        async with asyncio.timeout(READ_GIVE_UP_SECONDS):
            return await self._reader.readexactly(n)

    async def close(self) -> None:
        with contextlib.suppress(ConnectionError):
            await self._writer.drain()
        self._writer.close()


class OpContext(Protocol):
    """What an operation sees of the connection that asked for it."""

    @property
    def sandbox(self) -> str: ...

    @property
    def setup_path(self) -> str: ...

    def inside(self, path: str) -> str | None:
        """The real path if `path` is absolute and inside the sandbox, else None."""
        ...

    def diagnostic(self, packet_id: int, text: str) -> None:
        """A 4/5/6 text packet on the main connection (src/diagnostic.cpp:34-61)."""
        ...

    def alert(self, text: str, level: str) -> None:
        """`difxMessageSendDifxAlert`: guiServer's port is -1, so it reaches its console only
        (spec §8)."""
        ...

    async def open_path(self, address: str, port: int) -> ReplyPath | None:
        """The reply path for port P, or None when the connection to the client failed."""
        ...
