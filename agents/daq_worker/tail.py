"""Reading the last lines of a file backwards, block by block (sans-I/O).

The I/O side asks ``next_read()`` for an ``(offset, length)``, reads it, and hands the bytes to
``feed()``, until ``next_read()`` returns ``None``; then ``lines()`` gives the answer. Only as
much of the file as the lines need is read, however large the log, and never more than
``max_bytes`` (a file without newlines would otherwise be read whole).
"""

from __future__ import annotations

DEFAULT_BLOCK = 16 * 1024
DEFAULT_MAX_BYTES = 1024 * 1024


class TailReader:
    def __init__(
        self,
        size: int,
        num_lines: int,
        block: int = DEFAULT_BLOCK,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        if num_lines < 0:
            raise ValueError(f"num_lines must be >= 0, not {num_lines}")
        if block <= 0:
            raise ValueError(f"block must be > 0, not {block}")
        self.num_lines = num_lines
        self.block = block
        self.max_bytes = max_bytes
        self._start = size  # offset of the first byte held in _data
        self._data = b""
        self._pending: tuple[int, int] | None = None

    def _enough(self) -> bool:
        # a trailing newline ends the last line, it does not start another
        body = self._data[:-1] if self._data.endswith(b"\n") else self._data
        return body.count(b"\n") >= self.num_lines

    def next_read(self) -> tuple[int, int] | None:
        room = self.max_bytes - len(self._data)
        if self.num_lines == 0 or self._start == 0 or room <= 0 or self._enough():
            return None
        length = min(self.block, self._start, room)
        self._pending = (self._start - length, length)
        return self._pending

    def feed(self, data: bytes) -> None:
        if self._pending is None:
            raise RuntimeError("feed() called without a pending next_read()")
        offset, length = self._pending
        self._pending = None
        if len(data) != length:
            # the file shrank or was rotated under us: keep what we got, read no further back
            self._data = data + self._data
            self._start = 0
            return
        self._data = data + self._data
        self._start = offset

    def lines(self) -> list[str]:
        """The last ``num_lines`` lines, without line endings (``\n`` or ``\r\n``)."""
        if self.num_lines == 0 or not self._data:
            return []
        body = self._data[:-1] if self._data.endswith(b"\n") else self._data
        lines = body.split(b"\n")
        if self._start > 0:
            lines = lines[1:]  # cut by the block boundary: not a whole line
        return [
            line.removesuffix(b"\r").decode("utf-8", errors="replace")
            for line in lines[-self.num_lines :]
        ]
