"""DifxStart, DifxStop and job status of the simulated guiServer, and the simulated correlator.

DifxStart (§6.4, src/startDifx.cpp): the checks run on the receive loop, in guiServer's order,
each failure ending the channel with its code then 100; the run itself is a task. The
configuration check's stderr is a warning (115) and, when it says "command not found", 126 and
the job goes on; any other stderr line is a config error (124), and the job *still* runs
unless the function is BAIL_ON_CONFIG_FAIL. Main-socket diagnostics (4/5/6) go out where the
real server calls `diagnostic()`.

DifxStop (§6.5, src/stopDifx.cpp): no channel; WARNING 5 "executing: ..." for each `ps` it
runs and "killing PID ..." for each process it kills; nothing multicast. The job leaves the
connection's running list first, so the start channel ends with 100 when the job ends, whether
the kill worked or not.

Job status (§6.11, src/getJobStatus.cpp): 102, 110 time, then per `.input` 104 and 105/106/108,
then 101. The `.difxlog` lines have guiServer's log format, so 106 is what the real one sends.

The correlator is simulated: it multicasts Starting, Running (with weights, loads), Ending and
Done from the manager (rank 0), prints a line per step on stdout, and follows the `.input`'s
`SIM BEHAVIOUR:` words: `fail` (an error on stderr half way, then it exits), `errors` (an error
on stderr, then it goes on), `warn` (a warning on stderr), `wedge` (a stop finds no process to
kill and the job runs on), `badconfig` (checkmpifxcorr reports an error), `configok`
(checkmpifxcorr is installed and passes; by default it is not found). Jobs run by mk5daemon
(the demo) also get its Spawning and MpiDone wrapper messages; guiServer's own are never sent
(§8).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import time
from collections.abc import Callable, Coroutine
from typing import Any, Final, Protocol

from .framing import PacketId
from .sim_bus import Bus
from .sim_files import ls_paths
from .sim_request import Command, JobStatusRequest
from .sim_wire import OpContext, ReplyPath, inner

TERMINATED, ENDED_GRACEFULLY, STARTED = 100, 101, 102
CHECK_IN_PROGRESS, CHECK_SUCCESS = 103, 104
NO_HEADNODE, NO_DATASOURCES, NO_PROCESSORS, NO_INPUTFILE = 105, 106, 107, 108
INPUT_NOT_FOUND, NAME_TOO_LONG, OUTPUT_EXISTS, DELETING_OUTPUT = 109, 110, 111, 112
STARTING_DIFX, DIFX_MESSAGE, DIFX_WARNING, DIFX_ERROR, DIFX_COMPLETE = 113, 114, 115, 116, 117
JOB_FAILED, ENDED_WITH_ERRORS = 119, 120
BAD_CONFIG, CONFIG_PASSED, CONFIG_COMMAND_NOT_FOUND, RUN_CONFIG_CHECK = 124, 125, 126, 127
STOPPED_AFTER_CONFIG = 128

FILENAME_LENGTH: Final = 4096  # DIFX_MESSAGE_FILENAME_LENGTH is PATH_MAX
ALERT_STRINGS: Final = ("FATAL", "SEVERE", "ERROR", "WARNING", "INFO", "INFO", "DEBUG")
STDOUT, STDERR = 1, 2
Line = Callable[[int, str], None]


def _base(path: str) -> str:
    """The path without its last extension, as guiServer cuts it (last '.' after index 0)."""
    i = path.rfind(".")
    return path[:i] if i > 0 else path


def _job_name(path: str) -> str:
    return _base(path).rsplit("/", 1)[-1]


class JobHost(Protocol):
    """What a job sees of the simulator."""

    head: str
    bus: Bus
    job_steps: int
    step_seconds: float
    jobs: dict[str, Job]  # by input file, while they run


class JobContext(OpContext, Protocol):
    """What DifxStart, DifxStop and job status see of the connection that asked."""

    @property
    def sim(self) -> JobHost: ...

    running: set[str]  # jobs it started and was not told to stop

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run an operation in its own task."""
        ...


class Job:
    """One simulated correlation (mpirun + mpifxcorr)."""

    def __init__(
        self,
        sim: JobHost,
        input_file: str,
        processors: list[str],
        *,
        by_mk5daemon: bool,
        real: str | None = None,
    ) -> None:
        self.sim, self.input_file, self.processors = sim, input_file, processors
        # Where the files are on this host (the sandbox), as opposed to the name clients use.
        self.real = real or input_file
        self.name = _job_name(input_file)
        self.by_mk5daemon = by_mk5daemon
        self.behaviour: set[str] = set()
        try:
            with open(self.real, errors="replace") as f:
                for line in f:
                    if line.upper().startswith("SIM BEHAVIOUR:"):
                        self.behaviour.add(line.split(":", 1)[1].strip().lower())
        except OSError:
            pass
        self.killed = asyncio.Event()
        self.pid = 20000 + (hash(input_file) % 10000)

    # -- what the correlator's processes multicast, logged as guiServer logs it
    def _log(self, mpi: int, host: str, text: str) -> None:
        try:
            with open(_base(self.real) + ".difxlog", "a") as f:
                f.write(f"{time.ctime()} {mpi:3d} {host} {text}\n")
        except OSError:
            pass

    def status(self, state: str, *, mpi: int = 0, host: str = "", **kw: object) -> None:
        host = host or self.sim.head
        self.sim.bus.status(self.name, state, host=host, mpi=mpi, **kw)  # type: ignore[arg-type]
        self._log(mpi, host, f" STATUS {state}  {kw.get('message', '')}")
        weights = kw.get("weights")
        if isinstance(weights, tuple) and weights:
            self._log(mpi, host, " WEIGHTS" + "".join(f" {w:4.2f}" for _, w in weights))

    def alert(self, text: str, severity: int, *, mpi: int, host: str) -> None:
        self.sim.bus.alert(
            text, severity, host=host, job=self.name, mpi=mpi, input_file=self.input_file
        )
        if severity <= 4:
            self._log(mpi, host, f"{ALERT_STRINGS[severity]}  {text}")

    async def run(self, output: Line | None) -> None:
        """Run to the end or until killed; `output(stream, line)` gets what it prints."""
        sim, bus = self.sim, self.sim.bus

        def out(stream: int, text: str) -> None:
            if output is not None:
                output(stream, text)

        steps, step = sim.job_steps, sim.step_seconds
        start, stop = 57028.0, 57028.0 + steps / 1440.0
        bus.new_process(sim.head, 0)
        try:
            if self.by_mk5daemon:
                self.status("Spawning", mpi=-1)
            await self._sleep(step)
            self.status("Starting")
            out(STDOUT, f"Starting correlation of {self.name}")
            for i in range(1, steps + 1):
                await self._sleep(step)
                if i == steps // 2 and self.behaviour & {"fail", "errors"}:
                    self.alert("Datastream 1: cannot open /data/missing.vdif", 1, mpi=1, host="ds1")
                    out(STDERR, "Datastream 1: cannot open /data/missing.vdif")
                    if "fail" in self.behaviour:
                        return
                if i == 1 and "warn" in self.behaviour:
                    out(STDERR, "WARNING: datastream 1 is running slowly")
                weights = tuple((a, 0.9 + 0.01 * a) for a in range(3))
                self.status(
                    "Running",
                    vis=start + i / 1440.0,
                    start=start,
                    stop=stop,
                    weights=weights,
                    input_file=self.input_file,
                )
                for n, proc in enumerate(self.processors):
                    bus.emit_load(proc, cpu=2.0 + n, used=8_000_000 + i, rx=1000 * i, tx=10 * i)
                out(STDOUT, f"{self.name}: {i}/{steps} done")
            await self._sleep(step)
            self.status("Ending")
            self.status("Done")
            with contextlib.suppress(OSError):
                os.makedirs(_base(self.real) + ".difx", exist_ok=True)
            if self.by_mk5daemon:
                self.status("MpiDone", mpi=-1)
        except _Killed:
            pass
        finally:
            if sim.jobs.get(self.input_file) is self:
                del sim.jobs[self.input_file]

    async def _sleep(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self.killed.wait(), seconds)
        except TimeoutError:
            return
        raise _Killed

    def kill(self) -> bool:
        """kill -9 of its processes; False when `ps` does not find them (`wedge`)."""
        if "wedge" in self.behaviour:
            return False
        self.killed.set()
        return True


class _Killed(Exception):
    pass


async def start(conn: JobContext, cmd: Command) -> None:
    """The checks, on the receive loop (src/startDifx.cpp:115-392)."""
    sim = conn.sim
    path = await conn.open_path(cmd.text("address"), cmd.number("port"))
    if path is None:
        conn.diagnostic(
            PacketId.ERROR,
            "client socket connection from guiServer to GUI failed - unable to start job",
        )
        return
    error = PacketId.ERROR
    inner(path, STARTED)
    inner(path, CHECK_IN_PROGRESS)
    input_file = cmd.text("input")
    real = conn.inside(input_file)
    if real is None or not os.access(real, os.R_OK) or os.path.isdir(real):
        conn.diagnostic(error, f"DiFX start failed - input file {input_file} not found.")
        return await _end(path, INPUT_NOT_FOUND, TERMINATED)
    if len(input_file.encode()) + 12 > FILENAME_LENGTH:
        conn.diagnostic(error, f"Filename {input_file} is too long.")
        return await _end(path, NAME_TOO_LONG, TERMINATED)
    job = Job(sim, input_file, [n for n, _ in cmd.processes], by_mk5daemon=False, real=real)

    inner(path, RUN_CONFIG_CHECK)
    config_error = False
    for stream, line in _config_check(conn, job, input_file):
        if stream == STDOUT:
            conn.diagnostic(PacketId.INFORMATION, f"checkmpicorr... {line}")
            if not config_error or "No errors with input" not in line:
                inner(path, DIFX_MESSAGE, line.encode())
        else:
            conn.diagnostic(PacketId.WARNING, f"checkmpifxcorr... {line}")
            inner(path, DIFX_WARNING, line.encode())
            if "command not found" in line:
                inner(path, CONFIG_COMMAND_NOT_FOUND)
            else:
                config_error = True
    if config_error:
        conn.diagnostic(error, f"Input file {input_file} failed the configuration check.")
        inner(path, BAD_CONFIG)
    else:
        inner(path, CONFIG_PASSED)
    function = cmd.text("function")
    if function == "CONFIG_ONLY" or (config_error and function == "BAIL_ON_CONFIG_FAIL"):
        if config_error:
            # The real server sends 17 bytes: the text without its final '.'.
            inner(path, DIFX_ERROR, b"Execution stopped")
            conn.diagnostic(error, f"Execution of job {input_file} stopped.")
        return await _end(path, STOPPED_AFTER_CONFIG)

    for missing, code, text in (
        (not cmd.manager, NO_HEADNODE, "DiFX start failed - no headnode specified."),
        (not cmd.datastreams, NO_DATASOURCES, "DiFX start failed - no data sources specified."),
        (
            not cmd.processes,
            NO_PROCESSORS,
            "DiFX start failed - no processing nodes  specified.",
        ),
        (not input_file, NO_INPUTFILE, "DiFX start failed - no input file specified"),
    ):
        if missing:
            conn.diagnostic(error, text)
            return await _end(path, code, TERMINATED)
    inner(path, CHECK_SUCCESS)

    working_dir = real.rsplit("/", 1)[0] or "/"
    if not os.path.isdir(working_dir):
        conn.diagnostic(
            error,
            f"statvfs failed when accessing directory {working_dir} : it seems not to exist!",
        )
        return await path.close()  # the channel ends with no code (§6.4)
    output = _base(input_file) + ".difx"
    real_output = conn.inside(output)
    exists = real_output is not None and os.path.exists(real_output)
    # DiFX's parser: an absent <force> is 0; a present one is on unless it starts with 0/n/f,
    # so an empty <force/> is on (msg/difxparse.c).
    force = "force" in cmd.values and cmd.text("force")[:1] not in ("0", "n", "N", "f", "F")
    if exists and not force:
        conn.diagnostic(error, f"Output file {output} exists.  Aborting correlation.")
        return await _end(path, OUTPUT_EXISTS, TERMINATED)
    conn.spawn(_run(conn, path, job, real_output if exists else None, cmd))


def _config_check(conn: JobContext, job: Job, input_file: str) -> list[tuple[int, str]]:
    """What `SETUP checkmpifxcorr INPUT` prints. Many DiFX installations lack checkmpifxcorr
    (seen against a real server, issue 14), so by default the shell does not find it."""
    if "badconfig" in job.behaviour:
        return [(STDERR, f"Error: {input_file}: DATASTREAM ENTRIES is 0")]
    if "configok" in job.behaviour:
        return [(STDOUT, f"No errors with input file {input_file}")]
    return [(STDERR, "sh: checkmpifxcorr: command not found")]


async def _end(path: ReplyPath, *codes: int) -> None:
    for code in codes:
        inner(path, code)
    await path.close()


async def _run(
    conn: JobContext, path: ReplyPath, job: Job, old_output: str | None, cmd: Command
) -> None:
    """The run thread (src/startDifx.cpp:402-510)."""
    sim = conn.sim
    prog = cmd.text("difxProgram") or "mpifxcorr"
    conn.running.add(job.input_file)
    sim.jobs[job.input_file] = job
    try:
        if old_output is not None:
            inner(path, DELETING_OUTPUT)
            shutil.rmtree(old_output, ignore_errors=True)
        monitor = "-Mlocalhost:9999" if cmd.text("function") == "RUN_MONITOR" else ""
        options = cmd.text("mpiOptions") or "--mca mpi_yield_when_idle 1 --mca rmaps seq"
        restart = cmd.number("restartSeconds")
        n_proc = _count_lines(_base(job.real) + ".machines")
        command = (
            f"{cmd.text('mpiWrapper') or 'mpirun'} -np {n_proc}"
            f" --bynode --hostfile {_base(job.input_file)}.machines {options} {conn.setup_path}"
            f" {prog} {f'-r {restart:f}' if restart > 0 else ''} {job.input_file} {monitor}"
        )
        conn.diagnostic(PacketId.WARNING, f"executing: {command}\n")
        inner(path, STARTING_DIFX)
        state = {"errors": False, "going": True}

        def line(stream: int, text: str) -> None:
            if stream == STDOUT:
                conn.diagnostic(PacketId.INFORMATION, f"{prog}... {text}")
                inner(path, DIFX_MESSAGE, text.encode())
                state["going"] = True
            elif job.input_file in conn.running:
                if "warning" in text.lower():
                    conn.diagnostic(PacketId.WARNING, f"{prog}... {text}")
                    inner(path, DIFX_WARNING, text.encode())
                else:
                    conn.diagnostic(PacketId.ERROR, f"{prog}... {text}")
                    inner(path, DIFX_ERROR, text.encode())
                    state["errors"], state["going"] = True, False

        await job.run(line)
        if job.killed.is_set() and job.input_file in conn.running:
            # Killed by a stop sent on another connection: mpirun reports the signal.
            line(STDERR, f"mpirun noticed that process rank 0 on node {sim.head} was killed")
        if job.input_file not in conn.running:
            conn.diagnostic(PacketId.WARNING, f"{prog} terminated by user")
            inner(path, TERMINATED)
        elif not state["errors"] or state["going"]:
            conn.diagnostic(PacketId.WARNING, f"{prog} complete")
            inner(path, DIFX_COMPLETE)
            inner(path, ENDED_GRACEFULLY if not state["errors"] else ENDED_WITH_ERRORS)
        else:
            conn.diagnostic(PacketId.ERROR, f"{prog} FAILED")
            inner(path, DIFX_ERROR, f"{prog} FAILED".encode())
            inner(path, JOB_FAILED)
    finally:
        conn.running.discard(job.input_file)
        await path.close()


def _count_lines(path: str) -> int:
    try:
        with open(path, "rb") as f:
            return sum(1 for _ in f)
    except OSError:
        return 0


def stop(conn: JobContext, cmd: Command) -> None:
    """DifxStop, on the receive loop; nothing but 5/6 reaches the client (§6.5)."""
    sim = conn.sim
    input_file = cmd.text("input")
    prog = cmd.text("difxProgram") or "mpifxcorr"
    wrapper = cmd.text("mpiWrapper") or "mpirun"
    conn.running.discard(input_file)
    job = sim.jobs.get(input_file)
    grep = f"/bin/grep {prog} | /bin/grep {input_file} | /bin/grep -v /bin/grep"
    machines = conn.inside(_base(input_file) + ".machines")
    head = ""
    if machines is not None:
        try:
            with open(machines, errors="replace") as f:
                head = f.readline().split(" ")[0].strip()
        except OSError:
            head = ""
    killed = job is not None and job.kill()
    if head:
        conn.diagnostic(
            PacketId.WARNING, f"executing: {wrapper} -host {head} /bin/ps -ef | {grep}\n"
        )
        if killed and job is not None:
            conn.diagnostic(PacketId.WARNING, f"killing PID {job.pid} on {head}")
    conn.diagnostic(PacketId.WARNING, f"executing: /bin/ps -ef | {grep}\n")
    if killed and job is not None:
        conn.diagnostic(PacketId.WARNING, f"killing PID {job.pid + 1} on {sim.head}")


async def job_status(conn: JobContext, req: JobStatusRequest) -> None:
    """Packet 24 (src/getJobStatus.cpp:44-187)."""
    path = await conn.open_path(req.address, req.port)
    if path is None:
        conn.diagnostic(
            PacketId.ERROR,
            "(ServerSideConnection::getJobStatusThread) - client socket connection from "
            "guiServer failed - unable to provide job status",
        )
        return
    inner(path, 102)
    inner(path, 110, time.ctime().encode())
    for name in ls_paths(conn, req.pattern):
        if not name.endswith(".input"):
            continue
        inner(path, 104, name.encode())
        log = conn.inside(name[: -len(".input")] + ".difxlog")
        try:
            with open(log or "/nonexistent/", "rb") as f:
                lines = f.read().splitlines(keepends=True)
        except OSError:
            inner(path, 105)
            continue
        final = b""
        for entry in lines:
            entry = entry[:511]
            if len(entry) <= 30 or not req.short:
                continue
            rest = entry[29:].lstrip(b" ")
            source_end = rest.find(b" ")
            after = rest[source_end:].lstrip(b" ") if source_end >= 0 else b""
            if after.startswith(b"STATUS"):
                final = (entry[:24] + after[6:].lstrip(b" "))[:99].removesuffix(b"\n")
        if final:
            inner(path, 106, final)
        else:
            inner(path, 108)
    inner(path, 101)
    await path.close()
