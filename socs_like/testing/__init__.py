"""Test support: a real hub, real agent processes, clients, sshd and PostgreSQL.

The fixtures come from the pytest plugin (`socs_like.testing.plugin`, registered by entry
point); the small utilities (free port, waiting, md5, a private event loop) live in
`socs_like.testing.util`, process trees in `socs_like.testing.procs`; both are re-exported here.

`make test` runs the suite on two pytest-xdist workers, each a test session of its own: every
session service is started once per worker, so each takes free ports, a private folder and
names of its own (databases and network namespaces carry the process id). A new fixture or test
does the same: no fixed port, fixed /tmp path or machine-wide name, and no clean-up by process
name (it would end the other worker's processes).
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
