"""The DiFXRelay tasks that prepare, run and inspect correlator jobs and Mark5 modules: vex2difx,
machines, start and stop, job status, file lists, Mark5 directories, mk5control and copies. Each
maps its session to `operations.Ops`; start_job and stop_job also follow the job on the relay's
feeds (`relay.Relay`)."""

from __future__ import annotations

import posixpath
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from socs_like import OpSession, param

from . import commands
from .errors import OperationFailed
from .jobcontrol import StartTracker
from .machines import machines_from
from .models import (
    INLINE_FILE_LIMIT,
    JobProgress,
    JobStatusResult,
    Result,
    StopResult,
    Vex2DifxResult,
    done,
)
from .operations import Ops
from .relay import Relay


def job_name(input_file: str) -> str:
    return posixpath.basename(input_file).removesuffix(".input")


@dataclass
class JobTasks:
    ops: Callable[[], Ops]  # the operations on the current connection
    relay: Relay
    difx_version: Callable[[], str]  # as set_version last set it

    NAMES = (
        "vex2difx",
        "get_machines",
        "define_machines",
        "job_status",
        "generate_filelist",
        "get_directory",
        "mk5_control",
        "mark5_copy",
    )

    @param("path", type=str)
    @param("v2d", type=str)
    @param("calc_command", type=str, default="calcif2", choices=["calcif2", "difxcalc"])
    @param("calc_only", type=bool, default=False)
    @param("timeout", type=float, default=300.0, check=lambda t: t > 0)
    async def vex2difx(self, session: OpSession, params: dict[str, Any]) -> Result:
        """vex2difx(path, v2d, calc_command="calcif2", calc_only=False, timeout=300): run
        vex2difx and calc in path on the .v2d file v2d; with calc_only, v2d is a wildcard of
        existing jobs. New .input and .im files are reported as they appear; timeout is the
        longest wait for the next one, seconds."""
        found = Vex2DifxResult(input_files=[], im_files=[])

        def on_file(path: str) -> None:
            kind = "input" if path.endswith(".input") else "im"
            (found.input_files if kind == "input" else found.im_files).append(path)
            session.data.update(found.as_data())
            session.add_message(f"new .{kind} file: {path}")

        session.data.update(found.as_data())
        result = await self.ops().vex2difx(
            params["path"],
            params["v2d"],
            calc_command=params["calc_command"],
            calc_only=params["calc_only"],
            difx_version=self.difx_version(),
            timeout=params["timeout"],
            on_file=on_file,
        )
        message = f"{len(result.input_files)} .input, {len(result.im_files)} .im files"
        return done(session, result, message)

    @param("input", type=str)
    async def get_machines(self, session: OpSession, params: dict[str, Any]) -> Result:
        """get_machines(input): head node, data sources and processors of a job's
        .machines/.threads."""
        machines = await self.ops().get_machines(params["input"], INLINE_FILE_LIMIT)
        session.data.update(machines.as_dict())
        return True, f"{len(machines.processors)} processors"

    @param("input", type=str)
    @param("head", type=str)
    @param("datastreams", type=list)
    @param("processors", type=list)
    @param("test_processors", type=bool, default=False)
    async def define_machines(self, session: OpSession, params: dict[str, Any]) -> Result:
        """define_machines(input, head, datastreams, processors, test_processors=False): have
        guiServer write the job's .machines and .threads; processors as ["node:threads", ...]
        or [{"node", "threads"}, ...]; test_processors runs an mpirun test on each node
        (about 1 s each) and drops the nodes that fail."""
        machines = machines_from(params["head"], params["datastreams"], params["processors"])
        result = await self.ops().define_machines(
            params["input"],
            machines,
            difx_version=self.difx_version(),
            test_processors=params["test_processors"],
            on_line=session.add_message,
        )
        return done(session, result, f"{result.machines_file} and {result.threads_file} written")

    @param("input", type=str)
    @param("head", type=str, default=None)
    @param("datastreams", type=list, default=None)
    @param("processors", type=list, default=None)
    @param("wait", type=bool, default=True)
    @param("force", type=bool, default=True)
    @param("monitor", type=bool, default=False)
    @param(
        "function",
        type=str,
        default="default",
        choices=[f for f in commands.START_FUNCTIONS if f != "RUN_MONITOR"],
    )
    @param("restart_seconds", type=int, default=0, check=lambda s: s >= 0)
    async def start_job(self, session: OpSession, params: dict[str, Any]) -> Result:
        """start_job(input, head=None, datastreams=None, processors=None, wait=True,
        force=True, monitor=False, function="default", restart_seconds=0): start a job
        (machines read from its .machines/.threads when not given); with wait, follow it to
        the end. monitor=True asks for the real-time monitor (the DiFX interface guide warns
        that guiServer eventually crashes running jobs in sequence with it). Aborting stops
        the wait, not the job: use stop_job for that."""
        session.set_status("running")
        ops = self.ops()
        if params["head"] is None:
            machines = await ops.get_machines(params["input"], INLINE_FILE_LIMIT)
        else:
            machines = machines_from(
                params["head"], params["datastreams"] or (), params["processors"] or ()
            )
        job = JobProgress(job_name(params["input"]))

        def follow() -> None:
            row = self.relay.jobs.get(job.job)
            if row is not None:
                job.state, job.progress = row.state, row.progress
            session.data.update(job.as_data())

        def on_reply(tracker: StartTracker, line: str) -> None:
            session.add_message(line)
            job.phase = tracker.phase
            follow()

        def stop_requested() -> bool:
            follow()
            return session.stop_requested

        session.data.update(job.as_data())
        try:
            result = await ops.start_job(
                params["input"],
                machines,
                difx_version=self.difx_version(),
                force=params["force"],
                function="RUN_MONITOR" if params["monitor"] else params["function"],
                restart_seconds=params["restart_seconds"],
                wait=params["wait"],
                on_reply=on_reply,
                stop_requested=stop_requested,
            )
        finally:
            follow()
        result.state, result.progress = job.state, job.progress
        if result.waiting_stopped:
            message = f"{job.job}: stopped waiting (phase {result.phase}); the job goes on"
        elif not params["wait"] and result.phase != "done":
            message = f"{job.job}: started"
        else:
            warn = f" with {len(result.warnings)} warnings" if result.warnings else ""
            message = f"{job.job}: {result.phase}{warn}"
        return done(session, result, message)

    @param("input", type=str)
    @param("timeout", type=float, default=30.0, check=lambda t: 0 < t <= 3600)
    @param("quiet", type=float, default=3.0, check=lambda t: 0 < t <= 600)
    async def stop_job(self, session: OpSession, params: dict[str, Any]) -> Result:
        """stop_job(input, timeout=30, quiet=3): send DifxStop, then succeed only when the
        correlator confirms the end within timeout: it reports an end state (Done, MpiDone,
        Terminated or Crashed from an mpifxcorr process), or it stays silent for `quiet` s
        after guiServer reported killing its processes. guiServer itself answers nothing to a
        stop, and the DiFX interface guide warns that a stop often does nothing."""
        ops, name = self.ops(), job_name(params["input"])
        watch = await self.relay.wait_job_end(
            name, lambda: ops.stop_job(params["input"]), params["timeout"], params["quiet"]
        )
        session.data.update(StopResult(name, watch.ended, watch.seen, watch.kills).as_data())
        if watch.ended is None:
            raise OperationFailed(watch.failure(params["timeout"]))
        return True, f"{name}: ended; {watch.confirmation}"

    @param("pattern", type=str)
    @param("short", type=bool, default=True)
    async def job_status(self, session: OpSession, params: dict[str, Any]) -> Result:
        """job_status(pattern, short=True): the last STATUS line of each job's .difxlog whose
        .input matches pattern (short=False: guiServer reports no status at all)."""
        c = await self.ops().job_status(**params)
        return done(
            session, JobStatusResult.from_collector(params["pattern"], c), f"{len(c.jobs)} jobs"
        )

    @param("files", type=list)
    @param("destination", type=str)
    @param("data_format", type=str, choices=list(commands.FILELIST_FORMATS))
    @param("ref_mjd", type=int)
    @param("overwrite", type=bool, default=False)
    @param("timeout", type=float, default=300.0, check=lambda t: t > 0)
    async def generate_filelist(self, session: OpSession, params: dict[str, Any]) -> Result:
        """generate_filelist(files, destination, data_format, ref_mjd, overwrite=False,
        timeout=300): have guiServer read each data file's time range and write a file list
        (timeout: seconds per reply). If destination exists it is kept unless overwrite."""
        files = [str(f) for f in params["files"]]
        result = await self.ops().generate_filelist(
            **params | {"files": files}, on_line=session.add_message
        )
        if result.cancelled:
            return done(session, result, f"{result.destination} exists; kept (overwrite=False)")
        message = f"{result.destination}: {result.processed} files, {len(result.errors)} errors"
        return done(session, result, message)

    @param("mark5", type=str)
    @param("vsn", type=str)
    @param("generate_new", type=bool, default=False)
    @param("timeout", type=float, default=600.0, check=lambda t: t > 0)
    async def get_directory(self, session: OpSession, params: dict[str, Any]) -> Result:
        """get_directory(mark5, vsn, generate_new=False, timeout=600): a Mark5 module's
        directory as guiServer keeps it (generate_new: read it from the module first, which
        takes minutes; timeout: seconds per reply)."""
        result = await self.ops().get_directory(
            **params, difx_version=self.difx_version(), on_line=session.add_message
        )
        return done(session, result, f"{result.vsn}: {len(result.lines)} directory lines")

    @param("command", type=str)
    @param("target_node", type=str)
    @param("timeout", type=float, default=60.0, check=lambda t: t > 0)
    async def mk5_control(self, session: OpSession, params: dict[str, Any]) -> Result:
        """mk5_control(command, target_node, timeout=60): run mk5control COMMAND on a Mark5
        unit; its output and error lines in session data."""
        result = await self.ops().mk5_control(
            params["command"],
            params["target_node"],
            timeout=params["timeout"],
            on_line=session.add_message,
        )
        message = f"{len(result.output)} output lines, {len(result.errors)} error lines"
        return done(session, result, message)

    @param("mark5", type=str)
    @param("vsn", type=str)
    @param("scans", type=str)
    @param("destination", type=str)
    @param("timeout", type=float, default=600.0, check=lambda t: t > 0)
    async def mark5_copy(self, session: OpSession, params: dict[str, Any]) -> Result:
        """mark5_copy(mark5, vsn, scans, destination, timeout=600): copy scans of a module to
        a folder on the DiFX host (inside the allowed roots)."""
        result = await self.ops().mark5_copy(
            **params, difx_version=self.difx_version(), on_line=session.add_message
        )
        return done(session, result, f"{result.vsn} copied to {result.destination}")
