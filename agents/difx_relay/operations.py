"""DiFX operations over a `GuiClient`: what each agent task does on the wire.

Each function sends one request as guiServer expects it, reads the reply the way guiServer
writes it (raw bytes, inner packets, or nothing at all), and returns a typed result from
`models`; a refusal or failure raises a `DiFXError` whose text says what was and was not
confirmed. Every remote path goes through `RemotePaths` first, so a refused path never reaches
guiServer. The README's protocol reference says, operation by operation, what comes back.
"""

from __future__ import annotations

import contextlib
import posixpath
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial

from socs_like.paths import Roots

from . import commands
from .codes import GET_FAILURES, SEND_FAILURES, DirectoryCode, Mk5Code
from .connection import VersionReply
from .errors import LocalProtocolError, OperationFailed, RemoteProtocolError
from .framing import Packet, pack_int, unpack_int
from .guiclient import Channel, GuiClient
from .jobcontrol import JobStatusCollector, StartTracker
from .machines import Machines, datastream_count, parse_machines
from .models import (
    DirectoryResult,
    FileListResult,
    FileOpResult,
    GetResult,
    LsResult,
    MachinesResult,
    Mark5CopyResult,
    Mk5ControlResult,
    SendResult,
    StartResult,
    Vex2DifxResult,
)
from .raw import RecordReader, SizedReader
from .replies import DirectoryReader, FileListReader, MachinesReader, OutputReader, Reader

# guiServer reads an upload in pieces of at most 1024 bytes and can overrun its buffer when
# one read spans two of our packets: packets sized in multiples of 1024 keep both aligned.
UPLOAD_CHUNK = 64 * 1024

_SAFE = re.compile(r"[A-Za-z0-9._/+=,@%~:-]+")
_SAFE_PATTERN = re.compile(r"[A-Za-z0-9._/+=,@%~:*?\[\]-]+")
_FLAGS = re.compile(r"(-{1,2}[A-Za-z0-9][A-Za-z0-9-]*)( -{1,2}[A-Za-z0-9][A-Za-z0-9-]*)*")


class RemotePaths:
    """Paths on the DiFX host: confined to the allowed roots (`socs_like.paths`), and made of
    characters that mean nothing to a shell, because guiServer pastes them unquoted into
    command lines (`ls ARG PATH`, `rm ARG PATH`). Wildcards only where the operation takes a
    pattern, and only in the last component."""

    def __init__(self, roots: Iterable[str]) -> None:
        self.roots = Roots(roots, option="--allowed-root")

    def check(self, path: str, *, pattern: bool = False) -> str:
        normal = self.roots.check(path)
        allowed = _SAFE_PATTERN if pattern else _SAFE
        if not allowed.fullmatch(normal):
            what = "wildcards * ? [ ] and " if pattern else ""
            raise LocalProtocolError(
                f"path {path!r} contains characters other than letters, digits, {what}._/+=,@%~:-"
            )
        if pattern and any(c in posixpath.dirname(normal) for c in "*?["):
            raise LocalProtocolError(f"path {path!r}: wildcards only in the last component")
        return normal

    @staticmethod
    def check_flags(args: str) -> str:
        args = args.strip()
        if args and not _FLAGS.fullmatch(args):
            raise LocalProtocolError(f"arguments {args!r}: only plain flags like '-l -t' allowed")
        return args


@dataclass
class Ops:
    client: GuiClient
    paths: RemotePaths
    timeout: float = 10.0

    # ------------------------------------------------------------------ helpers

    @contextlib.contextmanager
    def _request(
        self, request: Callable[..., Packet | bytes], *, raw: bool = False
    ) -> Iterator[Channel]:
        """A reply channel, open before the request that names its number is sent, so that
        guiServer's first reply has somewhere to land; closed when the operation ends.
        `request(channel=N)` builds a packet, or a command document (sent in packet 3)."""
        with self.client.open_channel(raw=raw) as ch:
            built = request(channel=ch.number)
            self.client.send(built if isinstance(built, Packet) else commands.command(built))
            yield ch

    async def _next(
        self, ch: Channel, what: str, timeout: float | None = None
    ) -> tuple[int, bytes]:
        t = self.timeout if timeout is None else timeout
        try:
            reply = await ch.next(t)
        except TimeoutError:
            raise OperationFailed(f"{what}: guiServer sent nothing for {t:g} s") from None
        return reply.inner_id, reply.payload

    async def _raw(self, ch: Channel, what: str, timeout: float | None = None) -> bytes:
        t = self.timeout if timeout is None else timeout
        try:
            return await ch.next_raw(t)
        except TimeoutError:
            raise OperationFailed(f"{what}: guiServer sent nothing for {t:g} s") from None

    async def _records(
        self,
        request: Callable[..., Packet | bytes],
        what: str,
        on_record: Callable[[str], None],
        timeout: float | None = None,
    ) -> None:
        """Send `request` and read its raw reply: length-prefixed records ended by 0."""
        reader = RecordReader()
        with self._request(request, raw=True) as ch:
            while not reader.done:
                for record in reader.feed(await self._raw(ch, what, timeout)):
                    on_record(record.decode("utf-8", "replace"))

    async def _converse(
        self,
        request: Callable[..., Packet | bytes],
        reader: Reader,
        what: str,
        on_line: Callable[[str], None],
        timeout: float | None = None,
    ) -> None:
        """Send `request` and fold its inner packets into `reader` (`replies`) until it is
        done: its lines go to `on_line`, its answers back on the channel; its failure raises."""
        with self._request(request) as ch:
            while not reader.done:
                step = reader.apply(*await self._next(ch, what, timeout))
                if step.line is not None:
                    on_line(step.line)
                if step.answer is not None:
                    ch.upload(pack_int(step.answer))
        if reader.failure is not None:
            raise OperationFailed(reader.failure)

    # ------------------------------------------------------------------ version

    async def version(self) -> VersionReply:
        """Packet 8, answered by the version burst (see `connection`)."""
        try:
            return await self.client.version(self.timeout)
        except TimeoutError:
            raise OperationFailed(f"no version reply within {self.timeout:g} s") from None

    # ------------------------------------------------------------------ ls and file operations

    async def ls(self, path: str, args: str = "") -> LsResult:
        """`ls ARGS PATH` on the DiFX host. guiServer drops ls's stderr, so a missing path is
        an empty list, not an error."""
        path = self.paths.check(path, pattern=True)
        args = self.paths.check_flags(args)
        entries: list[str] = []
        await self._records(
            partial(commands.file_operation, operation="ls", path=path, arg=args),
            f"ls {path}",
            lambda r: entries.append(r.rstrip("\n")),
        )
        return LsResult(path=path, args=args, entries=entries)

    async def file_op(self, operation: str, path: str, arg: str = "") -> FileOpResult:
        """mkdir (with parents), rmdir, touch, rm (ARG = flags), mv and cp (ARG = absolute
        destination). guiServer runs them and says nothing; it handles its requests in order,
        so an `ls -d` of each path concerned right after shows what happened."""
        path = self.paths.check(path, pattern=operation == "rm")
        arg = self.paths.check(arg) if operation in ("mv", "cp") else self.paths.check_flags(arg)
        self.client.send(
            commands.command(
                commands.file_operation(operation=operation, path=path, arg=arg, channel=0)
            )
        )
        gone = [path] if operation in ("rm", "rmdir", "mv") else []
        made = (
            [arg]
            if operation in ("mv", "cp")
            else [path]
            if operation in ("mkdir", "touch")
            else []
        )
        # `ls -d PATH` lists the path itself (or what a pattern matches) and nothing when it
        # does not exist; unlike a listing of the parent it stays inside the allowed roots
        # when PATH is a root.
        found = {t: bool((await self.ls(t, "-d")).entries) for t in gone + made}
        problems = [f"{t} still exists" for t in gone if found[t]]
        problems += [f"{t} does not exist" for t in made if not found[t]]
        what = f"{operation} {path}" + (f" {arg}" if arg else "")
        if problems:
            raise OperationFailed(
                f"{what}: guiServer reports nothing for this operation, and an ls afterwards "
                f"shows {'; '.join(problems)} (the reason is only on guiServer's console)"
            )
        return FileOpResult(operation=operation, path=path, arg=arg, exists=found)

    # ------------------------------------------------------------------ file transfer

    async def get_file(self, remote: str, max_bytes: int) -> GetResult:
        """DifxFileTransfer "from DiFX": raw int32 size (negative: the failure code), then
        that many bytes."""
        remote = self.paths.check(remote)
        reader = SizedReader(max_bytes)
        with self._request(
            partial(commands.file_transfer, direction="from DiFX", origin=remote, destination=""),
            raw=True,
        ) as ch:
            try:
                while not reader.done:
                    reader.feed(await self._raw(ch, f"get {remote}"))
            except RemoteProtocolError as e:
                raise OperationFailed(f"get {remote}: {e}") from None
        status = reader.status if reader.status is not None else -99
        if status < 0:
            reason = GET_FAILURES.get(status, f"failure code {status}")
            raise OperationFailed(f"get {remote}: guiServer refused ({status}: {reason})")
        return GetResult(path=remote, size=status, data=reader.data)

    async def send_file(self, remote: str, content: bytes) -> SendResult:
        """DifxFileTransfer "to DiFX": we upload int32 N then N bytes on the channel; the
        server answers a raw int32 (N accepted, negative: the failure code). It stores the
        bytes as C strings, so text only: a NUL byte would cut the file."""
        remote = self.paths.check(remote)
        if b"\x00" in content:
            raise LocalProtocolError(
                f"send {remote}: the content holds a NUL byte; guiServer keeps only text"
            )
        with self._request(
            partial(commands.file_transfer, direction="to DiFX", origin="", destination=remote),
            raw=True,
        ) as ch:
            ch.upload(pack_int(len(content)))
            for i in range(0, len(content), UPLOAD_CHUNK):
                ch.upload(content[i : i + UPLOAD_CHUNK])
            reply = b""
            while len(reply) < 4:
                reply += await self._raw(ch, f"send {remote}")
        status = unpack_int(reply, "file send reply")
        if status < 0:
            reason = SEND_FAILURES.get(status, f"failure code {status}")
            raise OperationFailed(f"send {remote}: guiServer refused ({status}: {reason})")
        if status != len(content):
            raise OperationFailed(f"send {remote}: guiServer took {status} of {len(content)} bytes")
        return SendResult(path=remote, size=status)

    # ------------------------------------------------------------------ vex2difx

    async def vex2difx(
        self,
        pass_path: str,
        v2d: str,
        *,
        calc_command: str,
        calc_only: bool,
        difx_version: str,
        timeout: float,
        on_file: Callable[[str], None],
    ) -> Vex2DifxResult:
        """DifxVex2DifxRun: raw records, one path per new .input then per new .im, ended by
        int32 0. Errors come only as ERROR packets on the main connection."""
        pass_path = self.paths.check(pass_path)
        if "/" in v2d or not v2d:
            raise LocalProtocolError(f"v2d name {v2d!r} must be a file name inside the pass path")
        self.paths.check(posixpath.join(pass_path, v2d), pattern=calc_only)
        files: list[str] = []

        def record(path: str) -> None:
            files.append(path)
            on_file(path)

        request = partial(
            commands.vex2difx_run,
            pass_path=pass_path,
            v2d_file=v2d,
            calc_command=calc_command,
            calc_only=calc_only,
            difx_version=difx_version,
        )
        await self._records(request, f"vex2difx {pass_path}/{v2d}", record, timeout)
        return Vex2DifxResult(
            input_files=[f for f in files if f.endswith(".input")],
            im_files=[f for f in files if f.endswith(".im")],
        )

    # ------------------------------------------------------------------ machines

    async def define_machines(
        self,
        input_file: str,
        machines: Machines,
        *,
        difx_version: str,
        test_processors: bool,
        on_line: Callable[[str], None],
    ) -> MachinesResult:
        """DifxMachinesDefinition (`replies.MachinesReader`)."""
        input_file = self.paths.check(input_file)
        base = input_file.removesuffix(".input")
        mfile, tfile = self.paths.check(base + ".machines"), self.paths.check(base + ".threads")
        result = MachinesResult(input=input_file, machines_file=mfile, threads_file=tfile)
        request = partial(
            commands.machines_definition,
            input_file=input_file,
            machines_file=mfile,
            threads_file=tfile,
            manager=machines.head,
            datastreams=machines.datastreams,
            processes=[commands.Process(n, t) for n, t in machines.processors],
            difx_version=difx_version,
            test_processors=test_processors,
        )
        what = f"define machines for {input_file}"
        await self._converse(request, MachinesReader(result), what, on_line)
        return result

    async def get_machines(self, input_file: str, max_bytes: int) -> Machines:
        """A job's machines, read back from its .input, .machines and .threads."""
        input_file = self.paths.check(input_file)
        base = input_file.removesuffix(".input")
        texts = [
            (await self.get_file(path, max_bytes)).data.decode("utf-8", "replace")
            for path in (input_file, base + ".machines", base + ".threads")
        ]
        try:
            return parse_machines(texts[1], texts[2], datastream_count(texts[0]))
        except RemoteProtocolError as e:
            raise OperationFailed(f"{base}: {e}") from None

    # ------------------------------------------------------------------ jobs

    async def job_status(self, pattern: str, short: bool = True) -> JobStatusCollector:
        """GET_JOB_STATUS (packet 24): inner packets 101-111, ended by 101 (111: fork failed)."""
        pattern = self.paths.check(pattern, pattern=True)
        collector = JobStatusCollector()
        with self._request(partial(commands.get_job_status, pattern, short=short)) as ch:
            while not collector.done:
                collector.apply(*await self._next(ch, f"job status {pattern}"))
        if collector.errors and not collector.jobs:
            raise OperationFailed(f"job status {pattern}: {'; '.join(collector.errors)}")
        return collector

    async def start_job(
        self,
        input_file: str,
        machines: Machines,
        *,
        difx_version: str,
        force: bool,
        function: str,
        restart_seconds: int,
        wait: bool,
        on_reply: Callable[[StartTracker, str], None],
        stop_requested: Callable[[], bool],
    ) -> StartResult:
        """DifxStart: inner packets 100-128 (see `jobcontrol.StartTracker`). Without `wait`
        it returns once the job is running (113)."""
        input_file = self.paths.check(input_file)
        tracker = StartTracker(input_file)
        processes = [commands.Process(n, t) for n, t in machines.processors]
        with (
            self.client.diagnostics(lambda d: tracker.diagnostic(d.level, d.text)),
            self._request(
                partial(
                    commands.difx_start,
                    input_file=input_file,
                    manager=machines.head,
                    datastreams=machines.datastreams,
                    processes=processes,
                    difx_version=difx_version,
                    force=force,
                    function=function,
                    restart_seconds=restart_seconds,
                )
            ) as ch,
        ):
            while tracker.outcome is None:
                try:
                    reply = await ch.next(0.5)
                except TimeoutError:
                    if stop_requested():
                        return StartResult.from_tracker(tracker, waiting_stopped=True)
                    continue
                on_reply(tracker, tracker.apply(reply.inner_id, reply.payload))
                if tracker.running and not wait:
                    break
        if tracker.outcome is not None and not tracker.outcome.ok:
            raise OperationFailed(tracker.outcome.message)
        return StartResult.from_tracker(tracker)

    def stop_job(self, input_file: str) -> str:
        """DifxStop: guiServer answers nothing to us (see `relay.Relay.wait_job_end`)."""
        input_file = self.paths.check(input_file)
        self.client.send(commands.command(commands.difx_stop(input_file=input_file)))
        return input_file

    # ------------------------------------------------------------------ file lists

    async def generate_filelist(
        self,
        files: Sequence[str],
        destination: str,
        *,
        data_format: str,
        ref_mjd: int,
        overwrite: bool,
        timeout: float,
        on_line: Callable[[str], None],
    ) -> FileListResult:
        """GENERATE_FILELIST, packet 23 (`replies.FileListReader`)."""
        checked = [self.paths.check(f) for f in files]
        destination = self.paths.check(destination)
        request = partial(
            commands.generate_filelist,
            files=checked,
            destination=destination,
            data_format=data_format,
            ref_mjd=ref_mjd,
        )
        reader = FileListReader(destination, overwrite, FileListResult(destination=destination))
        await self._converse(request, reader, f"file list {destination}", on_line, timeout)
        return reader.result

    # ------------------------------------------------------------------ Mark5 units

    async def get_directory(
        self,
        mark5: str,
        vsn: str,
        *,
        generate_new: bool,
        difx_version: str,
        timeout: float,
        on_line: Callable[[str], None],
    ) -> DirectoryResult:
        """DifxGetDirectory (`replies.DirectoryReader`)."""
        request = partial(
            commands.get_directory,
            mark5=mark5,
            vsn=vsn,
            generate_new=generate_new,
            difx_version=difx_version,
        )
        reader = DirectoryReader(DirectoryResult(mark5=mark5, vsn=vsn))
        await self._converse(request, reader, f"directory of {vsn}", on_line, timeout)
        return reader.result

    async def mk5_control(
        self, command_text: str, target_node: str, *, timeout: float, on_line: Callable[[str], None]
    ) -> Mk5ControlResult:
        """DifxMk5Control: 102, then 108 per stdout line and 110 per stderr line, then 101."""
        request = partial(commands.mk5_control, command_text=command_text, target_node=target_node)
        out = OutputReader(Mk5Code.INFORMATION, Mk5Code.ERROR, Mk5Code.ENDED_GRACEFULLY)
        await self._converse(request, out, f"mk5control {target_node}", on_line, timeout)
        return Mk5ControlResult(command_text, target_node, output=out.output, errors=out.errors)

    async def mark5_copy(
        self,
        mark5: str,
        vsn: str,
        scans: str,
        destination: str,
        *,
        difx_version: str,
        timeout: float,
        on_line: Callable[[str], None],
    ) -> Mark5CopyResult:
        """DifxMark5Copy: 301, 312 per stdout line, 305 per stderr line, 314 if there were
        errors, 302 always."""
        destination = self.paths.check(destination)
        request = partial(
            commands.mark5_copy,
            mark5=mark5,
            vsn=vsn,
            scans=scans,
            destination=destination,
            difx_version=difx_version,
        )
        out = OutputReader(
            DirectoryCode.GENERATE_INFO,
            DirectoryCode.MPIRUN_ERROR,
            DirectoryCode.COMPLETED,
            errors_flag=DirectoryCode.GENERATE_ERRORS,
        )
        await self._converse(request, out, f"mark5 copy {vsn}", on_line, timeout)
        if out.had_errors:
            raise OperationFailed(
                f"mark5 copy {vsn} ended with errors: "
                + ("; ".join(out.errors[-3:]) or "none reported")
            )
        return Mark5CopyResult(mark5, vsn, scans, destination, out.output, out.errors)
