"""DiFXRelay: relays DiFX correlator status onto feeds and runs DiFX operations via guiServer.

Wiring only: the protocol lives in `framing`, `channels`, `raw`, `messages`, `commands`,
`connection`, `replies`, `jobcontrol`, `machines` (sans-I/O); `guiclient` and `operations` carry
it over asyncio; `relay` keeps the connection and feeds the documents to the feeds; `options`
holds the arguments, `localfiles` the files under --local-root. Every failure an operation
foresees raises a `DiFXError` (an `OpFailed`): the session ends failed with its text.
See README.md for the protocol, the tasks, the feeds and the session data.
"""

from __future__ import annotations

from typing import Any

from socs_like import Agent, OpSession, param

from . import options
from .errors import ChannelClosed, DiFXError, OperationFailed
from .feeds import DOCUMENT_FEEDS
from .filetasks import FileTasks
from .jobtasks import JobTasks
from .localfiles import LocalFiles
from .models import DifxVersion, RelaySettings, Result, done
from .operations import Ops, RemotePaths
from .relay import Relay

# Document feeds, by the name `feeds.feed_event` gives; status and alerts go out at once
# (buffer_time 0), load is recorded and batched each second.
FEED_OPTIONS: dict[str, dict[str, Any]] = {
    "difx_status": {"max_buffer": 100_000},
    "difx_alerts": {"max_buffer": 100_000},
    "difx_load": {"record": True, "buffer_time": 1.0, "agg_params": {"frame_length": 60}},
}


class DiFXRelay:
    """DiFX relay: guiServer client and multicast listener (see README.md)."""

    Options = options.Options

    def __init__(self, agent: Agent, args: options.Options) -> None:
        self.agent = agent
        self.args = args
        self.paths = RemotePaths(args.allowed_root)
        self.local = LocalFiles(args.local_root, args.max_file_bytes)
        self.difx_version: str = args.difx_version
        feeds = {n: agent.register_feed(n, **FEED_OPTIONS.get(n, {})) for n in DOCUMENT_FEEDS}
        self.relay_state = Relay(args, feeds, agent.register_feed("guiserver_messages"))
        agent.register_process("relay", self.relay, startup=True)
        for name in ("version", "set_version", "configure_relay"):
            agent.register_task(name, getattr(self, name))
        files = FileTasks(self._ops, self.local, agent.to_thread)
        jobs = JobTasks(self._ops, self.relay_state, lambda: self.difx_version)
        for group in (files, jobs):
            for name in group.NAMES:
                agent.register_task(name, getattr(group, name))
        agent.register_task("start_job", jobs.start_job, abortable=True)
        agent.register_task("stop_job", jobs.stop_job)

    async def relay(self, session: OpSession, params: dict[str, Any]) -> Result:
        """relay(): keep the guiServer connection (or multicast membership) and publish."""
        session.set_status("running")
        if self.args.mode == "direct":
            await self.relay_state.direct(session)
        else:
            await self.relay_state.connect_loop(session)
        session.data = self.relay_state.summary()
        return True, "relay stopped"

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
        server = self.relay_state.server = await self._ops().version()
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
        return done(
            session, DifxVersion(self.difx_version), f"DiFX version set to {self.difx_version}"
        )

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
        message = f"relay {'on' if relay_on else 'off'}, selection {selection or 'ALL'}"
        return done(session, RelaySettings(relay_on, selection), message)


__all__ = ["DiFXError", "DiFXRelay"]
