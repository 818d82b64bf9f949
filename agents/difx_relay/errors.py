"""The one exception tree of the DiFX relay package.

`DiFXError` derives from `socs_like.OpFailed`, so an operation that lets one propagate ends
failed with its message and no traceback. Below it, as in h11: a peer that sends garbage raises
`RemoteProtocolError` (the I/O layer decides what it costs: drop one document, or close and
reconnect); a caller that asks for something illegal (an out-of-range value, an unknown
selection) raises `LocalProtocolError` before anything reaches the wire; `ChannelClosed` is a
connection that ended while an operation waited on it; `OperationFailed` is guiServer (or the
check we made after it) saying the operation did not do what was asked.
"""

from socs_like.ops import OpFailed


class DiFXError(OpFailed):
    """Root of every error the DiFX relay package raises."""


class DiFXProtocolError(DiFXError):
    """Root of protocol errors (kept as the name the sans-I/O modules raise under)."""


class RemoteProtocolError(DiFXProtocolError):
    """The peer sent bytes that do not follow the guiServer protocol or the DiFX schema."""


class LocalProtocolError(DiFXProtocolError, ValueError):
    """We were asked to send something the protocol forbids (also a `ValueError`)."""


class ChannelProtocolError(RemoteProtocolError):
    """Garbage inside one operation channel: that operation fails, the connection lives on."""

    def __init__(self, channel: int, message: str) -> None:
        super().__init__(message)
        self.channel = channel


class ChannelClosed(DiFXError):
    """The connection ended (or was never there) while an operation needed it."""


class OperationFailed(DiFXError):
    """guiServer reported a failure, or the check after a silent operation found none done."""
