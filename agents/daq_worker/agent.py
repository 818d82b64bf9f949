"""DaqWorker: the AT-TPC DAQ workers, watched and organized over SSH, as an agent.

A thin shell around ``WorkerInterface``: each operation runs one interface method on the
named hosts (all configured hosts by default) in parallel, and puts each host's answer or
error in session data under ``hosts.<host>``. A worker that cannot be reached is an answer
(``state: unreachable``), never a crash. All hosts share one SSH connection pool.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from socs_like import Agent, OpSession, param
from socs_like.commands import SshPool

from . import options
from .errors import ConnectError, RequestError, WorkerError
from .interface import WorkerInterface, sweep_status
from .models import (
    CleanCheck,
    GrawList,
    HostFailed,
    HostOk,
    MonitorData,
    OrganizeProgress,
    ProgramCheck,
    TailLines,
    TaskData,
    WorkingDir,
)
from .runs import RunId

log = logging.getLogger(__name__)

# session data must stay well below the hub's 1 MB message: name lists are cut to share this
NAME_BUDGET = 5000

HostCall = Callable[[WorkerInterface], Awaitable[HostOk]]


class DaqWorker:
    """Watches and organizes AT-TPC DAQ workers (data router, ECC server) over SSH.

    Tasks, each taking ``hosts`` (a list; default: every configured host):
    ``find_data_router``, ``get_graw_list``, ``working_dir_is_clean``,
    ``check_ecc_server_status``, ``check_data_router_status``,
    ``organize_files(experiment, run)``, ``backup_config_files(experiment, run, paths,
    backup_root)``, ``tail_file(path, num_lines=50)``. Process ``monitor(interval)`` checks
    every worker each interval and publishes the recorded feed ``worker_status``.
    """

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        options.add_arguments(parser)

    def __init__(self, agent: Agent, args: argparse.Namespace) -> None:
        settings = options.WorkerSettings.from_args(args)
        if not getattr(args, "verbose", False):
            # asyncssh logs every channel at INFO; ours say what matters
            logging.getLogger("asyncssh").setLevel(logging.WARNING)
        self.agent = agent
        self.hosts = settings.hosts
        self.interval = settings.monitor_interval
        self.connect_timeout = settings.ssh.connect_timeout
        self.pool = SshPool(settings.ssh)
        self.workers = {
            host: WorkerInterface(
                host, pool=self.pool, programs=settings.programs, allowed_roots=settings.file_roots
            )
            for host in self.hosts
        }
        # organize and backup on one host run one at a time
        self.busy = {host: asyncio.Lock() for host in self.hosts}
        self.feed = agent.register_feed(
            "worker_status", record=True, buffer_time=1.0, agg_params={"frame_length": 60}
        )
        agent.register_process("monitor", self.monitor, startup=True)
        for name in (
            "find_data_router",
            "get_graw_list",
            "working_dir_is_clean",
            "check_ecc_server_status",
            "check_data_router_status",
            "organize_files",
            "backup_config_files",
            "tail_file",
        ):
            agent.register_task(name, getattr(self, name))

    # -- running one call on many hosts --------------------------------------------------------

    def _select(self, hosts: list[str] | None) -> list[str]:
        if hosts is None:
            return self.hosts
        if not all(isinstance(h, str) for h in hosts):
            raise RequestError(f"hosts must be a list of host names, not {hosts!r}")
        unknown = [h for h in hosts if h not in self.workers]
        if unknown or not hosts:
            raise RequestError(
                f"unknown host(s) {unknown or hosts}; this agent serves {self.hosts}"
            )
        return list(dict.fromkeys(hosts))

    async def _on_hosts(
        self,
        session: OpSession,
        hosts: list[str] | None,
        what: str,
        call: HostCall,
    ) -> tuple[bool, str]:
        """Run ``call`` on each selected host at once; a refused request (unknown host) is an
        ``OpFailed`` that ends the session, a host that fails is an entry in the data."""
        targets = self._select(hosts)
        session.set_status("running")

        async def one(host: str) -> tuple[str, HostOk | HostFailed]:
            try:
                return host, await call(self.workers[host])
            except ConnectError as exc:
                return host, HostFailed(state=exc.state, error=str(exc))
            except WorkerError as exc:
                return host, HostFailed(state="error", error=str(exc))

        results = dict(await asyncio.gather(*(one(h) for h in targets)))
        data = TaskData(
            hosts=dict(results),
            failed=sorted(h for h, r in results.items() if isinstance(r, HostFailed) or not r.ok),
            timestamp=time.time(),
        )
        session.data = data.to_dict()
        problems = {h: session.data["hosts"][h] for h in data.failed}
        for host, entry in problems.items():
            session.add_message(f"{host}: {entry.get('error') or entry.get('summary')}")
        message = f"{what}: {len(targets) - len(problems)} of {len(targets)} hosts ok"
        if problems:
            host, entry = next(iter(problems.items()))
            message += f"; {host}: {entry.get('error') or entry.get('summary')}"
        return not problems, message

    def _name_budget(self, hosts: list[str] | None) -> int:
        return max(20, NAME_BUDGET // len(hosts or self.hosts))

    # -- tasks -----------------------------------------------------------------------------

    @param("hosts", type=list, default=None)
    async def find_data_router(
        self, session: OpSession, params: dict[str, Any]
    ) -> tuple[bool, str]:
        """find_data_router(hosts=None): each worker's data router working directory."""

        async def call(w: WorkerInterface) -> HostOk:
            return HostOk(result=WorkingDir(working_dir=await w.find_data_router()))

        return await self._on_hosts(session, params["hosts"], "find_data_router", call)

    @param("hosts", type=list, default=None)
    async def get_graw_list(self, session: OpSession, params: dict[str, Any]) -> tuple[bool, str]:
        """get_graw_list(hosts=None): the .graw files waiting in each working directory."""
        budget = self._name_budget(params["hosts"])

        async def call(w: WorkerInterface) -> HostOk:
            files = await w.get_graw_list()
            listed = GrawList(count=len(files), files=files[:budget], truncated=len(files) > budget)
            return HostOk(result=listed)

        return await self._on_hosts(session, params["hosts"], "get_graw_list", call)

    @param("hosts", type=list, default=None)
    async def working_dir_is_clean(
        self, session: OpSession, params: dict[str, Any]
    ) -> tuple[bool, str]:
        """working_dir_is_clean(hosts=None): whether no .graw file waits; fails if one does."""

        async def call(w: WorkerInterface) -> HostOk:
            clean = await w.working_dir_is_clean()
            summary = "clean" if clean else ".graw files are waiting"
            return HostOk(ok=clean, result=CleanCheck(clean=clean, summary=summary))

        return await self._on_hosts(session, params["hosts"], "working_dir_is_clean", call)

    @param("hosts", type=list, default=None)
    async def check_ecc_server_status(
        self, session: OpSession, params: dict[str, Any]
    ) -> tuple[bool, str]:
        """check_ecc_server_status(hosts=None): whether the ECC server runs; fails if not."""

        async def call(w: WorkerInterface) -> HostOk:
            return _running(w.programs.ecc_server, await w.check_ecc_server_status())

        return await self._on_hosts(session, params["hosts"], "check_ecc_server_status", call)

    @param("hosts", type=list, default=None)
    async def check_data_router_status(
        self, session: OpSession, params: dict[str, Any]
    ) -> tuple[bool, str]:
        """check_data_router_status(hosts=None): whether the data router runs; fails if not."""

        async def call(w: WorkerInterface) -> HostOk:
            return _running(w.programs.data_router, await w.check_data_router_status())

        return await self._on_hosts(session, params["hosts"], "check_data_router_status", call)

    @param("experiment", type=str)
    @param("run", type=int)
    @param("hosts", type=list, default=None)
    async def organize_files(self, session: OpSession, params: dict[str, Any]) -> tuple[bool, str]:
        """organize_files(experiment, run, hosts=None): move each worker's .graw files into
        <working dir>/<experiment>/run_<NNNN>/. Never overwrites; run again to finish an
        interrupted move. While it runs, each host's entry in session data is its progress
        (files moved of those to move); at the end, the report (names cut to a budget)."""
        run = RunId(params["experiment"], params["run"])
        targets = self._select(params["hosts"])
        budget = self._name_budget(targets)
        progress: dict[str, OrganizeProgress] = {}

        def show(host: str, now: OrganizeProgress) -> None:
            progress[host] = now
            session.data = TaskData(hosts=dict(progress), timestamp=time.time()).to_dict()

        async def call(w: WorkerInterface) -> HostOk:
            async with self.busy[w.hostname]:
                report = await w.organize_files(
                    run.experiment, run.number, progress=lambda p: show(w.hostname, p)
                )
            result = {**report.to_dict(max_names=budget), "summary": report.summary()}
            return HostOk(ok=report.complete, result=result)

        return await self._on_hosts(session, targets, f"organize {run.folder}", call)

    @param("experiment", type=str)
    @param("run", type=int)
    @param("paths", type=list)
    @param("backup_root", type=str)
    @param("hosts", type=list, default=None)
    async def backup_config_files(
        self, session: OpSession, params: dict[str, Any]
    ) -> tuple[bool, str]:
        """backup_config_files(experiment, run, paths, backup_root, hosts=None): copy config
        files on each worker into <backup_root>/<experiment>/run_<NNNN>/ (no overwrite)."""
        run = RunId(params["experiment"], params["run"])
        if not all(isinstance(p, str) for p in params["paths"]):
            raise RequestError("paths must be a list of strings")

        async def call(w: WorkerInterface) -> HostOk:
            async with self.busy[w.hostname]:
                report = await w.backup_config_files(
                    run.experiment, run.number, params["paths"], params["backup_root"]
                )
            result = {**report.to_dict(), "summary": report.summary()}
            return HostOk(ok=report.complete, result=result)

        return await self._on_hosts(session, params["hosts"], f"backup {run.folder}", call)

    @param("path", type=str)
    @param("num_lines", type=int, default=50, check=lambda n: 0 <= n <= 10_000)
    @param("hosts", type=list, default=None)
    async def tail_file(self, session: OpSession, params: dict[str, Any]) -> tuple[bool, str]:
        """tail_file(path, num_lines=50, hosts=None): last lines of a text file on each
        worker (within the agent's --file-root directories; ~ allowed)."""

        async def call(w: WorkerInterface) -> HostOk:
            lines = await w.tail_file(params["path"], params["num_lines"])
            return HostOk(result=TailLines(lines=lines))

        return await self._on_hosts(session, params["hosts"], "tail_file", call)

    # -- monitor ---------------------------------------------------------------------------

    @param(
        "interval",
        type=float,
        default=None,
        check=lambda v: v is None or v >= options.MIN_MONITOR_INTERVAL,
    )
    async def monitor(self, session: OpSession, params: dict[str, Any]) -> tuple[bool, str]:
        """monitor(interval=None): every interval, check each worker (reachable, ECC server
        and data router up, .graw files waiting) into session data and the recorded feed
        worker_status. An unreachable worker is a state; the monitor carries on."""
        interval = params["interval"] or self.interval
        loop = asyncio.get_running_loop()
        session.set_status("running")
        sweeps = 0
        previous: dict[str, str] = {}
        problems = dict.fromkeys(self.hosts, 0)
        while True:
            started = loop.time()
            statuses = await sweep_status(
                self.workers.values(), connect_timeout=min(interval, self.connect_timeout)
            )
            sweeps += 1
            for status in statuses:
                for sample in status.feed_samples():
                    self.feed.publish(sample.to_dict())
                if status.state != "ok":
                    problems[status.host] += 1
                if previous.get(status.host) != status.state:
                    detail = f": {status.error}" if status.error else ""
                    session.add_message(f"{status.host} is {status.state}{detail}")
                previous[status.host] = status.state
            session.data = MonitorData(
                hosts={s.host: s.to_dict() for s in statuses},
                problems=dict(problems),
                sweeps=sweeps,
                sweep_seconds=round(loop.time() - started, 4),
                timestamp=time.time(),
            ).to_dict()
            if await session.sleep(max(0.0, interval - (loop.time() - started))):
                break
        return True, f"monitor stopped after {sweeps} sweeps"


def _running(program: str, running: bool) -> HostOk:
    summary = f"{program} {'runs' if running else 'is not running'}"
    return HostOk(ok=running, result=ProgramCheck(running=running, summary=summary))
