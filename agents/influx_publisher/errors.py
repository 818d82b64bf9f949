"""The InfluxPublisher's error root. A foreseen failure raised in an op ends its session
failed with the message and no traceback (``socs_like.OpFailed``)."""

from __future__ import annotations

from socs_like import OpFailed


class InfluxPublisherError(OpFailed):
    """Root of what the InfluxPublisher raises on purpose."""


class InfluxUnavailable(InfluxPublisherError):
    """The server cannot take a write now (no connection, time-out, 5xx, refused
    credentials): the batch waits in the queue and is sent again after a backoff."""


class InfluxNoAnswer(InfluxUnavailable):
    """The write went out and no answer came back (a time-out, the connection closed while
    waiting): the server may have stored it, so if the queue later drops the batch, its
    points may be both stored and counted dropped."""
