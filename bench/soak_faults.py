"""The soak's fault injector: does each `soak_schedule.Fault` to the running site, and logs it.

Each fault runs as a task of its own at its time, so long ones (InfluxDB away, a frozen
agent) overlap others. Every action is one line of the fault log (``faults.jsonl`` in the
soak's folder): its wall time, what was done and to which pid, and for an aimed kill whether
the moment was caught.

The hub: a hub fault kills the hub's process group, and `socs-like up` starts it again;
should `up` not have brought a hub back after the fault's length, the injector starts one
itself (`socs_like.hub.Hub`, same folder, port and secrets) and logs that it had to
(``hub_not_restarted_by_up``): a stuck state a person would have had to clear. The same goes
for the DAQ worker's sshd, which its simulator starts again when it dies.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from soak_schedule import Fault
from soak_site import SoakSite, argument
from soak_watch import Sampler

from socs_like.hub import Hub, port_open
from socs_like.site_config import load_site_config
from socs_like.testing.faults import SmallFilesystem
from socs_like.testing.procs import cmdline, comm, descendants, listening, signal_all
from socs_like.testing.sshd_server import SshServer

# how long after a hub fault's end `up` may take to have its restarted hub listening
HUB_GRACE = 60.0


class Injector:
    def __init__(self, site: SoakSite, sampler: Sampler, aim_window: float) -> None:
        self.site = site
        self.sampler = sampler
        self.aim_window = aim_window
        self.log_path = site.root / "faults.jsonl"
        self.log: list[dict[str, Any]] = []
        self.hub: Hub | None = None  # a hub the injector had to start
        self.sshd: SshServer | None = None  # an sshd the injector had to start
        self.archives = {str(fs.path): fs for fs in site.archives}
        self.t0 = time.time()

    def note(self, fault: Fault | None, event: str, **detail: Any) -> None:
        entry = {"time": time.time(), "event": event} | (fault.as_dict() if fault else {}) | detail
        self.log.append(entry)
        with self.log_path.open("a") as out:
            out.write(json.dumps(entry) + "\n")

    async def run(self, faults: list[Fault]) -> None:
        """Inject every fault at its time (seconds after now); return when all are over."""
        self.t0 = time.time()
        await asyncio.gather(*(self._at(f) for f in faults))

    async def _at(self, fault: Fault) -> None:
        await asyncio.sleep(max(0.0, self.t0 + fault.at - time.time()))
        try:
            await getattr(self, f"_{fault.kind}")(fault)
        except Exception as exc:  # a fault that could not be done is logged, the run goes on
            self.note(fault, "failed", error=f"{type(exc).__name__}: {exc}")

    # --- agents -------------------------------------------------------------------------------

    def _pid(self, name: str) -> int | None:
        return self.sampler.pid(name)

    async def _kill(self, fault: Fault) -> None:
        await self.sampler.once()
        caught, tree = await self._aim(fault) if fault.aim else ("", [])
        pid = self._pid(fault.target)
        if pid is None:
            self.note(fault, "skipped", reason="not running")
            return
        # the children as they were at the moment caught (a quick rsync may be gone now)
        children = (tree or descendants(pid)) if fault.tree else []
        signal_all([pid, *children], signal.SIGKILL)
        self.note(fault, "killed", pid=pid, children=children, caught=caught)

    async def _aim(self, fault: Fault) -> tuple[str, list[int]]:
        """Wait (at most aim_window) for the moment the fault aims at: what was caught ("" when
        the window passed) and the agent's children at that moment."""
        check = self._aim_check(fault)
        deadline = time.monotonic() + self.aim_window
        while time.monotonic() < deadline:
            found, tree = check()
            if found:
                return found, tree
            await asyncio.sleep(0.01)
        return "", []

    def _aim_check(self, fault: Fault) -> Callable[[], tuple[str, list[int]]]:
        name = fault.target

        def child(test: Callable[[int], bool]) -> Callable[[], tuple[str, list[int]]]:
            def check() -> tuple[str, list[int]]:
                pid = self._pid(name)
                tree = descendants(pid) if pid else []
                for c in tree:
                    if test(c):
                        return f"{comm(c)} pid {c}", tree
                return "", []

            return check

        if fault.aim == "rsync":
            return child(lambda c: comm(c) == "rsync")
        if fault.aim == "tar":
            return child(lambda c: comm(c) in ("tar", "zstd"))
        if fault.aim == "job":
            return child(lambda c: any("process_run" in a for a in cmdline(c)))
        if fault.aim == "grab":
            outdir = Path(str(argument(self.site.args(name), "--outdir")))
            draft = Path(argument(self.site.args(name), "--draftdir") or outdir / ".draft")
            return lambda: (next((f"draft {p.name}" for p in draft.glob("*")), ""), [])
        if fault.aim == "announce":
            manifest = self.site.root / "manifest.jsonl"
            size = manifest.stat().st_size if manifest.exists() else 0
            return lambda: (
                "a file just announced"
                if manifest.exists() and manifest.stat().st_size > size
                else "",
                [],
            )
        raise ValueError(f"unknown aim {fault.aim!r}")

    async def _stop(self, fault: Fault) -> None:
        pid = self._pid(fault.target)
        if pid is None:
            self.note(fault, "skipped", reason="not running")
            return
        os.kill(pid, signal.SIGSTOP)
        self.note(fault, "frozen", pid=pid)
        try:
            await asyncio.sleep(fault.length)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
            self.note(fault, "thawed", pid=pid)

    # --- the hub ------------------------------------------------------------------------------

    @property
    def hub_port(self) -> int:
        url = str(self.site.config["hub"]["wamp_server"])
        return int(url.rsplit(":", 1)[1].split("/")[0])

    async def _hub(self, fault: Fault) -> None:
        # crossbar runs in a process group of its own: its controller and router worker
        pids = listening(self.hub_port)
        groups = {os.getpgid(p) for p in pids if _exists(p)}
        for group in groups:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(group, signal.SIGKILL)
        self.note(fault, "hub killed", pids=pids, groups=sorted(groups))
        await asyncio.sleep(fault.length)
        # `up` restarts crossbar at once, but a crossbar takes seconds to listen (9 s on the
        # loaded 2-core machine): give it time before calling the hub stuck
        deadline = time.monotonic() + HUB_GRACE
        while not port_open("127.0.0.1", self.hub_port) and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
        if port_open("127.0.0.1", self.hub_port):
            self.note(fault, "hub back", by="socs-like up")
            return
        cbdir = self.site.root / "var" / "hub"
        # crossbar refuses to start while its node.pid names a process that exists
        stale = cbdir / "node.pid"
        if stale.exists():
            stale.unlink()
            self.note(fault, "removed the killed hub's node.pid")
        self.hub = Hub(load_site_config(self.site.site_file).hub, cbdir)
        await asyncio.to_thread(
            self.hub.start, log_file=self.site.root / "var" / "log" / "crossbar-soak.log"
        )
        self.note(fault, "hub back", by="harness", finding="hub_not_restarted_by_up")

    # --- services -----------------------------------------------------------------------------

    async def _influx(self, fault: Fault) -> None:
        await asyncio.to_thread(self.site.influx.stop)
        self.note(fault, "influxdb stopped")
        await asyncio.sleep(fault.length)
        await asyncio.to_thread(self.site.influx.start)
        self.note(fault, "influxdb back")

    def _sshd_folder(self) -> Path:
        return Path(str(argument(self.site.sim_args("daq-worker"), "--sshd")))

    async def _sshd(self, fault: Fault) -> None:
        folder = self._sshd_folder()
        port = next(
            int(line.split()[1])
            for line in (folder / "sshd_config").read_text().splitlines()
            if line.startswith("Port ")
        )
        listeners = listening(port)
        for pid in listeners:  # and the connections it forked, as SshServer.stop does
            signal_all([*descendants(pid), pid], signal.SIGKILL)
        self.note(fault, "sshd killed", pids=listeners, port=port)
        await asyncio.sleep(fault.length)
        if listening(port):
            self.note(fault, "sshd back", by="daq-worker simulator")
            return
        alias = argument(self.site.args(self.site.of_class("DaqWorker")[0]), "--hosts")
        self.sshd = SshServer(folder, alias=str(alias), port=port)
        await asyncio.to_thread(self.sshd.start)
        self.note(fault, "sshd back", by="harness", finding="sshd_not_restarted_by_simulator")

    async def _full(self, fault: Fault) -> None:
        fs: SmallFilesystem = self.archives[fault.target]
        taken = await asyncio.to_thread(fs.fill)
        self.note(fault, "archive full", bytes_taken=taken)
        try:
            await asyncio.sleep(fault.length)
        finally:
            fs.free()
            self.note(fault, "archive freed", free_bytes=fs.free_bytes())

    def close(self) -> None:
        """Stop what the injector started (after `socs-like up` has stopped)."""
        if self.hub is not None:
            self.hub.stop()
        if self.sshd is not None:
            self.sshd.stop()
        for fs in self.archives.values():
            with contextlib.suppress(OSError):
                fs.free()


def _exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
