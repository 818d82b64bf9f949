"""One copy into a run's folder at a time, whoever started it and whether or not its starter
still lives.

A pass killed mid-copy may leave its copy running: on the cluster, killing the pass ends its
``ssh``, not the rsync that ssh started there. The next pass would then copy alongside it into
the same folder, each renaming files over the other's, and compare checksums while the first
still writes. So each copy runs under an exclusive ``flock`` on a folder of the host where
rsync runs (the destination when pulling, the source when pushing), taken in a shell that then
*becomes* rsync (``exec``): the lock is held by rsync and every process it forks, exactly as
long as any of them runs, and no lock file is left behind. The next copy waits for it.

Sans-I/O: :func:`locked` builds the command, :func:`explain` reads its result; the pipeline
runs it on the right host.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import replace

from socs_like.commands import CommandResult

# the wrapper's own exit statuses (rsync's stay below 36, ssh's is 255)
BUSY = 75  # the lock did not come in time
NO_LOCK = 76  # the folder could not be made or locked

# one line: the remote login shell reads it before sh does, and not every shell takes a
# newline inside quotes. `command exec`: a failed redirection returns instead of ending sh.
_SCRIPT = (
    "folder=$1; seconds=$2; create=$3; shift 3; "
    '{ [ -z "$create" ] || mkdir -p -- "$folder"; } '
    f'&& command exec 9<"$folder" || exit {NO_LOCK}; '
    f'flock -E {BUSY} -w "$seconds" 9 || {{ s=$?; [ "$s" = {BUSY} ] || s={NO_LOCK}; exit "$s"; }}; '
    'exec "$@"'
)


def locked(argv: Sequence[str], folder: str, *, wait: float, create: bool) -> list[str]:
    """``argv`` run under the lock of ``folder`` (made first with ``create``), after waiting
    at most ``wait`` seconds for an earlier holder."""
    return ["sh", "-c", _SCRIPT, "folder-lock", folder, f"{wait:g}", "1" if create else "", *argv]


def explain(result: CommandResult, argv: Sequence[str], folder: str, wait: float) -> str:
    """Why the command of ``locked(argv, folder, wait=wait)`` failed: the lock, or ``argv``
    (named as itself, not as the shell that ran it)."""
    where = f"{result.host}: " if result.host else ""
    if result.returncode == BUSY:
        return f"{where}an earlier copy into {folder} still runs after {wait:g} s"
    if result.returncode == NO_LOCK:
        tail = " | ".join(result.stderr_text.strip().splitlines()[-3:])
        return f"{where}cannot lock {folder}: {tail}"
    return replace(result, command=shlex.join(argv)).describe()
