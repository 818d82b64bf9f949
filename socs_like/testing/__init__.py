"""Test support: a real hub, real agent processes, clients, sshd and PostgreSQL.

The fixtures come from the pytest plugin (`socs_like.testing.plugin`, registered by entry
point); the small utilities (free port, waiting, md5, a private event loop) live in
`socs_like.testing.util`, process trees in `socs_like.testing.procs`; both are re-exported here.
"""

from __future__ import annotations

from .procs import descendants, process_alive
from .util import (
    free_port,
    md5_hex,
    run_in_new_loop,
    wait_until,
    wait_until_async,
)

__all__ = [
    "descendants",
    "free_port",
    "md5_hex",
    "process_alive",
    "run_in_new_loop",
    "wait_until",
    "wait_until_async",
]
