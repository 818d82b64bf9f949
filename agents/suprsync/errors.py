"""SupRsync's error root. A foreseen failure raised in an op ends its session failed with the
message and no traceback (``socs_like.OpFailed``)."""

from __future__ import annotations

from socs_like import OpFailed


class SupRsyncError(OpFailed):
    """Root of what SupRsync raises on purpose."""


class SshTargetError(SupRsyncError, ValueError):
    """The archive host given cannot be turned into a safe ssh command line."""


class BadRequest(SupRsyncError):
    """An operator task was given values it cannot act on."""
