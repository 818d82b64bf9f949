"""The FileRecorder's error root. A foreseen failure raised in an op ends its session failed
with the message and no traceback (``socs_like.OpFailed``)."""

from __future__ import annotations

from socs_like import OpFailed


class FileRecorderError(OpFailed):
    """Root of what the FileRecorder raises on purpose."""


class DataDirError(FileRecorderError):
    """The data folder cannot be made or written."""
