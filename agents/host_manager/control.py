"""The HostManager's line to its supervisor: JSON lines over the supervisor's Unix socket.

Sans-agent: plain asyncio, typed, usable from any asyncio code (the protocol is in
`socs_like.supervisor`'s doc).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from socs_like import OpFailed


class HostManagerError(OpFailed):
    """The root of this agent's foreseen failures: the supervisor said no, or is away."""


class SupervisorAway(HostManagerError):
    """The supervisor's socket cannot be reached or closed."""


async def _open(path: Path) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    try:
        return await asyncio.open_unix_connection(str(path), limit=16 * 1024 * 1024)
    except OSError as exc:
        raise SupervisorAway(f"cannot reach socs-like up at {path}: {exc.strerror}") from None


async def _answer(reader: asyncio.StreamReader, path: Path) -> dict[str, Any]:
    line = await reader.readline()
    if not line:
        raise SupervisorAway(f"socs-like up closed its socket {path}")
    answer: dict[str, Any] = json.loads(line)
    if not answer.get("ok"):
        raise HostManagerError(str(answer.get("error")))
    return answer


async def request(path: Path, op: str, **fields: Any) -> dict[str, Any]:
    """One request; the supervisor's answer, or `HostManagerError` with its reason."""
    reader, writer = await _open(path)
    try:
        writer.write(json.dumps({"op": op, **fields}).encode() + b"\n")
        await writer.drain()
        return await _answer(reader, path)
    finally:
        writer.close()


async def watch(path: Path) -> AsyncIterator[list[dict[str, Any]]]:
    """The instances' states now and after every change, until the socket closes."""
    reader, writer = await _open(path)
    try:
        writer.write(b'{"op": "watch"}\n')
        await writer.drain()
        while True:
            yield (await _answer(reader, path))["instances"]
    finally:
        writer.close()
