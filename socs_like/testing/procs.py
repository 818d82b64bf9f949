"""Processes as /proc shows them: trees, names, memory, and the ones a run marked as its own.

For tests and benchmarks that hit real processes (a fault campaign kills an agent's rsync
child, a test drops an sshd with its connections) and must leave nothing behind. Every
function reads /proc afresh and takes a process that exits meanwhile as gone, never as an
error.

A run marks what it starts by an environment variable that every descendant inherits
(`marked`), so processes that left their parent's tree (daemons, a child in its own
session) are found and stopped too (`kill_marked`).
"""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path

from ..proc import comm as comm
from ..proc import listening as listening
from ..proc import process_alive as process_alive


def children_by_parent() -> dict[int, list[int]]:
    """Every process's children, by parent pid."""
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue  # exited while we looked
        # the command name may hold spaces and parentheses: the fields start after the last ')'
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        tree.setdefault(ppid, []).append(int(entry))
    return tree


def descendants(pid: int) -> list[int]:
    """The children of `pid`, their children, and so on (not `pid` itself)."""
    tree = children_by_parent()
    found: list[int] = []
    todo = list(tree.get(pid, []))
    while todo:
        child = todo.pop()
        found.append(child)
        todo.extend(tree.get(child, []))
    return found


def cmdline(pid: int) -> list[str]:
    """The process's arguments; [] when gone (or a zombie)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [a.decode(errors="replace") for a in raw.split(b"\0") if a]


def rss_kib(pid: int) -> int | None:
    """Resident memory (VmRSS, KiB); None when the process is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def wakeups(pid: int) -> int:
    """How often the process's threads went to sleep and were woken again (their voluntary
    context switches): what an idle process costs beyond its work; 0 when it is gone."""
    total = 0
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError):
                for line in Path(f"/proc/{pid}/task/{task}/status").read_text().splitlines():
                    if line.startswith("voluntary_ctxt_switches:"):
                        total += int(line.split()[1])
    return total


def marked(name: str, value: str) -> list[int]:
    """Pids whose environment holds ``name=value`` (other users' processes need root)."""
    needle = f"{name}={value}".encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            environ = Path(f"/proc/{entry}/environ").read_bytes()
        except OSError:
            continue
        if needle in environ.split(b"\0"):
            found.append(int(entry))
    return found


def signal_all(pids: list[int], sig: signal.Signals) -> None:
    """Send `sig` to each pid that still exists."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def kill_marked(name: str, value: str) -> list[int]:
    """SIGKILL every process marked ``name=value`` (a stopped one too); the pids it found."""
    pids = marked(name, value)
    signal_all(pids, signal.SIGKILL)
    return pids
