"""``WorkerInterface``: what the DAQ needs from one worker, over SSH and SFTP.

Usage::

    async with WorkerInterface("cobo1", config_path="~/.ssh/config") as worker:
        if await worker.check_data_router_status():
            report = await worker.organize_files("e22508", 7)

Compared with the paramiko original: the SSH config's ``Port`` is honoured (``port=None``
means "from the config, else 22"; an explicit port wins), host keys are verified, every call
has a timeout, the connection is kept and shared (pass one ``SshPool`` to many interfaces),
``~`` works in paths, experiment names and run numbers are checked, and ``organize_files``
is resumable and reports exactly what it moved.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import posixpath
import secrets
import shlex
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar, get_args

import asyncssh

from socs_like.commands import HostTarget, SshPool, SshSettings

from .errors import ConnectError, ProgramNotRunning, RemoteError, RequestError, WorkerError
from .models import OrganizeProgress
from .options import CwdMethod
from .organize import TransferReport, is_graw, plan_organize, same_file_pairs
from .paths import confine, worker_roots
from .processes import (
    Probe,
    ProcessCwd,
    parse_probe,
    pids_of,
    probe_command,
    single_cwd,
)
from .runs import RunId
from .status import WorkerStatus
from .tail import TailReader

log = logging.getLogger(__name__)
T = TypeVar("T")

CWD_METHODS = get_args(CwdMethod)


@dataclass(frozen=True, kw_only=True)
class WorkerPrograms:
    """Names of the worker's programs, and how to find the data router's directory.

    ``cwd_method``: ``lsof`` (macOS workers), ``proc`` (Linux: ``/proc/<pid>/cwd``, read
    over SFTP), or ``auto``: ``/proc`` where it exists, else lsof.
    """

    data_router: str = "dataRouter"
    ecc_server: str = "getEccSoapServer"
    cwd_method: str = "auto"
    rename_concurrency: int = 64

    def __post_init__(self) -> None:
        if self.cwd_method not in CWD_METHODS:
            raise ValueError(f"cwd_method must be one of {CWD_METHODS}, not {self.cwd_method!r}")
        for name in (self.data_router, self.ecc_server):
            if not name or "/" in name or "\0" in name:
                raise ValueError(f"invalid program name {name!r}")
        if self.rename_concurrency < 1:
            raise ValueError("rename_concurrency must be >= 1")


class WorkerInterface:
    """One worker over SSH. ``async with`` connects on enter and, when the interface made
    its own connection pool, closes it on exit."""

    def __init__(
        self,
        hostname: str,
        port: int | None = None,
        username: str | None = None,
        config_path: str | None = None,
        *,
        settings: SshSettings | None = None,
        programs: WorkerPrograms | None = None,
        pool: SshPool | None = None,
        allowed_roots: Sequence[str] | None = None,
    ) -> None:
        """``port`` and ``username`` override the SSH config (else its ``Port``/``User``,
        else 22 and the local user). ``pool`` shares connections between interfaces; it
        carries its own settings, so it excludes ``settings`` and ``config_path``.
        ``allowed_roots`` confines ``tail_file`` and ``backup_config_files`` to these
        directories (``~`` allowed); ``None`` allows any path the login user can reach."""
        self.target = HostTarget(hostname, port, username)
        if pool is not None and (settings is not None or config_path is not None):
            raise ValueError("give either a pool or settings/config_path, not both")
        if pool is None:
            settings = settings or SshSettings()
            if config_path is not None:
                settings = dataclasses.replace(settings, config_path=config_path)
            pool = SshPool(settings)
            self._owns_pool = True
        else:
            self._owns_pool = False
        self.pool = pool
        self.programs = programs or WorkerPrograms()
        self.allowed_roots = None if allowed_roots is None else tuple(allowed_roots)
        self._home: str | None = None

    @property
    def hostname(self) -> str:
        return self.target.host

    async def __aenter__(self) -> WorkerInterface:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def connect(self, timeout: float | None = None, retry: bool = True) -> None:
        await self.pool.connection(self.target, timeout=timeout, retry=retry)

    async def close(self) -> None:
        if self._owns_pool:
            await self.pool.close()

    # -- helpers -----------------------------------------------------------------------------

    async def _sftp(self) -> asyncssh.SFTPClient:
        return await self.pool.sftp(self.target)

    async def _timed(self, what: str, call: Awaitable[T]) -> T:
        return await self.pool.timed(self.target, what, call)

    async def _home_dir(self) -> str:
        if self._home is None:
            sftp = await self._sftp()
            self._home = await self._timed("find home directory", sftp.realpath("."))
        return self._home

    async def _user_path(self, path: str, what: str, *, create: bool = False) -> str:
        """``path`` with ``~`` expanded and checked against the roots (``create``: as a
        directory, made if missing). Symlinks are resolved on the worker and the real path
        checked again *before* anything is created, so a link inside a root can neither lead
        a read outside it nor get a folder made outside it."""
        home = await self._home_dir()
        roots = worker_roots(["/"] if self.allowed_roots is None else self.allowed_roots, home)
        lexical = confine(path, home, roots, what)
        sftp = await self._sftp()
        checked = lexical
        if self.allowed_roots is not None:
            checked = await self._real_path(sftp, lexical)
            real_roots = worker_roots([await self._real_path(sftp, r) for r in roots.roots], home)
            if not real_roots.contains(checked):
                raise RequestError(
                    f"{what} {path!r} refused (symlink_escape): resolves to {checked} on the "
                    f"worker, outside the allowed roots: {', '.join(roots.roots)}"
                )
        if create:
            await self._timed(f"create {checked}", sftp.makedirs(checked, exist_ok=True))
        return checked

    async def _real_path(self, sftp: asyncssh.SFTPClient, path: str) -> str:
        """``path`` with symlinks resolved on the worker. The server resolves only what
        exists, so the nearest existing ancestor is resolved and the rest kept as written
        (it holds no links yet: it does not exist)."""
        head, rest = path, []
        while True:
            try:
                real = await self._timed(f"resolve {head}", sftp.realpath(head))
            except RemoteError:
                if head == "/":
                    raise
                head, tail = posixpath.split(head)
                rest.append(tail)
                continue
            return posixpath.join(str(real), *reversed(rest))

    async def _probe(self, cwd_method: str) -> Probe:
        """The worker's processes, and (as ``cwd_method`` asks) lsof's answer: one command."""
        command = probe_command(self.programs.data_router, cwd_method)
        result = (await self.pool.run(self.target, command)).check()
        try:
            return parse_probe(result.stdout_text)
        except RemoteError as exc:
            raise RemoteError(f"{self.hostname}: {exc}") from None

    async def _probe_for_cwd(self) -> Probe:
        return await self._probe(self.programs.cwd_method)

    async def _cwd_by_proc(self, pids: list[int]) -> str:
        sftp = await self._sftp()
        found = []
        for pid in pids:
            try:
                cwd = await self._timed(f"read /proc/{pid}/cwd", sftp.readlink(f"/proc/{pid}/cwd"))
            except RemoteError as exc:
                # it may have exited since ps ran; a router we cannot read is an error either way
                raise RemoteError(
                    f"cannot read the working directory of {self.programs.data_router} "
                    f"(pid {pid}): {exc}"
                ) from None
            found.append(ProcessCwd(pid=pid, command=self.programs.data_router, cwd=cwd))
        return single_cwd(found, self.programs.data_router)

    async def _router_cwd(self, probe: Probe) -> str:
        """The router's directory from a probe: lsof's answer, else ``/proc/<pid>/cwd``."""
        program = self.programs.data_router
        try:
            pids = pids_of(probe.processes, program)
            if not pids:
                raise ProgramNotRunning(f"{program} is not running (no process found)")
            if probe.lsof:
                return single_cwd(probe.lsof, program)
            if probe.lsof is not None:
                raise RemoteError(
                    f"ps shows {program} (pid {pids[0]}) but lsof does not see its working "
                    "directory (does it run as another user?)"
                )
            if probe.lsof_missing and self.programs.cwd_method == "lsof":
                raise RemoteError("lsof is not installed")
            return await self._cwd_by_proc(pids)
        except RemoteError as exc:
            raise type(exc)(f"{self.hostname}: {exc}") from None

    async def _graw_sizes(self, directory: str) -> dict[str, int]:
        sftp = await self._sftp()
        sizes: dict[str, int] = {}

        async def scan() -> None:
            async for entry in sftp.scandir(directory):
                name = str(entry.filename)
                if is_graw(name) and entry.attrs.type == asyncssh.FILEXFER_TYPE_REGULAR:
                    sizes[name] = entry.attrs.size or 0

        await self._timed(f"list {directory}", scan())
        return sizes

    async def _names(self, directory: str) -> set[str]:
        sftp = await self._sftp()
        return set(await self._timed(f"list {directory}", sftp.listdir(directory)))

    # -- the spec's methods ------------------------------------------------------------------

    async def find_data_router(self) -> str:
        """The data router's working directory (where it writes ``.graw`` files)."""
        return await self._router_cwd(await self._probe_for_cwd())

    async def get_graw_list(self) -> list[str]:
        """Full paths of the ``.graw`` files in the data router's directory, sorted."""
        cwd = await self.find_data_router()
        return [posixpath.join(cwd, n) for n in sorted(await self._graw_sizes(cwd))]

    async def working_dir_is_clean(self) -> bool:
        return not await self.get_graw_list()

    async def check_ecc_server_status(self) -> bool:
        probe = await self._probe("proc")
        return bool(pids_of(probe.processes, self.programs.ecc_server))

    async def check_data_router_status(self) -> bool:
        probe = await self._probe("proc")
        return bool(pids_of(probe.processes, self.programs.data_router))

    async def organize_files(
        self,
        experiment_name: str,
        run_number: int,
        *,
        progress: Callable[[OrganizeProgress], None] | None = None,
        progress_interval: float = 0.5,
    ) -> TransferReport:
        """Move every ``.graw`` file into ``<router cwd>/<experiment>/run_<NNNN>/``.

        Never replaces a file; safe to call again after any failure (it finishes the move).
        When the connection drops, the report so far is returned with ``interrupted`` set.
        ``progress`` is called once the plan is made, then at most every
        ``progress_interval`` seconds while files move (a run has thousands of files).
        """
        run = RunId(experiment_name, run_number)
        cwd = await self.find_data_router()
        destination = posixpath.join(cwd, run.folder)
        sftp = await self._sftp()
        await self._timed(f"create {destination}", sftp.makedirs(destination, exist_ok=True))
        source, existing = await asyncio.gather(self._graw_sizes(cwd), self._names(destination))
        plan = plan_organize(
            source_dir=cwd, destination=destination, source_names=source, dest_names=existing
        )
        report = TransferReport.from_plan(plan)
        await self._finish_half_moves(sftp, cwd, destination, report)
        loop = asyncio.get_running_loop()
        started = last = loop.time()

        def tell(force: bool = False) -> None:
            nonlocal last
            now = loop.time()
            if progress is None or not (force or now - last >= progress_interval):
                return
            last = now
            progress(report.progress(to_move=len(plan.to_move), elapsed=now - started))

        tell(force=True)
        await self._rename_all(sftp, plan.to_move, cwd, destination, report, tell)
        log.info("%s: organize %s: %s", self.hostname, run.folder, report.summary())
        return report

    async def _rename_all(
        self,
        sftp: asyncssh.SFTPClient,
        names: Iterable[str],
        source_dir: str,
        destination: str,
        report: TransferReport,
        tell: Callable[[], None],
    ) -> None:
        # a few dozen renames in flight hide the round trip; the server applies them in order
        todo = iter(names)
        in_flight: set[str] = set()
        lost: list[ConnectError] = []

        async def mover() -> None:
            for name in todo:
                if lost:
                    return
                src, dst = posixpath.join(source_dir, name), posixpath.join(destination, name)
                in_flight.add(name)
                try:
                    await self._timed(f"move {name}", sftp.rename(src, dst))
                except ConnectError as exc:
                    lost.append(exc)
                    return
                except RemoteError as exc:
                    in_flight.discard(name)
                    await self._classify_failure(sftp, name, src, dst, str(exc), report)
                    continue
                in_flight.discard(name)
                report.done.append(name)
                tell()

        workers = [mover() for _ in range(self.programs.rename_concurrency)]
        await asyncio.gather(*workers)
        if lost:
            report.unconfirmed = sorted(in_flight)
            report.interrupted = lost[0].reason
        report.done.sort()

    async def _finish_half_moves(
        self, sftp: asyncssh.SFTPClient, source_dir: str, destination: str, report: TransferReport
    ) -> None:
        # a clash that is one file under both names is a move cut short: finish it
        if not report.clashes:
            return
        paths = [
            path
            for name in report.clashes
            for path in (posixpath.join(source_dir, name), posixpath.join(destination, name))
        ]
        result = await self.pool.run(self.target, "stat -L -c %d:%i -- " + shlex.join(paths))
        if result.returncode != 0:
            return  # a name vanished meanwhile: leave them as clashes, the next call sees
        for name in same_file_pairs(result.stdout_text.split(), report.clashes):
            await self._timed(f"remove {name}", sftp.remove(posixpath.join(source_dir, name)))
            report.clashes.remove(name)
            report.already_there.append(name)

    async def _classify_failure(
        self,
        sftp: asyncssh.SFTPClient,
        name: str,
        src: str,
        dst: str,
        error: str,
        report: TransferReport,
    ) -> None:
        # the no-clobber rename fails when the name was taken after we listed the folder
        try:
            src_there = await self._timed(f"check {src}", sftp.exists(src))
            dst_there = await self._timed(f"check {dst}", sftp.exists(dst))
        except WorkerError:
            report.failed[name] = error
            return
        if dst_there and src_there:
            report.clashes.append(name)
        elif dst_there:
            report.already_there.append(name)  # someone else moved it meanwhile
        else:
            report.failed[name] = error

    async def backup_config_files(
        self, experiment_name: str, run_number: int, paths: Sequence[str], backup_root: str
    ) -> TransferReport:
        """Copy ``paths`` (on the worker) into ``<backup_root>/<experiment>/run_<NNNN>/``.

        A file already backed up with the same content counts as ``already_there``; a different
        file under the same name is a clash and stays untouched.
        """
        run = RunId(experiment_name, run_number)
        if isinstance(paths, str):
            raise RequestError("paths must be a list of paths, not one string")
        root = await self._user_path(backup_root, "backup root", create=True)
        destination = posixpath.join(root, run.folder)
        sftp = await self._sftp()
        report = TransferReport(action="copied", source_dir="", destination=destination)
        sources: dict[str, str] = {}
        for path in paths:
            try:
                source = await self._user_path(path, "config file")
            except RequestError as exc:
                report.failed[path] = str(exc)
                continue
            name = posixpath.basename(source)
            if name in sources:
                report.failed[path] = f"same file name as {sources[name]}"
                continue
            sources[name] = source
        await self._timed(f"create {destination}", sftp.makedirs(destination, exist_ok=True))
        for name, source in sources.items():
            await self._copy_one(sftp, name, source, destination, report)
        return report

    async def _copy_one(
        self,
        sftp: asyncssh.SFTPClient,
        name: str,
        source: str,
        destination: str,
        report: TransferReport,
    ) -> None:
        dst = posixpath.join(destination, name)
        try:
            data = await self._timed(f"read {source}", _read_all(sftp, source))
            if await self._timed(f"check {dst}", sftp.exists(dst)):
                old = await self._timed(f"read {dst}", _read_all(sftp, dst))
                (report.already_there if old == data else report.clashes).append(name)
                return
            # write aside, then a no-clobber rename: a crash never leaves half a backup
            partial = posixpath.join(destination, f".{name}.{secrets.token_hex(4)}.partial")
            await self._timed(f"write {partial}", _write_all(sftp, partial, data))
            try:
                await self._timed(f"move {partial}", sftp.rename(partial, dst))
            except RemoteError:
                await self._timed(f"remove {partial}", sftp.remove(partial))
                raise
            report.done.append(name)
        except RemoteError as exc:
            report.failed[source] = str(exc)

    async def tail_file(self, path: str, num_lines: int = 50) -> list[str]:
        """The last ``num_lines`` lines of a text file on the worker."""
        if isinstance(num_lines, bool) or not isinstance(num_lines, int) or num_lines < 0:
            raise RequestError(f"num_lines must be a non-negative integer, not {num_lines!r}")
        real = await self._user_path(path, "file")
        sftp = await self._sftp()
        async with self.pool.guard(self.target, f"read {real}"), sftp.open(real, "rb") as f:
            size = (await f.stat()).size or 0
            reader = TailReader(size, num_lines)
            while (want := reader.next_read()) is not None:
                offset, length = want
                await f.seek(offset)
                reader.feed(await f.read(length))
        return reader.lines()

    # -- the monitor's sweep -----------------------------------------------------------------

    async def status(self, *, connect_timeout: float | None = None) -> WorkerStatus:
        """Everything the monitor shows for this worker; never raises for a worker problem.

        Makes at most one connection attempt (none while the host backs off), so a dead
        worker costs a sweep at most ``connect_timeout``."""
        checked_at = time.time()
        try:
            await self.connect(timeout=connect_timeout, retry=False)
            probe = await self._probe_for_cwd()
            ecc_up = bool(pids_of(probe.processes, self.programs.ecc_server))
            router_up = bool(pids_of(probe.processes, self.programs.data_router))
            cwd = files = size = None
            if router_up:
                cwd = await self._router_cwd(probe)
                sizes = await self._graw_sizes(cwd)
                files, size = len(sizes), sum(sizes.values())
        except ConnectError as exc:
            return WorkerStatus(
                host=self.hostname, checked_at=checked_at, state=exc.state, error=str(exc)
            )
        except WorkerError as exc:
            return WorkerStatus(
                host=self.hostname, checked_at=checked_at, state="error", error=str(exc)
            )
        return WorkerStatus(
            host=self.hostname,
            checked_at=checked_at,
            state="ok",
            ecc_server_up=ecc_up,
            data_router_up=router_up,
            working_dir=cwd,
            graw_files=files,
            graw_bytes=size,
        )


async def sweep_status(
    workers: Iterable[WorkerInterface],
    *,
    connect_timeout: float | None = None,
    concurrency: int = 16,
) -> list[WorkerStatus]:
    """``status()`` of every worker, ``concurrency`` at a time, in the order given.

    The bound keeps the loop responsive: each check costs a few ms of our CPU (SSH packets,
    parsing), and checks answered in the same instant run back to back."""
    if concurrency < 1:
        raise ValueError(f"concurrency must be >= 1, not {concurrency}")
    gate = asyncio.Semaphore(concurrency)

    async def one(worker: WorkerInterface) -> WorkerStatus:
        async with gate:
            return await worker.status(connect_timeout=connect_timeout)

    return list(await asyncio.gather(*(one(w) for w in workers)))


async def _read_all(sftp: asyncssh.SFTPClient, path: str) -> bytes:
    async with sftp.open(path, "rb") as f:
        return await f.read()


async def _write_all(sftp: asyncssh.SFTPClient, path: str, data: bytes) -> None:
    # "x": fail rather than replace if the name exists
    async with sftp.open(path, "xb") as f:
        await f.write(data)
