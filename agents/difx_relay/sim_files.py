"""File operations and file transfers of the simulated guiServer (spec §6.1-6.3).

The real server runs shell commands on whatever path it is given; ours acts inside its sandbox
only, and a path outside it behaves as a path that does not exist there. What goes back to the
client is the real server's, byte for byte:

- `ls`: raw records (int32 length, the line *with* its `\\n`), then int32 0; no codes, and a
  failed listing is just an empty one (src/difxFileOperation.cpp:125-186).
- mkdir/rmdir/touch/rm/mv/cp: carried out, **nothing** sent, no channel opened (:59-122); what
  the command printed goes to the console as an alert.
- get (`from DiFX`): raw int32 size (or -1/-2/-3), then the bytes in writes of at most 1024
  (src/difxFileTransfer.cpp:217-312).
- send (`to DiFX`): read int32 N, then N bytes in reads of min(1024, left); each block is kept
  up to its first NUL, as the server's `fprintf("%s")` does; answer raw int32 N or -1/-2/-3/-5
  (:83-203).
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
from typing import Final

from .sim_request import Command
from .sim_wire import OpContext, ReplyPath, int32, record

BLOCK: Final = 1024
# `ls` options we pass on: flags only, so no client text ever reaches a shell.
_LS_FLAG_CHARS: Final = frozenset("-1ACFGRSXadfghiklmnopqrstuvx")
# Uploads bigger than this are refused by reading nothing and answering -2: the simulator keeps
# an upload in memory, and no legitimate text file sent to a correlator comes near it.
MAX_UPLOAD: Final = 64 * 1024 * 1024


def _expand(ctx: OpContext, pattern: str) -> list[str]:
    """What the shell would hand the command for `pattern`, restricted to the sandbox: the
    sorted glob matches, or the text itself when nothing matches (as sh does)."""
    words: list[str] = []
    for word in pattern.split():
        real = ctx.inside(word)
        if real is None:
            continue
        matches = sorted(glob.glob(real)) if glob.has_magic(real) else [real]
        words.extend(m for m in matches if ctx.inside(m) is not None)
    return words


def _ls_lines(ctx: OpContext, arg: str, path: str) -> list[bytes]:
    flags = [w for w in arg.split() if w.startswith("-") and set(w) <= _LS_FLAG_CHARS]
    if len(flags) != len(arg.split()):
        return []  # an argument we will not pass on: the listing fails, quietly, as ls does
    targets = _expand(ctx, path)
    if path.split() and not targets:
        return []
    if not targets:
        targets = [ctx.sandbox]  # `ls` with no path lists the working directory
    # Run the real ls (no shell, confined targets) so listings look like the real thing.
    proc = subprocess.run(
        ["ls", *flags, "--", *targets], capture_output=True, timeout=30, check=False
    )
    return proc.stdout.splitlines(keepends=True)


def ls_paths(ctx: OpContext, pattern: str) -> list[str]:
    """The lines `ls PATTERN` prints, without their newlines (for job status)."""
    try:
        lines = _ls_lines(ctx, "", pattern)
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.rstrip(b"\n").decode("utf-8", "replace") for line in lines]


async def _reply_path(ctx: OpContext, cmd: Command) -> ReplyPath | None:
    """The channel `ls` and `from DiFX` answer on; when it cannot be opened, the server's
    console alert and None."""
    path = await ctx.open_path(cmd.text("address"), cmd.number("port"))
    if path is None:
        ctx.alert(
            f"Client address: {cmd.text('address')}   port: {cmd.number('port')} "
            "- connection FAILED",
            "ERROR",
        )
    return path


async def ls(ctx: OpContext, cmd: Command) -> None:
    path = await _reply_path(ctx, cmd)
    if path is None:
        return
    try:
        lines = _ls_lines(ctx, cmd.text("arg"), cmd.text("path"))
    except (OSError, subprocess.SubprocessError):
        lines = []
    for line in lines:
        record(path, line)
    path.write(int32(0))
    await path.close()


def file_operation(ctx: OpContext, cmd: Command) -> bool:
    """mkdir/rmdir/touch/rm/mv/cp, synchronously and silently. Returns False for `ls` (which
    runs in its own task) so the caller can start it."""
    op, target, arg = cmd.text("operation"), cmd.text("path"), cmd.text("arg")
    if op == "ls":
        return False
    try:
        if op == "mkdir":
            for p in _creatable(ctx, target):
                os.makedirs(p, exist_ok=True)
        elif op == "rmdir":
            for p in _expand(ctx, target):
                os.rmdir(p)
        elif op == "touch":
            for p in _creatable(ctx, target):
                with open(p, "a"):
                    os.utime(p)
        elif op == "rm":
            recursive = any(f.startswith("-") and ("r" in f or "R" in f) for f in arg.split())
            for p in _expand(ctx, target):
                if recursive and os.path.isdir(p) and not os.path.islink(p):
                    shutil.rmtree(p)
                else:
                    os.unlink(p)
        elif op in ("mv", "cp"):
            if op == "mv" and not arg.startswith("/"):
                ctx.alert(
                    f'Destination of DifxFileOperation "mv" request ({arg}) must be a '
                    "complete path",
                    "ERROR",
                )
                return True
            dest = ctx.inside(arg)
            if dest is None:
                ctx.alert(f"{op}: cannot reach {arg}", "INFO")
                return True
            for p in _expand(ctx, target):
                if op == "mv":
                    shutil.move(p, dest)
                elif os.path.isdir(p):
                    ctx.alert(f"cp: -r not specified; omitting directory '{p}'", "INFO")
                else:
                    shutil.copy(p, dest)
        else:
            ctx.alert(
                f'Illegal DifxFileOperation request received - operation "{op}" is not permitted',
                "ERROR",
            )
    except OSError as e:
        level = "ERROR" if op in ("mkdir", "rmdir", "touch") else "INFO"
        ctx.alert(f"{op}: {e.filename}: {e.strerror}", level)
    return True


def _creatable(ctx: OpContext, target: str) -> list[str]:
    return [real for word in target.split() if (real := ctx.inside(word)) is not None]


async def get_file(ctx: OpContext, cmd: Command) -> None:
    """`from DiFX`: int32 status/size, then the bytes."""
    origin = cmd.text("origin")
    data = b""
    if not origin.startswith("/"):
        size = -1
    else:
        real = ctx.inside(origin)
        if real is None or not os.path.exists(real):
            size = -2
        else:
            try:
                with open(real, "rb") as f:
                    data = f.read()
                size = len(data)
            except PermissionError:
                size = -3
            except OSError:
                size = -2
    path = await _reply_path(ctx, cmd)
    if path is None:
        return
    path.write(int32(size))
    for i in range(0, max(size, 0), BLOCK):
        path.write(data[i : i + BLOCK])
    await path.close()


async def send_file(ctx: OpContext, cmd: Command) -> None:
    """`to DiFX`: the client uploads int32 N and N bytes; we answer int32 N or a failure."""
    address, port = cmd.text("address"), cmd.number("port")
    path = await ctx.open_path(address, port)
    if path is None:
        ctx.alert(f"Client address: {address}   port: {port} - transfer FAILED", "ERROR")
        return
    size = int.from_bytes(await path.read_exact(4), "big", signed=True)
    kept = bytearray()
    count = 0
    if size > MAX_UPLOAD:
        status = -2
    else:
        while count < size:
            block = await path.read_exact(min(BLOCK, size - count))
            count += len(block)
            kept += block.split(b"\0", 1)[0]
        status = _store(ctx, cmd.text("destination"), bytes(kept), size)
    path.write(int32(status))
    await path.close()


def _store(ctx: OpContext, destination: str, data: bytes, size: int) -> int:
    if not destination.startswith("/"):
        return -1
    real = ctx.inside(destination)
    parent = os.path.dirname(real) if real is not None else None
    if real is None or parent is None or not os.path.exists(parent):
        return -2
    if not os.path.isdir(parent):
        return -5
    try:
        with open(real, "wb") as f:
            f.write(data)
    except PermissionError:
        return -3
    except OSError as e:
        # The real server does not notice a failed cp and still answers N (spec §6.3).
        ctx.alert(f"cp to {destination}: {e.strerror}", "ERROR")
    return size
