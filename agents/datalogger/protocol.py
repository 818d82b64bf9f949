"""The logger's HTTP protocol, both sides (sans-I/O): request targets and body codecs.

The simulator and the client share this module, so both speak exactly what the README says.

- ``GET /v1/param?node=<node>&device=<device>&start=<t0>&stop=<t1>``: the device's samples in
  ``[t0, t1)``; ``200`` with a ``text/plain`` body of ``<utc_seconds> <value>`` lines in time
  order (an empty body: no samples in the window).
- ``GET /v1/event?code=<n>&start=<t0>&stop=<t1>``: the occurrences of timing event ``n``
  (0..255), lines ``<utc_seconds> <offset_us>`` (the offset within the machine super-cycle).
- ``GET /v1/timeline?start=<t0>&stop=<t1>``: every event occurrence, lines
  ``<utc_seconds> <code> <offset_us>``.
- Columns are separated by one space; every line ends with a newline.
- Errors: ``400`` a bad request, ``404`` an unknown device or node, ``503`` the device is in
  error; the body is one line of text saying why.

Times in a request are whole UTC epoch seconds (``start=1710028800``): the logger refuses
anything else (``1710028800.0``), and every window the grabber asks for is whole seconds
(``--stopat`` has no finer unit, the default ends at midnight). Times in an answer are UTC
epoch seconds as decimal numbers.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode, urlsplit

import numpy as np
import numpy.typing as npt

from .errors import ProtocolError, RequestError

Floats = npt.NDArray[np.float64]
MAX_EVENT = 0xFF


def whole_seconds(t: float) -> int:
    """``t`` as the logger takes it; ``RequestError`` when it is not a whole second."""
    if t != int(t):
        raise RequestError(f"the logger takes whole UTC epoch seconds, not {t!r}")
    return int(t)


def param_target(node: str, device: str, start: float, stop: float) -> str:
    return "/v1/param?" + urlencode(
        {"node": node, "device": device, "start": whole_seconds(start), "stop": whole_seconds(stop)}
    )


def event_target(code: int, start: float, stop: float) -> str:
    return "/v1/event?" + urlencode(
        {"code": code, "start": whole_seconds(start), "stop": whole_seconds(stop)}
    )


def timeline_target(start: float, stop: float) -> str:
    return f"/v1/timeline?{urlencode({'start': whole_seconds(start), 'stop': whole_seconds(stop)})}"


def parse_target(target: str) -> tuple[str, dict[str, str]]:
    """``(path, query)`` of a request target; ``RequestError`` for a repeated key."""
    parts = urlsplit(target)
    query: dict[str, str] = {}
    for key, values in parse_qs(parts.query, keep_blank_values=True).items():
        if len(values) != 1:
            raise RequestError(f"{key} given {len(values)} times")
        query[key] = values[0]
    return parts.path, query


def encode_columns(*columns: Floats, formats: tuple[str, ...]) -> bytes:
    """Lines of columns separated by one space, each column in its %-format (``%.3f``)."""
    rows = len(columns[0]) if columns else 0
    if any(len(c) != rows for c in columns) or len(formats) != len(columns):
        raise ValueError("one format per column, and columns of one length")
    interleaved = np.empty(rows * len(columns))
    for i, column in enumerate(columns):
        interleaved[i :: len(columns)] = column
    # one %-operation over the whole body: three times faster than formatting row by row
    line = " ".join(formats) + "\n"
    return ((line * rows) % tuple(interleaved.tolist())).encode()


# Every numpy call and every conversion of text into numbers holds the GIL for the whole of
# one call: ~250 ms for a 3-day body of 1 Hz samples, while the agent's event loop cannot
# run (the grab's threads decode several at once). Done in line-aligned pieces of this many
# bytes, other threads get a turn between pieces (each ~3 ms).
PARSE_CHUNK = 64 * 1024


def decode_columns(body: bytes, width: int, what: str) -> Floats:
    """An ``(n, width)`` array from a body of lines of ``width`` numbers separated by one
    space; ``ProtocolError`` if the body is not that (a ragged line, a word that is not a
    number). Checked with array operations: a day of 1 Hz samples is 86 400 lines."""
    if not body:
        return np.empty((0, width))
    if not body.endswith(b"\n"):
        body += b"\n"
    pieces: list[Floats] = []
    lines = start = 0
    while start < len(body):
        cut = body.rfind(b"\n", start, start + PARSE_CHUNK) + 1
        if cut <= start:  # a line longer than a piece
            cut = body.index(b"\n", start) + 1
        piece = body[start:cut]
        raw = np.frombuffer(piece, dtype=np.uint8)
        ends = np.flatnonzero(raw == ord("\n"))
        spaces = np.cumsum(raw == ord(" "))[ends]
        per_line = np.diff(spaces, prepend=0)
        if (per_line != width - 1).any():
            line = lines + int(np.argmax(per_line != width - 1)) + 1
            raise ProtocolError(f"{what}: line {line} does not hold {width} numbers")
        tokens = piece.split()
        if len(tokens) != len(ends) * width:
            raise ProtocolError(f"{what}: an empty line or column")
        try:
            pieces.append(np.array(tokens, dtype=np.float64))
        except ValueError as exc:
            raise ProtocolError(f"{what}: {exc}") from None
        lines += len(ends)
        start = cut
    return np.concatenate(pieces).reshape(lines, width)
