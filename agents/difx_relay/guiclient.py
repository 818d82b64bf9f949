"""An asyncio guiServer client: a thin transport around `ClientConnection`.

It owns one TCP connection: it sends packets, hands relayed documents and diagnostics to
callbacks, routes channel replies to per-operation queues, and resolves `closed` with the
reason when the connection ends. guiServer sends no heartbeat, so `probe()` sends a version
request and waits for the reply: the caller uses it to find a connection that died silently.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import Callable, Iterator

from . import commands
from .channels import ChannelOpened, InnerPacket, RawData
from .connection import ClientConnection, Diagnostic, Relayed, VersionReply
from .errors import ChannelClosed, ChannelProtocolError, RemoteProtocolError
from .framing import Packet, PacketId, pack_int


class Channel:
    """Replies of one operation, in order: inner packets, or raw bytes for a raw channel."""

    def __init__(self, client: GuiClient, number: int, raw: bool) -> None:
        self.client, self.number, self.raw = client, number, raw
        self.opened = False  # guiServer announced it (CHANNEL_CONNECTION)
        self.queue: asyncio.Queue[InnerPacket | RawData | BaseException] = asyncio.Queue()

    async def next(self, timeout: float) -> InnerPacket:
        """The next inner packet; `TimeoutError` after `timeout` s, `ChannelClosed` if the
        link drops."""
        item = await self._get(timeout)
        if not isinstance(item, InnerPacket):
            raise RemoteProtocolError(f"channel {self.number}: raw data where packets belong")
        return item

    async def next_raw(self, timeout: float) -> bytes:
        """The next piece of raw bytes of a raw channel."""
        item = await self._get(timeout)
        if not isinstance(item, RawData):
            raise RemoteProtocolError(f"channel {self.number}: inner packet on a raw channel")
        return item.data

    async def _get(self, timeout: float) -> InnerPacket | RawData:
        item = await asyncio.wait_for(self.queue.get(), timeout)
        if isinstance(item, BaseException):
            raise item
        return item

    def upload(self, data: bytes) -> None:
        """Client → server bytes for this operation (`22[P][bytes]`)."""
        self.client.send(Packet(PacketId.CHANNEL_DATA, pack_int(self.number) + data))

    def close(self) -> None:
        self.client._channels.pop(self.number, None)
        self.client._conn.close_channel(self.number)

    def __enter__(self) -> Channel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class GuiClient(asyncio.Protocol):
    def __init__(
        self,
        on_relayed: Callable[[bytes], None] | None = None,
        on_diagnostic: Callable[[Diagnostic], None] | None = None,
    ) -> None:
        self._conn = ClientConnection()
        self._on_relayed = on_relayed
        self._on_diagnostic = on_diagnostic
        self._diagnostic_listeners: list[Callable[[Diagnostic], None]] = []
        self._channels: dict[int, Channel] = {}
        self._numbers = itertools.count(1000)
        self._versions: list[asyncio.Future[VersionReply]] = []
        self._transport: asyncio.Transport | None = None
        self.closed: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self.last_received = time.monotonic()
        self.channel_errors = 0

    @classmethod
    async def connect(
        cls,
        host: str,
        port: int,
        timeout: float = 5.0,
        on_relayed: Callable[[bytes], None] | None = None,
        on_diagnostic: Callable[[Diagnostic], None] | None = None,
    ) -> GuiClient:
        loop = asyncio.get_running_loop()
        _, proto = await asyncio.wait_for(
            loop.create_connection(lambda: cls(on_relayed, on_diagnostic), host, port), timeout
        )
        return proto

    # -- asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self._finish(f"connection lost: {exc}" if exc else "server closed the connection")

    def data_received(self, data: bytes) -> None:
        self.last_received = time.monotonic()
        self._conn.receive_data(data)
        while True:
            try:
                event = self._conn.next_event()
            except ChannelProtocolError as e:
                # The framing is intact: only that operation fails.
                self.channel_errors += 1
                if (channel := self._channels.get(e.channel)) is not None:
                    channel.queue.put_nowait(e)
                continue
            except RemoteProtocolError as e:
                self.close(f"protocol error: {e}")
                return
            if event is None:
                return
            self._dispatch(event)

    def _dispatch(self, event: object) -> None:
        if isinstance(event, Relayed):
            if self._on_relayed is not None:
                self._on_relayed(event.document)
        elif isinstance(event, Diagnostic):
            if self._on_diagnostic is not None:
                self._on_diagnostic(event)
            for listener in list(self._diagnostic_listeners):
                listener(event)
        elif isinstance(event, VersionReply):
            while self._versions:
                fut = self._versions.pop(0)
                if not fut.done():
                    fut.set_result(event)
                    break
        elif isinstance(event, InnerPacket | RawData):
            channel = self._channels.get(event.channel)
            if channel is not None:
                channel.queue.put_nowait(event)
        elif isinstance(event, ChannelOpened) and event.channel in self._channels:
            self._channels[event.channel].opened = True

    # -- use
    @property
    def is_open(self) -> bool:
        return not self.closed.done()

    def send(self, packet: Packet) -> None:
        if self._transport is None or self.closed.done():
            raise ChannelClosed(self.closed.result() if self.closed.done() else "not connected")
        self._transport.write(self._conn.send(packet))

    @contextlib.contextmanager
    def diagnostics(self, listener: Callable[[Diagnostic], None]) -> Iterator[None]:
        """Call `listener` with every INFORMATION / WARNING / ERROR packet while open: some
        operations end with nothing but an ERROR on the main connection."""
        self._diagnostic_listeners.append(listener)
        try:
            yield
        finally:
            self._diagnostic_listeners.remove(listener)

    def open_channel(self, *, raw: bool = False) -> Channel:
        """A reply path for one operation; `raw` for operations that write bytes, not packets."""
        channel = Channel(self, next(self._numbers), raw)
        self._channels[channel.number] = channel
        if raw:
            self._conn.expect_raw(channel.number)
        return channel

    async def version(self, timeout: float) -> VersionReply:
        fut: asyncio.Future[VersionReply] = asyncio.get_running_loop().create_future()
        self._versions.append(fut)
        self.send(commands.version_request())
        try:
            return await asyncio.wait_for(asyncio.shield(fut), timeout)
        finally:
            if fut in self._versions:
                self._versions.remove(fut)

    async def probe(self, timeout: float) -> bool:
        """True if the server answers a version request within `timeout` s."""
        try:
            await self.version(timeout)
            return True
        except (TimeoutError, ChannelClosed):
            return False

    def close(self, reason: str = "closed by client") -> None:
        self._finish(reason)
        if self._transport is not None:
            self._transport.abort()

    def _finish(self, reason: str) -> None:
        if self.closed.done():
            return
        self.closed.set_result(reason)
        for channel in self._channels.values():
            channel.queue.put_nowait(ChannelClosed(reason))
        for fut in self._versions:
            if not fut.done():
                fut.set_exception(ChannelClosed(reason))
        self._versions.clear()
