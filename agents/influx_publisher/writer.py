"""Writes batches to InfluxDB 1.x over HTTP (``POST /write``); blocking, for a worker thread.

How each answer is taken:

- 204: every line written.
- 404 ``database not found``: the database is created (``CREATE DATABASE`` is a no-op when
  it exists) and the batch sent once more.
- 400 ``partial write ... dropped=N``: the server wrote the rest; N points are *rejected*.
- 400 otherwise, or 413: nothing was written because of some lines (a field that is a
  number in one point and a string in another refuses the whole batch). The batch is split
  in two and each half sent again, down to single lines, so only the lines the server
  refuses on their own are rejected and every good point is written.
- anything else (no connection, a time-out, 5xx, 401/403): `InfluxUnavailable`; the caller
  keeps the batch and tries again later. A write that went out and got no answer (a
  time-out, the connection closed while waiting) is an `InfluxNoAnswer`: the server may have
  applied it. Sending it again is harmless, since InfluxDB keeps one point per series and
  time (the second write of the same point overwrites it with the same values).
"""

from __future__ import annotations

import gzip
import threading
from collections.abc import Sequence
from dataclasses import dataclass

import requests
from urllib3.exceptions import NewConnectionError

from .errors import InfluxNoAnswer, InfluxUnavailable
from .lineprotocol import PRECISION, Lines, partial_write_dropped


@dataclass
class WriteResult:
    written: int = 0  # points the server stored
    rejected: int = 0  # points the server refused (type conflicts, bad values)
    last_rejection: str | None = None  # the server's words for the last refusal

    def __iadd__(self, other: WriteResult) -> WriteResult:
        self.written += other.written
        self.rejected += other.rejected
        self.last_rejection = other.last_rejection or self.last_rejection
        return self


class InfluxWriter:
    """One database on one server; each thread that writes keeps its own HTTP connection
    alive between writes (the publisher has two writes in flight)."""

    def __init__(
        self,
        url: str,
        database: str,
        timeout: float = 10.0,
        auth: tuple[str, str] | None = None,
        *,
        verify: bool = True,
        gzip: bool = False,
    ) -> None:
        self.url = url.rstrip("/")
        self.database = database
        self.timeout = timeout
        self.auth = auth
        self.verify = verify
        self.gzip = gzip
        self._local = threading.local()

    def _http(self) -> requests.Session:
        http: requests.Session | None = getattr(self._local, "http", None)
        if http is None:
            http = self._local.http = requests.Session()
            http.auth = self.auth
            http.verify = self.verify
            if self.gzip:
                http.headers["Content-Encoding"] = "gzip"
        return http

    def write(self, chunks: Sequence[Lines]) -> WriteResult:
        """Write one batch in one request (raises `InfluxUnavailable` when it must be sent
        again)."""
        return self._write(b"".join(c.body for c in chunks), sum(c.points for c in chunks))

    def create_database(self) -> None:
        self._request("/query", {"q": f'CREATE DATABASE "{self.database}"'}, b"")

    def _write(self, body: bytes, points: int, created: bool = False) -> WriteResult:
        if not points:
            return WriteResult()
        params = {"db": self.database, "precision": PRECISION}
        status, error = self._request("/write", params, body)
        if status == 204:
            return WriteResult(written=points)
        if status == 404 and "database not found" in error and not created:
            self.create_database()
            return self._write(body, points, created=True)
        if status in (400, 413):
            dropped = partial_write_dropped(error)
            if dropped is not None:
                return WriteResult(written=points - dropped, rejected=dropped, last_rejection=error)
            if points == 1:
                return WriteResult(rejected=1, last_rejection=error)
            lines = body.split(b"\n")[:points]  # each line ends in a line break
            half = points // 2
            result = self._write(b"\n".join(lines[:half]) + b"\n", half, created)
            try:
                result += self._write(b"\n".join(lines[half:]) + b"\n", points - half, created)
            except InfluxUnavailable as exc:  # the batch goes back, though half of it is stored
                raise InfluxNoAnswer(str(exc)) from None
            return result
        raise InfluxUnavailable(f"InfluxDB at {self.url} answered HTTP {status}: {error}")

    def _request(self, path: str, params: dict[str, str], data: bytes) -> tuple[int, str]:
        failure, went_out = None, False
        try:
            answer = self._http().post(
                f"{self.url}{path}",
                params=params,
                data=gzip.compress(data, 1) if self.gzip else data,
                timeout=self.timeout,
            )
        except requests.RequestException as exc:
            failure = f"InfluxDB at {self.url}: {type(exc).__name__}"
            went_out = _went_out(exc)
            _drop_tracebacks(exc)
        if failure is not None:  # raised here, not chained: see `_drop_tracebacks`
            raise (InfluxNoAnswer if went_out else InfluxUnavailable)(failure)
        if answer.status_code == 204:
            return 204, ""
        try:
            error = str(answer.json().get("error", answer.text))
        except ValueError:
            error = answer.text.strip()
        if path == "/query" and answer.status_code != 200:
            raise InfluxUnavailable(
                f"InfluxDB at {self.url} answered HTTP {answer.status_code}: {error}"
            )
        return answer.status_code, error[:500]


def _went_out(exc: requests.RequestException) -> bool:
    """Whether a failed request may have reached the server: anything but a connection
    that was never made (refused, unreachable, or its time-out) or a request never sent."""
    if isinstance(exc, requests.ConnectTimeout):
        return False
    if isinstance(exc, requests.ConnectionError):
        reason = getattr(exc.args[0], "reason", None) if exc.args else None
        return not isinstance(reason, NewConnectionError)
    return isinstance(exc, requests.Timeout | requests.exceptions.ChunkedEncodingError)


def _drop_tracebacks(exc: BaseException) -> None:
    """Free what a failed request holds now, not at the next full garbage collection.

    requests' and urllib3's exceptions hold the request (the whole batch) and are held in
    reference cycles by the frames of their tracebacks. Through an outage a batch fails every
    few seconds; left to the collector, batches piled up between full collections (tens of
    MB in the thread arenas, never given back)."""
    todo: list[object] = [exc]
    seen: set[int] = set()
    while todo:
        e = todo.pop()
        if not isinstance(e, BaseException) or id(e) in seen:
            continue
        seen.add(id(e))
        e.__traceback__ = None
        todo += [e.__cause__, e.__context__, getattr(e, "reason", None), *e.args]
