"""A TCP gate between one agent and the hub: `close` cuts the agent off (its connection drops
and new ones are refused) while every other client stays on the hub; `open` lets it back.
`partition` cuts it off silently instead, as a network that drops packets does: no socket
closes, bytes sent either way vanish, new connections hang; `heal` ends that for new
connections (a connection made during the partition stays dead, as its peer has given up).

So a test sees what an agent does through a hub outage with a subscriber that never left.
"""

from __future__ import annotations

import asyncio
import contextlib

from .util import free_port


class TcpGate:
    """Forwards ``127.0.0.1:port`` to ``127.0.0.1:target_port`` while open. Its coroutines run
    on one loop (the client loop: `socs_like.client.run_sync`)."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._partitioned = False
        self._dead: set[asyncio.StreamWriter] = set()  # links whose bytes vanish

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    async def open(self) -> None:
        self._server = await asyncio.start_server(self._forward, "127.0.0.1", self.port)

    async def close(self) -> None:
        """Stop listening and drop every forwarded connection at once (as a dead hub would)."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    async def partition(self) -> None:
        """From now on every byte either way is lost and no socket closes (half-open)."""
        self._partitioned = True
        self._dead |= self._writers

    async def heal(self) -> None:
        """New connections get through again."""
        self._partitioned = False

    async def _forward(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._partitioned:  # the handshake's bytes vanish; the client gives up by itself
            self._dead.add(writer)
            with contextlib.suppress(ConnectionError):
                while await reader.read(65536):
                    pass
            self._dead.discard(writer)
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.transport.abort()
            return
        self._writers |= {writer, up_writer}
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
        self._writers -= {writer, up_writer}
        self._dead -= {writer, up_writer}

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(65536):
                if writer in self._dead:
                    continue
                writer.write(data)
                await writer.drain()
        writer.transport.abort()
