"""DiFX operations over a `GuiClient`: what each agent task does on the wire.

Every path goes through the `PathPolicy` first, so a refused path never reaches guiServer.
Each function returns `(ok, message, data)`; waits are bounded by `timeout` and say what was
and was not confirmed when it runs out.
"""

from __future__ import annotations

import posixpath
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from . import commands
from .channels import channel_packets
from .codes import OpCode
from .errors import DiFXProtocolError
from .framing import pack_int, unpack_int
from .guiclient import ChannelClosed, GuiClient
from .jobcontrol import JobStatusCollector, StartTracker
from .machines import Machines, datastream_count, parse_machines
from .paths import PathPolicy

Result = tuple[bool, str, dict[str, Any]]
CHUNK = 64 * 1024


@dataclass
class Ops:
    client: GuiClient
    policy: PathPolicy
    timeout: float = 10.0

    async def _simple(
        self,
        doc_for: Callable[[int], bytes],
        what: str,
        collect: Callable[[Any], None] | None = None,
    ) -> Result:
        with self.client.open_channel() as ch:
            self.client.send(commands.command(doc_for(ch.number)))
            return await self._until_done(ch, what, collect)

    async def _until_done(
        self, ch: Any, what: str, collect: Callable[[Any], None] | None = None
    ) -> Result:
        """Read an operation's channel until guiServer says done or failed."""
        try:
            while True:
                reply = await ch.next(self.timeout)
                if reply.inner_id == OpCode.FAILED:
                    return False, f"{what} failed: {reply.payload.decode('utf-8', 'replace')}", {}
                if reply.inner_id == OpCode.DONE:
                    return True, f"{what}: done", {}
                if collect is not None:
                    collect(reply)
        except TimeoutError:
            return (
                False,
                f"{what}: sent, but guiServer confirmed nothing within {self.timeout:g} s",
                {},
            )
        except (ChannelClosed, DiFXProtocolError) as e:
            return False, f"{what}: {e}", {}

    async def ls(self, path: str, args: str = "") -> Result:
        path = self.policy.check(path, pattern=True)
        args = self.policy.check_flags(args)
        entries: list[str] = []

        def collect(reply: Any) -> None:
            if reply.inner_id == OpCode.LS_ENTRY:
                entries.append(reply.payload.decode("utf-8", "replace").strip())

        ok, msg, _ = await self._simple(
            lambda ch: commands.file_operation(operation="ls", path=path, arg=args, channel=ch),
            f"ls {path}",
            collect,
        )
        return ok, (f"{len(entries)} entries" if ok else msg), {"entries": entries}

    async def file_op(self, operation: str, path: str, arg: str = "") -> Result:
        path = self.policy.check(path, pattern=operation == "rm")
        arg = self.policy.check(arg) if operation == "mv" else self.policy.check_flags(arg)
        ok, msg, data = await self._simple(
            lambda ch: commands.file_operation(operation=operation, path=path, arg=arg, channel=ch),
            f"{operation} {path}" + (f" {arg}" if arg else ""),
        )
        return ok, msg, data

    async def get_file(self, remote: str, max_bytes: int) -> tuple[bool, str, bytes]:
        remote = self.policy.check(remote)
        with self.client.open_channel() as ch:
            self.client.send(
                commands.command(
                    commands.file_transfer(
                        direction="from DiFX host", origin=remote, destination="", channel=ch.number
                    )
                )
            )
            size, data = -1, bytearray()
            try:
                while True:
                    reply = await ch.next(self.timeout)
                    if reply.inner_id == OpCode.FILE_SIZE:
                        size = unpack_int(reply.payload, "file size")
                        if size > max_bytes:
                            return (
                                False,
                                f"{remote} is {size} bytes, more than the {max_bytes} allowed",
                                b"",
                            )
                    elif reply.inner_id == OpCode.FILE_DATA:
                        data += reply.payload
                        if len(data) > max_bytes:
                            return False, f"{remote}: more than {max_bytes} bytes sent", b""
                    elif reply.inner_id == OpCode.FAILED:
                        return (
                            False,
                            f"get {remote} failed: {reply.payload.decode('utf-8', 'replace')}",
                            b"",
                        )
                    elif reply.inner_id == OpCode.DONE:
                        if size >= 0 and len(data) != size:
                            return False, f"{remote}: got {len(data)} of {size} bytes", b""
                        return True, f"{remote}: {len(data)} bytes", bytes(data)
            except TimeoutError:
                return False, f"get {remote}: no reply within {self.timeout:g} s", b""
            except (ChannelClosed, DiFXProtocolError) as e:
                return False, f"get {remote}: {e}", b""

    async def send_file(self, remote: str, content: bytes) -> Result:
        remote = self.policy.check(remote)
        with self.client.open_channel() as ch:
            self.client.send(
                commands.command(
                    commands.file_transfer(
                        direction="to DiFX host", origin="", destination=remote, channel=ch.number
                    )
                )
            )
            for p in channel_packets(ch.number, OpCode.FILE_SIZE, pack_int(len(content))):
                self.client.send(p)
            for i in range(0, len(content), CHUNK):
                for p in channel_packets(ch.number, OpCode.FILE_DATA, content[i : i + CHUNK]):
                    self.client.send(p)
            result = await self._until_done(ch, f"send {remote}")
        if not result[0]:
            return result
        return True, f"{remote}: {len(content)} bytes written", {"bytes": len(content)}

    async def vex2difx(
        self,
        pass_path: str,
        v2d: str,
        calc_command: str,
        calc_only: bool,
        difx_version: str,
        on_file: Callable[[str, str], None],
    ) -> Result:
        pass_path = self.policy.check(pass_path)
        if "/" in v2d or not v2d:
            raise DiFXProtocolError(f"v2d name {v2d!r} must be a file name inside the pass path")
        self.policy.check(posixpath.join(pass_path, v2d), pattern=calc_only)
        files: dict[str, list[str]] = {"input": [], "im": []}

        def collect(reply: Any) -> None:
            path = reply.payload.decode("utf-8", "replace")
            if reply.inner_id == OpCode.NEW_INPUT_FILE:
                files["input"].append(path)
                on_file("input", path)
            elif reply.inner_id == OpCode.NEW_IM_FILE:
                files["im"].append(path)
                on_file("im", path)

        ok, msg, _ = await self._simple(
            lambda ch: commands.vex2difx_run(
                pass_path=pass_path,
                v2d_file=v2d,
                channel=ch,
                calc_command=calc_command,
                calc_only=calc_only,
                difx_version=difx_version,
            ),
            f"vex2difx {posixpath.join(pass_path, v2d)}",
            collect,
        )
        if ok:
            msg = f"{len(files['input'])} .input, {len(files['im'])} .im files"
        return ok, msg, files

    async def define_machines(
        self, input_file: str, machines: Machines, difx_version: str
    ) -> Result:
        input_file = self.policy.check(input_file)
        base = input_file.removesuffix(".input")
        mfile, tfile = self.policy.check(base + ".machines"), self.policy.check(base + ".threads")
        ok, msg, _ = await self._simple(
            lambda ch: commands.machines_definition(
                input_file=input_file,
                machines_file=mfile,
                threads_file=tfile,
                manager=machines.head,
                datastreams=machines.datastreams,
                processes=[commands.Process(n, t) for n, t in machines.processors],
                channel=ch,
                difx_version=difx_version,
            ),
            f"define machines for {input_file}",
        )
        return ok, msg, {"machines_file": mfile, "threads_file": tfile} if ok else {}

    async def get_machines(self, input_file: str, max_bytes: int) -> Result:
        input_file = self.policy.check(input_file)
        base = input_file.removesuffix(".input")
        texts = []
        for path in (input_file, base + ".machines", base + ".threads"):
            ok, msg, data = await self.get_file(path, max_bytes)
            if not ok:
                return False, msg, {}
            texts.append(data.decode("utf-8", "replace"))
        try:
            m = parse_machines(texts[1], texts[2], datastream_count(texts[0]))
        except DiFXProtocolError as e:
            return False, f"{base}: {e}", {}
        return True, f"{len(m.processors)} processors", m.as_dict()

    async def job_status(self, pattern: str, short: bool = True) -> Result:
        pattern = self.policy.check(pattern, pattern=True)
        collector = JobStatusCollector()
        with self.client.open_channel() as ch:
            self.client.send(commands.get_job_status(pattern, ch.number, short=short))
            try:
                while not collector.done:
                    reply = await ch.next(self.timeout)
                    collector.apply(reply.inner_id, reply.payload)
            except TimeoutError:
                return (
                    False,
                    f"job status {pattern}: incomplete after {self.timeout:g} s",
                    {"jobs": collector.jobs},
                )
            except (ChannelClosed, DiFXProtocolError) as e:
                return False, f"job status {pattern}: {e}", {"jobs": collector.jobs}
        return (
            True,
            f"{len(collector.jobs)} jobs",
            {"jobs": collector.jobs, "errors": collector.errors},
        )

    async def start_job(
        self,
        input_file: str,
        machines: Machines,
        *,
        difx_version: str,
        force: bool,
        function: str,
        wait: bool,
        on_reply: Callable[[StartTracker, str], None],
        stop_requested: Callable[[], Awaitable[bool]],
    ) -> Result:
        input_file = self.policy.check(input_file)
        tracker = StartTracker(input_file)
        with self.client.open_channel() as ch:
            self.client.send(
                commands.command(
                    commands.difx_start(
                        input_file=input_file,
                        channel=ch.number,
                        manager=machines.head,
                        datastreams=machines.datastreams,
                        processes=[commands.Process(n, t) for n, t in machines.processors],
                        difx_version=difx_version,
                        force=force,
                        function=function,
                    )
                )
            )
            while tracker.outcome is None:
                try:
                    reply = await ch.next(0.5)
                except TimeoutError:
                    if await stop_requested():
                        return (
                            False,
                            f"{input_file}: stopped waiting (job phase {tracker.phase})",
                            {},
                        )
                    continue
                except (ChannelClosed, DiFXProtocolError) as e:
                    return False, f"{input_file}: {e} (job phase {tracker.phase})", {}
                on_reply(tracker, tracker.apply(reply.inner_id, reply.payload))
                if tracker.started and not wait:
                    return True, f"{input_file}: started", {"phase": tracker.phase}
        return tracker.outcome.ok, tracker.outcome.message, {"phase": tracker.phase}

    async def stop_job(self, input_file: str) -> str:
        input_file = self.policy.check(input_file)
        self.client.send(commands.command(commands.difx_stop(input_file=input_file)))
        return input_file


def processors_from(items: Sequence[Any]) -> tuple[tuple[str, int], ...]:
    out = []
    for item in items:
        if isinstance(item, dict) and isinstance(item.get("node"), str):
            out.append((item["node"], int(item.get("threads", 1))))
        elif isinstance(item, str):
            node, _, threads = item.partition(":")
            out.append((node, int(threads or 1)))
        else:
            raise ValueError(f"processor {item!r}: give 'node:threads' or {{'node', 'threads'}}")
    return tuple(out)
