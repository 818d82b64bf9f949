"""A guiServer simulator that answers as the real DiFX guiServer does (`socs-like simulate
guiserver`). The protocol facts, with source citations, are in the shared protocol spec
(`difx-guiserver-protocol.md`); section numbers below (§) refer to it.

Modules:
- `simulator`: the connection (receive loop, handshake, relay, dispatch) and the command line;
- `sim_bus`: what the simulated DiFX processes multicast, heard by relaying connections;
- `sim_wire`: reply paths (channel mode 21/22, or a TCP connection to the client's port);
- `sim_request`: reading command documents and the binary requests as guiServer does;
- `sim_select`: the relay selection;
- `sim_files`: ls, mkdir/rmdir/touch/rm/mv/cp, get and send;
- `sim_jobs`: DifxStart, DifxStop, job status and the simulated correlator;
- `sim_tools`: machines definition, vex2difx, getDirectory, Mk5Control, Mark5Copy, file list.

What the simulator adds, kept apart from what a client sees of guiServer:
- everything acts inside `--sandbox`; a path outside it behaves as a path that does not exist;
- simulated DiFX processes (correlator jobs, mk5daemon load and Mark5 status) multicast their
  documents on `--multicast-group` and are relayed to connections, as guiServer relays what it
  hears; `--demo-every` runs jobs by themselves (as mk5daemon would) for `make run`;
  `--flood-rate` emits timestamped status documents for the benchmark;
- a job's `.input` may hold `SIM BEHAVIOUR: <word>` lines (see `sim_jobs`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import sys
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, Final

from socs_like.paths import PathRefused, Roots

from . import sim_files, sim_jobs, sim_tools
from .errors import DiFXProtocolError
from .framing import FrameDecoder, Packet, PacketId, encode_packet
from .messages import InfoMessage, Mark5StatusMessage
from .sim_bus import Bus
from .sim_request import Command, Truncated, parse_command, parse_file_list, parse_job_status
from .sim_select import Selection
from .sim_wire import ChannelPath, ChannelQueue, ReplyPath, SocketPath

VERSION = "guiServer-sim 1.0"
# sizeof(DifxMessageGeneric) on x86-64: longer commands are refused (SSC:553-557).
MAX_MESSAGE: Final = 93_712
# guiServer reads at most this much of a datagram (SSC:166, 178).
MAX_DATAGRAM: Final = 10 * 1024
# Bytes queued for channels no operation reads yet, per connection; beyond it they are dropped
# (guiServer would grow without bound).
MAX_QUEUED: Final = 64 * 1024 * 1024
DIAGNOSTIC_LEVEL: Final = {
    PacketId.INFORMATION: "INFO",
    PacketId.WARNING: "WARNING",
    PacketId.ERROR: "ERROR",
}


def log(text: str) -> None:
    print(text, flush=True)


class Connection(asyncio.Protocol):
    """One client of guiServer (a `ServerSideConnection`)."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.decoder = FrameDecoder()
        self.inbox: asyncio.Queue[Packet] = asyncio.Queue()
        # Initial state (SSC:87-122): relay off, relay-all on, channel mode off, and the
        # multicast group of the environment.
        self.relay = False
        self.selection = Selection()
        self.channel_mode = False
        self.group = (sim.bus.group, sim.bus.port)
        self._setup_path = ""
        self.run_label = ""
        self.queues: dict[int, ChannelQueue] = {}
        self.transport: asyncio.Transport | None = None
        self.worker: asyncio.Task[None] | None = None
        self.tasks: set[asyncio.Task[None]] = set()
        self.peer = "?"
        # Jobs this connection started and has not been told to stop (its running list).
        self.running: set[str] = set()

    # -- OpContext
    @property
    def sandbox(self) -> str:
        return str(self.sim.sandbox)

    @property
    def setup_path(self) -> str:
        return self._setup_path

    def inside(self, path: str) -> str | None:
        try:
            return self.sim.roots.resolve(path)
        except PathRefused:
            return None

    def diagnostic(self, packet_id: int, text: str) -> None:
        log(f"[ -1] {DIAGNOSTIC_LEVEL.get(PacketId(packet_id), '?')} {text.rstrip()}")
        self.send(Packet(packet_id, text.encode()))

    def alert(self, text: str, level: str) -> None:
        log(f"[ -1] {level} {text.rstrip()}")

    async def open_path(self, address: str, port: int) -> ReplyPath | None:
        if self.channel_mode:
            return ChannelPath(self.send, port, self.queue(port))
        try:
            return await SocketPath.connect(address, port)
        except (OSError, TimeoutError, ValueError, UnicodeError):
            return None

    def queue(self, port: int) -> ChannelQueue:
        return self.queues.setdefault(port, ChannelQueue())

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run an operation in its own task, as guiServer runs it in its own thread."""
        task = asyncio.get_running_loop().create_task(self._guarded(coro))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _guarded(self, coro: Coroutine[Any, Any, None]) -> None:
        try:
            await coro
        except (OSError, TimeoutError, asyncio.IncompleteReadError) as e:
            log(f"operation for {self.peer} ended: {e!r}")  # the client went away
        except Exception as e:  # bad input never kills the simulator
            log(f"operation for {self.peer} failed: {e!r}")

    # -- transport
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        host, port = transport.get_extra_info("peername")[:2]
        self.peer = f"{host}:{port}"
        self.sim.bus.connections.add(self)
        self.worker = asyncio.get_running_loop().create_task(self.receive_loop())
        # guiServer sends nothing on accept (§2).

    def connection_lost(self, exc: Exception | None) -> None:
        self.sim.bus.connections.discard(self)
        if self.worker is not None:
            self.worker.cancel()
        for task in list(self.tasks):
            task.cancel()

    def send(self, packet: Packet) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(encode_packet(packet))

    def data_received(self, data: bytes) -> None:
        self.decoder.receive_data(data)
        try:
            for packet in self.decoder.packets():
                self.inbox.put_nowait(packet)
        except DiFXProtocolError as e:
            log(f"closing {self.peer}: {e}")
            if self.transport is not None:
                self.transport.close()

    async def receive_loop(self) -> None:
        """Packets in order, one at a time, as guiServer's receive thread (§1)."""
        while True:
            packet = await self.inbox.get()
            try:
                await self.handle(packet)
            except Exception as e:  # bad input never kills the simulator
                log(f"request {packet.packet_id} from {self.peer} failed: {e!r}")

    # -- relay (§7)
    def heard(self, doc: bytes, group: tuple[str, int]) -> None:
        if not self.relay or group != self.group:
            return
        # guiServer reads at most 10 KiB of a datagram and relays it up to its first NUL.
        message = doc[:MAX_DATAGRAM].split(b"\0", 1)[0]
        # The type is parsed only when a selection needs it (the benchmark floods at high rate).
        if self.selection.relay_all or self.selection.passes(parse_command(message).type_index):
            self.send(Packet(PacketId.RELAY, message))

    # -- requests (§3)
    async def handle(self, p: Packet) -> None:
        pid, data = p.packet_id, p.payload
        if pid == PacketId.RELAY:
            if len(data) >= 4:
                self.relay = int.from_bytes(data[:4], "big", signed=True) != 0
                log(f"relay {'on' if self.relay else 'off'} for {self.peer}")  # console only
        elif pid == PacketId.RELAY_COMMAND:
            self.sim.bus.emit_raw(data, self.group)
        elif pid == PacketId.COMMAND:
            await self.command(data)
        elif pid == PacketId.MULTICAST_SETTINGS:
            group, _, port = data.decode("latin-1").partition("\n")
            self.group = (group[:15], sim_tools.atoi(port))
        elif pid == PacketId.GUISERVER_VERSION:
            self.version_burst()
        elif pid == PacketId.DIFX_SETUP_PATH:
            if len(data) < 4096:
                self._setup_path = data.split(b"\0", 1)[0].decode("utf-8", "replace")
        elif pid == PacketId.DIFX_RUN_LABEL:
            if len(data) < 4096:
                self.run_label = data.decode("utf-8", "replace")
        elif pid == PacketId.MESSAGE_SELECTION:
            self.selection.apply(data)
        elif pid in (PacketId.CHANNEL_ALL_DATA_ON, PacketId.CHANNEL_ALL_DATA_OFF):
            self.channel_mode = pid == PacketId.CHANNEL_ALL_DATA_ON
        elif pid == PacketId.CHANNEL_DATA:
            if len(data) >= 4 and sum(map(len, self.queues.values())) < MAX_QUEUED:
                self.queue(int.from_bytes(data[:4], "big", signed=True)).feed(data[4:])
        elif pid == PacketId.GET_JOB_STATUS:
            try:
                self.spawn(sim_jobs.job_status(self, parse_job_status(data)))
            except Truncated as e:
                log(f"GET_JOB_STATUS from {self.peer}: {e}")
        elif pid == PacketId.GENERATE_FILELIST:
            try:
                self.spawn(sim_tools.file_list(self, parse_file_list(data)))
            except Truncated as e:
                log(f"GENERATE_FILELIST from {self.peer}: {e}")
        # Anything else (14 monitor, unknown ids) has been read and is ignored (§1).

    def version_burst(self) -> None:
        """§2: 8, 11, 16 when the user is known, 10 per version (or WARNING 5), 12 per
        environment entry, empty 18. Never 9."""
        sim = self.sim
        self.send(Packet(PacketId.GUISERVER_VERSION, VERSION.encode()))
        self.send(Packet(PacketId.DIFX_BASE, sim.difx_base.encode()))
        if sim.user:
            self.send(Packet(PacketId.GUISERVER_USER, sim.user.encode()))
        pattern = f"{sim.difx_base}/bin/rungeneric.*"
        versions = sorted(Path(sim.difx_base, "bin").glob("rungeneric.*")) if sim.difx_base else []
        if not versions:
            self.diagnostic(
                PacketId.WARNING,
                f'On DiFX Host "{pattern}" returns empty or path does not exist - no versions '
                "of DiFX can be located.\n",
            )
        for v in versions:
            name = v.name.removeprefix("rungeneric.")
            if name and not v.name.endswith((".sh", ".csh")):
                self.send(Packet(PacketId.AVAILABLE_DIFX_VERSION, name.encode()))
        for item in sim.environment:
            self.send(Packet(PacketId.GUISERVER_ENVIRONMENT, item.encode()))
        self.send(Packet(PacketId.CHANNEL_ALL_DATA))

    async def command(self, data: bytes) -> None:
        """Packet 3 (SSC:553-595)."""
        if len(data) > MAX_MESSAGE:
            self.diagnostic(
                PacketId.ERROR,
                f"Message length ({len(data)}) is longer than allowed DiFX maximum "
                f"({MAX_MESSAGE}) - ignored!\n",
            )
            return
        cmd = parse_command(data)
        name = cmd.type_name
        if name == "DifxStart":
            await sim_jobs.start(self, cmd)
        elif name == "DifxStop":
            sim_jobs.stop(self, cmd)
        elif name == "DifxFileOperation":
            if not sim_files.file_operation(self, cmd):
                self.spawn(sim_files.ls(self, cmd))
        elif name == "DifxFileTransfer":
            self.file_transfer(cmd)
        elif name == "DifxVex2DifxRun":
            self.spawn(sim_tools.vex2difx(self, cmd))
        elif name == "DifxMachinesDefinition":
            self.spawn(sim_tools.machines_definition(self, cmd))
        elif name == "DifxGetDirectory":
            self.spawn(sim_tools.get_directory(self, cmd))
        elif name == "DifxMk5Control":
            self.spawn(sim_tools.mk5_control(self, cmd))
        elif name == "DifxMark5Copy":
            self.spawn(sim_tools.mark5_copy(self, cmd))
        elif name == "DifxCommand":
            self.sim.bus.emit_raw(data, self.group)
        else:
            self.diagnostic(
                PacketId.WARNING,
                f"Received command message type {cmd.type_index} - don't know what this is....\n",
            )

    def file_transfer(self, cmd: Command) -> None:
        """Only the exact directions do anything (src/difxFileTransfer.cpp:83, 217)."""
        direction = cmd.text("direction")
        if direction == "to DiFX":
            self.spawn(sim_files.send_file(self, cmd))
        elif direction == "from DiFX":
            self.spawn(sim_files.get_file(self, cmd))


class Simulator:
    def __init__(self, args: argparse.Namespace) -> None:
        self.sandbox = Path(args.sandbox).resolve()
        self.roots = Roots([self.sandbox], option="--sandbox")
        self.bus = Bus(
            None if args.no_multicast else args.multicast_group,
            args.multicast_port,
            args.multicast_interface,
            args.head,
        )
        self.head = args.head
        self.nodes = set(args.nodes.split(",")) | {args.head}
        self.mark5_units = set(filter(None, args.mark5_units.split(",")))
        self.mark5_dir = str(self.sandbox / "mark5dir")
        self.user = args.user
        self.difx_base = str(self.sandbox / "difx") if args.difx_base is None else args.difx_base
        self.job_steps = args.job_steps
        self.step_seconds = args.step_seconds
        self.jobs: dict[str, sim_jobs.Job] = {}
        self.args = args
        if self.difx_base and args.difx_versions:
            bin_dir = Path(self.difx_base, "bin")
            with contextlib.suppress(OSError):
                bin_dir.mkdir(parents=True, exist_ok=True)
                for v in args.difx_versions.split(","):
                    (bin_dir / f"rungeneric.{v}").touch()
        # A small, fixed environment: the real server sends its whole environment (SSC:411).
        self.environment = [
            f"DIFX_BASE={self.difx_base}",
            f"DIFX_MESSAGE_GROUP={args.multicast_group}",
            f"DIFX_MESSAGE_PORT={args.multicast_port}",
            f"HOME={self.sandbox}",
            "PATH=/usr/local/bin:/usr/bin:/bin",
        ]

    async def load_ticker(self) -> None:
        """Idle correlator nodes still report their load, and the Mark5 unit its state, as
        mk5daemon does."""
        while True:
            await asyncio.sleep(self.args.load_interval)
            self.bus.emit(
                Mark5StatusMessage(
                    header=self.bus.header("Mark5StatusMessage", "mark5fx01", "mk5daemon", -1),
                    bank_a_vsn="NRAO+123",
                    bank_b_vsn="none",
                    status_word=0x00F02001,
                    active_bank="A",
                    state="Idle",
                    scan_number=0,
                    scan_name="",
                    position=0,
                    play_rate=0.0,
                    data_mjd=0.0,
                )
            )
            for host in ("difxhead", "cn01"):
                self.bus.emit_load(host, cpu=0.25, used=2_000_000, rx=0, tx=0)

    async def demo_jobs(self) -> None:
        """Start a job every `demo_every` s, as mk5daemon would for an operator, so a relay
        has something to show (`make run`)."""
        folder = self.sandbox / "demo"
        folder.mkdir(exist_ok=True)
        # Five names in turn, each run starting afresh, so a long `make run` stays small.
        for n in itertools.cycle(range(1, 6)):
            path = folder / f"demo_{n}.input"
            path.write_text("DATASTREAM ENTRIES: 1\n")
            path.with_suffix(".difxlog").unlink(missing_ok=True)
            job = sim_jobs.Job(self, str(path), ["cn01", "cn02"], by_mk5daemon=True)
            self.jobs[str(path)] = job
            await job.run(None)
            await asyncio.sleep(self.args.demo_every)

    async def flood(self) -> None:
        """Benchmark traffic: `flood_rate` status documents a second carrying their send time."""
        while not any(c.relay for c in self.bus.connections):
            await asyncio.sleep(0.01)
        await asyncio.sleep(self.args.flood_delay)
        rate, total = self.args.flood_rate, int(self.args.flood_rate * self.args.flood_seconds)
        t0, sent = time.perf_counter(), 0
        while sent < total:
            due = min(total, int((time.perf_counter() - t0) * rate) + 1)
            while sent < due:
                self.bus.status(
                    "bench",
                    "Running",
                    host="benchhost",
                    message=f"t={time.time():.6f}",
                    input_file="/bench/bench.input",
                )
                sent += 1
            await asyncio.sleep(0.001)
        self.bus.emit(
            InfoMessage(
                header=self.bus.header("DifxInfoMessage", "benchhost", "bench", -1),
                message=f"flood done: {sent}",
            )
        )

    async def serve(self) -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(
            lambda: Connection(self), self.args.host, self.args.port, reuse_address=True
        )
        port = server.sockets[0].getsockname()[1]
        log(f"guiserver simulator listening on {self.args.host}:{port}")
        tasks = [loop.create_task(self.load_ticker())]
        if self.args.demo_every:
            tasks.append(loop.create_task(self.demo_jobs()))
        if self.args.flood_rate:
            tasks.append(loop.create_task(self.flood()))
        async with server:
            await server.serve_forever()


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="socs-like simulate guiserver", description=__doc__.split("\n")[0]
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=50200, help="TCP port; 0 picks a free one.")
    p.add_argument("--sandbox", required=True, help="Folder all file operations stay inside.")
    p.add_argument("--multicast-group", default="224.2.2.1")
    p.add_argument("--multicast-port", type=int, default=50200)
    p.add_argument("--multicast-interface", default="127.0.0.1")
    p.add_argument("--no-multicast", action="store_true")
    p.add_argument("--head", default="difxhead", help="Host name the head node reports.")
    p.add_argument(
        "--user",
        default="difx",
        help="User name sent as packet 16; empty for none, as under a daemon (§2).",
    )
    p.add_argument(
        "--difx-base",
        default=None,
        help="DIFX_BASE sent as packet 11 (default SANDBOX/difx; may be empty).",
    )
    p.add_argument(
        "--difx-versions",
        default="DIFX-2.8.1,DIFX_DEVEL",
        help="Versions to install as DIFX_BASE/bin/rungeneric.V (comma-separated; empty: none).",
    )
    p.add_argument(
        "--nodes",
        default="cn01,cn02,ds1,ds2,mark5fx01",
        help="Hosts that answer (processor tests); comma-separated.",
    )
    p.add_argument("--mark5-units", default="mark5fx01", help="Mark5 units; comma-separated.")
    p.add_argument("--job-steps", type=int, default=10, help="Running status messages per job.")
    p.add_argument("--step-seconds", type=float, default=0.3)
    p.add_argument("--load-interval", type=float, default=2.0)
    p.add_argument(
        "--demo-every",
        type=float,
        default=0.0,
        help="Run a demo job by itself, pausing this many seconds between jobs.",
    )
    p.add_argument("--flood-rate", type=float, default=0.0, help="Benchmark: status docs/s.")
    p.add_argument("--flood-seconds", type=float, default=10.0)
    p.add_argument("--flood-delay", type=float, default=1.0)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        Path(args.sandbox).mkdir(parents=True, exist_ok=True)
    except OSError as e:
        print(f"cannot use sandbox {args.sandbox}: {e}", file=sys.stderr)
        return 2
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(Simulator(args).serve())
    return 0


if __name__ == "__main__":
    sys.exit(main())
