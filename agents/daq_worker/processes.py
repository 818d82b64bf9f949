"""Finding the worker's programs from ``ps`` and ``lsof -F`` output (sans-I/O).

``ps -A -o pid= -o comm=`` is the portable listing: Linux prints the command name truncated to
15 characters (the kernel's ``TASK_COMM_LEN``), so ``getEccSoapServer`` appears as
``getEccSoapServe``; macOS prints the executable's full path. ``program_matches`` accepts both.

One remote command (``probe_command``) asks for both, so each check costs one shell start on
the worker (which, with a heavy shell rc file, is most of a check's time); ``parse_probe``
splits its output again.

``lsof -a -d cwd -c NAME -Fpcn`` prints one record per process: ``p<pid>``, ``c<command>``,
then a file set (``f<fd>``, ``n<name>``). ``lsof -c`` matches name *prefixes*, so a ``c``
line naming another program (``dataRouterOld``) is an answer to refuse, not to use.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from .errors import ProgramNotRunning, RemoteError

PS_COMMAND = "ps -A -o pid= -o comm="
LINUX_COMM_LEN = 15


@dataclass(frozen=True, kw_only=True)
class ProcessEntry:
    pid: int
    command: str


@dataclass(frozen=True, kw_only=True)
class ProcessCwd:
    pid: int
    command: str
    cwd: str


def program_matches(command: str, program: str) -> bool:
    """Whether a ``ps``/``lsof`` command name is ``program`` (by basename, truncation allowed)."""
    base = command.rsplit("/", 1)[-1]
    if base == program:
        return True
    return (
        len(base) == LINUX_COMM_LEN and len(program) > LINUX_COMM_LEN and program.startswith(base)
    )


def parse_ps(text: str) -> list[ProcessEntry]:
    """Parse ``ps -A -o pid= -o comm=``; lines that are not ``<pid> <name>`` are skipped."""
    entries = []
    for line in text.splitlines():
        parts = line.strip().split(None, 1)
        if len(parts) != 2 or not parts[0].isdigit():
            continue
        entries.append(ProcessEntry(pid=int(parts[0]), command=parts[1].strip()))
    return entries


def pids_of(entries: list[ProcessEntry], program: str) -> list[int]:
    return [e.pid for e in entries if program_matches(e.command, program)]


LSOF_MARK = "@@lsof"
LSOF_MISSING = "@@lsof-missing"
LSOF_SKIPPED = "@@lsof-skipped"  # auto on a host with /proc: read /proc/<pid>/cwd instead


@dataclass(frozen=True, kw_only=True)
class Probe:
    processes: list[ProcessEntry]
    lsof: list[ProcessCwd] | None  # None: lsof did not run
    lsof_missing: bool = False


def lsof_cwd_command(program: str) -> str:
    # -b: never call stat/readlink, which hang on a dead network mount; -w: no warnings
    return f"lsof -b -w -a -d cwd -c {shlex.quote(program)} -Fpcn"


def probe_command(data_router: str, cwd_method: str) -> str:
    """``ps``, and for ``lsof``/``auto`` the router's working directory by lsof.

    ``auto`` runs lsof only on hosts without ``/proc`` (macOS): ``/proc/<pid>/cwd`` is
    cheaper and cannot hang."""
    if cwd_method == "proc":
        return PS_COMMAND
    lsof = (
        f"if command -v lsof >/dev/null 2>&1; then {lsof_cwd_command(data_router)}; "
        f"else echo {LSOF_MISSING}; fi"
    )
    if cwd_method == "auto":
        lsof = f"if [ -e /proc/self/cwd ]; then echo {LSOF_SKIPPED}; else {lsof}; fi"
    return f"{PS_COMMAND}; echo {LSOF_MARK}; {lsof}; true"


def parse_probe(text: str) -> Probe:
    """Split ``probe_command`` output; ``RemoteError`` when lsof's part is not lsof output."""
    ps_part, mark, lsof_part = text.partition(f"{LSOF_MARK}\n")
    processes = parse_ps(ps_part)
    if not mark or lsof_part.strip() == LSOF_SKIPPED:
        return Probe(processes=processes, lsof=None)
    if lsof_part.strip() == LSOF_MISSING:
        return Probe(processes=processes, lsof=None, lsof_missing=True)
    return Probe(processes=processes, lsof=parse_lsof(lsof_part))


def parse_lsof(text: str) -> list[ProcessCwd]:
    """Parse ``lsof -F`` output selecting ``p``, ``c`` and ``n``: one entry per named file.

    Raises ``RemoteError`` when the output is not in lsof's field format.
    """
    found: list[ProcessCwd] = []
    pid: int | None = None
    command = ""
    for line in text.splitlines():
        if not line:
            continue
        tag, value = line[0], line[1:]
        if tag == "p":
            if not value.isdigit():
                raise RemoteError(f"lsof printed a bad process id line: {line!r}")
            pid, command = int(value), ""
        elif tag == "c":
            command = value
        elif tag == "n":
            if pid is None:
                raise RemoteError(f"lsof printed a file name before any process: {line!r}")
            found.append(ProcessCwd(pid=pid, command=command, cwd=value))
        elif not tag.isalpha():
            raise RemoteError(f"lsof printed a line that is not a field: {line!r}")
    return found


def single_cwd(found: list[ProcessCwd], program: str) -> str:
    """The one working directory of ``program`` among ``found``, or a clear error."""
    if not found:
        raise ProgramNotRunning(f"{program} is not running (no process found)")
    others = sorted({f.command for f in found if not program_matches(f.command, program)})
    if others:
        raise RemoteError(f"looked for {program} but found {', '.join(others)}")
    cwds = sorted({f.cwd for f in found})
    if len(cwds) > 1:
        raise RemoteError(
            f"{len(found)} {program} processes run in different directories: {', '.join(cwds)}"
        )
    return cwds[0]
