"""The pysmurf monitor's error root.

Every failure the monitor foresees derives from :class:`PysmurfMonitorError`, itself a
:class:`socs_like.OpFailed`: raised in an op, it ends the session failed with its message and
no traceback. On the datagram path the same errors are caught, counted under their
``reason`` and logged, so a bad datagram costs itself and nothing else.
"""

from __future__ import annotations

from socs_like.ops import OpFailed


class PysmurfMonitorError(OpFailed):
    """Root of the monitor's foreseen failures."""


class PathRejected(PysmurfMonitorError, ValueError):
    """A path that must not be registered; ``reason`` is a :class:`~.datagrams.Reason` value
    (``unsafe_path``, ``outside_roots`` or ``bad_timestamp``)."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


class NotRunning(PysmurfMonitorError):
    """An op that needs the ``run`` process (it owns the database) was called without it."""
