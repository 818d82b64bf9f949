"""`socs-like up`: run one host of a site — its hub (when it owns it), agents and simulators.

Each agent instance runs as its own process (`socs-like agent --instance-id ID`), and so does
each simulator of the host's ``simulators:`` list (`socs-like simulate NAME ...`); one that
dies is restarted after a delay that doubles up to a minute and resets once it has run for a
minute. One that keeps dying within seconds of its start is shown as crash-looping, with the
last line it wrote (its reason, as a person would read it in its log). The status table shows
each process and the last heartbeat the hub carried from it.
SIGINT or SIGTERM stops the agents (SIGTERM, then SIGKILL after a grace period), then the hub.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table

from .backoff import Backoff
from .launcher import Process, spawn
from .site_config import HostConfig, SiteConfig

MAX_BACKOFF = 60.0
STOP_GRACE = 5.0
# A child that exits within this many seconds of its start, this many times in a row, is
# crash-looping: restarting it will not help until a person fixes what its last line says.
QUICK_EXIT = 10.0
CRASH_LOOP_AFTER = 3


@dataclass
class Child:
    """One supervised process: an agent instance or a simulator."""

    name: str
    kind: str  # an agent class, or "simulator"
    argv: list[str]
    process: Process | None = None
    state: str = "starting"
    restarts: int = 0
    started: float = 0.0
    last_exit: int | None = None
    last_line: str = ""  # the last line the child wrote before it exited
    quick_exits: int = 0  # exits in a row within QUICK_EXIT of the start
    backoff: Backoff = field(default_factory=lambda: Backoff(initial=1.0, cap=MAX_BACKOFF))
    heartbeat: float | None = None
    op_codes: dict[str, int] = field(default_factory=dict)


class Supervisor:
    def __init__(
        self,
        site_file: Path,
        site: SiteConfig,
        *,
        host: str | None = None,
        live_table: bool = True,
        var_dir: Path = Path("var"),
    ) -> None:
        self.site_file = site_file
        self.site = site
        self.host_name, self.host = site.host(host)
        self.live_table = live_table
        self.var_dir = var_dir
        self.log_dir = Path(self.host.log_dir or var_dir / "log")
        self.children = [
            Child(
                i.instance_id,
                i.agent_class,
                [
                    "agent",
                    "--instance-id",
                    i.instance_id,
                    "--site-file",
                    str(site_file),
                    "--site-host",
                    self.host_name,
                ],
            )
            for i in self.host.agent_instances
            if i.manage != "no"
        ] + [
            Child(f"sim-{s.name}", "simulator", ["simulate", s.name, *s.argv])
            for s in self.host.simulators
        ]
        self.console = Console()
        self._stopping = False
        self._live = False
        from .client import AsyncClient

        # Follows heartbeats; closed before the hub stops so that nothing reports a lost hub.
        self._watcher = AsyncClient(
            "supervisor",
            hub_url=site.hub.wamp_server,
            realm=site.hub.wamp_realm,
            address_root=site.hub.address_root,
            timeout=3.0,
        )

    def run(self) -> int:
        return asyncio.run(self._main())

    async def _main(self) -> int:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        hub = self._start_hub(self.host) if self.host.runs_hub else None
        watchers = [asyncio.ensure_future(self._keep_alive(c)) for c in self.children]
        heartbeats = asyncio.ensure_future(self._watch_heartbeats())
        try:
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
            self._stopping = True
            self._say("stopping agents")
            heartbeats.cancel()
            await self._watcher.close()
            await asyncio.gather(*(self._stop_child(c) for c in self.children))
            for w in watchers:
                w.cancel()
            if hub is not None:
                self._say("stopping the hub")
                await asyncio.to_thread(hub.stop)
        return 0

    def _say(self, text: str) -> None:
        # While the live table is up it says it all; before and after, lines do.
        if not self._live:
            print(f"{time.strftime('%H:%M:%S')} {text}", flush=True)

    def _start_hub(self, host: HostConfig) -> Any:
        from .hub import Hub

        cbdir = Path((host.crossbar or {}).get("config-dir") or self.var_dir / "hub")
        hub = Hub(self.site.hub, cbdir)
        self._say(f"starting the hub at {hub.url}")
        hub.start(log_file=self.log_dir / "crossbar.log")
        self._say("hub is up")
        return hub

    async def _keep_alive(self, child: Child) -> None:
        log_path = self.log_dir / f"{child.name}.out"
        while not self._stopping:
            child.state = "starting"
            child.started = time.monotonic()
            with open(log_path, "ab") as out:
                offset = out.tell()
                child.process = await spawn(child.argv, out)  # forked by the launcher
            child.state = "running"
            self._say(f"{child.name}: started (pid {child.process.pid})")
            child.last_exit = await child.process.wait()
            if self._stopping:
                child.state = "stopped"
                return
            ran = time.monotonic() - child.started
            child.last_line = await asyncio.to_thread(last_line, log_path, offset)
            if ran > MAX_BACKOFF:
                child.backoff.success()
            delay = child.backoff.failure()
            child.quick_exits = child.quick_exits + 1 if ran < QUICK_EXIT else 0
            looping = child.quick_exits >= CRASH_LOOP_AFTER
            child.state = f"{'crash-looping' if looping else 'exited'}, retry in {delay:.0f} s"
            self._say(
                f"{child.name}: exited with {child.last_exit} after {ran:.1f} s"
                f"{' (crash-looping)' if looping else ''}: {child.last_line or 'no output'}; "
                f"restarting in {delay:.0f} s (log: {log_path})"
            )
            await asyncio.sleep(delay)
            child.restarts += 1

    async def _stop_child(self, child: Child) -> None:
        proc = child.process
        if proc is None or proc.returncode is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), STOP_GRACE)
        except TimeoutError:
            proc.kill()
            await proc.wait()
        child.state = "stopped"

    async def _watch_heartbeats(self) -> None:
        """Follow every agent's heartbeat through the hub, reconnecting while it is away."""
        from .client import ClientError

        by_address = {
            f"{self.site.hub.address_root}.{c.name}": c
            for c in self.children
            if c.kind != "simulator"
        }
        client = self._watcher

        def beat(payload: Any, feed_info: dict[str, Any] | None = None) -> None:
            child = by_address.get((feed_info or {}).get("agent_address", ""))
            if child is not None and isinstance(payload, dict):
                child.heartbeat = time.monotonic()
                child.op_codes = payload

        while True:
            try:
                await client.subscribe(
                    f"{self.site.hub.address_root}..feeds.heartbeat", beat, match="wildcard"
                )
                while client.connected:
                    await asyncio.sleep(1.0)
            except ClientError:
                await asyncio.sleep(1.0)

    def table(self) -> Table:
        from .ops import OpCode

        table = Table(
            title=f"socs-like up: host {self.host_name} — hub "
            f"{self.site.hub.wamp_server} — Ctrl-C stops"
        )
        for column in ("agent", "class", "pid", "process", "restarts", "heartbeat", "operations"):
            table.add_column(column)
        table.add_column("last error", overflow="fold")
        now = time.monotonic()
        for c in self.children:
            beat = "—" if c.heartbeat is None else f"{now - c.heartbeat:.1f} s ago"
            if c.heartbeat is not None and now - c.heartbeat > 5:
                beat = f"[red]{beat}"
            ops = ", ".join(
                f"{name}:{OpCode(code).name.lower()}"
                for name, code in c.op_codes.items()
                if code != OpCode.NONE
            )
            if c.kind == "simulator":
                beat, ops = "", "—"
            state = f"[red]{c.state}" if c.state.startswith("crash-looping") else c.state
            table.add_row(
                c.name,
                c.kind,
                str(c.process.pid if c.process else ""),
                state,
                str(c.restarts),
                beat,
                ops or "idle",
                c.last_line if c.restarts or c.last_exit is not None else "",
            )
        return table


def last_line(path: Path, offset: int = 0, limit: int = 200) -> str:
    """The last non-blank line written to `path` after `offset`, cut to `limit` characters."""
    with open(path, "rb") as f:
        f.seek(max(offset, f.seek(0, 2) - 64 * 1024))
        lines = f.read().decode(errors="replace").splitlines()
    text = next((line.strip() for line in reversed(lines) if line.strip()), "")
    return text if len(text) <= limit else text[: limit - 1] + "…"
