"""InfluxDB 1.x line protocol for recorded-feed blocks, and the server's answers, without I/O.

The layout is OCS's, so dashboards made for OCS's publisher read ours: the measurement is
the agent's address (``observatory.fake-data1``), the tag ``feed`` is the feed name, each
field of a block is a field, one point per timestamp. Two deliberate differences:

- Every number is written as a float (OCS writes Python ints as integers). InfluxDB refuses a
  whole batch when one field is an integer in one point and a float in another, and a feed
  value that is ``0`` one second and ``0.5`` the next is ordinary; as floats they never
  conflict. Integers beyond 2**53 lose their last digits.
- Times are written in microseconds (``precision=u``): a float UNIX time carries no finer
  truth, and the finest feed we know (100 kHz) is 10 µs per sample.

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


def field_value(value: Value) -> str | None:
    """The line-protocol text of one field value; None when it is to be left out."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else None
    if isinstance(value, int):
        return repr(float(value))
    return f'"{value.translate(_STRING)}"'


def time_of(timestamp: float) -> int:
    """A UNIX time in seconds as the integer microseconds written (``precision=u``)."""
    return round(timestamp * 1e6)


def block_lines(block: Block) -> list[str]:
    """One line per timestamp of `block` that has at least one value."""
    head = f"{escape_measurement(block.agent_address)},feed={escape_key(block.feed_name)} "
    times = list(map(time_of, block.timestamps))
    columns = list(block.data.values())
    if all(_plain_floats(c) for c in columns):
        # The common case (every value a finite float), about 3x faster: one %-format per
        # line, built in C.
        keys = [escape_key(k).replace("%", "%%") for k in block.data]
        template = head.replace("%", "%%") + ",".join(f"{k}=%r" for k in keys) + " %d"
        return [template % row for row in zip(*columns, times, strict=True)]
    prefixes = [f"{escape_key(k)}=" for k in block.data]
    lines = []
    for i, t in enumerate(times):
        fields = ",".join(
            p + text
            for p, c in zip(prefixes, columns, strict=True)
            if (text := field_value(c[i])) is not None
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


def encode(blocks: Iterable[Block]) -> list[str]:
    """The lines of several blocks, in order."""
    lines: list[str] = []
    for block in blocks:
        lines.extend(block_lines(block))
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
    received: float  # UNIX s when the publisher got the event
    newest: float  # the latest of its blocks' last sample times (UNIX s)

    @property
    def nbytes(self) -> int:
        return len(self.body) + LINES_OVERHEAD

    @classmethod
    def of(cls, blocks: Sequence[Block], received: float) -> Lines:
        """The points of an event's `blocks` (one or more) that have a value (see
        `block_lines`)."""
        lines = encode(blocks)
        newest = max(b.timestamps[-1] for b in blocks if b.timestamps)
        return cls(blocks[0].feed, body(lines), len(lines), received, newest)


def partial_write_dropped(error: str) -> int | None:
    """How many points a ``partial write`` answer (HTTP 400) says the server dropped; None
    when the answer is not a partial write (then nothing of the batch was written)."""
    if not error.startswith("partial write"):
        return None
    match = _DROPPED.search(error)
    return int(match.group(1)) if match else None
