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

from socs_like.paths import Roots

from . import commands
from .codes import (
    GET_FAILURES,
    SEND_FAILURES,
    DirectoryCode,
    FileListCode,
    MachinesCode,
    Mk5Code,
    code_name,
)
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

# guiServer reads an upload in pieces of at most 1024 bytes and can overrun its buffer when
# one read spans two of our packets: packets sized in multiples of 1024 keep both aligned.
UPLOAD_CHUNK = 64 * 1024

_MACHINES_ERRORS = frozenset(
    {
        MachinesCode.FAILURE_NO_HEADNODE,
        MachinesCode.FAILURE_NO_DATASOURCES,
        MachinesCode.FAILURE_NO_PROCESSORS,
        MachinesCode.FAILURE_NO_FILES_SPECIFIED,
        MachinesCode.FAILURE_OPEN_MACHINES_FILE,
        MachinesCode.FAILURE_OPEN_THREADS_FILE,
        MachinesCode.FAILURE_FILE_REMOVAL,
        MachinesCode.FAILURE_POPEN,
    }
)
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
    def _request(self, request: Callable[[int], Packet], *, raw: bool = False) -> Iterator[Channel]:
        """A reply channel, open before the request that names its number is sent, so that
        guiServer's first reply has somewhere to land; closed when the operation ends."""
        with self.client.open_channel(raw=raw) as ch:
            self.client.send(request(ch.number))
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

    async def _next_text(
        self, ch: Channel, what: str, timeout: float | None = None
    ) -> tuple[int, str]:
        """The next inner packet, its payload as one line of text."""
        code, payload = await self._next(ch, what, timeout)
        return code, payload.decode("utf-8", "replace").rstrip("\n")

    async def _raw(self, ch: Channel, what: str, timeout: float | None = None) -> bytes:
        t = self.timeout if timeout is None else timeout
        try:
            return await ch.next_raw(t)
        except TimeoutError:
            raise OperationFailed(f"{what}: guiServer sent nothing for {t:g} s") from None

    async def _records(
        self,
        ch: Channel,
        what: str,
        on_record: Callable[[str], None],
        timeout: float | None = None,
    ) -> None:
        reader = RecordReader()
        while not reader.done:
            for record in reader.feed(await self._raw(ch, what, timeout)):
                on_record(record.decode("utf-8", "replace"))

    # ------------------------------------------------------------------ ls and file operations

    async def ls(self, path: str, args: str = "") -> LsResult:
        """`ls ARGS PATH` on the DiFX host. guiServer drops ls's stderr, so a missing path is
        an empty list, not an error."""
        path = self.paths.check(path, pattern=True)
        args = self.paths.check_flags(args)
        entries: list[str] = []
        with self._request(
            lambda n: commands.command(
                commands.file_operation(operation="ls", path=path, arg=args, channel=n)
            ),
            raw=True,
        ) as ch:
            await self._records(ch, f"ls {path}", lambda r: entries.append(r.rstrip("\n")))
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
            lambda n: commands.command(
                commands.file_transfer(
                    direction="from DiFX", origin=remote, destination="", channel=n
                )
            ),
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
            lambda n: commands.command(
                commands.file_transfer(
                    direction="to DiFX", origin="", destination=remote, channel=n
                )
            ),
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

        with self._request(
            lambda n: commands.command(
                commands.vex2difx_run(
                    pass_path=pass_path,
                    v2d_file=v2d,
                    channel=n,
                    calc_command=calc_command,
                    calc_only=calc_only,
                    difx_version=difx_version,
                )
            ),
            raw=True,
        ) as ch:
            await self._records(ch, f"vex2difx {pass_path}/{v2d}", record, timeout)
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
        """DifxMachinesDefinition: inner packets 100-122; 101 ends it well, 100 badly."""
        input_file = self.paths.check(input_file)
        base = input_file.removesuffix(".input")
        mfile, tfile = self.paths.check(base + ".machines"), self.paths.check(base + ".threads")
        result = MachinesResult(input=input_file, machines_file=mfile, threads_file=tfile)
        processes = [commands.Process(n, t) for n, t in machines.processors]
        with self._request(
            lambda n: commands.command(
                commands.machines_definition(
                    input_file=input_file,
                    machines_file=mfile,
                    threads_file=tfile,
                    manager=machines.head,
                    datastreams=machines.datastreams,
                    processes=processes,
                    channel=n,
                    difx_version=difx_version,
                    test_processors=test_processors,
                )
            )
        ) as ch:
            while True:
                code, payload = await self._next(ch, f"define machines for {input_file}")
                text = payload.decode("utf-8", "replace").strip()
                line = code_name(MachinesCode, code) + (f": {text}" if text else "")
                on_line(line)
                if code == MachinesCode.MACHINES_FILE_NAME:
                    result.machines_file = text
                elif code == MachinesCode.THREADS_FILE_NAME:
                    result.threads_file = text
                elif code == MachinesCode.SUCCESS_MPIRUN:
                    result.nodes_passed.append(text)
                elif code == MachinesCode.FAILURE_MPIRUN:
                    result.nodes_failed.append(text)
                elif code in (
                    MachinesCode.WARNING_NO_MACHINES_FILE_SPECIFIED,
                    MachinesCode.WARNING_NO_THREADS_FILE_SPECIFIED,
                    MachinesCode.LOW_THREAD_COUNT,
                ):
                    result.warnings.append(line)
                elif code in _MACHINES_ERRORS:
                    result.errors.append(line)
                if code == MachinesCode.ENDED_GRACEFULLY:
                    return result
                if code == MachinesCode.TERMINATED:
                    why = "; ".join(result.errors) or "no reason given"
                    raise OperationFailed(f"define machines for {input_file} failed: {why}")

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
        with self._request(lambda n: commands.get_job_status(pattern, n, short=short)) as ch:
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
                lambda n: commands.command(
                    commands.difx_start(
                        input_file=input_file,
                        channel=n,
                        manager=machines.head,
                        datastreams=machines.datastreams,
                        processes=processes,
                        difx_version=difx_version,
                        force=force,
                        function=function,
                        restart_seconds=restart_seconds,
                    )
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
        """GENERATE_FILELIST (packet 23): inner packets 100-112. If the destination exists the
        server asks (103) and reads our int32 answer: 106 overwrite, 107 cancel."""
        checked = [self.paths.check(f) for f in files]
        destination = self.paths.check(destination)
        result = FileListResult(destination=destination)
        with self._request(
            lambda n: commands.generate_filelist(
                files=checked,
                destination=destination,
                data_format=data_format,
                ref_mjd=ref_mjd,
                channel=n,
            )
        ) as ch:
            while True:
                code, payload = await self._next(ch, f"file list {destination}", timeout)
                if code == FileListCode.PROCESSED_COUNT:
                    result.processed = unpack_int(payload, "processed count")
                    on_line(f"processed count: {result.processed}")
                    continue
                text = payload.decode("utf-8", "replace").rstrip("\n")
                on_line(code_name(FileListCode, code) + (f": {text}" if text else ""))
                if code == FileListCode.DESTINATION_EXISTS:
                    answer = FileListCode.OVERWRITE if overwrite else FileListCode.CANCEL
                    ch.upload(pack_int(answer))
                    result.existed = True
                elif code == FileListCode.FINAL_NAME:
                    result.destination = text
                elif code == FileListCode.FILE_RESULT:
                    result.lines.append(text)
                elif code in (
                    FileListCode.PATH_ACCESS_FAILURE,
                    FileListCode.OPEN_ERROR,
                    FileListCode.BAD_FORMAT,
                ):
                    result.errors.append(f"{code_name(FileListCode, code)}: {text}")
                elif code == FileListCode.ERRORS_ENCOUNTERED:
                    result.errors.append(f"errors encountered: {text}")
                elif code == FileListCode.ENDED_GRACEFULLY:
                    return result
                elif code == FileListCode.TERMINATED:
                    if result.existed and not overwrite:
                        result.cancelled = True
                        return result
                    why = "; ".join(result.errors) or "no reason given"
                    raise OperationFailed(f"file list {destination} failed: {why}")

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
        """DifxGetDirectory: inner packets 301-314, ended by 302 (done) or 304 (failed)."""
        result = DirectoryResult(mark5=mark5, vsn=vsn)
        with self._request(
            lambda n: commands.command(
                commands.get_directory(
                    mark5=mark5,
                    vsn=vsn,
                    channel=n,
                    generate_new=generate_new,
                    difx_version=difx_version,
                )
            )
        ) as ch:
            while True:
                code, text = await self._next_text(ch, f"directory of {vsn}", timeout)
                if code == DirectoryCode.FILEDATA:
                    result.lines.append(text)
                    continue
                on_line(code_name(DirectoryCode, code) + (f": {text}" if text else ""))
                if code == DirectoryCode.FULLPATH:
                    result.path = text
                elif code == DirectoryCode.DATE:
                    result.date = text
                elif code in (DirectoryCode.MPIRUN_ERROR, DirectoryCode.GENERATE_ERRORS):
                    result.warnings.append(text or code_name(DirectoryCode, code))
                elif code in (DirectoryCode.NO_ENVIRONMENT_VARIABLE, DirectoryCode.FILE_NOT_FOUND):
                    result.errors.append(code_name(DirectoryCode, code))
                elif code == DirectoryCode.COMPLETED:
                    return result
                elif code == DirectoryCode.FAILED:
                    why = "; ".join(result.errors + result.warnings) or "no reason given"
                    raise OperationFailed(f"directory of {vsn} on {mark5} failed: {why}")

    async def mk5_control(
        self, command_text: str, target_node: str, *, timeout: float, on_line: Callable[[str], None]
    ) -> Mk5ControlResult:
        """DifxMk5Control: 102, then 108 per stdout line and 110 per stderr line, then 101."""
        result = Mk5ControlResult(command=command_text, target_node=target_node)
        with self._request(
            lambda n: commands.command(
                commands.mk5_control(command_text=command_text, target_node=target_node, channel=n)
            )
        ) as ch:
            while True:
                code, text = await self._next_text(ch, f"mk5control {target_node}", timeout)
                if code == Mk5Code.INFORMATION:
                    result.output.append(text)
                    on_line(text)
                elif code == Mk5Code.ERROR:
                    result.errors.append(text)
                    on_line(f"error: {text}")
                elif code == Mk5Code.ENDED_GRACEFULLY:
                    return result

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
        result = Mark5CopyResult(mark5=mark5, vsn=vsn, scans=scans, destination=destination)
        with self._request(
            lambda n: commands.command(
                commands.mark5_copy(
                    mark5=mark5,
                    vsn=vsn,
                    scans=scans,
                    destination=destination,
                    channel=n,
                    difx_version=difx_version,
                )
            )
        ) as ch:
            while True:
                code, text = await self._next_text(ch, f"mark5 copy {vsn}", timeout)
                if code == DirectoryCode.GENERATE_INFO:
                    result.output.append(text)
                    on_line(text)
                elif code == DirectoryCode.MPIRUN_ERROR:
                    result.errors.append(text)
                    on_line(f"error: {text}")
                elif code == DirectoryCode.GENERATE_ERRORS:
                    result.had_errors = True
                elif code == DirectoryCode.COMPLETED:
                    if result.had_errors:
                        raise OperationFailed(
                            f"mark5 copy {vsn} ended with errors: "
                            + ("; ".join(result.errors[-3:]) or "none reported")
                        )
                    return result
