"""Local md5 checksums, computed in worker threads with large reads.

``hashlib`` releases the GIL while it hashes a buffer, so several threads hash several files
at once; ``readinto`` a reused buffer keeps allocation out of the loop. These functions block:
the agent runs them in its checksum pool, never on the event loop.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence

from socs_like_agents.filedb.queries import Checksum, Registered

DEFAULT_READ_SIZE = 4 * 1024 * 1024


def md5_file(path: str, read_size: int = DEFAULT_READ_SIZE) -> tuple[str, int, float]:
    """(hex md5, size, mtime) of a file, stat'ed on the open descriptor."""
    digest = hashlib.md5(usedforsecurity=False)
    buffer = bytearray(read_size)
    view = memoryview(buffer)
    with open(path, "rb", buffering=0) as f:
        st = os.fstat(f.fileno())
        while n := f.readinto(buffer):
            digest.update(view[:n])
    return digest.hexdigest(), st.st_size, st.st_mtime


def checksum_rows(rows: Sequence[Registered], read_size: int = DEFAULT_READ_SIZE) -> list[Checksum]:
    """Checksums for a batch of registered rows; a file that cannot be read gets its error."""
    out = []
    for row in rows:
        try:
            md5, size, mtime = md5_file(row.local_path, read_size)
        except OSError as exc:
            out.append(
                Checksum(id=row.id, md5=None, error=f"{exc.strerror or exc}: {row.local_path}")
            )
        else:
            out.append(Checksum(id=row.id, md5=md5, size=size, mtime=mtime))
    return out
