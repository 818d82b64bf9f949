"""The publisher's spool records (``--spool-dir``): an event's `Lines` as bytes and back.

A record is `recording.spool.pack`'s: a JSON line of what rebuilds the `Lines` (its feed,
points, received and newest times) and the last record number seen of its feed, then its line
protocol as sent. Written by one run, read by the next after a restart or a kill -9.
"""

from __future__ import annotations

from socs_like_agents.recording.spool import pack, unpack

from .lineprotocol import Lines

# what `decode` raises for a record that is not one of ours
UNREADABLE: tuple[type[Exception], ...] = (ValueError, KeyError)


def encode(lines: Lines, last: int | None) -> bytes:
    meta = {
        "feed": lines.feed,
        "points": lines.points,
        "received": lines.received,
        "newest": lines.newest,
        "last": last,
    }
    return pack(meta, lines.body)


def decode(payload: bytes) -> tuple[Lines, str, int | None]:
    """The event's `Lines`, its feed's address and the last record number seen of it."""
    meta, body = unpack(payload)
    # its empty points were counted by the run that received it
    lines = Lines(meta["feed"], body, meta["points"], 0, meta["received"], meta["newest"])
    return lines, lines.feed, meta["last"]
