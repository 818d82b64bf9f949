"""File md5 checksums, as the archive compares them (``md5sum`` on the far side).

Why this way: ``hashlib`` releases the GIL while it hashes a large buffer, so several threads
hash several files at once, and ``readinto`` one reused buffer on an unbuffered file keeps
allocation and copying out of the loop (faster than ``read()`` in chunks). The size and mtime
come from ``fstat`` on the same open descriptor, so they describe the bytes that were hashed
even if the name is replaced meanwhile.

:func:`md5_file` blocks: call it from a worker thread or pool, or await
:func:`md5_file_async`, never on the event loop itself.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from typing import NamedTuple

DEFAULT_READ_SIZE = 4 * 1024 * 1024


class FileDigest(NamedTuple):
    """What was hashed: hex md5, size in bytes, mtime in UNIX seconds."""

    md5: str
    size: int
    mtime: float


def md5_file(path: str | os.PathLike[str], read_size: int = DEFAULT_READ_SIZE) -> FileDigest:
    """The md5 of a file's contents, with its size and mtime. Blocking; raises ``OSError``."""
    if read_size <= 0:
        raise ValueError(f"read_size must be > 0, not {read_size}")
    digest = hashlib.md5(usedforsecurity=False)
    buffer = bytearray(read_size)
    view = memoryview(buffer)
    with open(path, "rb", buffering=0) as f:
        st = os.fstat(f.fileno())
        while n := f.readinto(buffer):
            digest.update(view[:n])
    return FileDigest(digest.hexdigest(), st.st_size, st.st_mtime)


async def md5_file_async(
    path: str | os.PathLike[str], read_size: int = DEFAULT_READ_SIZE
) -> FileDigest:
    """:func:`md5_file` in the default thread pool, so the event loop keeps running."""
    return await asyncio.to_thread(md5_file, path, read_size)
