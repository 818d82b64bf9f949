"""What can go wrong talking to a DAQ worker, as one exception tree.

``WorkerError`` is the root; it is the framework's :class:`socs_like.commands.CommandError`
(the SSH pool raises those), itself an :class:`~socs_like.ops.OpFailed`, so an operation that
lets one propagate ends failed with its message and no traceback. Below it:

- ``RequestError``: we were asked for something illegal (a bad experiment name, a path outside
  the allowed roots); nothing was sent to the worker.
- ``ConnectError``: the worker could not be reached or would not let us in. ``state`` names
  the situation for the monitor (``unreachable``, ``host-key-rejected``, ``auth-failed``).
- ``RemoteError``: the worker answered, but not with what we need (a program not running, a
  command that failed or timed out, an SFTP error).
"""

from __future__ import annotations

from socs_like.commands import (
    AuthenticationFailed,
    CommandError,
    CommandFailed,
    CommandTimeout,
    ConnectError,
    HostKeyRejected,
    RemoteError,
)

WorkerError = CommandError

__all__ = [
    "AuthenticationFailed",
    "CommandFailed",
    "CommandTimeout",
    "ConnectError",
    "HostKeyRejected",
    "ProgramNotRunning",
    "RemoteError",
    "RequestError",
    "WorkerError",
]


class RequestError(WorkerError, ValueError):
    """The caller asked for something we refuse to do (checked before any I/O)."""


class ProgramNotRunning(RemoteError):
    """The data router (or another watched program) is not running on the worker."""
