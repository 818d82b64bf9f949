"""DiFXRelay: relays DiFX correlator status onto feeds and runs DiFX operations via guiServer.

Wiring only: the protocol lives in `framing`, `channels`, `raw`, `messages`, `commands`,
`connection`, `jobcontrol`, `machines` (sans-I/O); `guiclient` and `operations` carry it over
asyncio; `relay` keeps the connection and feeds the documents to the feeds. Every failure an
operation foresees raises a `DiFXError` (an `OpFailed`): the session ends failed with its text.
See README.md for the protocol, the tasks, the feeds and the session data.
"""

from __future__ import annotations

import argparse
import os
import posixpath
from dataclasses import asdict
from pathlib import Path
from typing import Any

from socs_like import Agent, OpSession, param
from socs_like.paths import Roots

from . import commands, options
from .errors import ChannelClosed, DiFXError, LocalProtocolError, OperationFailed
from .feeds import DOCUMENT_FEEDS
from .machines import machines_from
from .models import JobStatusResult, StopResult
from .operations import Ops, RemotePaths
from .relay import Relay

Result = tuple[bool, str]
INLINE_FILE_LIMIT = 256 * 1024


class DiFXRelay:
    """DiFX relay: guiServer client and multicast listener (see README.md)."""

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        options.add_arguments(parser)

    def __init__(self, agent: Agent, args: argparse.Namespace) -> None:
        if args.mode == "relay" and (not args.host or not args.port):
            raise ValueError("--host and --port are required in relay mode")
        self.agent = agent
        self.args = args
        self.paths = RemotePaths(args.allowed_root)
        # relative local roots (the demo site's var/difx-relay) are relative to where the agent runs
        self.local_roots = Roots(map(os.path.abspath, args.local_root), option="--local-root")
        self.difx_version: str = args.difx_version
        # Document feeds, by the name `feeds.feed_event` gives; status and alerts go out at
        # once (buffer_time 0), load is recorded and batched each second.
        feed_options: dict[str, dict[str, Any]] = {
            "difx_status": {"max_buffer": 100_000},
            "difx_alerts": {"max_buffer": 100_000},
            "difx_load": {"record": True, "buffer_time": 1.0, "agg_params": {"frame_length": 60}},
        }
        feeds = {n: agent.register_feed(n, **feed_options.get(n, {})) for n in DOCUMENT_FEEDS}
        self.relay_state = Relay(args, feeds, agent.register_feed("guiserver_messages"))

        agent.register_process("relay", self.relay, startup=True)
        for name, func in [
            ("version", self.version),
            ("set_version", self.set_version),
            ("configure_relay", self.configure_relay),
            ("ls", self.ls),
            ("mkdir", self.mkdir),
            ("rmdir", self.rmdir),
            ("touch", self.touch),
            ("rm", self.rm),
            ("mv", self.mv),
            ("cp", self.cp),
            ("get_file", self.get_file),
            ("send_file", self.send_file),
            ("vex2difx", self.vex2difx),
            ("get_machines", self.get_machines),
            ("define_machines", self.define_machines),
            ("job_status", self.job_status),
            ("generate_filelist", self.generate_filelist),
            ("get_directory", self.get_directory),
            ("mk5_control", self.mk5_control),
            ("mark5_copy", self.mark5_copy),
        ]:
            agent.register_task(name, func)
        agent.register_task("start_job", self.start_job, abortable=True)
        agent.register_task("stop_job", self.stop_job)

    # ----------------------------------------------------------------- the relay process

    async def relay(self, session: OpSession, params: dict[str, Any]) -> Result:
        """relay(): keep the guiServer connection (or multicast membership) and publish."""
        session.set_status("running")
        if self.args.mode == "direct":
            await self.relay_state.direct(session)
        else:
            await self.relay_state.connect_loop(session)
        session.data = self.relay_state.summary()
        return True, "relay stopped"

    # ----------------------------------------------------------------- tasks

    def _ops(self) -> Ops:
        if self.args.mode == "direct":
            raise ChannelClosed(
                "the agent runs in direct (multicast) mode: no guiServer connection for operations"
            )
        client = self.relay_state.client
        if client is None or not client.is_open:
            raise ChannelClosed(
                f"not connected to guiServer at {self.args.host}:"
                f"{self.args.port} ({self.relay_state.last_error})"
            )
        return Ops(client, self.paths, self.args.op_timeout)

    async def version(self, session: OpSession, params: dict[str, Any]) -> Result:
        """version(): guiServer version, user, DiFX base, available versions, environment."""
        ops = self._ops()
        try:
            server = await ops.client.version(self.args.op_timeout)
        except TimeoutError:
            raise OperationFailed(f"no version reply within {self.args.op_timeout:g} s") from None
        self.relay_state.server = server
        session.data.update(server.as_dict())
        return True, f"guiServer {server.version}"

    @param("version", type=str)
    async def set_version(self, session: OpSession, params: dict[str, Any]) -> Result:
        """set_version(version): the DiFX version used for vex2difx, machines and jobs."""
        server = self.relay_state.server
        available = server.available if server else ()
        if params["version"] not in available:
            raise OperationFailed(
                f"DiFX version {params['version']!r} is not available; "
                f"server offers {list(available)}"
            )
        self.difx_version = params["version"]
        session.data["difx_version"] = self.difx_version
        return True, f"DiFX version set to {self.difx_version}"

    @param("relay", type=bool, default=None)
    @param("selection", default=None)
    async def configure_relay(self, session: OpSession, params: dict[str, Any]) -> Result:
        """configure_relay(relay=None, selection=None): turn guiServer's relay on or off and
        choose the message types relayed: a list of DiFX type names (["DifxStatusMessage",
        "DifxAlertMessage"]), a comma-separated string, or "ALL". Kept across reconnects."""
        state = self.relay_state
        relay_on = state.relay_on if params["relay"] is None else params["relay"]
        selection = state.selection
        if params["selection"] is not None:
            selection = options.selection_param(params["selection"])
        state.configure(relay_on, selection)
        session.data.update({"relay_on": relay_on, "selection": selection})
        return True, f"relay {'on' if relay_on else 'off'}, selection {selection or 'ALL'}"

    @param("path", type=str)
    @param("args", type=str, default="")
    async def ls(self, session: OpSession, params: dict[str, Any]) -> Result:
        """ls(path, args=""): `ls ARGS PATH` (wildcards allowed); entries in session data.
        A missing path lists as empty (guiServer drops ls's errors)."""
        result = await self._ops().ls(params["path"], params["args"])
        session.data.update(result.as_data())
        return True, f"{len(result.entries)} entries"

    async def _file_op(
        self, session: OpSession, operation: str, path: str, arg: str = ""
    ) -> Result:
        result = await self._ops().file_op(operation, path, arg)
        session.data.update(result.as_data())
        found = ", ".join(f"{p} {'exists' if e else 'is gone'}" for p, e in result.exists.items())
        return True, f"{operation} {result.path}: done; ls shows {found}"

    @param("path", type=str)
    async def mkdir(self, session: OpSession, params: dict[str, Any]) -> Result:
        """mkdir(path): create a directory with its parents; checked by an ls afterwards."""
        return await self._file_op(session, "mkdir", params["path"])

    @param("path", type=str)
    async def rmdir(self, session: OpSession, params: dict[str, Any]) -> Result:
        """rmdir(path): remove an empty directory; checked by an ls afterwards."""
        return await self._file_op(session, "rmdir", params["path"])

    @param("path", type=str)
    async def touch(self, session: OpSession, params: dict[str, Any]) -> Result:
        """touch(path): create a file or update its time; checked by an ls afterwards."""
        return await self._file_op(session, "touch", params["path"])

    @param("path", type=str)
    @param("args", type=str, default="")
    async def rm(self, session: OpSession, params: dict[str, Any]) -> Result:
        """rm(path, args=""): remove files (wildcards allowed), with rm flags such as "-r";
        checked by an ls afterwards."""
        return await self._file_op(session, "rm", params["path"], params["args"])

    @param("path", type=str)
    @param("destination", type=str)
    async def mv(self, session: OpSession, params: dict[str, Any]) -> Result:
        """mv(path, destination): move a file; both inside the allowed roots."""
        return await self._file_op(session, "mv", params["path"], params["destination"])

    @param("path", type=str)
    @param("destination", type=str)
    async def cp(self, session: OpSession, params: dict[str, Any]) -> Result:
        """cp(path, destination): copy a file; both inside the allowed roots."""
        return await self._file_op(session, "cp", params["path"], params["destination"])

    @param("path", type=str)
    @param("local_path", type=str, default=None)
    async def get_file(self, session: OpSession, params: dict[str, Any]) -> Result:
        """get_file(path, local_path=None): fetch a file; to local_path (under --local-root)
        or, up to 256 KiB, as text in session data."""
        local = self.local_roots.resolve(params["local_path"]) if params["local_path"] else None
        limit = self.args.max_file_bytes if local else INLINE_FILE_LIMIT
        result = await self._ops().get_file(params["path"], limit)
        session.data.update(result.as_data())
        if local is None:
            session.data["text"] = result.data.decode("utf-8", "replace")
            return True, f"{result.path}: {result.size} bytes"
        try:
            await self.agent.to_thread(_write_file, local, result.data)
        except OSError as e:
            raise OperationFailed(
                f"fetched {result.size} bytes but cannot write {local}: {e}"
            ) from None
        session.data["local_path"] = local
        return True, f"{result.path}: {result.size} bytes written to {local}"

    @param("path", type=str)
    @param("local_path", type=str, default=None)
    @param("content", type=str, default=None)
    async def send_file(self, session: OpSession, params: dict[str, Any]) -> Result:
        """send_file(path, local_path=None, content=None): write a text file on the DiFX host
        from a local file (under --local-root) or from the given text."""
        if (params["local_path"] is None) == (params["content"] is None):
            raise LocalProtocolError("give exactly one of local_path and content")
        if params["local_path"] is not None:
            local = self.local_roots.resolve(params["local_path"])
            try:
                data = await self.agent.to_thread(_read_file, local, self.args.max_file_bytes)
            except OSError as e:
                raise OperationFailed(str(e)) from None
        else:
            data = params["content"].encode("utf-8")
        result = await self._ops().send_file(params["path"], data)
        session.data.update(result.as_data())
        return True, f"{result.path}: {result.size} bytes written"

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
        session.data.update({"input_files": [], "im_files": []})

        def on_file(path: str) -> None:
            kind = "input" if path.endswith(".input") else "im"
            session.data[f"{kind}_files"].append(path)
            session.add_message(f"new .{kind} file: {path}")

        result = await self._ops().vex2difx(
            params["path"],
            params["v2d"],
            calc_command=params["calc_command"],
            calc_only=params["calc_only"],
            difx_version=self.difx_version,
            timeout=params["timeout"],
            on_file=on_file,
        )
        session.data.update(result.as_data())
        return True, f"{len(result.input_files)} .input, {len(result.im_files)} .im files"

    @param("input", type=str)
    async def get_machines(self, session: OpSession, params: dict[str, Any]) -> Result:
        """get_machines(input): head node, data sources and processors of a job's
        .machines/.threads."""
        machines = await self._ops().get_machines(params["input"], INLINE_FILE_LIMIT)
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
        result = await self._ops().define_machines(
            params["input"],
            machines,
            difx_version=self.difx_version,
            test_processors=params["test_processors"],
            on_line=session.add_message,
        )
        session.data.update(result.as_data())
        return True, f"{result.machines_file} and {result.threads_file} written"

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
        ops = self._ops()
        if params["head"] is None:
            machines = await ops.get_machines(params["input"], INLINE_FILE_LIMIT)
        else:
            machines = machines_from(
                params["head"], params["datastreams"] or (), params["processors"] or ()
            )
        name = posixpath.basename(params["input"]).removesuffix(".input")
        session.data.update({"job": name, "phase": "requested", "state": None, "progress": 0.0})

        def follow() -> None:
            row = self.relay_state.jobs.get(name)
            if row is not None:
                session.data.update({"state": row.state, "progress": row.progress})

        def on_reply(tracker: Any, line: str) -> None:
            session.add_message(line)
            session.data["phase"] = tracker.phase
            follow()

        def stop_requested() -> bool:
            follow()
            return session.stop_requested

        try:
            result = await ops.start_job(
                params["input"],
                machines,
                difx_version=self.difx_version,
                force=params["force"],
                function="RUN_MONITOR" if params["monitor"] else params["function"],
                restart_seconds=params["restart_seconds"],
                wait=params["wait"],
                on_reply=on_reply,
                stop_requested=stop_requested,
            )
        finally:
            follow()
        result.state, result.progress = session.data["state"], session.data["progress"]
        session.data.update(result.as_data())
        if result.waiting_stopped:
            return True, f"{name}: stopped waiting (phase {result.phase}); the job goes on"
        if not params["wait"] and result.phase != "done":
            return True, f"{name}: started"
        warn = f" with {len(result.warnings)} warnings" if result.warnings else ""
        return True, f"{name}: {result.phase}{warn}"

    @param("input", type=str)
    @param("timeout", type=float, default=30.0, check=lambda t: 0 < t <= 3600)
    @param("quiet", type=float, default=3.0, check=lambda t: 0 < t <= 600)
    async def stop_job(self, session: OpSession, params: dict[str, Any]) -> Result:
        """stop_job(input, timeout=30, quiet=3): send DifxStop, then succeed only when the
        correlator confirms the end within timeout: it reports an end state (Done, MpiDone,
        Terminated or Crashed from an mpifxcorr process), or it stays silent for `quiet` s
        after guiServer reported killing its processes. guiServer itself answers nothing to a
        stop, and the DiFX interface guide warns that a stop often does nothing."""
        ops = self._ops()
        name = posixpath.basename(params["input"]).removesuffix(".input")
        watch = await self.relay_state.wait_job_end(
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
        c = await self._ops().job_status(params["pattern"], params["short"])
        result = JobStatusResult(
            pattern=params["pattern"],
            server_time=c.server_time,
            jobs={path: asdict(status) for path, status in c.jobs.items()},
            errors=c.errors,
        )
        session.data.update(result.as_data())
        return True, f"{len(c.jobs)} jobs"

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
        result = await self._ops().generate_filelist(
            [str(f) for f in params["files"]],
            params["destination"],
            data_format=params["data_format"],
            ref_mjd=params["ref_mjd"],
            overwrite=params["overwrite"],
            timeout=params["timeout"],
            on_line=session.add_message,
        )
        session.data.update(result.as_data())
        if result.cancelled:
            return True, f"{result.destination} exists; kept (overwrite=False)"
        return True, f"{result.destination}: {result.processed} files, {len(result.errors)} errors"

    @param("mark5", type=str)
    @param("vsn", type=str)
    @param("generate_new", type=bool, default=False)
    @param("timeout", type=float, default=600.0, check=lambda t: t > 0)
    async def get_directory(self, session: OpSession, params: dict[str, Any]) -> Result:
        """get_directory(mark5, vsn, generate_new=False, timeout=600): a Mark5 module's
        directory as guiServer keeps it (generate_new: read it from the module first, which
        takes minutes; timeout: seconds per reply)."""
        result = await self._ops().get_directory(
            params["mark5"],
            params["vsn"],
            generate_new=params["generate_new"],
            difx_version=self.difx_version,
            timeout=params["timeout"],
            on_line=session.add_message,
        )
        session.data.update(result.as_data())
        return True, f"{result.vsn}: {len(result.lines)} directory lines"

    @param("command", type=str)
    @param("target_node", type=str)
    @param("timeout", type=float, default=60.0, check=lambda t: t > 0)
    async def mk5_control(self, session: OpSession, params: dict[str, Any]) -> Result:
        """mk5_control(command, target_node, timeout=60): run mk5control COMMAND on a Mark5
        unit; its output and error lines in session data."""
        result = await self._ops().mk5_control(
            params["command"],
            params["target_node"],
            timeout=params["timeout"],
            on_line=session.add_message,
        )
        session.data.update(result.as_data())
        return True, f"{len(result.output)} output lines, {len(result.errors)} error lines"

    @param("mark5", type=str)
    @param("vsn", type=str)
    @param("scans", type=str)
    @param("destination", type=str)
    @param("timeout", type=float, default=600.0, check=lambda t: t > 0)
    async def mark5_copy(self, session: OpSession, params: dict[str, Any]) -> Result:
        """mark5_copy(mark5, vsn, scans, destination, timeout=600): copy scans of a module to
        a folder on the DiFX host (inside the allowed roots)."""
        result = await self._ops().mark5_copy(
            params["mark5"],
            params["vsn"],
            params["scans"],
            params["destination"],
            difx_version=self.difx_version,
            timeout=params["timeout"],
            on_line=session.add_message,
        )
        session.data.update(result.as_data())
        return True, f"{result.vsn} copied to {result.destination}"


def _write_file(path: str, content: bytes) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    tmp = f"{path}.part"
    with open(tmp, "wb") as f:
        f.write(content)
    os.replace(tmp, path)


def _read_file(path: str, limit: int) -> bytes:
    size = os.path.getsize(path)
    if size > limit:
        raise OSError(f"{path} is {size} bytes, more than the {limit} allowed")
    return Path(path).read_bytes()


__all__ = ["DiFXError", "DiFXRelay"]
