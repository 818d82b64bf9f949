"""A guiServer simulator on the same protocol core as the agent (`socs-like simulate guiserver`).

What it does, as guiServer does:
- on each connection: relay starts off; RELAY 1/0 switches it; MESSAGE_SELECTION replaces the
  selection (substring match on keywords); GUISERVER_VERSION answers with the burst 8, 11,
  16, 10*, 12*, 18; CHANNEL_ALL_DATA_ON/OFF; unknown ids are skipped;
- every document it "multicasts" goes to UDP multicast (for the agent's direct mode) and to
  each connection that has relay on and selects its type;
- file operations (ls, mkdir -p, rmdir, rm, mv), file transfers, vex2difx (+ calc), machine
  definitions, DifxStart/DifxStop and GET_JOB_STATUS, inside a sandbox folder: a path
  outside it is refused with an alert, as a careful guiServer would;
- a job runs Spawning → Starting → Running (progress) → Ending → Done → MpiDone with load and
  alert messages; its `.input` may hold `SIM BEHAVIOUR: fail` (crashes mid-run) or
  `SIM BEHAVIOUR: wedge` (ignores DifxStop after Terminating, as the real one sometimes does).

Replies go on channels only (CHANNEL_ALL_DATA_ON); with channels off an operation is answered
by an ERROR packet. `--demo-every` runs jobs by itself (for `make run`); `--flood-rate` emits
timestamped status documents for the benchmark.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fnmatch
import glob
import itertools
import os
import shutil
import socket
import sys
import time
from pathlib import Path

from . import commands
from .channels import ChannelDemux, InnerPacket, channel_connection, channel_packets
from .codes import JobStatusCode, OpCode, StartCode
from .errors import DiFXProtocolError
from .framing import FrameDecoder, Packet, PacketId, encode_packet, pack_int, unpack_int
from .machines import Machines, render_machines, render_threads
from .messages import (
    SELECTION_KEYWORDS,
    WRAPPER_DECLARATION,
    AlertMessage,
    DifxMessage,
    Header,
    InfoMessage,
    LoadMessage,
    Mark5StatusMessage,
    StatusMessage,
    encode_message,
)

VERSION = "guiServer-sim 1.0"
AVAILABLE = ("DIFX-2.8.1", "DIFX_DEVEL")
CHUNK = 64 * 1024
MJD_UNIX_EPOCH = 40587.0


def mjd_now() -> float:
    return MJD_UNIX_EPOCH + time.time() / 86400.0


class Bus:
    """Everything the simulated DiFX processes multicast: to UDP and to relaying connections."""

    def __init__(self, group: str | None, port: int, interface: str) -> None:
        self.connections: set[Connection] = set()
        self._seq: dict[tuple[str, int, str], itertools.count[int]] = {}
        self._udp: socket.socket | None = None
        self._dest = (group or "", port)
        if group:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(interface))
            s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 1)
            s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
            s.setblocking(False)
            self._udp = s

    def header(self, mtype: str, host: str, identifier: str, mpi: int) -> Header:
        seq = next(self._seq.setdefault((host, mpi, identifier), itertools.count()))
        return Header(
            from_host=host,
            message_type=mtype,
            identifier=identifier,
            mpi_process_id=mpi,
            seq_number=seq,
        )

    def emit(self, msg: DifxMessage, *, wrapper: bool = False) -> None:
        doc = (
            encode_message(msg, declaration=WRAPPER_DECLARATION) if wrapper else encode_message(msg)
        )
        self.emit_raw(doc, msg.header.message_type)

    def emit_raw(self, doc: bytes, mtype: str) -> None:
        if self._udp is not None:
            try:
                self._udp.sendto(doc, self._dest)
            except BlockingIOError:
                pass  # UDP may drop, as real multicast does
        keyword = SELECTION_KEYWORDS.get(mtype, "UNKNOWN_MESSAGES")
        for conn in list(self.connections):
            if conn.relay and (conn.selection is None or keyword in conn.selection):
                conn.send(Packet(PacketId.RELAY, doc))

    def status(
        self,
        job: str,
        input_file: str,
        state: str,
        *,
        host: str,
        mpi: int = 0,
        vis: float | None = None,
        start: float | None = None,
        stop: float | None = None,
        weights: tuple[tuple[int, float], ...] = (),
        message: str = "",
    ) -> None:
        wrapper = mpi == -1
        self.emit(
            StatusMessage(
                header=self.header("DifxStatusMessage", host, job, mpi),
                state=state,
                input_file=input_file,
                message=message,
                visibility_mjd=0.0 if wrapper else vis,
                job_start_mjd=start,
                job_stop_mjd=stop,
                weights=weights,
            ),
            wrapper=wrapper,
        )

    def alert(
        self,
        text: str,
        severity: int,
        *,
        host: str,
        job: str = "",
        mpi: int = -1,
        input_file: str | None = None,
    ) -> None:
        self.emit(
            AlertMessage(
                header=self.header("DifxAlertMessage", host, job, mpi),
                message=text,
                severity=severity,
                input_file=input_file,
            )
        )


class Job:
    """One running correlation in the simulator."""

    def __init__(self, sim: Simulator, input_file: Path, processors: list[str]) -> None:
        self.sim, self.input_file, self.processors = sim, input_file, processors
        self.name = input_file.name.removesuffix(".input")
        text = input_file.read_text(errors="replace")
        self.behaviour = "normal"
        for line in text.splitlines():
            if line.upper().startswith("SIM BEHAVIOUR:"):
                self.behaviour = line.split(":", 1)[1].strip().lower()
        self.task: asyncio.Task[None] | None = None
        self.stopping = False

    def log_state(self, state: str) -> None:
        with open(self.input_file.with_suffix(".difxlog"), "a") as f:
            f.write(f"{time.ctime()} {state}\n")

    async def run(self, conn: Connection | None, channel: int) -> None:
        """Run to the end; channel replies go to `conn`, or nowhere for a demo job."""
        bus, host, path = self.sim.bus, self.sim.head, str(self.input_file)

        def reply(code: int, payload: bytes = b"") -> None:
            if conn is not None:
                conn.channel_reply(channel, code, payload)

        steps = self.sim.job_steps
        start, stop = 57028.0, 57028.0 + steps / 1440.0

        def status(state: str, **kw: object) -> None:
            bus.status(self.name, path, state, host=host, **kw)  # type: ignore[arg-type]
            self.log_state(state)

        try:
            reply(StartCode.STARTING_DIFX)
            status("Spawning", mpi=-1)
            reply(StartCode.STARTED)
            await asyncio.sleep(self.sim.step_seconds)
            status("Starting")
            for i in range(1, steps + 1):
                await asyncio.sleep(self.sim.step_seconds)
                if self.behaviour == "fail" and i == steps // 2:
                    bus.alert(
                        "Datastream 1: cannot open /data/missing.vdif",
                        1,
                        host="ds1",
                        job=self.name,
                        mpi=1,
                        input_file=path,
                    )
                    status("Crashed", mpi=-1)
                    reply(StartCode.DIFX_ERROR, b"Datastream 1: cannot open /data/missing.vdif")
                    reply(StartCode.JOB_FAILED, b"mpirun exited with 1")
                    return
                weights = tuple((a, 0.9 + 0.01 * a) for a in range(3))
                status("Running", vis=start + i / 1440.0, start=start, stop=stop, weights=weights)
                for n, proc in enumerate(self.processors):
                    bus.emit(
                        LoadMessage(
                            header=bus.header("DifxLoadMessage", proc, "", -1),
                            cpu_load=2.0 + n,
                            total_memory=64_000_000,
                            used_memory=8_000_000 + i,
                            net_rx_rate=1000 * i,
                            net_tx_rate=10 * i,
                            n_core=16,
                        )
                    )
                if i == 1:
                    bus.alert(
                        "Processing started", 4, host=host, job=self.name, mpi=0, input_file=path
                    )
            await asyncio.sleep(self.sim.step_seconds)
            status("Ending")
            status("Done")
            (self.input_file.parent / f"{self.name}.difx").mkdir(exist_ok=True)
            status("MpiDone", mpi=-1)
            reply(StartCode.DIFX_COMPLETE)
            reply(StartCode.ENDED_GRACEFULLY)
        finally:
            self.sim.jobs.pop(path, None)

    def stop(self) -> None:
        bus, path = self.sim.bus, str(self.input_file)
        bus.status(self.name, path, "Terminating", host=self.sim.head, mpi=-1)
        self.log_state("Terminating")
        if self.behaviour == "wedge":
            bus.alert(
                f"Processes of {self.name} did not respond to kill",
                2,
                host=self.sim.head,
                job=self.name,
            )
            return
        if self.task is not None:
            self.task.cancel()
        bus.status(self.name, path, "Terminated", host=self.sim.head, mpi=-1)
        self.log_state("Terminated")
        self.sim.jobs.pop(path, None)


class Connection(asyncio.Protocol):
    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.decoder = FrameDecoder()
        self.inbound = ChannelDemux()
        self.relay = False
        self.selection: str | None = None
        self.channels = False
        self.uploads: dict[int, tuple[Path, int, bytearray]] = {}
        self.transport: asyncio.Transport | None = None
        self.peer = "?"

    # -- transport
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        host, port = transport.get_extra_info("peername")[:2]
        self.peer = f"{host}:{port}"
        self.sim.bus.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.sim.bus.connections.discard(self)

    def send(self, packet: Packet) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(encode_packet(packet))

    def data_received(self, data: bytes) -> None:
        self.decoder.receive_data(data)
        try:
            for packet in self.decoder.packets():
                self.handle(packet)
        except DiFXProtocolError as e:
            self.send(Packet(PacketId.ERROR, f"protocol error, closing: {e}".encode()))
            if self.transport is not None:
                self.transport.close()

    # -- replies
    def open_channel(self, channel: int) -> bool:
        if not self.channels:
            self.send(Packet(PacketId.ERROR, b"operation replies need CHANNEL_ALL_DATA_ON"))
            return False
        self.send(channel_connection(channel))
        return True

    def channel_reply(self, channel: int, code: int, payload: bytes = b"") -> None:
        for p in channel_packets(channel, code, payload):
            self.send(p)

    # -- requests
    def handle(self, p: Packet) -> None:
        pid = p.packet_id
        if pid == PacketId.RELAY:
            self.relay = unpack_int(p.payload, "RELAY") != 0
            print(f"relay {'on' if self.relay else 'off'} for {self.peer}", flush=True)
        elif pid == PacketId.MESSAGE_SELECTION:
            # guiServer keeps the text and looks keywords up as substrings, so choosing
            # MARK5STATUS_MESSAGES lets STATUS_MESSAGES through too; so do we.
            text = p.payload.decode("utf-8", "replace")
            self.selection = None if text.startswith("ALL_MESSAGES") else text
        elif pid == PacketId.GUISERVER_VERSION:
            self.version_burst()
        elif pid in (PacketId.CHANNEL_ALL_DATA_ON, PacketId.CHANNEL_ALL_DATA_OFF):
            self.channels = pid == PacketId.CHANNEL_ALL_DATA_ON
        elif pid == PacketId.COMMAND:
            self.command(p.payload)
        elif pid == PacketId.RELAY_COMMAND:
            self.sim.bus.emit_raw(p.payload, "DifxCommand")
        elif pid == PacketId.GET_JOB_STATUS:
            self.job_status(commands.parse_get_job_status(p.payload))
        elif pid == PacketId.CHANNEL_DATA:
            event = self.inbound.handle(p)
            if isinstance(event, InnerPacket):
                self.upload_data(event)
        # Anything else (setup path, run label, monitor, unknown ids) is consumed and ignored.

    def version_burst(self) -> None:
        self.send(Packet(PacketId.GUISERVER_VERSION, VERSION.encode()))
        self.send(Packet(PacketId.DIFX_BASE, str(self.sim.sandbox / "difx").encode()))
        self.send(Packet(PacketId.GUISERVER_USER, b"difx"))
        for v in AVAILABLE:
            self.send(Packet(PacketId.AVAILABLE_DIFX_VERSION, v.encode()))
        for item in (
            f"DIFX_VERSION={AVAILABLE[0]}",
            f"DIFX_BASE={self.sim.sandbox / 'difx'}",
            "DIFX_MESSAGE_GROUP=224.2.2.1",
        ):
            self.send(Packet(PacketId.GUISERVER_ENVIRONMENT, item.encode()))
        self.send(Packet(PacketId.CHANNEL_ALL_DATA))

    def command(self, payload: bytes) -> None:
        try:
            doc = commands.parse_command(payload)
            handler = getattr(self, "cmd_" + doc.command_type, None)
            if handler is None:
                self.sim.bus.alert(
                    f"{doc.command_type} is not supported by the simulator", 3, host=self.sim.head
                )
                return
            handler(doc)
        except (DiFXProtocolError, ValueError) as e:
            self.sim.bus.alert(f"Malformed command received: {e}", 2, host=self.sim.head)

    def inside(self, path: str) -> Path | None:
        real = Path(os.path.normpath(path))
        if real.is_absolute() and (real == self.sim.sandbox or self.sim.sandbox in real.parents):
            return real
        return None

    def refuse(self, channel: int, text: str) -> None:
        self.sim.bus.alert(text, 2, host=self.sim.head)
        self.channel_reply(channel, OpCode.FAILED, text.encode())

    def cmd_DifxFileOperation(self, doc: commands.CommandDoc) -> None:
        channel = doc.get_int("port")
        if not self.open_channel(channel):
            return
        op, path, arg = (
            doc.values.get("operation", ""),
            doc.values.get("path", ""),
            doc.values.get("arg", ""),
        )
        matches = list(glob.glob(path) if any(c in path for c in "*?[") else [path])
        real = [self.inside(m) for m in matches] or [self.inside(path)]
        if any(r is None for r in real) or not matches:
            return self.refuse(channel, f"{op} {path}: outside the simulator sandbox")
        try:
            if op == "ls":
                if not any(Path(m).exists() for m in matches):
                    return self.refuse(
                        channel, f"ls: cannot access '{path}': No such file or directory"
                    )
                for m in sorted(matches):
                    entries = (
                        sorted(os.listdir(m)) if os.path.isdir(m) and "-d" not in arg else None
                    )
                    for e in entries if entries is not None else [m]:
                        self.channel_reply(
                            channel,
                            OpCode.LS_ENTRY,
                            (e if entries is None else os.path.join(m, e)).encode(),
                        )
            elif op == "mkdir":
                os.makedirs(path, exist_ok=True)
            elif op == "rmdir":
                os.rmdir(path)
            elif op == "rm":
                for m in matches:
                    if os.path.isdir(m) and "r" in arg:
                        shutil.rmtree(m)
                    else:
                        os.remove(m)
            elif op == "mv":
                if not arg.startswith("/") or self.inside(arg) is None:
                    return self.refuse(
                        channel, f"Destination of mv ({arg}) must be a complete path in the sandbox"
                    )
                shutil.move(path, arg)
            else:
                return self.refuse(channel, f'operation "{op}" is not permitted')
        except OSError as e:
            return self.refuse(channel, f"{op} {path}: {e.strerror}")
        self.channel_reply(channel, OpCode.DONE, f"{op} {arg} {path} performed".encode())

    def cmd_DifxFileTransfer(self, doc: commands.CommandDoc) -> None:
        channel = doc.get_int("port")
        if not self.open_channel(channel):
            return
        direction = doc.values.get("direction", "")
        if direction == "from DiFX host":
            src = self.inside(doc.values.get("origin", ""))
            if src is None or not src.is_file():
                self.channel_reply(channel, OpCode.FILE_SIZE, pack_int(-1))
                return self.refuse(
                    channel, f"{doc.values.get('origin')}: no such file in the sandbox"
                )
            data = src.read_bytes()
            self.channel_reply(channel, OpCode.FILE_SIZE, pack_int(len(data)))
            for i in range(0, len(data), CHUNK):
                self.channel_reply(channel, OpCode.FILE_DATA, data[i : i + CHUNK])
            self.channel_reply(channel, OpCode.DONE, str(len(data)).encode())
        elif direction == "to DiFX host":
            dest = self.inside(doc.values.get("destination", ""))
            if dest is None or not dest.parent.is_dir():
                return self.refuse(channel, f"{doc.values.get('destination')}: cannot write there")
            self.uploads[channel] = (dest, -1, bytearray())
        else:
            self.refuse(channel, f"unknown transfer direction {direction!r}")

    def upload_data(self, event: InnerPacket) -> None:
        if event.channel not in self.uploads:
            return
        dest, size, data = self.uploads[event.channel]
        if event.inner_id == OpCode.FILE_SIZE:
            size = unpack_int(event.payload, "FILE_SIZE")
        elif event.inner_id == OpCode.FILE_DATA:
            data += event.payload
        self.uploads[event.channel] = (dest, size, data)
        if size >= 0 and len(data) >= size:
            del self.uploads[event.channel]
            dest.write_bytes(bytes(data[:size]))
            self.channel_reply(event.channel, OpCode.DONE, str(size).encode())

    def cmd_DifxVex2DifxRun(self, doc: commands.CommandDoc) -> None:
        channel = doc.get_int("port")
        if not self.open_channel(channel):
            return
        asyncio.get_running_loop().create_task(self.vex2difx(doc, channel))

    async def vex2difx(self, doc: commands.CommandDoc, channel: int) -> None:
        pass_path = self.inside(doc.values.get("passPath", ""))
        v2d = doc.values.get("v2dFile", "")
        if pass_path is None or not pass_path.is_dir() or "/" in v2d:
            return self.refuse(channel, f"vex2difx: bad pass path {doc.values.get('passPath')!r}")
        calc = doc.values.get("calcCommand", "calcif2")
        if doc.get_int("calcOnly", 0):
            inputs = sorted(
                p
                for p in pass_path.iterdir()
                if fnmatch.fnmatch(p.name, v2d) and p.suffix == ".input"
            )
        else:
            v2d_path = pass_path / v2d
            if not v2d_path.is_file():
                return self.refuse(channel, f"vex2difx: {v2d_path} not found")
            n_jobs = 2
            for line in v2d_path.read_text(errors="replace").splitlines():
                if line.strip().startswith("# sim-jobs:"):
                    n_jobs = int(line.split(":", 1)[1])
            inputs = []
            for i in range(1, n_jobs + 1):
                await asyncio.sleep(0.05)
                job = pass_path / f"{v2d_path.stem}_{i}.input"
                job.write_text(f"JOB ID:             {i}\nDATASTREAM ENTRIES: 2\n")
                inputs.append(job)
                self.channel_reply(channel, OpCode.NEW_INPUT_FILE, str(job).encode())
        for job in inputs:
            await asyncio.sleep(0.05)
            im = job.with_suffix(".im")
            im.write_text(f"# made by {calc}\n")
            self.channel_reply(channel, OpCode.NEW_IM_FILE, str(im).encode())
        self.channel_reply(channel, OpCode.DONE, f"{len(inputs)} jobs".encode())

    def cmd_DifxMachinesDefinition(self, doc: commands.CommandDoc) -> None:
        channel = doc.get_int("port")
        if not self.open_channel(channel):
            return
        mfile, tfile = (
            self.inside(doc.values.get("machinesFile", "")),
            self.inside(doc.values.get("threadsFile", "")),
        )
        if mfile is None or tfile is None:
            return self.refuse(channel, "machines definition: files outside the sandbox")
        manager = doc.attrs("manager")[0].get("node", "") if doc.attrs("manager") else ""
        ds = doc.attrs("datastream")[0].get("nodes", "").split() if doc.attrs("datastream") else []
        procs = tuple(
            (a.get("nodes", ""), int(a.get("threads", "1"))) for a in doc.attrs("process")
        )
        m = Machines(manager, tuple(ds), procs)
        mfile.write_text(render_machines(m))
        tfile.write_text(render_threads(m))
        self.channel_reply(channel, OpCode.MACHINES_FILE, str(mfile).encode())
        self.channel_reply(channel, OpCode.THREADS_FILE, str(tfile).encode())
        self.channel_reply(channel, OpCode.DONE)

    def cmd_DifxStart(self, doc: commands.CommandDoc) -> None:
        channel = doc.get_int("port")
        if not self.open_channel(channel):
            return
        reply = self.channel_reply
        manager = doc.attrs("manager")[0].get("node", "") if doc.attrs("manager") else ""
        ds = doc.attrs("datastream")[0].get("nodes", "").split() if doc.attrs("datastream") else []
        procs = [a.get("nodes", "") for a in doc.attrs("process")]
        input_file = doc.values.get("input", "")
        reply(channel, StartCode.PARAMETER_CHECK_IN_PROGRESS)
        if not manager:
            return reply(channel, StartCode.FAILURE_NO_HEADNODE)
        if not ds:
            return reply(channel, StartCode.FAILURE_NO_DATASOURCES)
        if not procs:
            return reply(channel, StartCode.FAILURE_NO_PROCESSORS)
        if not input_file:
            return reply(channel, StartCode.FAILURE_NO_INPUTFILE_SPECIFIED)
        real = self.inside(input_file)
        if real is None or not real.is_file():
            return reply(channel, StartCode.FAILURE_INPUTFILE_NOT_FOUND, input_file.encode())
        reply(channel, StartCode.PARAMETER_CHECK_SUCCESS)
        output = real.with_suffix(".difx")
        if output.exists():
            if not doc.get_int("force", 0):
                return reply(channel, StartCode.FAILURE_OUTPUT_EXISTS, str(output).encode())
            reply(channel, StartCode.DELETING_PREVIOUS_OUTPUT, str(output).encode())
            shutil.rmtree(output)
        if doc.values.get("function") == "CONFIG_ONLY":
            reply(channel, StartCode.RUNNING_CONFIG_CHECK)
            reply(channel, StartCode.SUCCESSFUL_CONFIG_FILE)
            return reply(channel, StartCode.STOPPED_AFTER_CONFIG)
        if str(real) in self.sim.jobs:
            return reply(channel, StartCode.JOB_FAILED, b"job is already running")
        job = Job(self.sim, real, procs)
        self.sim.jobs[str(real)] = job
        job.task = asyncio.get_running_loop().create_task(job.run(self, channel))

    def cmd_DifxStop(self, doc: commands.CommandDoc) -> None:
        job = self.sim.jobs.get(os.path.normpath(doc.values.get("input", "")))
        if job is None:
            self.sim.bus.alert(
                f"DifxStop: no running job {doc.values.get('input')}", 3, host=self.sim.head
            )
            return
        job.stop()

    def job_status(self, req: commands.JobStatusRequest) -> None:
        if not self.open_channel(req.channel):
            return
        self.channel_reply(req.channel, JobStatusCode.STARTED)
        for path in sorted(glob.glob(req.pattern)):
            if self.inside(path) is None:
                continue
            self.channel_reply(req.channel, JobStatusCode.INPUT_FILE, path.encode())
            log = Path(path).with_suffix(".difxlog")
            if not log.exists():
                self.channel_reply(req.channel, JobStatusCode.NO_DIFXLOG, path.encode())
                continue
            lines = [line for line in log.read_text().splitlines() if line.strip()]
            if lines:
                self.channel_reply(req.channel, JobStatusCode.STATUS, lines[-1].encode())
            else:
                self.channel_reply(req.channel, JobStatusCode.NO_STATUS, path.encode())
        self.channel_reply(req.channel, JobStatusCode.ENDED_GRACEFULLY)


class Simulator:
    def __init__(self, args: argparse.Namespace) -> None:
        self.sandbox = Path(args.sandbox).resolve()
        self.bus = Bus(
            None if args.no_multicast else args.multicast_group,
            args.multicast_port,
            args.multicast_interface,
        )
        self.head = args.head
        self.job_steps = args.job_steps
        self.step_seconds = args.step_seconds
        self.jobs: dict[str, Job] = {}
        self.args = args

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
                self.bus.emit(
                    LoadMessage(
                        header=self.bus.header("DifxLoadMessage", host, "mk5daemon", -1),
                        cpu_load=0.25,
                        total_memory=64_000_000,
                        used_memory=2_000_000,
                        net_rx_rate=0,
                        net_tx_rate=0,
                        n_core=16,
                    )
                )

    async def demo_jobs(self) -> None:
        """Start a job on the correlator's own every `demo_every` s, so a relay has something
        to show (`make run`)."""
        folder = self.sandbox / "demo"
        folder.mkdir(exist_ok=True)
        # Five names in turn, each run starting afresh, so a long `make run` stays small.
        for n in itertools.cycle(range(1, 6)):
            path = folder / f"demo_{n}.input"
            path.write_text("DATASTREAM ENTRIES: 1\n")
            path.with_suffix(".difxlog").unlink(missing_ok=True)
            job = Job(self, path, ["cn01", "cn02"])
            self.jobs[str(path)] = job
            job.task = asyncio.get_running_loop().create_task(job.run(None, 0))
            await job.task
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
                    "/bench/bench.input",
                    "Running",
                    host="benchhost",
                    message=f"t={time.time():.6f}",
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
        print(f"guiserver simulator listening on {self.args.host}:{port}", flush=True)
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
