"""`socs-like up`: run one host of a site — its hub (when it owns it), agents and simulators.

Each agent instance runs as its own process (`socs-like agent --instance-id ID`), and so does
each simulator of the host's ``simulators:`` list (`socs-like simulate NAME ...`). Everything
a child writes goes to ``<log-dir>/<instance-id>.log`` (simulators: ``sim-NAME.log``), rotated
by size (`socs_like.logs`).

Relative paths in the site config (``log-dir``, the ``crossbar:`` block's ``config-dir``, the
agents' arguments) are relative to the site config's folder, wherever `up` was started: the
children run there, and the runtime files default to ``var/`` beside the site config (logs in
``var/log``, crossbar's files in ``var/hub``, the control socket; `runtime_dir`).

A child that exits is restarted by its ``restart:`` policy (``always``, the default;
``on-failure``: only after a non-zero exit; ``never``) after a delay from the shared `Backoff`
(0.1 s doubling up to a minute, reset by a run that lasted QUICK_EXIT seconds). One that keeps
dying within seconds of its start is shown as crash-looping, with the last line it wrote (its
reason, as a person would read it in its log). A child's state is one of running, restarting
(waiting out its delay), crash-looping (the same, after quick exits in a row), crashed (exited
with an error and not to be restarted) and stopped.

The supervisor listens on a Unix socket, ``var/host-<host>.sock``, for its HostManager agent
(started by default as ``hm-<host>``; `socs_like_agents.host_manager`), one JSON object per
line each way:

- ``{"op": "list"}`` → ``{"ok": true, "instances": [state, ...]}`` (`Child.as_dict`);
- ``{"op": "start"|"stop"|"restart", "id": ID or "all"}`` → the same, after the change
  (``all`` leaves out the host manager itself, which would lose its own line);
- ``{"op": "reload"}`` re-reads the site config: refused with ``{"ok": false, "error": ...}``
  and nothing changed when it has an error; else added instances start, removed ones stop,
  changed ones restart, and the answer adds ``"added"``, ``"removed"``, ``"changed"``;
- ``{"op": "watch"}`` → the ``list`` answer now and after every change, until the socket closes.

A hub this host runs that dies (crossbar killed, crashed) is started again with the same
`Backoff` as a child: first whatever is left of it (its process group: the router worker of a
killed controller, which would hold the port) is killed, and its stale ``node.pid`` (which
would make crossbar refuse to start) removed. The agents reconnect on their own.

SIGINT or SIGTERM stops the agents (SIGTERM, then SIGKILL after a grace period), then the hub,
even when whoever read our output has gone (``up | tee``, whose tee the same Ctrl-C ended).
Killed outright, the supervisor takes the rest along all the same: the launcher stops the
agents when its socket closes, and crossbar gets a parent-death signal (`socs_like.hub`).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import signal
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.markup import escape
from rich.table import Table

from .backoff import Backoff
from .launcher import Process, spawn
from .logs import CAPTURED_ENV, RotatingLog, log_path, notices
from .runner import check_instance_arguments
from .site_config import (
    HOST_MANAGER_CLASS,
    HostConfig,
    SiteConfig,
    SiteConfigError,
    host_log_dir,
    host_manager_id,
    load_site_config,
    runtime_dir,
)

# A first failure is retried almost at once (an agent killed by accident is back at once);
# a repeated one waits twice as long each time, up to MAX_BACKOFF.
FIRST_DELAY = 0.1
MAX_BACKOFF = 60.0
STOP_GRACE = 5.0
# A child that exits within this many seconds of its start, this many times in a row, is
# crash-looping: restarting it will not help until a person fixes what its last line says.
QUICK_EXIT = 10.0
CRASH_LOOP_AFTER = 3
# Output a child's pipe still carries after the child exited (a grandchild holds it open, or
# the last lines are in flight) is waited for this long before the exit is judged.
DRAIN = 0.3


# --- what to run: pure ------------------------------------------------------------------------


@dataclass(frozen=True)
class ChildSpec:
    """One process the host should run, as the site config says."""

    name: str
    kind: str  # an agent class, or one of NOT_AGENTS
    argv: tuple[str, ...]
    policy: str  # always | on-failure | never
    config: str = ""  # the config block it came from, to notice a change on reload


# Children that are not agents: no heartbeat, no operations.
NOT_AGENTS = ("simulator", "dashboard")


def host_specs(
    site_file: Path,
    site: SiteConfig,
    host_name: str,
    control: Path | None = None,
) -> list[ChildSpec]:
    """The children of `host_name`: its managed agent instances, a HostManager (unless the
    host lists one) when `control` is given, and its simulators."""
    host = site.hosts[host_name]
    site_args = ("--site-file", str(site_file), "--site-host", host_name)
    specs = [
        ChildSpec(
            i.instance_id,
            i.agent_class,
            ("agent", "--instance-id", i.instance_id, *site_args),
            i.restart,
            i.model_dump_json(),
        )
        for i in host.agent_instances
        if i.manage != "no"
    ]
    if control is not None:
        if not any(s.kind == HOST_MANAGER_CLASS for s in specs):
            hm_id = host_manager_id(host_name)
            specs.insert(
                0,
                ChildSpec(
                    hm_id,
                    HOST_MANAGER_CLASS,
                    ("agent", HOST_MANAGER_CLASS, "--instance-id", hm_id, *site_args),
                    "always",
                ),
            )
        specs = [
            ChildSpec(s.name, s.kind, (*s.argv, "--control", str(control)), s.policy, s.config)
            if s.kind == HOST_MANAGER_CLASS
            else s
            for s in specs
        ]
    specs += [
        ChildSpec(f"sim-{s.name}", "simulator", ("simulate", s.name, *s.argv), s.restart, repr(s))
        for s in host.simulators
    ]
    if host.web is not None:
        web = host.web
        argv = ("web", "--site-config", str(site_file), *web.argv)
        specs.append(ChildSpec("web", "dashboard", argv, web.restart, repr(web)))
    seen: set[str] = set()
    for s in specs:
        if s.name in seen:
            raise SiteConfigError(f"{site_file}: host {host_name!r} lists {s.name!r} twice")
        seen.add(s.name)
    _check_arguments(site_file, host, host_name, specs)
    return specs


def _check_arguments(
    site_file: Path, host: HostConfig, host_name: str, specs: list[ChildSpec]
) -> None:
    """Refuse an agent whose command line its declared settings refuse, before anything
    starts: the instance's ``arguments`` followed by what ``up`` adds, read as the agent
    will read them."""
    given = {i.instance_id: i.argv for i in host.agent_instances}
    for s in specs:
        if s.kind in NOT_AGENTS:
            continue
        added = list(s.argv[s.argv.index("--instance-id") :])
        problem = check_instance_arguments(s.kind, [*given.get(s.name, []), *added])
        if problem:
            raise SiteConfigError(
                f"{site_file}: host {host_name!r}, instance {s.name!r} ({s.kind}): "
                f"arguments: {problem}"
            )


@dataclass(frozen=True)
class ReloadPlan:
    added: list[ChildSpec]
    removed: list[str]
    changed: list[ChildSpec]  # to restart with their new config
    retuned: list[ChildSpec]  # only the restart policy differs: no restart


def plan_reload(old: Sequence[ChildSpec], new: Sequence[ChildSpec]) -> ReloadPlan:
    before = {s.name: s for s in old}
    after = {s.name: s for s in new}
    changed, retuned = [], []
    for name in before.keys() & after.keys():
        a, b = before[name], after[name]
        if (a.kind, a.argv, a.config) != (b.kind, b.argv, b.config):
            changed.append(b)
        elif a.policy != b.policy:
            retuned.append(b)
    return ReloadPlan(
        added=[s for s in new if s.name not in before],
        removed=[s.name for s in old if s.name not in after],
        changed=sorted(changed, key=lambda s: s.name),
        retuned=sorted(retuned, key=lambda s: s.name),
    )


def should_restart(policy: str, exit_code: int) -> bool:
    return policy == "always" or (policy == "on-failure" and exit_code != 0)


# --- running it -------------------------------------------------------------------------------


@dataclass
class Child:
    """One supervised process: an agent instance or a simulator."""

    spec: ChildSpec
    log: RotatingLog
    process: Process | None = None
    state: str = "stopped"
    restarts: int = 0
    started: float = 0.0  # time.monotonic() of the current run's start
    last_exit: int | None = None
    last_line: str = ""  # the last line the child wrote before it last exited
    quick_exits: int = 0  # exits in a row within QUICK_EXIT of the start
    retry_at: float | None = None  # monotonic time of the next automatic start
    backoff: Backoff = field(default_factory=lambda: Backoff(initial=FIRST_DELAY, cap=MAX_BACKOFF))
    heartbeat: float | None = None
    op_codes: dict[str, int] = field(default_factory=dict)
    keeper: asyncio.Task[None] | None = None
    stops: int = 0  # stop requests so far: one made while the keeper spawns is seen after

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def kind(self) -> str:
        return self.spec.kind

    @property
    def alive(self) -> bool:
        return self.pid is not None

    @property
    def pid(self) -> int | None:
        """The running process's pid; None when it is not running."""
        if self.process is None or self.process.returncode is not None:
            return None
        return self.process.pid

    def as_dict(self, now: float) -> dict[str, Any]:
        """The state a HostManager publishes: plain JSON."""
        return {
            "instance_id": self.name,
            "class": self.kind,
            "state": self.state,
            "pid": self.pid,
            "uptime": round(now - self.started, 3) if self.alive else None,
            "restarts": self.restarts,
            "policy": self.spec.policy,
            "last_exit": self.last_exit,
            "last_line": self.last_line,
            "retry_in": None if self.retry_at is None else round(max(0, self.retry_at - now), 3),
            "log": str(self.log.path),
        }


async def _terminate(proc: Process) -> None:
    """SIGTERM, then SIGKILL after STOP_GRACE; returns once `proc` has exited."""
    if proc.returncode is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(proc.wait(), STOP_GRACE)
    except TimeoutError:
        proc.kill()
        await proc.wait()


def _end_group(pgid: int, timeout: float = 10.0) -> None:
    """SIGKILL every process left in the process group `pgid` and wait until none is."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            return
        time.sleep(0.05)


class ControlError(Exception):
    """A control request that cannot be done; the message says why."""


def control_socket_path(var_dir: Path, host: str) -> Path:
    """``<var>/host-<host>.sock``; where that is too long for a Unix socket (107 bytes: a
    site config deep in a folder tree), a name in the temporary folder made from it."""
    path = var_dir / f"host-{host}.sock"
    if len(os.fsencode(path)) <= 100:
        return path
    digest = hashlib.sha256(os.fsencode(path)).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"socs-like-{digest}.sock"


class Supervisor:
    def __init__(
        self,
        site_file: Path,
        site: SiteConfig,
        *,
        host: str | None = None,
        live_table: bool = True,
        host_manager: bool = True,
        backoff: Backoff | None = None,
    ) -> None:
        # Relative paths of the site config are the site config's folder's, whatever the
        # current folder: the children run there, and the runtime files go beside it.
        self.site_file = site_file.resolve()
        self.folder = self.site_file.parent
        self.site = site
        self.host_name, self.host = site.host(host)
        self.live_table = live_table
        self.var_dir = runtime_dir(self.site_file)
        self.log_dir = host_log_dir(self.site_file, self.host)
        self.control_path = control_socket_path(self.var_dir, self.host_name)
        self._with_host_manager = host_manager
        self._backoff = backoff  # a template for every child's (tests make it short)
        self.children: dict[str, Child] = {}
        for spec in self._specs(site):
            self.children[spec.name] = self._child(spec)
        self.console = Console()
        self._stopping = False
        self._live = False
        self.notices: dict[str, str] = {}  # the last notice of each child, under the table
        self._changed = asyncio.Event()
        self._server: asyncio.Server | None = None
        self._captured_before: str | None = None
        # What this host knows of the hub: connecting (at first), waiting (not reached),
        # joined, lost (after a join), refused (our login).
        self.hub_state = "connecting"
        self.hub_text = f"connecting to the hub at {site.hub.wamp_server}"
        from .client import AsyncClient

        # Our hub session (heartbeats for the live table); closed before the hub stops so that
        # nothing reports a lost hub.
        # Its credentials are those of this site file's secrets (an authenticated hub).
        self._watcher = AsyncClient.from_site("supervisor", str(site_file), timeout=3.0)

    def _specs(self, site: SiteConfig) -> list[ChildSpec]:
        control = self.control_path if self._with_host_manager else None
        return host_specs(self.site_file, site, self.host_name, control)

    def _child(self, spec: ChildSpec) -> Child:
        child = Child(spec, RotatingLog(log_path(self.log_dir, spec.name)))
        if self._backoff is not None:
            b = self._backoff
            child.backoff = Backoff(initial=b.initial, factor=b.factor, cap=b.cap)
        return child

    def run(self) -> int:
        return asyncio.run(self._main())

    async def _main(self) -> int:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        hub = self._start_hub(self.host) if self.host.runs_hub else None
        heartbeats = asyncio.ensure_future(self._watch_heartbeats())
        keep_hub = asyncio.ensure_future(self._keep_hub(hub)) if hub is not None else None
        try:
            await self.start_all()
            if self.live_table:
                with Live(self.table(), console=self.console, refresh_per_second=2) as live:
                    self._live = True
                    while not stop.is_set():
                        live.update(self.table())
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(stop.wait(), 0.5)
            else:
                await stop.wait()
        finally:
            self._live = False
            self._stopping = True  # children dying from here on are not restarted
            self._say("stopping agents")
            heartbeats.cancel()
            if keep_hub is not None:
                keep_hub.cancel()
            await self._watcher.close()
            await self.close()
            if hub is not None:
                self._say("stopping the hub")
                await asyncio.to_thread(hub.stop)
        return 0

    async def start_all(self) -> None:
        """Open the control socket and start every child (what `run` does before waiting)."""
        # The children's output is captured into their log files (see socs_like.logs).
        self._captured_before = os.environ.get(CAPTURED_ENV)
        os.environ[CAPTURED_ENV] = "1"
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.control_path.parent.mkdir(parents=True, exist_ok=True)
        self.control_path.unlink(missing_ok=True)
        self._server = await asyncio.start_unix_server(self._serve, path=str(self.control_path))
        self.control_path.chmod(0o600)
        for child in self.children.values():
            self._start(child)

    async def close(self) -> None:
        """Stop every child and the control socket."""
        self._stopping = True
        if self._server is not None:
            self._server.close()
        await asyncio.gather(*(self._stop(c) for c in self.children.values()))
        for c in self.children.values():
            c.log.close()
        self.control_path.unlink(missing_ok=True)
        if self._captured_before is None:
            os.environ.pop(CAPTURED_ENV, None)

    def _say(self, text: str) -> None:
        # While the live table is up it says it all; before and after, lines do.
        if self._live:
            return
        try:
            print(f"{time.strftime('%H:%M:%S')} {text}", flush=True)
        except BrokenPipeError:
            # Whoever read our output is gone (`up | tee log`, and Ctrl-C ended tee too):
            # carry on without it, so that the agents and the hub are still stopped, and
            # let what is still to be said (and the flush at exit) go nowhere quietly.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)

    def _start_hub(self, host: HostConfig) -> Any:
        from .hub import Hub

        cbdir = self.folder / ((host.crossbar or {}).get("config-dir") or self.var_dir / "hub")
        hub = Hub(self.site.hub, cbdir)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._run_hub(hub)
        return hub

    def _run_hub(self, hub: Any) -> None:
        self._say(f"starting the hub at {hub.url}")
        hub.start(log_file=self.log_dir / "crossbar.log")
        self._say("hub is up")

    async def _keep_hub(self, hub: Any) -> None:
        """Start `hub` again whenever it dies (see the module doc), until we stop."""
        b = self._backoff or Backoff(initial=FIRST_DELAY, cap=MAX_BACKOFF)
        backoff = Backoff(initial=b.initial, factor=b.factor, cap=b.cap)
        started = time.monotonic()
        while True:
            while hub.process.poll() is None:
                await asyncio.sleep(0.5)
            if time.monotonic() - started >= QUICK_EXIT:  # it ran well: a new count
                backoff.success()
            await asyncio.to_thread(_end_group, hub.process.pid)
            (hub.cbdir / "node.pid").unlink(missing_ok=True)
            delay = backoff.failure()
            self._say(
                f"the hub exited with {hub.process.returncode}; restarting it in {delay:.1f} s"
            )
            await asyncio.sleep(delay)
            try:
                # on this (the main) thread: crossbar dies with the thread that started it,
                # which must be the one that lives as long as we do (see `Hub.start`)
                self._run_hub(hub)
            except Exception as exc:  # HubError, OSError: said, and tried again
                self._say(f"cannot restart the hub: {exc}")
            started = time.monotonic()

    def _set(self, child: Child, state: str) -> None:
        child.state = state
        self._changed.set()
        self._changed = asyncio.Event()

    # --- one child's life ---

    def _start(self, child: Child) -> None:
        """Start `child` now, unless it runs; a pending automatic restart is brought forward."""
        if child.alive:
            return
        if child.keeper is not None and not child.keeper.done():
            if child.retry_at is None:
                return  # starting, or judging an exit that it will act on
            child.keeper.cancel()  # only ever cancelled while it waits out a delay
        child.keeper = asyncio.ensure_future(self._keep_alive(child))

    async def _keep_alive(self, child: Child) -> None:
        while not self._stopping:
            child.retry_at = None
            child.started = time.monotonic()
            child.log.mark()
            stops = child.stops
            read_end, write_end = os.pipe()
            try:
                with open(write_end, "wb") as out:
                    # forked by the launcher when there is one
                    child.process = await spawn(list(child.spec.argv), out, cwd=self.folder)
            except OSError as exc:
                os.close(read_end)
                child.log.write(f"cannot start: {exc}\n".encode())
                code = -1
            else:
                pump = asyncio.ensure_future(self._pump(read_end, child))
                if child.stops != stops or self._stopping:
                    # Stopped while being spawned: `_stop` found no process to signal.
                    await _terminate(child.process)
                else:
                    self._set(child, "running")
                    self._say(f"{child.name}: started (pid {child.process.pid})")
                code = await child.process.wait()
                # Let the last lines land; a grandchild may keep the pipe open for longer.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(pump), DRAIN)
            child.last_exit = code
            child.last_line = child.log.last_line()
            if child.state == "stopped" or self._stopping:
                return
            ran = time.monotonic() - child.started
            if not should_restart(child.spec.policy, code):
                self._set(child, "crashed" if code else "stopped")
                self._say(f"{child.name}: exited with {code}: {child.last_line or 'no output'}")
                return
            if ran >= QUICK_EXIT:  # it ran well: this failure starts a new count
                child.backoff.success()
            delay = child.backoff.failure()
            child.quick_exits = child.quick_exits + 1 if ran < QUICK_EXIT else 0
            looping = child.quick_exits >= CRASH_LOOP_AFTER
            child.retry_at = time.monotonic() + delay
            self._set(child, "crash-looping" if looping else "restarting")
            self._say(
                f"{child.name}: exited with {code} after {ran:.1f} s"
                f"{' (crash-looping)' if looping else ''}: {child.last_line or 'no output'}; "
                f"restarting in {delay:.1f} s (log: {child.log.path})"
            )
            await asyncio.sleep(delay)
            child.restarts += 1

    @staticmethod
    async def _spawned(children: Sequence[Child], timeout: float = 10.0) -> None:
        """Wait until each child started is running (or has exited already), so that an
        answer shows the pids."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and any(
            not c.alive and c.keeper is not None and not c.keeper.done() and c.retry_at is None
            for c in children
        ):
            await asyncio.sleep(0.01)

    async def _pump(self, read_end: int, child: Child) -> None:
        """Copy a child's output into its log file until every writer has closed the pipe;
        its notices (`socs_like.logs.notice`) are shown on the console too."""
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        pipe = open(read_end, "rb", buffering=0)  # noqa: SIM115 (the transport closes it)
        transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), pipe
        )
        partial = b""
        try:
            while data := await reader.read(65536):
                child.log.write(data)
                *lines, partial = (partial + data).split(b"\n")
                for line in lines:
                    if (message := notices(line)) is not None:
                        self.notices[child.name] = message
                        self._say(f"{child.name}: {message}")
        finally:
            transport.close()

    async def _stop(self, child: Child) -> None:
        """Stop `child` (SIGTERM, then SIGKILL after STOP_GRACE) and keep it stopped."""
        keeper = child.keeper
        waiting = child.retry_at is not None
        child.stops += 1
        self._set(child, "stopped")
        child.retry_at = None
        if child.process is not None:
            await _terminate(child.process)
        if keeper is not None and not keeper.done():
            if waiting:
                keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keeper
        child.quick_exits = 0
        self._set(child, "stopped")

    # --- the control socket ---

    def states(self) -> list[dict[str, Any]]:
        now = time.monotonic()
        return [c.as_dict(now) for c in self.children.values()]

    def _targets(self, target: Any) -> list[Child]:
        if target == "all":
            return [c for c in self.children.values() if c.kind != HOST_MANAGER_CLASS]
        if target not in self.children:
            raise ControlError(
                f"no instance {target!r} on host {self.host_name}; it runs {sorted(self.children)}"
            )
        child = self.children[target]
        if child.kind == HOST_MANAGER_CLASS:
            raise ControlError(f"{target} is the host manager itself: restart socs-like up")
        return [child]

    async def control(self, request: dict[str, Any]) -> dict[str, Any]:
        """Do one control request; the answer as the module's doc says."""
        op = request.get("op")
        extra: dict[str, Any] = {}
        if op == "list":
            pass
        elif op in ("start", "stop", "restart"):
            children = self._targets(request.get("id"))
            if op in ("stop", "restart"):
                await asyncio.gather(*(self._stop(c) for c in children))
            if op in ("start", "restart"):
                for c in children:
                    c.restarts += op == "restart"
                    self._start(c)
                await self._spawned(children)
        elif op == "reload":
            extra = await self.reload()
        else:
            raise ControlError(f"unknown op {op!r}: list, start, stop, restart, reload or watch")
        return {"ok": True, "instances": self.states(), **extra}

    async def reload(self) -> dict[str, Any]:
        try:
            site = load_site_config(self.site_file)
            if site.hub != self.site.hub:
                raise SiteConfigError(
                    f"{self.site_file}: the hub block changed; that needs a restart of socs-like up"
                )
            if self.host_name not in site.hosts:
                raise SiteConfigError(f"{self.site_file}: the host {self.host_name!r} is gone")
            specs = self._specs(site)
        except SiteConfigError as exc:
            raise ControlError(f"reload refused, nothing changed: {exc}") from None
        plan = plan_reload([c.spec for c in self.children.values()], specs)
        self.site = site
        self.host = site.hosts[self.host_name]
        await asyncio.gather(*(self._stop(self.children[n]) for n in plan.removed))
        for name in plan.removed:
            self.children.pop(name).log.close()
        for spec in plan.retuned:
            self.children[spec.name].spec = spec
        await asyncio.gather(*(self._stop(self.children[s.name]) for s in plan.changed))
        for spec in plan.changed:
            self.children[spec.name].spec = spec
            self._start(self.children[spec.name])
        # keep the config's order, so the table and the list read as the file does
        old = self.children
        self.children = {s.name: old.get(s.name) or self._child(s) for s in specs}
        for spec in plan.added:
            self._start(self.children[spec.name])
        await self._spawned([self.children[s.name] for s in plan.added + plan.changed])
        self._say(
            f"reloaded {self.site_file}: added {[s.name for s in plan.added]}, "
            f"removed {plan.removed}, changed {[s.name for s in plan.changed]}"
        )
        return {
            "added": [s.name for s in plan.added],
            "removed": plan.removed,
            "changed": [s.name for s in plan.changed],
        }

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        def send(answer: dict[str, Any]) -> None:
            writer.write(json.dumps(answer).encode() + b"\n")

        try:
            while line := await reader.readline():
                try:
                    request = json.loads(line)
                    if not isinstance(request, dict):
                        raise ControlError('a request is a JSON object such as {"op": "list"}')
                    if request.get("op") == "watch":
                        await self._watch(send, writer)
                        return
                    send(await self.control(request))
                except (ControlError, ValueError) as exc:
                    send({"ok": False, "error": str(exc)})
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def _watch(self, send: Any, writer: asyncio.StreamWriter) -> None:
        while not writer.is_closing():
            changed = self._changed
            send({"ok": True, "instances": self.states()})
            await writer.drain()
            # uptimes move on their own: a refresh every few seconds without a change
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), 5.0)

    # --- the hub's view ---

    async def _watch_heartbeats(self) -> None:
        """Join the hub, again while it is away, and say (once per change) whether it is
        there: a host without the hub may well come up first, and a refused login is for a
        person to fix. Every agent's heartbeat is followed only for the live table, its one
        reader: without it (``--no-table``, output not a terminal) the hub sends us none."""
        from .client import ClientError, HubRefused

        prefix = f"{self.site.hub.address_root}."
        url = self.site.hub.wamp_server
        client = self._watcher
        backoff = Backoff(initial=1.0, cap=30.0)  # for a refusal: trying again rarely helps

        def beat(payload: Any, feed_info: dict[str, Any] | None = None) -> None:
            address = (feed_info or {}).get("agent_address", "")
            child = self.children.get(address.removeprefix(prefix))
            if child is not None and child.kind not in NOT_AGENTS and isinstance(payload, dict):
                child.heartbeat = time.monotonic()
                child.op_codes = payload

        while True:
            try:
                if self.live_table:
                    await client.subscribe(f"{prefix}.feeds.heartbeat", beat, match="wildcard")
                else:
                    await client.connect()
            except HubRefused as exc:
                self._hub_is("refused", f"the hub at {url} refused this host's login: {exc}")
                await asyncio.sleep(backoff.failure())
                continue
            except ClientError as exc:
                if self.hub_state != "lost":  # that one said already that we wait
                    self._hub_is("waiting", f"waiting for the hub at {url} ({exc})")
                await asyncio.sleep(1.0)
                continue
            backoff.success()
            self._hub_is("joined", f"joined the hub at {url} as {client.authid}")
            while client.connected:
                await asyncio.sleep(1.0)
            self._hub_is("lost", f"lost the hub at {url}; waiting for it (the agents carry on)")

    def _hub_is(self, state: str, text: str) -> None:
        """The hub's state as this host sees it; said when it changes, shown in the table."""
        if state != self.hub_state:
            self._say(text)
        self.hub_state, self.hub_text = state, text

    def table(self) -> Table:
        from .ops import OpCode

        hub = escape(self.hub_text)  # it quotes errors, which may hold [...]
        if self.hub_state == "refused":
            hub = f"[red]{hub}[/red]"
        table = Table(
            title=f"socs-like up: host {self.host_name} — {hub} — logs in {self.log_dir}/ — "
            "Ctrl-C stops"
        )
        for column in ("agent", "class", "pid", "process", "restarts", "heartbeat", "operations"):
            table.add_column(column)
        table.add_column("last error (log: <agent>.log)", overflow="fold")
        table.caption = "\n".join(f"{name}: {text}" for name, text in self.notices.items())
        now = time.monotonic()
        for c in self.children.values():
            beat = "—" if c.heartbeat is None else f"{now - c.heartbeat:.1f} s ago"
            if c.heartbeat is not None and now - c.heartbeat > 5:
                beat = f"[red]{beat}"
            ops = ", ".join(
                f"{name}:{OpCode(code).name.lower()}"
                for name, code in c.op_codes.items()
                if code != OpCode.NONE
            )
            if c.kind in NOT_AGENTS:
                beat, ops = "", "—"
            state = c.state
            if c.retry_at is not None:
                state += f", retry in {max(0.0, c.retry_at - now):.0f} s"
            if c.state in ("crash-looping", "crashed"):
                state = f"[red]{state}"
            table.add_row(
                c.name,
                c.kind,
                str(c.pid or ""),
                state,
                str(c.restarts),
                beat,
                ops or "idle",
                c.last_line if c.last_exit is not None else "",
            )
        return table
