"""The one exception tree of the DiFX protocol core.

As in h11: a peer that sends garbage raises `RemoteProtocolError` (the I/O layer decides what it
costs: drop one document, or close and reconnect); a caller that asks for something illegal
(a path outside the allowed roots, an out-of-range value) raises `LocalProtocolError` before
anything reaches the wire.
"""


class DiFXProtocolError(Exception):
    """Root of every error the DiFX protocol core raises."""


class RemoteProtocolError(DiFXProtocolError):
    """The peer sent bytes that do not follow the guiServer protocol or the DiFX schema."""


class LocalProtocolError(DiFXProtocolError):
    """We were asked to send something the protocol (or our confinement rules) forbids."""


class ChannelProtocolError(RemoteProtocolError):
    """Garbage inside one operation channel: that operation fails, the connection lives on."""

    def __init__(self, channel: int, message: str) -> None:
        super().__init__(message)
        self.channel = channel
