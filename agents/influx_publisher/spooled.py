"""The publisher's spool records (``--spool-dir``): an event's `Lines` as bytes and back.

A record is `recording.spool.pack`'s: a JSON line of what rebuilds the `Lines` (its feed,
points, received and newest times) and the last record number seen of its feed, then its line
protocol as sent. Written by one run, read by the next after a restart or a kill -9.
"""

from __future__ import annotations

from socs_like_agents.recording.spool import pack, unpack

from .lineprotocol import Lines

# what `decode` raises for a record that is not one of ours
UNREADABLE: tuple[type[Exception], ...] = (ValueError, KeyError, TypeError)


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
    feed, points, last = meta["feed"], meta["points"], meta["last"]
    received, newest = float(meta["received"]), float(meta["newest"])
    # a record that decodes to the wrong types would fail later, in the writer's accounts
    if not isinstance(feed, str) or type(points) is not int or not isinstance(last, int | None):
        raise TypeError(f"fields of the wrong type: {meta!r}"[:200])
    # its empty points were counted by the run that received it
    return Lines(feed, body, points, 0, received, newest), feed, last
