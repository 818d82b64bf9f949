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
"""

from __future__ import annotations

import json
import math
import re
import threading
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .ops import json_safe

FIELD_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,254}$")
# A JSON number or short string rarely takes more than this once encoded.
_BYTES_PER_VALUE = 24
DEFAULT_MAX_EVENT_BYTES = 256 * 1024
DEFAULT_MAX_BUFFER_BYTES = 64 * 1024 * 1024
_FLOAT_ONLY = frozenset({float})


def feed_event(args: tuple[Any, ...]) -> tuple[Any, dict[str, Any]]:
    """``(payload, feed_info)`` from the positional arguments of a feed event."""
    if (
        len(args) == 1
        and isinstance(args[0], (list, tuple))
        and len(args[0]) == 2
        and isinstance(args[0][1], dict)
        and "agent_address" in args[0][1]
    ):
        return args[0][0], args[0][1]
    if len(args) >= 2 and isinstance(args[1], dict):
        return args[0], args[1]
    return (args[0] if args else None), {}


@dataclass
class _Record:
    seq: int
    size: int
    payload: Any = None  # plain feeds
    block_name: str = ""
    timestamps: list[float] = field(default_factory=list)
    data: dict[str, list[Any]] = field(default_factory=dict)


def _block_from_message(
    message: Mapping[str, Any],
) -> tuple[str, list[float], dict[str, list[Any]]]:
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
        timestamps = list(message["timestamps"])
        columns = {k: list(v) for k, v in data.items()}
        for name, column in columns.items():
            if len(column) != len(timestamps):
                raise ValueError(
                    f"field {name!r} has {len(column)} values for {len(timestamps)} timestamps"
                )
    elif "timestamp" in message:
        timestamps = [message["timestamp"]]
        columns = {k: [v] for k, v in data.items()}
    else:
        raise ValueError("a recorded feed message needs 'timestamp' or 'timestamps'")
    for name, column in columns.items():
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
        self._buffered_bytes = 0
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
            per_sample = (len(columns) + 1) * _BYTES_PER_VALUE
            step = max(1, (self.max_event_bytes - 1024) // per_sample)
            with self._lock:
                for start in range(0, max(len(timestamps), 1), step):
                    part = slice(start, start + step)
                    n = len(timestamps[part])
                    self._append(
                        _Record(
                            seq=self._next_seq,
                            size=n * per_sample + len(block_name) + 64,
                            block_name=block_name,
                            timestamps=timestamps[part],
                            data={k: v[part] for k, v in columns.items()},
                        )
                    )
            self._on_publish()
        else:
            payload = json_safe(message)
            size = len(json.dumps(payload))
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
        while len(self._records) > self.max_buffer or (
            self._buffered_bytes > self.max_buffer_bytes and len(self._records) > 1
        ):
            self._buffered_bytes -= self._records.popleft().size
            self.dropped += 1

    # --- the agent's shell -------------------------------------------------------------------

    @property
    def pending(self) -> int:
        return len(self._records)

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
            "dropped": self.dropped,
            "drop_rate": round(self.drop_rate, 3),
            "next_seq_no": self._next_seq,
        }

    def take_events(self) -> list[tuple[Any, dict[str, Any]]]:
        """Everything buffered, as ``(payload, feed_info)`` events ready to publish."""
        return self.take(None)[0]

    def take(self, max_bytes: int | None) -> tuple[list[tuple[Any, dict[str, Any]]], int]:
        """The oldest buffered records as ``(payload, feed_info)`` events ready to publish,
        and their estimated size: all of them, or (with `max_bytes`) the first that fit in
        that size, and at least one; the rest wait for the next call."""
        with self._lock:
            if max_bytes is None:
                records = list(self._records)
                self._records.clear()
                size = self._buffered_bytes
                self._buffered_bytes = 0
            else:
                records, size = [], 0
                while self._records and (not records or size + self._records[0].size <= max_bytes):
                    record = self._records.popleft()
                    records.append(record)
                    size += record.size
                self._buffered_bytes -= size
        events: list[tuple[Any, dict[str, Any]]] = []
        if not self.record:
            for r in records:
                events.append((r.payload, self.feed_info() | {"seq_no": r.seq, "seq_count": 1}))
            return events, size
        group: list[_Record] = []
        group_size = 0
        for r in records:
            if group and group_size + r.size > self.max_event_bytes:
                events.append(self._merge(group))
                group, group_size = [], 0
            group.append(r)
            group_size += r.size
        if group:
            events.append(self._merge(group))
        return events, size

    def _merge(self, group: list[_Record]) -> tuple[Any, dict[str, Any]]:
        blocks: dict[str, dict[str, Any]] = {}
        for r in group:
            block = blocks.get(r.block_name)
            if block is None:
                blocks[r.block_name] = {
                    "block_name": r.block_name,
                    "timestamps": list(r.timestamps),
                    "data": {k: list(v) for k, v in r.data.items()},
                }
            else:
                block["timestamps"].extend(r.timestamps)
                for k, v in r.data.items():
                    block["data"][k].extend(v)
        return blocks, self.feed_info() | {"seq_no": group[0].seq, "seq_count": len(group)}
