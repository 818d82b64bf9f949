"""What can go wrong talking to a DAQ worker, as one exception tree.

``WorkerError`` is the root. Below it:
- ``RequestError``: we were asked for something illegal (a bad experiment name, a path outside
  the allowed roots); nothing was sent to the worker.
- ``ConnectError``: the worker could not be reached or would not let us in. ``state`` names
  the situation for the monitor (``unreachable``, ``host-key-rejected``, ``auth-failed``).
- ``RemoteError``: the worker answered, but not with what we need (a program not running, a
  command that failed or timed out, an SFTP error).
"""

from __future__ import annotations


class WorkerError(Exception):
    """Root of every error this package raises on purpose."""


class RequestError(WorkerError, ValueError):
    """The caller asked for something we refuse to do (checked before any I/O)."""


class ConnectError(WorkerError):
    """The SSH connection could not be made or was lost."""

    state = "unreachable"

    def __init__(self, host: str, reason: str) -> None:
        super().__init__(f"{host}: {reason}")
        self.host = host
        self.reason = reason


class HostKeyRejected(ConnectError):
    state = "host-key-rejected"


class AuthenticationFailed(ConnectError):
    state = "auth-failed"


class RemoteError(WorkerError):
    """The worker answered with an error or an answer we cannot use."""


class CommandTimeout(RemoteError):
    """A remote command or SFTP request took longer than its timeout."""


class ProgramNotRunning(RemoteError):
    """The data router (or another watched program) is not running on the worker."""
