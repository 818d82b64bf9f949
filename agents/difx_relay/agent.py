"""DiFXRelay: relays DiFX correlator status onto feeds and runs DiFX operations via guiServer.

A thin shell: the protocol lives in `framing`, `channels`, `messages`, `commands`,
`connection` (sans-I/O); `guiclient` and `operations` carry it over asyncio; `relay` keeps
the connection and feeds the documents to the feeds; this module registers the feeds, the
`relay` process and the tasks.

Process `relay` (started at start-up) keeps one guiServer connection: channels on, relay on,
the message selection, a version request; it reconnects with backoff (0.25 s doubling up to
`--reconnect-max`) and, since guiServer has no heartbeat, probes a silent connection with a
version request and drops it if no answer comes. In `--mode direct` it joins the DiFX
multicast group itself instead (tasks then have no guiServer to talk to).

Feeds: `difx_status` (per job: state, progress %, weights, host, seq), `difx_alerts`
(severity names), `difx_load` (recorded, one block per host), `mark5_status`, `difx_info`,
`difx_other` (every other type: header + raw fields) and `guiserver_messages` (the server's
information / warning / error packets). A bad document is counted and dropped; a corrupt
stream closes the connection and the relay reconnects; neither stops the agent.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import posixpath
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from socs_like import Agent, OpSession, param

from . import commands
from .errors import DiFXProtocolError
from .guiclient import ChannelClosed
from .jobcontrol import StartTracker
from .machines import Machines
from .messages import (
    ALL_KEYWORDS,
    TERMINAL_STATES,
)
from .operations import Ops, processors_from
from .paths import PathPolicy
from .relay import Relay

Result = tuple[bool, str]
INLINE_FILE_LIMIT = 256 * 1024


def _selection(text: str) -> list[str] | None:
    words = [w.strip() for w in text.replace("\n", ",").split(",") if w.strip()]
    if not words or words == ["ALL"]:
        return None
    unknown = sorted(set(words) - set(ALL_KEYWORDS))
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown selection {unknown}; known: {list(ALL_KEYWORDS)}"
        )
    return words


class DiFXRelay:
    """DiFX relay: guiServer client and multicast listener (see module docs)."""

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        g = parser.add_argument_group("DiFXRelay options")
        g.add_argument("--host", help="guiServer host (required in relay mode)")
        g.add_argument(
            "--port",
            type=int,
            help="guiServer TCP port (guiServer listens on 50200 unless told "
            "otherwise; there is no default here)",
        )
        g.add_argument(
            "--mode",
            choices=["relay", "direct"],
            default="relay",
            help="relay: through guiServer; direct: join the DiFX multicast group",
        )
        g.add_argument("--multicast-group", default="224.2.2.1")
        g.add_argument("--multicast-port", type=int, default=50200)
        g.add_argument(
            "--multicast-interface",
            default="0.0.0.0",
            help="local address whose interface joins the group",
        )
        g.add_argument(
            "--allowed-root",
            action="append",
            default=[],
            metavar="PATH",
            help="folder on the DiFX host that operations may touch (repeatable); "
            "every other path is refused before it is sent",
        )
        g.add_argument(
            "--local-root",
            action="append",
            default=[],
            metavar="PATH",
            help="local folder get_file/send_file may write/read (repeatable)",
        )
        g.add_argument(
            "--selection",
            type=_selection,
            default=None,
            help="comma-separated guiServer message keywords, or ALL (default)",
        )
        g.add_argument("--difx-version", default="", help="DiFX version for jobs (set_version)")
        g.add_argument(
            "--op-timeout",
            type=float,
            default=10.0,
            help="seconds an operation waits for each guiServer reply",
        )
        g.add_argument(
            "--idle-probe",
            type=float,
            default=5.0,
            help="seconds of silence before the connection is probed",
        )
        g.add_argument(
            "--probe-timeout",
            type=float,
            default=3.0,
            help="seconds a probe may take before the connection counts as dead",
        )
        g.add_argument(
            "--reconnect-max",
            type=float,
            default=1.0,
            help="longest wait between connection attempts, seconds",
        )
        g.add_argument("--max-file-bytes", type=int, default=64 * 1024 * 1024)

    def __init__(self, agent: Agent, args: argparse.Namespace) -> None:
        if args.mode == "relay" and (not args.host or not args.port):
            raise ValueError("--host and --port are required in relay mode")
        self.agent = agent
        self.args = args
        self.policy = PathPolicy(args.allowed_root)
        self.local_policy = PathPolicy(args.local_root, "--local-root")
        self.difx_version: str = args.difx_version
        # Document feeds, by the name `feeds.feed_event` gives; status and alerts go out at
        # once (buffer_time 0), load is recorded and batched each second.
        feeds = {
            "difx_status": agent.register_feed("difx_status", max_buffer=100_000),
            "difx_alerts": agent.register_feed("difx_alerts", max_buffer=100_000),
            "difx_load": agent.register_feed(
                "difx_load", record=True, buffer_time=1.0, agg_params={"frame_length": 60}
            ),
            "mark5_status": agent.register_feed("mark5_status"),
            "difx_info": agent.register_feed("difx_info"),
            "difx_other": agent.register_feed("difx_other"),
        }
        self.relay_state = Relay(args, feeds, agent.register_feed("guiserver_messages"))

        agent.register_process("relay", self.relay, startup=True)
        for name, func in [
            ("version", self.version),
            ("set_version", self.set_version),
            ("ls", self.ls),
            ("mkdir", self.mkdir),
            ("rmdir", self.rmdir),
            ("rm", self.rm),
            ("mv", self.mv),
            ("get_file", self.get_file),
            ("send_file", self.send_file),
            ("vex2difx", self.vex2difx),
            ("get_machines", self.get_machines),
            ("define_machines", self.define_machines),
            ("stop_job", self.stop_job),
            ("job_status", self.job_status),
        ]:
            agent.register_task(name, func)
        agent.register_task("start_job", self.start_job, abortable=True)

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
            raise DiFXProtocolError(
                "the agent runs in direct (multicast) mode: no guiServer connection for operations"
            )
        client = self.relay_state.client
        if client is None or not client.is_open:
            raise DiFXProtocolError(
                f"not connected to guiServer at {self.args.host}:"
                f"{self.args.port} ({self.relay_state.last_error})"
            )
        return Ops(client, self.policy, self.args.op_timeout)

    async def _run(
        self, session: OpSession, work: Awaitable[tuple[bool, str, dict[str, Any]]]
    ) -> Result:
        try:
            ok, message, data = await work
        except (DiFXProtocolError, ChannelClosed, ValueError) as e:
            return False, str(e)
        session.data.update(data)
        return ok, message

    async def version(self, session: OpSession, params: dict[str, Any]) -> Result:
        """version(): guiServer version, user, DiFX base, available versions, environment."""

        async def work() -> tuple[bool, str, dict[str, Any]]:
            ops = self._ops()
            server = await ops.client.version(self.args.op_timeout)
            self.relay_state.server = server
            return True, f"guiServer {server.version}", server.as_dict()

        return await self._run(session, _guard_timeout(work(), "version request"))

    @param("version", type=str)
    async def set_version(self, session: OpSession, params: dict[str, Any]) -> Result:
        """set_version(version): the DiFX version used for vex2difx, machines and jobs."""
        server = self.relay_state.server
        available = server.available if server else ()
        if params["version"] not in available:
            return (
                False,
                f"DiFX version {params['version']!r} is not available; "
                f"server offers {list(available)}",
            )
        self.difx_version = params["version"]
        session.data["difx_version"] = self.difx_version
        return True, f"DiFX version set to {self.difx_version}"

    @param("path", type=str)
    @param("args", type=str, default="")
    async def ls(self, session: OpSession, params: dict[str, Any]) -> Result:
        """ls(path, args=""): list a path (wildcards allowed); entries in session data."""
        return await self._run(
            session, _call(lambda: self._ops().ls(params["path"], params["args"]))
        )

    @param("path", type=str)
    async def mkdir(self, session: OpSession, params: dict[str, Any]) -> Result:
        """mkdir(path): create a directory with its parents."""
        return await self._run(session, _call(lambda: self._ops().file_op("mkdir", params["path"])))

    @param("path", type=str)
    async def rmdir(self, session: OpSession, params: dict[str, Any]) -> Result:
        """rmdir(path): remove an empty directory."""
        return await self._run(session, _call(lambda: self._ops().file_op("rmdir", params["path"])))

    @param("path", type=str)
    @param("args", type=str, default="")
    async def rm(self, session: OpSession, params: dict[str, Any]) -> Result:
        """rm(path, args=""): remove files (wildcards allowed), with rm flags such as "-r"."""
        return await self._run(
            session, _call(lambda: self._ops().file_op("rm", params["path"], params["args"]))
        )

    @param("path", type=str)
    @param("destination", type=str)
    async def mv(self, session: OpSession, params: dict[str, Any]) -> Result:
        """mv(path, destination): move a file; both inside the allowed roots."""
        return await self._run(
            session, _call(lambda: self._ops().file_op("mv", params["path"], params["destination"]))
        )

    @param("path", type=str)
    @param("local_path", type=str, default=None)
    async def get_file(self, session: OpSession, params: dict[str, Any]) -> Result:
        """get_file(path, local_path=None): fetch a file; to local_path (under --local-root)
        or, when small, as text in session data."""
        try:
            local = self.local_policy.check(params["local_path"]) if params["local_path"] else None
            limit = self.args.max_file_bytes if local else INLINE_FILE_LIMIT
            ok, message, content = await self._ops().get_file(params["path"], limit)
        except DiFXProtocolError as e:
            return False, str(e)
        if not ok:
            return False, message
        if local is not None:
            try:
                await self.agent.to_thread(_write_file, local, content)
            except OSError as e:
                return False, f"fetched {len(content)} bytes but cannot write {local}: {e}"
            session.data.update({"local_path": local, "bytes": len(content)})
            return True, f"{message} written to {local}"
        session.data.update({"bytes": len(content), "text": content.decode("utf-8", "replace")})
        return True, message

    @param("path", type=str)
    @param("local_path", type=str, default=None)
    @param("content", type=str, default=None)
    async def send_file(self, session: OpSession, params: dict[str, Any]) -> Result:
        """send_file(path, local_path=None, content=None): write a file on the DiFX host from a
        local file (under --local-root) or from the given text."""
        if (params["local_path"] is None) == (params["content"] is None):
            return False, "give exactly one of local_path and content"
        try:
            if params["local_path"] is not None:
                local = self.local_policy.check(params["local_path"])
                data = await self.agent.to_thread(_read_file, local, self.args.max_file_bytes)
            else:
                data = params["content"].encode("utf-8")
        except (DiFXProtocolError, OSError) as e:
            return False, str(e)
        return await self._run(session, _call(lambda: self._ops().send_file(params["path"], data)))

    @param("path", type=str)
    @param("v2d", type=str)
    @param("calc_command", type=str, default="calcif2", choices=["calcif2", "difxcalc"])
    @param("calc_only", type=bool, default=False)
    async def vex2difx(self, session: OpSession, params: dict[str, Any]) -> Result:
        """vex2difx(path, v2d, calc_command="calcif2", calc_only=False): run vex2difx and calc
        on path/v2d; with calc_only, v2d is a wildcard of existing jobs. New .input and .im
        files are reported as they appear."""
        session.data.update({"input_files": [], "im_files": []})

        def on_file(kind: str, path: str) -> None:
            session.data[f"{kind}_files"].append(path)
            session.add_message(f"new .{kind} file: {path}")

        return await self._run(
            session,
            _call(
                lambda: self._ops().vex2difx(
                    params["path"],
                    params["v2d"],
                    params["calc_command"],
                    params["calc_only"],
                    self.difx_version,
                    on_file,
                )
            ),
        )

    @param("input", type=str)
    async def get_machines(self, session: OpSession, params: dict[str, Any]) -> Result:
        """get_machines(input): head node, data sources and processors of a job's
        .machines/.threads."""
        return await self._run(
            session, _call(lambda: self._ops().get_machines(params["input"], INLINE_FILE_LIMIT))
        )

    @param("input", type=str)
    @param("head", type=str)
    @param("datastreams", type=list)
    @param("processors", type=list)
    async def define_machines(self, session: OpSession, params: dict[str, Any]) -> Result:
        """define_machines(input, head, datastreams, processors): write the job's .machines and
        .threads; processors as ["node:threads", ...] or [{"node", "threads"}, ...]."""
        try:
            machines = Machines(
                params["head"],
                tuple(map(str, params["datastreams"])),
                processors_from(params["processors"]),
            )
        except ValueError as e:
            return False, str(e)
        return await self._run(
            session,
            _call(
                lambda: self._ops().define_machines(params["input"], machines, self.difx_version)
            ),
        )

    @param("input", type=str)
    @param("head", type=str, default=None)
    @param("datastreams", type=list, default=None)
    @param("processors", type=list, default=None)
    @param("wait", type=bool, default=True)
    @param("force", type=bool, default=True)
    @param("function", type=str, default="RUN_MONITOR", choices=list(commands.START_FUNCTIONS))
    async def start_job(self, session: OpSession, params: dict[str, Any]) -> Result:
        """start_job(input, head=None, datastreams=None, processors=None, wait=True, force=True,
        function="RUN_MONITOR"): start a job (machines read from its .machines/.threads when not
        given); with wait, follow it to the end. Progress is in session data. Aborting stops
        the wait, not the job: use stop_job for that."""
        session.set_status("running")
        try:
            ops = self._ops()
            if params["head"] is None:
                ok, message, m = await ops.get_machines(params["input"], INLINE_FILE_LIMIT)
                if not ok:
                    return False, f"no machines given and reading them failed: {message}"
                machines = Machines(
                    m["head"],
                    tuple(m["datastreams"]),
                    tuple((p["node"], p["threads"]) for p in m["processors"]),
                )
            else:
                machines = Machines(
                    params["head"],
                    tuple(map(str, params["datastreams"] or ())),
                    processors_from(params["processors"] or ()),
                )
        except (DiFXProtocolError, ValueError) as e:
            return False, str(e)
        name = posixpath.basename(params["input"]).removesuffix(".input")
        session.data.update({"job": name, "phase": "requested", "state": None, "progress": 0.0})

        def on_reply(tracker: StartTracker, line: str) -> None:
            session.add_message(line)
            row = self.relay_state.jobs.get(name)
            session.data.update(
                {
                    "phase": tracker.phase,
                    "state": row.state if row else None,
                    "progress": row.progress if row else 0.0,
                }
            )

        async def stop_requested() -> bool:
            row = self.relay_state.jobs.get(name)
            if row is not None:
                session.data.update({"state": row.state, "progress": row.progress})
            return session.stop_requested

        ok, message = await self._run(
            session,
            _call(
                lambda: ops.start_job(
                    params["input"],
                    machines,
                    difx_version=self.difx_version,
                    force=params["force"],
                    function=params["function"],
                    wait=params["wait"],
                    on_reply=on_reply,
                    stop_requested=stop_requested,
                )
            ),
        )
        row = self.relay_state.jobs.get(name)
        if row is not None:
            session.data.update({"state": row.state, "progress": row.progress})
        return ok, message

    @param("input", type=str)
    @param("timeout", type=float, default=30.0, check=lambda t: 0 < t <= 3600)
    async def stop_job(self, session: OpSession, params: dict[str, Any]) -> Result:
        """stop_job(input, timeout=30): ask guiServer to stop a job; succeeds only when a
        terminal state (Terminated, Done, MpiDone, Crashed) is seen within timeout."""
        name = posixpath.basename(params["input"]).removesuffix(".input")
        seen: list[str] = []
        with self.relay_state.job_states(name) as states:
            try:
                await self._ops().stop_job(params["input"])
            except DiFXProtocolError as e:
                return False, str(e)
            deadline = time.monotonic() + params["timeout"]
            while (left := deadline - time.monotonic()) > 0:
                try:
                    state = await asyncio.wait_for(states.get(), left)
                except TimeoutError:
                    break
                seen.append(state)
                session.data["states_seen"] = seen
                if state in TERMINAL_STATES:
                    return True, f"{name}: {state}"
        if seen:
            return False, (
                f"{name}: saw {', '.join(seen)} but no terminal state within "
                f"{params['timeout']:g} s; the job may still be running"
            )
        return False, f"{name}: no state change within {params['timeout']:g} s after DifxStop"

    @param("pattern", type=str)
    @param("short", type=bool, default=True)
    async def job_status(self, session: OpSession, params: dict[str, Any]) -> Result:
        """job_status(pattern, short=True): latest state of each job whose .input matches."""
        return await self._run(
            session, _call(lambda: self._ops().job_status(params["pattern"], params["short"]))
        )


async def _call(make: Callable[[], Awaitable[Any]]) -> Any:
    """Build the awaitable inside the try of `_run`, so refusals become a failed session."""
    return await make()


async def _guard_timeout(work: Awaitable[Any], what: str) -> Any:
    try:
        return await work
    except TimeoutError:
        return False, f"{what}: no reply", {}


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
