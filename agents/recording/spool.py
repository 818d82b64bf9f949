"""A recorder's queue on disk, so that a recorder killed -9 loses nothing it had received.

Every record a recorder keeps (one event's points or blocks, as bytes) is appended, as it
arrives, to the newest *segment* file of its spool folder and given a number (+1 each, across
restarts). When the records below some number are settled (written to the destination, or
dropped by the `Backlog` and counted there), the recorder `commit`s that number with a small
state of its own (``state.json``, replaced whole: written beside, then renamed); segments all of
whose records are below it are deleted. At start, `open` hands back the state of the last
commit and every record from the committed number on, in order: what the previous process had
received and not settled, to be queued again.

Durability: each record reaches the kernel with one ``write`` as it arrives (no buffer in this
process), so a process killed -9 loses nothing it spooled; nothing is fsynced (that would cost
a disk flush per record), so a power cut or kernel crash can lose the last seconds the page
cache held. A record cut short (such a crash, a full disk) and everything after it in its
segment is dropped when read (each record carries its length and a CRC-32).

Replay may repeat: records written but not yet committed when the process died come back. The
caller makes that harmless (InfluxDB keeps one point per series and time; the FileRecorder
skips samples its last files already hold).

Size: records are kept from the committed number on, and the recorder's `Backlog` bounds those
in bytes, so the spool holds about what the queue holds (``--max-queue-mb``) plus the segment
being written (``segment_bytes``). A write that fails (disk full) is counted in ``errors``; the
record stays in memory only, and the next one starts a new segment.
"""

from __future__ import annotations

import json
import logging
import os
import struct
import zlib
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from .backlog import Backlog, Batch, Chunk

log = logging.getLogger(__name__)

C = TypeVar("C", bound=Chunk)
T = TypeVar("T")
# a recorder's record codec: an item (what it queues), its feed, the last record number seen
Decode = Callable[[bytes], tuple[T, str, int | None]]
ENTRY_BYTES = 48  # an `Entry` object, in memory
# payload length, its CRC-32, the record's number
HEADER = struct.Struct("<IIQ")
STATE = "state.json"
SUFFIX = ".seg"


@dataclass(frozen=True, slots=True)
class Entry(Generic[C]):
    """A chunk of a recorder's `Backlog` with the number of the spool record it came from (the
    blocks of one event share their event's record)."""

    number: int
    chunk: C

    @property
    def feed(self) -> str:
        return self.chunk.feed

    @property
    def points(self) -> int:
        return self.chunk.points

    @property
    def nbytes(self) -> int:
        return self.chunk.nbytes + ENTRY_BYTES

    @property
    def received(self) -> float:
        return self.chunk.received


def segment_bytes(max_bytes: int) -> int:
    """The segment size for a queue bound of `max_bytes`: small against it (what the spool
    holds beyond the queue), large enough that a segment is not a file per few records."""
    return min(8 << 20, max(64 << 10, max_bytes // 16))


def pack(meta: Mapping[str, Any], body: bytes) -> bytes:
    """A record: a line of JSON (what the recorder needs to rebuild its chunk), then `body`."""
    return json.dumps(meta, separators=(",", ":")).encode() + b"\n" + body


def unpack(payload: bytes) -> tuple[dict[str, Any], bytes]:
    head, _, body = payload.partition(b"\n")
    return json.loads(head), body


@dataclass(frozen=True)
class Resumed:
    """What `Spool.open` found: the state of the last commit (``{}`` for a new spool) and the
    records not settled then, ``(number, payload)`` in order."""

    state: dict[str, Any]
    records: list[tuple[int, bytes]]


def _records(path: Path) -> Iterator[tuple[int, bytes, int]]:
    """``(number, payload, end offset)`` of each whole record of one segment, up to the
    first that is cut short or damaged."""
    data = path.read_bytes()
    at = 0
    while at + HEADER.size <= len(data):
        length, crc, number = HEADER.unpack_from(data, at)
        payload = data[at + HEADER.size : at + HEADER.size + length]
        if len(payload) != length or zlib.crc32(payload) != crc:
            return
        at += HEADER.size + length
        yield number, payload, at


class Spool:
    """One recorder's spool folder (see the module doc); `open` it before anything else."""

    def __init__(self, folder: Path, segment_bytes: int) -> None:
        if segment_bytes < 1:
            raise ValueError("segment_bytes must be at least 1")
        self.folder = folder
        self.segment_bytes = segment_bytes
        self.next = 0  # the number of the next record
        self.low = 0  # records below this are settled (committed)
        self.errors = 0  # records not written (kept in memory only), or not read back
        self.last_error: str | None = None
        self._segments: deque[tuple[int, Path]] = deque()  # (first number, path), in order
        self._fd: int | None = None
        self._size = 0  # bytes in the segment being written

    def open(self) -> Resumed:
        """Read the spool (blocking: the caller runs it in a worker thread)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        try:
            state = json.loads((self.folder / STATE).read_text())
        except FileNotFoundError:
            state = {}
        self.low = int(state.pop("low", 0))
        self.next = self.low
        records: list[tuple[int, bytes]] = []
        for path in sorted(self.folder.glob(f"*{SUFFIX}")):
            self._segments.append((int(path.stem), path))
            for number, payload, _ in _records(path):
                self.next = max(self.next, number + 1)
                if number >= self.low:
                    records.append((number, payload))
        self._delete_settled()
        return Resumed(state, records)

    def append(self, payload: bytes) -> int:
        """Spool one record; its number (given even when the write fails: counted)."""
        number = self.next
        self.next += 1
        record = HEADER.pack(len(payload), zlib.crc32(payload), number) + payload
        try:
            fd = self._fd
            if fd is None or self._size >= self.segment_bytes:
                fd = self._start_segment(number)
            written = os.write(fd, record)
            if written != len(record):
                raise OSError(f"wrote {written} of {len(record)} bytes (disk full?)")
            self._size += written
        except OSError as exc:
            self.failed(f"{type(exc).__name__}: {exc}")
            self._close_segment()  # a record cut short ends its segment for readers
        return number

    def failed(self, reason: str) -> None:
        """Count a record that could not be spooled, or not read back (`reason` says why)."""
        self.errors += 1
        self.last_error = reason

    def commit(self, low: int, state: Mapping[str, Any]) -> None:
        """Records below `low` are settled; keep `state` with it (see the module doc)."""
        if low < self.low:
            raise ValueError(f"commit {low} is below the last one, {self.low}")
        text = json.dumps({**state, "low": low}, separators=(",", ":"))
        fresh = self.folder / f"{STATE}.new"
        try:
            fresh.write_text(text)
            os.replace(fresh, self.folder / STATE)
        except OSError as exc:
            self.failed(f"{type(exc).__name__}: {exc}")
            return
        self.low = low
        self._delete_settled()

    def close(self) -> None:
        self._close_segment()

    def _start_segment(self, first: int) -> int:
        self._close_segment()
        path = self.folder / f"{first:016d}{SUFFIX}"
        # One of that name holds no whole record (else `next` would be past `first`): reuse it.
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        self._size = 0
        if not self._segments or self._segments[-1][1] != path:
            self._segments.append((first, path))
        return self._fd

    def _close_segment(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _delete_settled(self) -> None:
        # a segment's records end where the next one's begin; the newest is never deleted
        while len(self._segments) > 1 and self._segments[1][0] <= self.low:
            _, path = self._segments.popleft()
            path.unlink(missing_ok=True)


def reopen(
    spool: Spool, decode: Decode[T], unreadable: tuple[type[Exception], ...]
) -> tuple[list[tuple[int, T]], dict[str, int]]:
    """Open `spool` (blocking) and `decode` the records an earlier run left unsettled:
    ``(number, item)`` in order, and the last record number seen of each feed (the last
    commit's, then each record's), for `FeedIntake.resume`. A record `decode` cannot read
    (raises one of `unreadable`) is skipped, counted in the spool's ``errors`` and logged."""
    resumed = spool.open()
    seen: dict[str, int] = dict(resumed.state.get("seen", {}))
    items: list[tuple[int, T]] = []
    for number, payload in resumed.records:
        try:
            item, feed, last = decode(payload)
        except unreadable as exc:
            spool.failed(f"record {number} of the spool unreadable: {exc!r}")
            log.warning("%s", spool.last_error)
            continue
        items.append((number, item))
        if last is not None:
            seen[feed] = last
    return items, seen


def settle(
    spool: Spool,
    backlog: Backlog[Entry[Any]],
    out: Iterable[Batch[Entry[Any]]],
    seen: Mapping[str, int],
) -> None:
    """Commit, in `spool`, what is written or dropped: every record below the oldest entry
    still waiting in `backlog` or out being written (the batches `out`: taken, not yet back),
    else below the next; with `seen` (the intake's last record numbers) for `reopen`."""
    numbers = [batch.chunks[0].number for batch in out if batch.chunks]
    waiting = backlog.oldest()
    if waiting is not None:
        numbers.append(waiting.number)
    spool.commit(min(numbers, default=spool.next), {"seen": dict(seen)})
