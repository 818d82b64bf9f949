"""InfluxDB 1.x line protocol for recorded-feed blocks, and the server's answers, without I/O.

Where each value goes (measurement, tags, field name) and its type follow the publisher's
layout (`layout`: OCS's, by default). Times are written in microseconds (``precision=u``): a
float UNIX time carries no finer truth, and the finest feed we know (100 kHz) is 10 µs per
sample.

Escaping (InfluxDB 1.x): commas and spaces in the measurement; commas, equals signs and
spaces in tag keys, tag values and field keys; double quotes and backslashes inside string
field values; a line break anywhere would end the line, so it is written as a space in names
and as ``\\n`` in string values. Null values (NaN on the feed) are left out of their point; a
point left with no field is not written.

An event is encoded once, when it arrives, into `Lines`: what the publisher queues and sends.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import cast

from socs_like_agents.recording.intake import Block, Value

from .layout import Layout, series

PRECISION = "u"
_MEASUREMENT = str.maketrans({",": "\\,", " ": "\\ ", "\n": " "})
_KEY = str.maketrans({",": "\\,", "=": "\\=", " ": "\\ ", "\n": " "})
_STRING = str.maketrans({'"': '\\"', "\\": "\\\\", "\n": "\\n"})
_DROPPED = re.compile(r"dropped=(\d+)")


def escape_measurement(name: str) -> str:
    return name.translate(_MEASUREMENT)


def escape_key(name: str) -> str:
    """A tag key, tag value or field key."""
    # A trailing backslash would escape the separator that follows it.
    return name.translate(_KEY).rstrip("\\") or "_"


def field_value(value: Value, layout: Layout = Layout.OCS) -> str | None:
    """The line-protocol text of one field value; None when it is to be left out."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else None
    if isinstance(value, int):
        return repr(float(value)) if layout is Layout.FLOATS else f"{value}i"
    return f'"{value.translate(_STRING)}"'


def time_of(timestamp: float) -> int:
    """A UNIX time in seconds as the integer microseconds written (``precision=u``)."""
    return round(timestamp * 1e6)


def block_lines(block: Block, layout: Layout = Layout.OCS) -> list[str]:
    """One line per timestamp of each series of `block` (`layout.series`) that has at least
    one value."""
    times = list(map(time_of, block.timestamps))
    lines: list[str] = []
    for s in series(block, layout):
        tags = "".join(f",{escape_key(k)}={escape_key(v)}" for k, v in s.tags)
        head = f"{escape_measurement(s.measurement)}{tags} "
        names = [escape_key(name) for _, name in s.fields]
        columns = [block.data[key] for key, _ in s.fields]
        lines += _series_lines(head, names, columns, times, layout)
    return lines


def _series_lines(
    head: str, names: list[str], columns: list[list[Value]], times: list[int], layout: Layout
) -> list[str]:
    if all(_plain_floats(c) for c in columns):
        # The common case (every value a finite float), about 3x faster: one %-format per
        # line, built in C.
        keys = [k.replace("%", "%%") for k in names]
        template = head.replace("%", "%%") + ",".join(f"{k}=%r" for k in keys) + " %d"
        return [template % row for row in zip(*columns, times, strict=True)]
    prefixes = [f"{k}=" for k in names]
    lines = []
    for i, t in enumerate(times):
        fields = ",".join(
            p + text
            for p, c in zip(prefixes, columns, strict=True)
            if (text := field_value(c[i], layout)) is not None
        )
        if fields:
            lines.append(f"{head}{fields} {t}")
    return lines


def _plain_floats(column: list[Value]) -> bool:
    # the sum of finite floats is finite unless one is NaN or infinite (or it overflows:
    # then the slow path is merely slower)
    return all(type(v) is float for v in column) and math.isfinite(
        sum(cast(list[float], column), 0.0)
    )


def encode(blocks: Iterable[Block], layout: Layout = Layout.OCS) -> list[str]:
    """The lines of several blocks, in order."""
    lines: list[str] = []
    for block in blocks:
        lines.extend(block_lines(block, layout))
    return lines


def body(lines: Sequence[str]) -> bytes:
    """Lines as a request body, each ending in a line break (bodies join by concatenation)."""
    return ("\n".join(lines) + "\n").encode() if lines else b""


# What a `Lines` costs in memory besides its text: its own object, the bytes object's header,
# and its entry in the queue (a tuple, an int, two floats).
LINES_OVERHEAD = 256


@dataclass(frozen=True, slots=True)
class Lines:
    """The points of one event, encoded once when it arrives: a chunk of the publisher's
    queue (`recording.backlog`), a few objects however many points it holds."""

    feed: str  # the address of the event's feed
    body: bytes  # line protocol, each line ending in a line break
    points: int  # lines in it
    empty: int  # points of its blocks left out, having no value
    received: float  # UNIX s when the publisher got the event
    newest: float  # the latest of its blocks' last sample times (UNIX s)

    @property
    def nbytes(self) -> int:
        return len(self.body) + LINES_OVERHEAD

    @classmethod
    def of(cls, blocks: Sequence[Block], received: float, layout: Layout = Layout.OCS) -> Lines:
        """The points of an event's `blocks` (one or more) that have a value (see
        `block_lines`)."""
        lines = encode(blocks, layout)
        # a point per timestamp of each series (one point per field of a tagged block)
        possible = sum(len(b) * len(series(b, layout)) for b in blocks)
        newest = max(b.timestamps[-1] for b in blocks if b.timestamps)
        return cls(blocks[0].feed, body(lines), len(lines), possible - len(lines), received, newest)


def partial_write_dropped(error: str) -> int | None:
    """How many points a ``partial write`` answer (HTTP 400) says the server dropped; None
    when the answer is not a partial write (then nothing of the batch was written)."""
    if not error.startswith("partial write"):
        return None
    match = _DROPPED.search(error)
    return int(match.group(1)) if match else None
