"""The relay itself: one guiServer connection (or multicast membership) kept alive, and every
document it brings parsed, counted and put on its feed.

Connection rules: the setup path (packet 13, even empty: guiServer never initialises it and
pastes it in front of every DiFX command line), channels on, relay on or off, the message
selection, a version request; on any failure wait 0.25 s, doubling up to `--reconnect-max`
(`socs_like.backoff`); guiServer has no heartbeat, so a
connection silent for `--idle-probe` s is probed with a version request and dropped if
`--probe-timeout` passes. A document that does not parse, or that a feed refuses, is counted
and dropped; a corrupt stream closes the connection (the client's choice) and we reconnect.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

from socs_like import Feed, OpSession
from socs_like.backoff import Backoff
from socs_like.sequence import SequenceTracker

from . import commands
from .connection import Diagnostic, VersionReply
from .errors import ChannelClosed, RemoteProtocolError
from .feeds import feed_event
from .guiclient import GuiClient
from .jobcontrol import StopWatch
from .jobs import JobTable
from .messages import AlertMessage, DifxMessage, StatusMessage, parse_message
from .models import RelaySummary
from .options import Options

MAX_DATAGRAM = 10 * 1024  # guiServer reads at most this much of one multicast datagram


class _Multicast(asyncio.DatagramProtocol):
    def __init__(self, on_datagram: Callable[[bytes], None]) -> None:
        self.on_datagram = on_datagram

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.on_datagram(data)


class Relay:
    """Connection state, counters and the job table; `connect_loop` / `direct` run it."""

    def __init__(self, args: Options, feeds: dict[str, Feed], server_feed: Feed) -> None:
        self.args = args
        self.feeds = feeds
        self.server_feed = server_feed
        self.client: GuiClient | None = None
        self.server: VersionReply | None = None
        self.last_error: str | None = "never connected"
        self.relay_on: bool = args.relay
        self.selection: list[str] | None = args.selection
        self.jobs = JobTable()
        # DiFX's message library numbers every message of one process with one counter,
        # whatever its type or job identifier: losses are counted per (host, mpiProcessId).
        self.seq: SequenceTracker[tuple[str, int]] = SequenceTracker()
        # Messages per job identifier: what each job sent, not a measure of loss.
        self.identifiers: Counter[str] = Counter()
        self.counts: Counter[str] = Counter()
        self.diagnostics: Counter[str] = Counter()
        self.bad_documents = 0
        self.last_bad_document: str | None = None
        self.reconnects = 0
        self.last_disconnect: str | None = None
        self._job_listeners: dict[str, list[asyncio.Queue[tuple[str, int]]]] = {}
        self._diagnostic_listeners: list[Callable[[Diagnostic], None]] = []

    @contextlib.contextmanager
    def job_states(self, job: str) -> Iterator[asyncio.Queue[tuple[str, int]]]:
        """Every (state, mpiProcessId) of `job` seen while the context is open, in order."""
        queue: asyncio.Queue[tuple[str, int]] = asyncio.Queue()
        listeners = self._job_listeners.setdefault(job, [])
        listeners.append(queue)
        try:
            yield queue
        finally:
            listeners.remove(queue)
            if not listeners:
                del self._job_listeners[job]

    def on_document(self, document: bytes) -> None:
        if len(document) > MAX_DATAGRAM:
            self._bad(
                f"document of {len(document)} bytes is over the {MAX_DATAGRAM} a DiFX "
                "datagram can carry"
            )
            return
        try:
            msg = parse_message(document)
        except RemoteProtocolError as e:
            self._bad(str(e))
            return
        try:
            self._publish(msg)
        except ValueError as e:  # a feed refused it: count it, keep relaying
            self._bad(f"{msg.header.message_type} from {msg.header.from_host!r}: {e}")

    def _bad(self, reason: str) -> None:
        self.bad_documents += 1
        self.last_bad_document = reason[:300]

    def _publish(self, msg: DifxMessage) -> None:
        h = msg.header
        now = time.time()
        self.counts[h.message_type] += 1
        sender = (h.from_host, h.mpi_process_id)
        before = self.seq.counts(sender)
        last = before.last_seq if before is not None else None
        verdict = self.seq.observe(sender, h.seq_number)
        gap = 0
        if verdict == "gap" and h.seq_number is not None and last is not None:
            gap = h.seq_number - last - 1
        if h.identifier and (h.identifier in self.identifiers or len(self.identifiers) < 1000):
            self.identifiers[h.identifier] += 1
        progress = 0.0
        if isinstance(msg, StatusMessage):
            row = self.jobs.apply_status(msg, now)
            progress = row.progress
            for q in self._job_listeners.get(row.job, ()):
                q.put_nowait((msg.state, h.mpi_process_id))
        elif isinstance(msg, AlertMessage):
            self.jobs.apply_alert(msg, now)
        feed, payload = feed_event(msg, now=now, seq_gap=gap, progress=progress)
        self.feeds[feed].publish(payload)

    def on_diagnostic(self, d: Diagnostic) -> None:
        self.diagnostics[d.level] += 1
        for listener in self._diagnostic_listeners:
            listener(d)
        self.server_feed.publish({"level": d.level, "text": d.text, "timestamp": time.time()})

    def summary(self) -> dict[str, Any]:
        totals = self.seq.totals()
        connected = self.client is not None and self.client.is_open
        return RelaySummary(
            mode=self.args.mode,
            server=f"{self.args.host}:{self.args.port}"
            if self.args.mode == "relay"
            else f"{self.args.multicast_group}:{self.args.multicast_port}",
            connected=connected,
            last_error=None if connected else self.last_error,
            reconnects=self.reconnects,
            last_disconnect=self.last_disconnect,
            relay_on=self.relay_on,
            selection=self.selection,
            documents=dict(self.counts),
            bad_documents=self.bad_documents,
            last_bad_document=self.last_bad_document,
            seq_lost=totals["lost"],
            seq_late=totals["late"],
            seq_duplicates=totals["duplicates"],
            sender_restarts=totals["restarts"],
            senders={f"{h}/{m}": c for (h, m), c in self.seq.snapshot().items()},
            identifiers=dict(self.identifiers),
            channel_errors=self.client.channel_errors if self.client else 0,
            server_messages=dict(self.diagnostics),
            guiserver=self.server.as_dict() if self.server else None,
            jobs=self.jobs.as_dict(),
        ).as_data()

    def configure(self, relay_on: bool, selection: list[str] | None) -> None:
        """Relay on/off and the message selection, now and after every reconnect."""
        packet = commands.message_selection(selection)  # refuses unknown names first
        self.relay_on, self.selection = relay_on, selection
        if self.client is not None and self.client.is_open:
            self.client.send(commands.relay(relay_on))
            self.client.send(packet)

    async def wait_job_end(
        self, job: str, stop: Callable[[], object], timeout: float, quiet: float
    ) -> StopWatch:
        """Call `stop` (which sends DifxStop), then watch `job`'s status messages and
        guiServer's diagnostics until `StopWatch` confirms the end or `timeout` s pass."""
        watch = StopWatch(job, time.monotonic(), quiet)

        def on_diagnostic(d: Diagnostic) -> None:
            watch.diagnostic(d.text)

        self._diagnostic_listeners.append(on_diagnostic)
        try:
            with self.job_states(job) as states:
                stop()
                deadline = watch.stopped_at + timeout
                while (left := deadline - time.monotonic()) > 0:
                    try:
                        state, mpi_id = await asyncio.wait_for(states.get(), min(left, 0.2))
                    except TimeoutError:
                        if watch.check(time.monotonic()):
                            break
                        continue
                    if watch.observe(state, mpi_id, time.monotonic()):
                        break
        finally:
            self._diagnostic_listeners.remove(on_diagnostic)
        return watch

    async def connect_loop(self, session: OpSession) -> None:
        host, port = self.args.host, self.args.port
        if host is None or port is None:  # Options refuses relay mode without them
            raise ChannelClosed("no guiServer --host and --port: the agent runs in direct mode")
        backoff = Backoff(initial=0.25, factor=2, cap=self.args.reconnect_max)
        while not session.stop_requested:
            session.data = self.summary()
            try:
                client = await GuiClient.connect(
                    host,
                    port,
                    timeout=3.0,
                    on_relayed=self.on_document,
                    on_diagnostic=self.on_diagnostic,
                )
            except (OSError, TimeoutError) as e:
                self.last_error = f"connect to {self.args.host}:{self.args.port}: {e or 'timeout'}"
                session.data = self.summary()
                if await session.sleep(backoff.failure()):
                    return
                continue
            try:
                client.send(commands.difx_setup_path(self.args.setup_path))
                client.send(commands.channel_all_data(True))
                client.send(commands.relay(self.relay_on))
                client.send(commands.message_selection(self.selection))
                self.server = await client.version(self.args.probe_timeout)
            except (TimeoutError, ChannelClosed) as e:
                client.close(f"handshake failed: {e or 'timeout'}")
                self.last_error = (
                    f"{self.args.host}:{self.args.port} accepted the connection "
                    f"but the handshake failed: {e or 'no version reply'}"
                )
                if await session.sleep(backoff.failure()):
                    return
                continue
            backoff.success()
            if self.client is not None:
                self.reconnects += 1
            self.client = client
            self.last_error = None
            session.add_message(
                f"connected to guiServer {self.server.version} at {self.args.host}:{self.args.port}"
            )
            await self._watch(session, client)
            self.last_error = client.closed.result() if client.closed.done() else "stopped"
            self.last_disconnect = self.last_error
            if not session.stop_requested:
                session.add_message(f"disconnected: {self.last_error}; reconnecting")

    async def _watch(self, session: OpSession, client: GuiClient) -> None:
        while client.is_open:
            session.data = self.summary()
            stop = asyncio.ensure_future(session.sleep(0.5))
            either: list[asyncio.Future[Any]] = [stop, client.closed]
            await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
            if stop.done() and stop.result():
                client.close("relay stopped")
                return
            stop.cancel()
            idle = time.monotonic() - client.last_received
            if (
                client.is_open
                and idle > self.args.idle_probe
                and not await client.probe(self.args.probe_timeout)
            ):
                client.close(
                    f"silent for {idle:.1f} s and no answer to a probe within "
                    f"{self.args.probe_timeout:g} s"
                )

    async def direct(self, session: OpSession) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.args.multicast_group, self.args.multicast_port))
        sock.setsockopt(
            socket.IPPROTO_IP,
            socket.IP_ADD_MEMBERSHIP,
            struct.pack(
                "4s4s",
                socket.inet_aton(self.args.multicast_group),
                socket.inet_aton(self.args.multicast_interface),
            ),
        )
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)

        transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
            lambda: _Multicast(self.on_document), sock=sock
        )
        self.last_error = "listening"
        session.add_message(f"joined {self.args.multicast_group}:{self.args.multicast_port}")
        try:
            while not await session.sleep(0.5):
                session.data = self.summary()
        finally:
            transport.close()
