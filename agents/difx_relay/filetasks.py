"""The DiFXRelay tasks on files of the DiFX host: ls, mkdir, rmdir, touch, rm, mv, cp, get_file and
send_file. Each maps its session to `operations.Ops` (the wire) and `localfiles` (this host)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from socs_like import OpSession, param

from .errors import LocalProtocolError
from .localfiles import LocalFiles
from .models import INLINE_FILE_LIMIT, Result, done
from .operations import Ops


@dataclass
class FileTasks:
    ops: Callable[[], Ops]  # the operations on the current connection
    local: LocalFiles
    to_thread: Callable[..., Awaitable[Any]]  # the agent's worker threads

    NAMES = ("ls", "mkdir", "rmdir", "touch", "rm", "mv", "cp", "get_file", "send_file")

    @param("path", type=str)
    @param("args", type=str, default="")
    async def ls(self, session: OpSession, params: dict[str, Any]) -> Result:
        """ls(path, args=""): `ls ARGS PATH` (wildcards allowed); entries in session data.
        A missing path lists as empty (guiServer drops ls's errors)."""
        result = await self.ops().ls(**params)
        return done(session, result, f"{len(result.entries)} entries")

    async def _file_op(
        self, session: OpSession, operation: str, path: str, arg: str = ""
    ) -> Result:
        result = await self.ops().file_op(operation, path, arg)
        found = ", ".join(f"{p} {'exists' if e else 'is gone'}" for p, e in result.exists.items())
        return done(session, result, f"{operation} {result.path}: done; ls shows {found}")

    @param("path", type=str)
    async def mkdir(self, session: OpSession, params: dict[str, Any]) -> Result:
        """mkdir(path): create a directory with its parents; checked by an ls afterwards."""
        return await self._file_op(session, "mkdir", params["path"])

    @param("path", type=str)
    async def rmdir(self, session: OpSession, params: dict[str, Any]) -> Result:
        """rmdir(path): remove an empty directory; checked by an ls afterwards."""
        return await self._file_op(session, "rmdir", params["path"])

    @param("path", type=str)
    async def touch(self, session: OpSession, params: dict[str, Any]) -> Result:
        """touch(path): create a file or update its time; checked by an ls afterwards."""
        return await self._file_op(session, "touch", params["path"])

    @param("path", type=str)
    @param("args", type=str, default="")
    async def rm(self, session: OpSession, params: dict[str, Any]) -> Result:
        """rm(path, args=""): remove files (wildcards allowed), with rm flags such as "-r";
        checked by an ls afterwards."""
        return await self._file_op(session, "rm", params["path"], params["args"])

    @param("path", type=str)
    @param("destination", type=str)
    async def mv(self, session: OpSession, params: dict[str, Any]) -> Result:
        """mv(path, destination): move a file; both inside the allowed roots."""
        return await self._file_op(session, "mv", params["path"], params["destination"])

    @param("path", type=str)
    @param("destination", type=str)
    async def cp(self, session: OpSession, params: dict[str, Any]) -> Result:
        """cp(path, destination): copy a file; both inside the allowed roots."""
        return await self._file_op(session, "cp", params["path"], params["destination"])

    @param("path", type=str)
    @param("local_path", type=str, default=None)
    async def get_file(self, session: OpSession, params: dict[str, Any]) -> Result:
        """get_file(path, local_path=None): fetch a file; to local_path (under --local-root)
        or, up to 256 KiB, as text in session data."""
        local = self.local.resolve(params["local_path"]) if params["local_path"] else None
        limit = self.local.max_bytes if local else INLINE_FILE_LIMIT
        result = await self.ops().get_file(params["path"], limit)
        session.data.update(result.as_data())  # path and size, even if the write fails
        if local is None:
            result.text = result.data.decode("utf-8", "replace")
            return done(session, result, f"{result.path}: {result.size} bytes")
        await self.to_thread(self.local.write, local, result.data)
        result.local_path = local
        return done(session, result, f"{result.path}: {result.size} bytes written to {local}")

    @param("path", type=str)
    @param("local_path", type=str, default=None)
    @param("content", type=str, default=None)
    async def send_file(self, session: OpSession, params: dict[str, Any]) -> Result:
        """send_file(path, local_path=None, content=None): write a text file on the DiFX host
        from a local file (under --local-root) or from the given text."""
        if (params["local_path"] is None) == (params["content"] is None):
            raise LocalProtocolError("give exactly one of local_path and content")
        if params["local_path"] is not None:
            local = self.local.resolve(params["local_path"])
            data = await self.to_thread(self.local.read, local)
        else:
            data = params["content"].encode("utf-8")
        result = await self.ops().send_file(params["path"], data)
        return done(session, result, f"{result.path}: {result.size} bytes written")
