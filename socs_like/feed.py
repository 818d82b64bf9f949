"""Feeds: what an agent publishes, buffered, numbered and cut to the transport's size.

A feed turns `publish` calls into WAMP events in the OCS shape: like ocs 0.12, an event is
published with *one* positional argument, the pair ``[payload, feed_info]`` (OCS's aggregator,
registry and InfluxDB publisher unpack it so). `feed_event` reads both that and the two-argument
form, so a subscriber gets ``(payload, feed_info)`` from any agent. A feed owns no socket: the
agent asks it for ready events (`take_events`) when it can send them.

- Every `publish` call is a *record* with its own number. An event carries the contiguous
  range of records it holds in ``feed_info["seq_no"]`` (first) and ``feed_info["seq_count"]``,
  so a subscriber sees gaps and duplicates.
- Records wait in a buffer bounded in records (``max_buffer``) and in estimated bytes
  (``max_buffer_bytes``): while ``buffer_time`` runs, while the hub is away, and while the
  agent publishes less than its op produces (an overloaded agent publishes a bounded amount
  per loop turn). When it is full the oldest record is dropped and counted: the drop shows as
  a gap, and `tick` turns the count into a rate (records/s) for get_api and session data.
- Recorded feeds merge records of the same block into one event; no event's estimated size
  passes ``max_event_bytes``, because an oversized message kills the WAMP transport.
- A record handed to the hub is not forgotten until the hub has it: events taken with
  ``hold=True`` are *held* (keyed by their first sequence number) until the agent says the hub
  acknowledged them (`acknowledge`), and one whose connection died first goes back, in order,
  ahead of newer records (`release`, `release_all`), to be sent again after the agent
  re-joins. A connection
  that died silently (half-open) so loses nothing: what went out on it comes back when it is
  noticed. Held records count in the buffer's byte bound; a refused event is dropped and
  counted (`drop_held`).
- A recorded feed keeps the records it sent in the last `replay_seconds` (at most
  `replay_bytes` of memory for them), so that a recorder that was away (restarted, or not yet
  subscribed again after a hub restart) asks for what it missed (`replay`) instead of losing
  it.
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .ops import json_safe
from .packing import (
    PACKED_KEY,
    PACKED_VERSION,
    Column,
    column_from,
    column_len,
    column_slice,
    join_columns,
    unpack_blocks,
)

FIELD_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,254}$")
# A JSON number or short string rarely takes more than this once encoded; a packed float
# (packing.py) takes 8 bytes, and is estimated so, so that the bounds below (event size,
# buffer, replay, the agent's publish budget and windows) hold three times as many samples
# of a packed feed; a JSON subscriber's lists copy of an event of `max_event_bytes` stays
# under 1 MiB still.
_BYTES_PER_VALUE = 24
_BYTES_PER_PACKED_VALUE = 8
DEFAULT_MAX_EVENT_BYTES = 256 * 1024
DEFAULT_MAX_BUFFER_BYTES = 64 * 1024 * 1024
# What a recorded feed keeps of what it sent, for a recorder to ask again: longer than a
# recorder takes to restart or to re-join a restarted hub, and (estimated bytes) at most
# minutes of a feed of 1000 samples/s of 4 channels.
DEFAULT_REPLAY_SECONDS = 300.0
DEFAULT_REPLAY_BYTES = 2 * 1024 * 1024
# What a kept record costs in memory beyond its estimated size (its dicts, lists and number
# objects): a one-sample record of two fields takes about 1.1 KiB, estimated at 0.2. Without
# it, the replay bound of a feed of small records held six times what it says.
_KEPT_RECORD_OVERHEAD = 1024
_FLOAT_ONLY = frozenset({float})


@dataclass(frozen=True)
class Undecodable:
    """What `feed_event` hands a subscriber in place of a packed payload that does not
    decode, and why: the subscriber refuses it as it refuses any malformed payload (and
    counts it), instead of the event dying in the hub session's dispatch, logged but
    uncounted."""

    reason: str


def feed_event(args: tuple[Any, ...]) -> tuple[Any, dict[str, Any]]:
    """``(payload, feed_info)`` from the positional arguments of a feed event; a packed
    payload (packing.py) comes out as the lists it was packed from, or as `Undecodable`.
    Every subscriber of ours reads events through here."""
    if (
        len(args) == 1
        and isinstance(args[0], (list, tuple))
        and len(args[0]) == 2
        and isinstance(args[0][1], dict)
        and "agent_address" in args[0][1]
    ):
        payload, info = args[0]
    elif len(args) >= 2 and isinstance(args[1], dict):
        payload, info = args[0], args[1]
    else:
        return (args[0] if args else None), {}
    if PACKED_KEY in info:
        info = dict(info)
        version = info.pop(PACKED_KEY)
        if version != PACKED_VERSION:
            return Undecodable(f"packed feed events of version {version!r} are not known"), info
        try:
            payload = unpack_blocks(payload)
        except ValueError as exc:
            return Undecodable(str(exc)), info
    return payload, info


@dataclass
class _Record:
    seq: int
    size: int
    payload: Any = None  # plain feeds
    block_name: str = ""
    timestamps: Column = field(default_factory=list)
    data: dict[str, Column] = field(default_factory=dict)


def _block_from_message(
    message: Mapping[str, Any],
) -> tuple[str, Column, dict[str, Column]]:
    """Validate one recorded-feed message; return (block name, timestamps, columns)."""
    if not isinstance(message, Mapping):
        raise ValueError("a recorded feed takes a dict with block_name, timestamp(s) and data")
    block_name = message.get("block_name")
    if not isinstance(block_name, str) or not block_name:
        raise ValueError("a recorded feed message needs a non-empty string 'block_name'")
    data = message.get("data")
    if not isinstance(data, Mapping) or not data:
        raise ValueError("a recorded feed message needs a non-empty dict 'data'")
    for name in data:
        if not isinstance(name, str) or not FIELD_NAME.match(name):
            raise ValueError(
                f"invalid field name {name!r}: use letters, digits and underscores, "
                "not starting with a digit, at most 255 characters"
            )
    if "timestamps" in message:
        timestamps = column_from(message["timestamps"])
        columns = {k: column_from(v) for k, v in data.items()}
        count = column_len(timestamps)
        for name, column in columns.items():
            if column_len(column) != count:
                raise ValueError(
                    f"field {name!r} has {column_len(column)} values for {count} timestamps"
                )
    elif "timestamp" in message:
        timestamps = [message["timestamp"]]
        columns = {k: [v] for k, v in data.items()}
    else:
        raise ValueError("a recorded feed message needs 'timestamp' or 'timestamps'")
    for name, column in columns.items():
        if isinstance(column, bytes):
            continue  # packed from a buffer of floats (packing.py): nothing else to check
        # Fast path (most columns): all plain floats whose sum is finite, so none is NaN or
        # infinite; checked in C, about 4x cheaper than the loop below.
        if set(map(type, column)) <= _FLOAT_ONLY and math.isfinite(sum(column)):
            continue
        for i, value in enumerate(column):
            if isinstance(value, float):
                if not math.isfinite(value):
                    column[i] = None  # JSON has no NaN; OCS sends null too
            elif not isinstance(value, (int, str, bool)):
                raise ValueError(f"field {name!r}: {value!r} is not a number, string or bool")
    return block_name, timestamps, columns


def _value_bytes(column: Column) -> int:
    return _BYTES_PER_VALUE if isinstance(column, list) else _BYTES_PER_PACKED_VALUE


def _size(group: list[_Record]) -> int:
    return sum(r.size for r in group)


class Feed:
    """One feed of an agent; thread-safe `publish`."""

    def __init__(
        self,
        agent_address: str,
        feed_name: str,
        *,
        agent_class: str = "",
        record: bool = False,
        buffer_time: float = 0.0,
        agg_params: Mapping[str, Any] | None = None,
        max_buffer: int = 100_000,
        max_buffer_bytes: int = DEFAULT_MAX_BUFFER_BYTES,
        max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
        replay_seconds: float = DEFAULT_REPLAY_SECONDS,
        replay_bytes: int = DEFAULT_REPLAY_BYTES,
        on_publish: Callable[[], None] = lambda: None,
    ) -> None:
        if not FIELD_NAME.match(feed_name):
            raise ValueError(f"invalid feed name {feed_name!r}")
        if max_buffer < 1:
            raise ValueError("max_buffer must be at least 1")
        self.name = feed_name
        self.agent_address = agent_address
        self.address = f"{agent_address}.feeds.{feed_name}"
        self.agent_class = agent_class
        self.record = record
        self.buffer_time = buffer_time
        self.agg_params = dict(agg_params or {})
        self.max_buffer = max_buffer
        self.max_buffer_bytes = max_buffer_bytes
        self.max_event_bytes = max_event_bytes
        self.replay_seconds = replay_seconds
        self.replay_bytes = replay_bytes
        self._on_publish = on_publish
        # Added to every event's feed_info (the heartbeat carries the agent's loop lag so).
        self.info_extra: dict[str, Any] = {}
        self.session_id: int | None = None
        self.dropped = 0
        self.published = 0
        self.drop_rate = 0.0  # records dropped per second, over the last `tick` interval
        self._ticked: tuple[float, int] | None = None  # (time, dropped) at the last tick
        self._next_seq = 0
        self._records: deque[_Record] = deque()
        # events sent again after a lost connection, each as it went out (a subscriber that
        # got it before sees the same seq range and contents: a duplicate, dropped whole);
        # older than every record in _records
        self._returned: deque[list[_Record]] = deque()
        self._returned_count = 0
        self._held: dict[int, tuple[list[_Record], int]] = {}  # first seq -> records, bytes
        self._held_bytes = 0
        self._buffered_bytes = 0
        # the last records sent, for `replay`, and when (time.monotonic)
        self._sent: deque[tuple[_Record, float]] = deque()
        self._sent_bytes = 0
        self._lock = threading.Lock()
        self._block_fields: dict[str, frozenset[str]] = {}

    # --- the agent's code ------------------------------------------------------------------

    def publish(self, message: Any) -> None:
        """Queue one message; `ValueError` says what is wrong with a bad one."""
        if self.record:
            block_name, timestamps, columns = _block_from_message(message)
            fields = frozenset(columns)
            known = self._block_fields.setdefault(block_name, fields)
            if known != fields:
                raise ValueError(
                    f"block {block_name!r} has fields {sorted(known)}; "
                    f"got {sorted(fields)} (a block's fields are fixed at its first sample)"
                )
            per_sample = sum(map(_value_bytes, [timestamps, *columns.values()]))
            step = max(1, (self.max_event_bytes - 1024) // per_sample)
            count = column_len(timestamps)
            with self._lock:
                for start in range(0, max(count, 1), step):
                    stop = min(start + step, count)
                    self._append(
                        _Record(
                            seq=self._next_seq,
                            size=(stop - start) * per_sample + len(block_name) + 64,
                            block_name=block_name,
                            timestamps=column_slice(timestamps, start, stop),
                            data={k: column_slice(v, start, stop) for k, v in columns.items()},
                        )
                    )
            self._on_publish()
        else:
            payload = json_safe(message)
            self.publish_json(payload, len(json.dumps(payload)))

    def publish_json(self, payload: Any, size: int) -> None:
        """Queue one message of a plain feed that the caller made JSON-safe (a copy of its
        own) and measured (`size`: its length in JSON), so that it is not copied and encoded
        again; `ValueError` when it is too large for one event."""
        if size > self.max_event_bytes:
            raise ValueError(
                f"feed message of {size} bytes is over the {self.max_event_bytes}-byte "
                "limit of one event: publish it in parts"
            )
        with self._lock:
            self._append(_Record(seq=self._next_seq, size=size, payload=payload))
        self._on_publish()

    def _append(self, record: _Record) -> None:
        self._next_seq += 1
        self.published += 1
        self._records.append(record)
        self._buffered_bytes += record.size
        self._trim()

    def _trim(self) -> None:
        """Drop the oldest waiting records (returned ones first) past the bounds."""
        while self.pending > self.max_buffer or (
            self._buffered_bytes + self._held_bytes > self.max_buffer_bytes and self.pending > 1
        ):
            if self._returned:
                group = self._returned[0]
                self._buffered_bytes -= group.pop(0).size
                self._returned_count -= 1
                if not group:
                    self._returned.popleft()
            else:
                self._buffered_bytes -= self._records.popleft().size
            self.dropped += 1

    # --- the agent's shell -------------------------------------------------------------------

    @property
    def pending(self) -> int:
        return self._returned_count + len(self._records)

    @property
    def next_seq_no(self) -> int:
        """The number the next record will have."""
        return self._next_seq

    @property
    def held_bytes(self) -> int:
        """The estimated size of what was sent and awaits the hub's acknowledgement."""
        return self._held_bytes

    @property
    def pending_bytes(self) -> int:
        """The estimated size of what waits to be published."""
        return self._buffered_bytes

    def tick(self, now: float) -> None:
        """Update `drop_rate` from the drops since the last tick (the agent ticks once a
        second)."""
        if self._ticked is not None and now > self._ticked[0]:
            self.drop_rate = (self.dropped - self._ticked[1]) / (now - self._ticked[0])
        self._ticked = (now, self.dropped)

    def feed_info(self) -> dict[str, Any]:
        return {
            "agent_address": self.agent_address,
            "agg_params": self.agg_params,
            "feed_name": self.name,
            "address": self.address,
            "record": self.record,
            "session_id": self.session_id,
            "agent_class": self.agent_class,
        } | self.info_extra

    def encoded(self) -> dict[str, Any]:
        """What get_api says of this feed, with its counters."""
        return self.feed_info() | {
            "buffer_time": self.buffer_time,
            "published": self.published,
            "pending": self.pending,
            "unacknowledged": sum(len(records) for records, _ in self._held.values()),
            "dropped": self.dropped,
            "drop_rate": round(self.drop_rate, 3),
            "next_seq_no": self.next_seq_no,
        }

    def take_events(self) -> list[tuple[Any, dict[str, Any]]]:
        """Everything buffered, as ``(payload, feed_info)`` events ready to publish."""
        return self.take(None)[0]

    def take(
        self, max_bytes: int | None, *, hold: bool = False
    ) -> tuple[list[tuple[Any, dict[str, Any]]], int]:
        """The oldest buffered records as ``(payload, feed_info)`` events ready to publish,
        and their estimated size: all of them, or (with `max_bytes`) the first that fit in
        that size, and at least one; the rest wait for the next call. With `hold`, each
        event's records are kept until `acknowledge` or `release` names its ``seq_no``."""
        with self._lock:
            groups: list[list[_Record]] = []
            size = 0
            while self._returned and (
                max_bytes is None or not groups or size + _size(self._returned[0]) <= max_bytes
            ):
                group = self._returned.popleft()
                self._returned_count -= len(group)
                groups.append(group)
                size += _size(group)
            records: list[_Record] = []
            # newer records only once every returned event is out: never one before them
            while (
                not self._returned
                and self._records
                and (
                    max_bytes is None
                    or not (groups or records)
                    or size + self._records[0].size <= max_bytes
                )
            ):
                record = self._records.popleft()
                records.append(record)
                size += record.size
            self._buffered_bytes -= size
            groups += self._groups(records)
            if hold:
                now = time.monotonic()
                for group in groups:
                    group_size = _size(group)
                    self._held[group[0].seq] = (group, group_size)
                    self._held_bytes += group_size
                    self._keep_sent(group, now)
        return [self._event(group) for group in groups], size

    def _keep_sent(self, group: list[_Record], now: float) -> None:
        for record in group:
            # an event sent again is kept already
            if not self._sent or record.seq > self._sent[-1][0].seq:
                self._sent.append((record, now))
                self._sent_bytes += record.size + _KEPT_RECORD_OVERHEAD
        while self._sent and (
            self._sent_bytes > self.replay_bytes or self._sent[0][1] < now - self.replay_seconds
        ):
            self._sent_bytes -= self._sent.popleft()[0].size + _KEPT_RECORD_OVERHEAD

    def replay(
        self, first: int, last: int | None, max_bytes: int
    ) -> list[tuple[Any, dict[str, Any]]]:
        """The records numbered `first` to `last` (None: the newest) still kept of what was
        sent, one event each, as many as `max_bytes` hold (at least one); ask again from
        after the last one for more. A recorder that missed records asks for them so."""
        with self._lock:
            out: list[_Record] = []
            size = 0
            for record, _ in self._sent:
                if record.seq < first:
                    continue
                if (last is not None and record.seq > last) or (
                    out and size + record.size > max_bytes
                ):
                    break
                out.append(record)
                size += record.size
        return [self._event([record]) for record in out]

    def acknowledge(self, seq_no: int) -> None:
        """The hub has the event that starts at `seq_no`: forget its records."""
        with self._lock:
            held = self._held.pop(seq_no, None)
            if held is not None:
                self._held_bytes -= held[1]

    def release(self, seq_no: int) -> None:
        """The event that starts at `seq_no` may not have reached the hub: its records wait
        again, ahead of every newer one."""
        with self._lock:
            held = self._held.pop(seq_no, None)
            if held is None:
                return
            records, size = held
            self._held_bytes -= size
            self._buffered_bytes += size
            if self._returned and self._returned[-1][0].seq > records[0].seq:
                self._returned = deque(sorted([*self._returned, records], key=lambda g: g[0].seq))
            else:
                self._returned.append(records)
            self._returned_count += len(records)
            self._trim()

    def release_all(self) -> None:
        """The connection is gone: every held event waits again, in order."""
        for seq_no in sorted(self._held):
            self.release(seq_no)

    def drop_held(self, seq_no: int) -> None:
        """The hub refused the event that starts at `seq_no`: count its records dropped."""
        with self._lock:
            held = self._held.pop(seq_no, None)
            if held is not None:
                self._held_bytes -= held[1]
                self.dropped += len(held[0])

    def _groups(self, records: list[_Record]) -> list[list[_Record]]:
        """Records as they go out: one event each, or (recorded feeds) merged up to
        ``max_event_bytes`` an event."""
        if not self.record:
            return [[r] for r in records]
        groups: list[list[_Record]] = []
        group_size = 0
        for r in records:
            if groups and group_size + r.size <= self.max_event_bytes:
                groups[-1].append(r)
                group_size += r.size
            else:
                groups.append([r])
                group_size = r.size
        return groups

    def _event(self, group: list[_Record]) -> tuple[Any, dict[str, Any]]:
        if not self.record:
            return group[0].payload, self.feed_info() | {"seq_no": group[0].seq, "seq_count": 1}
        return self._merge(group)

    def _merge(self, group: list[_Record]) -> tuple[Any, dict[str, Any]]:
        parts: dict[str, list[_Record]] = {}
        for r in group:
            parts.setdefault(r.block_name, []).append(r)
        blocks = {
            name: {
                "block_name": name,
                "timestamps": join_columns([r.timestamps for r in records]),
                "data": {k: join_columns([r.data[k] for r in records]) for k in records[0].data},
            }
            for name, records in parts.items()
        }
        return blocks, self.feed_info() | {"seq_no": group[0].seq, "seq_count": len(group)}
