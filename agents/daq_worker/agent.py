"""DaqWorker: the AT-TPC DAQ workers, watched and organized over SSH, as an agent.

Wiring only: each operation runs one ``WorkerInterface`` method on the named hosts (all
configured hosts by default) in parallel. Which hosts, what a failed host shows and how the
task ends are :mod:`.fanout`'s; each host's answer is built by :mod:`.answers`; the monitor's
tally is :mod:`.monitoring`'s; the settings are declared in :mod:`.options`. A worker that cannot be
reached is an answer (``state: unreachable``), never a crash. All hosts share one SSH
connection pool. See README.md for the tasks and their session data.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from socs_like import Agent, OpSession, param
from socs_like.commands import SshPool

from . import answers, fanout, options
from .errors import RequestError, WorkerError
from .interface import WorkerInterface, WorkerPrograms, sweep_status
from .models import HostFailed, HostOk, OrganizeProgress, TaskData
from .monitoring import MonitorTally, pause
from .runs import RunId

HostCall = Callable[[WorkerInterface], Awaitable[HostOk]]
Result = tuple[bool, str]

TASKS = (
    "find_data_router",
    "get_graw_list",
    "working_dir_is_clean",
    "check_ecc_server_status",
    "check_data_router_status",
    "organize_files",
    "backup_config_files",
    "tail_file",
)


class DaqWorker:
    """Watches and organizes AT-TPC DAQ workers (data router, ECC server) over SSH.

    Tasks, each taking ``hosts`` (a list; default: every configured host):
    ``find_data_router``, ``get_graw_list``, ``working_dir_is_clean``,
    ``check_ecc_server_status``, ``check_data_router_status``,
    ``organize_files(experiment, run)``, ``backup_config_files(experiment, run, paths,
    backup_root)``, ``tail_file(path, num_lines=50)``. Process ``monitor(interval)`` checks
    every worker each interval and publishes the recorded feed ``worker_status``.
    """

    Options = options.Options

    def __init__(self, agent: Agent, settings: options.Options) -> None:
        self.hosts = list(dict.fromkeys(settings.hosts))  # each once, in the order given
        self.interval = settings.monitor_interval
        ssh = settings.ssh.ssh_settings()
        self.connect_timeout = ssh.connect_timeout
        pool = SshPool(ssh)
        programs = WorkerPrograms(
            data_router=settings.data_router_name,
            ecc_server=settings.ecc_server_name,
            cwd_method=settings.cwd_method,
            rename_concurrency=settings.rename_concurrency,
        )
        self.workers = {
            host: WorkerInterface(
                host, pool=pool, programs=programs, allowed_roots=settings.file_roots
            )
            for host in self.hosts
        }
        # organize and backup on one host run one at a time
        self.busy = {host: asyncio.Lock() for host in self.hosts}
        self.feed = agent.register_feed(
            "worker_status", record=True, buffer_time=1.0, agg_params={"frame_length": 60}
        )
        agent.register_process("monitor", self.monitor, startup=True)
        for name in TASKS:
            agent.register_task(name, getattr(self, name))

    async def _on_hosts(
        self, session: OpSession, hosts: list[str] | None, what: str, call: HostCall
    ) -> Result:
        """Run ``call`` on each selected host at once; the session ends as ``fanout`` says."""
        targets = fanout.select(hosts, self.hosts)
        session.set_status("running")

        async def one(host: str) -> tuple[str, HostOk | HostFailed]:
            try:
                return host, await call(self.workers[host])
            except WorkerError as exc:
                return host, fanout.failure(exc)

        results = dict(await asyncio.gather(*(one(h) for h in targets)))
        end = fanout.outcome(what, results, time.time())
        session.data = end.data.to_dict()
        for message in end.messages:
            session.add_message(message)
        return end.ok, end.message

    # -- tasks -----------------------------------------------------------------------------

    @param("hosts", type=list, default=None)
    async def find_data_router(self, session: OpSession, params: dict[str, Any]) -> Result:
        """find_data_router(hosts=None): each worker's data router working directory."""

        async def call(w: WorkerInterface) -> HostOk:
            return answers.working_dir(await w.find_data_router())

        return await self._on_hosts(session, params["hosts"], "find_data_router", call)

    @param("hosts", type=list, default=None)
    async def get_graw_list(self, session: OpSession, params: dict[str, Any]) -> Result:
        """get_graw_list(hosts=None): the .graw files waiting in each working directory."""
        targets = fanout.select(params["hosts"], self.hosts)
        budget = fanout.name_budget(len(targets))

        async def call(w: WorkerInterface) -> HostOk:
            return answers.graw_list(await w.get_graw_list(), budget)

        return await self._on_hosts(session, targets, "get_graw_list", call)

    @param("hosts", type=list, default=None)
    async def working_dir_is_clean(self, session: OpSession, params: dict[str, Any]) -> Result:
        """working_dir_is_clean(hosts=None): whether no .graw file waits; fails if one does."""

        async def call(w: WorkerInterface) -> HostOk:
            return answers.clean_check(await w.working_dir_is_clean())

        return await self._on_hosts(session, params["hosts"], "working_dir_is_clean", call)

    @param("hosts", type=list, default=None)
    async def check_ecc_server_status(self, session: OpSession, params: dict[str, Any]) -> Result:
        """check_ecc_server_status(hosts=None): whether the ECC server runs; fails if not."""

        async def call(w: WorkerInterface) -> HostOk:
            return answers.program_check(w.programs.ecc_server, await w.check_ecc_server_status())

        return await self._on_hosts(session, params["hosts"], "check_ecc_server_status", call)

    @param("hosts", type=list, default=None)
    async def check_data_router_status(self, session: OpSession, params: dict[str, Any]) -> Result:
        """check_data_router_status(hosts=None): whether the data router runs; fails if not."""

        async def call(w: WorkerInterface) -> HostOk:
            running = await w.check_data_router_status()
            return answers.program_check(w.programs.data_router, running)

        return await self._on_hosts(session, params["hosts"], "check_data_router_status", call)

    @param("experiment", type=str)
    @param("run", type=int)
    @param("hosts", type=list, default=None)
    async def organize_files(self, session: OpSession, params: dict[str, Any]) -> Result:
        """organize_files(experiment, run, hosts=None): move each worker's .graw files into
        <working dir>/<experiment>/run_<NNNN>/. Never overwrites; run again to finish an
        interrupted move. While it runs, each host's entry in session data is its progress
        (files moved of those to move); at the end, the report (names cut to a budget)."""
        run = RunId(params["experiment"], params["run"])
        targets = fanout.select(params["hosts"], self.hosts)
        budget = fanout.name_budget(len(targets))
        progress: dict[str, OrganizeProgress] = {}

        def show(host: str, now: OrganizeProgress) -> None:
            progress[host] = now
            session.data = TaskData(hosts=dict(progress), timestamp=time.time()).to_dict()

        async def call(w: WorkerInterface) -> HostOk:
            async with self.busy[w.hostname]:
                report = await w.organize_files(
                    run.experiment, run.number, progress=lambda p: show(w.hostname, p)
                )
            return answers.transfer(report, budget)

        return await self._on_hosts(session, targets, f"organize {run.folder}", call)

    @param("experiment", type=str)
    @param("run", type=int)
    @param("paths", type=list)
    @param("backup_root", type=str)
    @param("hosts", type=list, default=None)
    async def backup_config_files(self, session: OpSession, params: dict[str, Any]) -> Result:
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
            return answers.transfer(report)

        return await self._on_hosts(session, params["hosts"], f"backup {run.folder}", call)

    @param("path", type=str)
    @param("num_lines", type=int, default=50, check=lambda n: 0 <= n <= 10_000)
    @param("hosts", type=list, default=None)
    async def tail_file(self, session: OpSession, params: dict[str, Any]) -> Result:
        """tail_file(path, num_lines=50, hosts=None): last lines of a text file on each
        worker (within the agent's --file-root directories; ~ allowed)."""

        async def call(w: WorkerInterface) -> HostOk:
            return answers.tail(await w.tail_file(params["path"], params["num_lines"]))

        return await self._on_hosts(session, params["hosts"], "tail_file", call)

    # -- monitor ---------------------------------------------------------------------------

    @param(
        "interval",
        type=float,
        default=None,
        check=lambda v: v is None or v >= options.MIN_MONITOR_INTERVAL,
    )
    async def monitor(self, session: OpSession, params: dict[str, Any]) -> Result:
        """monitor(interval=None): every interval, check each worker (reachable, ECC server
        and data router up, .graw files waiting) into session data and the recorded feed
        worker_status. An unreachable worker is a state; the monitor carries on."""
        interval = params["interval"] or self.interval
        loop = asyncio.get_running_loop()
        session.set_status("running")
        tally = MonitorTally(self.hosts)
        while True:
            started = loop.time()
            statuses = await sweep_status(
                self.workers.values(), connect_timeout=min(interval, self.connect_timeout)
            )
            for status in statuses:
                for sample in status.feed_samples():
                    self.feed.publish(sample.to_dict())
            for message in tally.record(statuses):
                session.add_message(message)
            elapsed = loop.time() - started
            session.data = tally.data(sweep_seconds=elapsed, now=time.time()).to_dict()
            if await session.sleep(pause(interval, elapsed)):
                break
        return True, f"monitor stopped after {tally.sweeps} sweeps"
