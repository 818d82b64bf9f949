"""Raw channel replies, sans-I/O: what ls, vex2difx and file transfers write on their channel.

These operations write bytes straight onto the reply path instead of inner packets:
- `RecordReader` (ls, vex2difx): records of `int32 len` + `len` bytes, ended by `int32 0`.
  ls keeps each line's trailing newline; vex2difx sends bare paths.
- `SizedReader` (file get): `int32 n`, then `n` bytes when `n >= 0`; a negative `n` is the
  server's failure code and nothing follows.
- `int_reply` (file send): a single int32.

Bytes come in whatever pieces the transport delivers; `feed` takes them and the reader says
when it is complete. A malformed stream raises `RemoteProtocolError` naming what was wrong.
"""

from __future__ import annotations

import struct
from typing import Final

from .errors import RemoteProtocolError

_INT: Final = struct.Struct(">i")


class RecordReader:
    """Length-prefixed records until a zero length."""

    def __init__(self, max_record: int = 1 << 20) -> None:
        self._buffer = bytearray()
        self._max_record = max_record
        self.records: list[bytes] = []
        self.done = False

    def feed(self, data: bytes) -> list[bytes]:
        """Buffer `data`; return the records it completed (none after the end)."""
        if self.done:
            if data:
                raise RemoteProtocolError(f"{len(data)} bytes after the end of the list")
            return []
        self._buffer += data
        out: list[bytes] = []
        while len(self._buffer) >= 4:
            (n,) = _INT.unpack_from(self._buffer)
            if n == 0:
                self.done = True
                if len(self._buffer) > 4:
                    raise RemoteProtocolError(
                        f"{len(self._buffer) - 4} bytes after the end of the list"
                    )
                del self._buffer[:]
                break
            if n < 0 or n > self._max_record:
                raise RemoteProtocolError(
                    f"record length {n} is outside 1..{self._max_record}: the list is corrupt"
                )
            if len(self._buffer) < 4 + n:
                break
            out.append(bytes(self._buffer[4 : 4 + n]))
            del self._buffer[: 4 + n]
        self.records += out
        return out


class SizedReader:
    """`int32 n` then `n` bytes; a negative `n` ends it with `status` < 0."""

    def __init__(self, max_bytes: int) -> None:
        self._buffer = bytearray()
        self._max_bytes = max_bytes
        self.status: int | None = None
        self.done = False

    @property
    def received(self) -> int:
        return len(self._buffer)

    def feed(self, data: bytes) -> None:
        if self.status is None:
            self._buffer += data
            if len(self._buffer) < 4:
                return
            (self.status,) = _INT.unpack_from(self._buffer)
            del self._buffer[:4]
            if self.status > self._max_bytes:
                raise RemoteProtocolError(
                    f"the file is {self.status} bytes, more than the {self._max_bytes} allowed"
                )
        else:
            self._buffer += data
        if self.status < 0 and self._buffer:
            raise RemoteProtocolError(f"{len(self._buffer)} bytes after failure {self.status}")
        if len(self._buffer) > max(self.status, 0):
            raise RemoteProtocolError(
                f"{len(self._buffer)} bytes received, {self.status} announced"
            )
        self.done = self.status < 0 or len(self._buffer) == self.status

    @property
    def data(self) -> bytes:
        return bytes(self._buffer)


def int_reply(data: bytes) -> int:
    """The single int32 a file send answers with."""
    if len(data) != 4:
        raise RemoteProtocolError(f"expected a 4-byte reply, got {len(data)} bytes")
    return int(_INT.unpack(data)[0])
