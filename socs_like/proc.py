"""Processes and the ports they listen on, as /proc shows them: for errors that name what
holds a port or a folder ("port 8001 is in use by pid 4242 (crossbar-worker)") instead of
leaving a person to guess. Other users' processes are hidden from a non-root caller: then
nobody is found. A process that exits meanwhile is taken as gone, never as an error."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


def comm(pid: int) -> str:
    """The process's name (``/proc/PID/comm``: 15 characters at most); "" when gone."""
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def listening(port: int) -> list[int]:
    """Pids holding a TCP socket that listens on `port` (any address, IPv4 or IPv6)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                # local address "ADDR:PORT" in hex; state 0A is LISTEN
                if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "0A":
                    inodes.add(f"socket:[{fields[9]}]")
    if not inodes:
        return []
    return [int(e) for e in os.listdir("/proc") if e.isdigit() and _open_files(int(e)) & inodes]


def _open_files(pid: int) -> set[str]:
    """What the process's file descriptors point at (``socket:[INODE]`` for sockets)."""
    found = set()
    with contextlib.suppress(OSError):
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                found.add(os.readlink(f"/proc/{pid}/fd/{fd}"))
    return found


def process_alive(pid: int) -> bool:
    """Whether ``pid`` runs; a zombie (dead, not yet reaped) counts as gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"
