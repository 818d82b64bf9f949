"""What can go wrong grabbing from a data logger, as one exception tree.

``DataLoggerError`` is the root, an :class:`~socs_like.ops.OpFailed`, so an operation that lets
one propagate ends failed with its message and no traceback. Below it:

- ``RequestError``: we were asked for something illegal (a bad window, option or list file);
  nothing was sent to the logger. ``ListFileError`` names the file and the line.
- ``SourceError``: the logger did not give what we asked for. ``DeviceError`` (it answered
  with an error for one device or event code), ``SourceTimeout`` (no answer in time),
  ``SourceUnreachable`` (no connection), ``ProtocolError`` (an answer we cannot read).
"""

from __future__ import annotations

from socs_like.ops import OpFailed


class DataLoggerError(OpFailed):
    """Root of every foreseen data-logger failure."""


class RequestError(DataLoggerError, ValueError):
    """The caller asked for something we refuse to do (checked before any I/O)."""


class ListFileError(RequestError):
    """A device list file that does not follow the ``<logger-node> <device>`` format."""

    def __init__(self, path: str, line: int, text: str, why: str) -> None:
        super().__init__(f"{path} line {line}: {why}: {text!r}")
        self.path = path
        self.line = line


class SourceError(DataLoggerError):
    """The data logger did not deliver what was asked for."""


class DeviceError(SourceError):
    """The logger answered with an error for one request (``status`` is the HTTP status)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class SourceTimeout(SourceError):
    """No complete answer within the request timeout."""


class SourceUnreachable(SourceError):
    """The logger could not be reached at all."""


class ProtocolError(SourceError):
    """An answer that does not follow the protocol (documented in the README)."""
