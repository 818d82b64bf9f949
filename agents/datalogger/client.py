"""The data-logger client: an interface and its HTTP implementation.

``LoggerSource`` is what the grabber needs; ``HttpLogger`` speaks :mod:`.protocol` with one
blocking request per call, so the grabber bounds concurrency with its own thread pool and
every request has its own timeout: connecting, asking and reading the whole answer end by
one deadline, so a logger that trickles its answer cannot hold a request longer.
"""

from __future__ import annotations

import http.client
import socket
import time
from typing import TYPE_CHECKING, Protocol
from urllib.parse import urlsplit

from .errors import DeviceError, ProtocolError, SourceTimeout, SourceUnreachable
from .protocol import Floats, decode_columns, event_target, param_target, timeline_target

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer


class LoggerSource(Protocol):
    """Where samples come from. Each call raises a :class:`SourceError` when it gets none."""

    name: str

    def param(self, node: str, device: str, start: float, stop: float) -> Floats:
        """``(n, 2)``: utc_seconds, value."""
        ...

    def event(self, code: int, start: float, stop: float) -> Floats:
        """``(n, 2)``: utc_seconds, offset within the super-cycle in microseconds."""
        ...

    def timeline(self, start: float, stop: float) -> Floats:
        """``(n, 3)``: utc_seconds, event code, offset in microseconds."""
        ...


class _DeadlineSocket(socket.socket):
    """A connected socket whose every receive ends by ``deadline`` (``time.monotonic``): a
    socket's own timeout bounds each read alone, which a trickled answer never exceeds."""

    deadline = 0.0

    def recv_into(self, buffer: WriteableBuffer, nbytes: int = 0, flags: int = 0) -> int:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("request deadline passed")
        self.settimeout(left)
        return super().recv_into(buffer, nbytes, flags)


class _DeadlineConnection(http.client.HTTPConnection):
    """A connection whose request, from connecting to the last byte read, ends by
    ``timeout`` seconds after it was made."""

    def __init__(self, host: str, port: int, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self.deadline = time.monotonic() + timeout

    def connect(self) -> None:
        super().connect()
        sock = _DeadlineSocket(fileno=self.sock.detach())
        sock.deadline = self.deadline
        sock.settimeout(max(self.deadline - time.monotonic(), 1e-3))  # the request's send
        self.sock = sock


class HttpLogger:
    """A data logger at ``url`` (``http://host:port``)."""

    def __init__(self, url: str, timeout: float = 60.0) -> None:
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"logger URL {url!r} is not http://host[:port]")
        self.name = url.rstrip("/")
        self.host = parts.hostname
        self.port = parts.port or 80
        self.timeout = timeout

    def param(self, node: str, device: str, start: float, stop: float) -> Floats:
        return decode_columns(self._get(param_target(node, device, start, stop)), 2, device)

    def event(self, code: int, start: float, stop: float) -> Floats:
        return decode_columns(self._get(event_target(code, start, stop)), 2, f"event {code:#04x}")

    def timeline(self, start: float, stop: float) -> Floats:
        return decode_columns(self._get(timeline_target(start, stop)), 3, "timeline")

    def _get(self, target: str) -> bytes:
        where = f"{self.name}{target}"
        connection = _DeadlineConnection(self.host, self.port, self.timeout)
        try:
            connection.request("GET", target)
            response = connection.getresponse()
            body = response.read()
        except TimeoutError:
            raise SourceTimeout(
                f"no complete answer within the {self.timeout:g} s request timeout from {where}"
            ) from None
        except ConnectionRefusedError as exc:
            raise SourceUnreachable(f"cannot reach the logger at {self.name}: {exc}") from None
        except (OSError, http.client.HTTPException) as exc:
            raise ProtocolError(f"{where}: {type(exc).__name__}: {exc}") from None
        finally:
            connection.close()
        if response.status != 200:
            why = body.decode("utf-8", "replace").strip()[:200]
            raise DeviceError(f"logger answered {response.status}: {why}", response.status)
        return body
