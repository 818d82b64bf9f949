"""What a recorder keeps of a feed event: checked blocks, with duplicates dropped and gaps
counted, without I/O. Shared by the InfluxPublisher and the FileRecorder.

A recorder subscribes to every feed of every agent (``<root>..feeds.``, wildcard) and keeps
the events of *recorded* feeds (``feed_info["record"]``), unless the feed's ``agg_params``
names the recorder's exclusion flag (OCS's ``exclude_influx`` / ``exclude_aggregator``).

Sequence numbers: an event of our feeds carries the contiguous range of records it holds
(``seq_no``, ``seq_count``). Each record number goes through a `SequenceTracker` keyed by the
feed's address, so a gap (records the sender dropped, or events lost while a link was down)
is counted as ``lost``, and an event whose every record was seen already (a sender or a hub
that sent it again after a reconnect) is dropped and counted as ``duplicates``: nothing is
written twice. A feed's record 0 seen again is a duplicate when the event's contents are those
of the last record 0 seen (their digest is the tracker's token), and a restarted publisher
(new contents: later timestamps) otherwise; our feeds carry no start stamp to tell by. Our
feeds never regroup records, so an event is either all new or all seen; one that mixes both is
kept whole. Events without numbers (an OCS agent's) are kept and
counted as ``untracked``.

A block may carry OCS's ``influxdb_tags`` (for each of its fields a tag set and the name
``_field`` to write it under, as OCS's ``Feed`` checks them) and is kept with them and the
feed's ``agent_class``: the InfluxPublisher lays such a block out as OCS's does.

Across a restart of the recorder: it keeps the last record number it saw of each feed in its
spool (`last_seen`, then `resume`), and the first event of a feed after the restart is judged
against it. The records in between were published while the recorder was not running (or
before its ``record`` process started): they are counted as ``missed_while_down``, with their
ranges by feed, not as ``lost``. The same when the recorder loses the hub (`away`): what is
published until it has subscribed again after re-joining (records a publisher that re-joined
first sent again, events the dying hub did not deliver) is counted as ``missed_while_away``.
A feed whose publisher restarted meanwhile (its numbers begin again) counts the new run's
records before the first received; the old run's last records, after the one seen, cannot be
counted. What is missed so is asked of the publisher (`wanted`, see `catchup`): a record
that arrives inside a counted range is kept and moved from the missed counts to
``recovered``.

A malformed event is refused whole (`BadEvent`), counted, and its reason kept; the recorder
carries on.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from socs_like.feed import Undecodable
from socs_like.sequence import SequenceTracker

Value = float | int | str | bool | None
TagValue = str | int | float | bool | None  # a None tag is left out
Tags = Mapping[str, Mapping[str, TagValue]]  # OCS's influxdb_tags
# What a block costs in memory, about (for the queue's byte bound): its own objects (the block,
# its lists, dict and names: ~800 bytes), and per value a Python object and its list's pointer (a
# float: 24 + 8 bytes), more for text.
BLOCK_BYTES = 800
VALUE_BYTES = 32
TEXT_BYTES = 25  # a str over VALUE_BYTES, besides its characters
MISSED_RANGES = 8


class BadEvent(ValueError):
    """A recorded-feed event that is not a dict of blocks with matching columns."""


@dataclass(frozen=True)
class Block:
    """One block of one event: ``timestamps`` (UNIX s) and a column per field."""

    agent_address: str
    instance_id: str
    feed_name: str
    block_name: str
    timestamps: list[float]
    data: dict[str, list[Value]]
    received: float  # UNIX s when the recorder got the event
    agent_class: str = ""  # the feed's (``feed_info["agent_class"]``)
    # OCS's: per field, its tags and ``_field`` (the name it is written under); None: untagged
    influxdb_tags: Tags | None = None

    def __len__(self) -> int:
        return len(self.timestamps)

    @property
    def points(self) -> int:
        return len(self.timestamps)

    @property
    def feed(self) -> str:
        return f"{self.agent_address}.feeds.{self.feed_name}"

    @cached_property
    def nbytes(self) -> int:
        """Its size in memory, about (see `BLOCK_BYTES`)."""
        text = sum(len(v) + TEXT_BYTES for c in self.data.values() for v in c if type(v) is str)
        return BLOCK_BYTES + VALUE_BYTES * len(self.timestamps) * (1 + len(self.data)) + text


@dataclass
class IntakeCounts:
    """What the intake saw since the recorder started (JSON-ready with ``vars``)."""

    events: int = 0  # events of recorded feeds kept
    samples: int = 0  # timestamps in them
    excluded: int = 0  # events of feeds whose agg_params exclude this recorder
    duplicate_events: int = 0  # events dropped: every record seen already
    bad_events: int = 0  # malformed events refused
    last_error: str | None = None  # the reason of the last refused event
    # records published while this recorder was not running, or away from the hub (see the
    # module doc), and their [first, last] record numbers by feed address (the latest
    # MISSED_RANGES of each)
    missed_while_down: int = 0
    missed_while_down_by_feed: dict[str, list[list[int]]] = field(default_factory=dict)
    missed_while_away: int = 0
    missed_while_away_by_feed: dict[str, list[list[int]]] = field(default_factory=dict)
    recovered: int = 0  # records counted missed, then received (asked of their publisher)
    replayed: int = 0  # records received by asking their publisher (`catchup`)


def _block(name: Any, raw: Any) -> tuple[str, list[float], dict[str, list[Value]], Tags | None]:
    if not isinstance(raw, Mapping):
        raise BadEvent(f"block {name!r} is not a dict")
    block_name = raw.get("block_name", name)
    if not isinstance(block_name, str) or not block_name:
        raise BadEvent(f"block {name!r} has no block_name string")
    timestamps = raw.get("timestamps")
    data = raw.get("data")
    if timestamps is None and "timestamp" in raw and isinstance(data, Mapping):
        # one sample, as OCS's InfluxDB publisher also takes it
        timestamps, data = [raw["timestamp"]], {k: [v] for k, v in data.items()}
    if not isinstance(timestamps, list) or not isinstance(data, Mapping):
        raise BadEvent(f"block {block_name!r} needs a 'timestamps' list and a 'data' dict")
    for t in timestamps:
        if isinstance(t, bool) or not isinstance(t, (int, float)) or not math.isfinite(t):
            raise BadEvent(f"block {block_name!r}: timestamp {t!r} is not a finite number")
    columns: dict[str, list[Value]] = {}
    for key, column in data.items():
        if not isinstance(key, str) or not key:
            raise BadEvent(f"block {block_name!r}: field name {key!r} is not a string")
        if not isinstance(column, list) or len(column) != len(timestamps):
            raise BadEvent(
                f"block {block_name!r}: field {key!r} needs a list of {len(timestamps)} values"
            )
        for v in column:
            if v is not None and not isinstance(v, (int, float, str, bool)):
                raise BadEvent(f"block {block_name!r}: field {key!r} has value {v!r}")
        columns[key] = column
    tags = raw.get("influxdb_tags") or None  # OCS sends None, and writes {} as None too
    if tags is not None:
        _check_tags(block_name, tags, columns)
    return block_name, [float(t) for t in timestamps], columns, tags


def _check_tags(block_name: str, tags: Any, columns: Mapping[str, Any]) -> None:
    """OCS's rules for ``influxdb_tags`` (its ``Feed`` refuses to publish others): a tag set
    with a ``_field`` name for each field of the block, and for no other."""
    if not isinstance(tags, Mapping) or tags.keys() != columns.keys():
        raise BadEvent(f"block {block_name!r}: influxdb_tags must name exactly its fields")
    for key, tag_set in tags.items():
        if (
            not isinstance(tag_set, Mapping)
            or not isinstance(tag_set.get("_field"), str)
            or not tag_set["_field"]
            or not all(isinstance(k, str) and k for k in tag_set)
            or not all(v is None or isinstance(v, (str, int, float)) for v in tag_set.values())
        ):
            raise BadEvent(
                f"block {block_name!r}: influxdb_tags of {key!r} must be named text or number "
                f"tags and a '_field' name, not {tag_set!r}"
            )


class FeedIntake:
    """Turns ``(payload, feed_info)`` events into `Block` lists (see the module doc)."""

    def __init__(self, address_root: str, exclude_flag: str, window: int = 4096) -> None:
        self.prefix = f"{address_root}."
        self.exclude_flag = exclude_flag
        self.tracker: SequenceTracker[str] = SequenceTracker(window=window)
        self.counts = IntakeCounts()
        # feeds not seen since `resume` or `away`: their last number, and why ("down", "away")
        self._resumed: dict[str, tuple[int, str]] = {}
        # records counted missed and not received since: [first, last, why] by feed (the
        # latest MISSED_RANGES of each)
        self._gaps: dict[str, list[tuple[int, int, str]]] = {}
        self._newly_missed: list[str] = []  # feeds with a range counted since `newly_missed`

    def resume(self, last_seen: Mapping[str, int]) -> None:
        """Go on from the last record number of each feed an earlier run saw (`last_seen`)."""
        self._resumed = {feed: (last, "down") for feed, last in last_seen.items()}

    def away(self) -> None:
        """The recorder lost the hub: judge each feed's next event against its last one."""
        for feed, last in self.last_seen().items():
            if feed not in self._resumed:
                self._resumed[feed] = (last, "away")

    def wanted(self) -> list[tuple[str, int, int | None]]:
        """What to ask the publishers for: ``(feed, first, last)``, the records counted
        missed, and (``last`` None) every record after the last seen of a feed not seen since
        `resume` or `away`."""
        out: list[tuple[str, int, int | None]] = [
            (feed, last + 1, None) for feed, (last, _) in self._resumed.items()
        ]
        out += [(feed, first, last) for feed, gaps in self._gaps.items() for first, last, _ in gaps]
        return out

    def newly_missed(self) -> list[str]:
        """The feeds with records counted missed since the last call: to ask for at once."""
        out, self._newly_missed = self._newly_missed, []
        return out

    def last_seen(self) -> dict[str, int]:
        """The last record number seen of each feed (this run's, else an earlier run's), to
        keep for `resume`."""
        out = {feed: last for feed, (last, _) in self._resumed.items()}
        for sender, counts in self.tracker.snapshot().items():
            if counts["last_seq"] is not None:
                out[sender] = counts["last_seq"]
        return out

    def last_of(self, feed: str) -> int | None:
        """The last record number seen of `feed`, to spool beside its event (a record that
        fills a gap comes after newer ones: the newest seen is what to resume from)."""
        counts = self.tracker.counts(feed)
        return None if counts is None else counts.last_seq

    def take(self, payload: Any, feed_info: Mapping[str, Any], received: float) -> list[Block]:
        """The blocks to record from one event; [] for events that are not to be recorded
        (not a recorded feed, excluded, duplicate) or malformed (counted)."""
        if not feed_info.get("record"):
            return []
        agg_params = feed_info.get("agg_params") or {}
        if isinstance(agg_params, Mapping) and agg_params.get(self.exclude_flag):
            self.counts.excluded += 1
            return []
        try:
            agent_address = feed_info.get("agent_address")
            feed_name = feed_info.get("feed_name")
            if not isinstance(agent_address, str) or not isinstance(feed_name, str):
                raise BadEvent("feed_info lacks agent_address or feed_name")
            if isinstance(payload, Undecodable):
                raise BadEvent(payload.reason)
            if not isinstance(payload, Mapping):
                raise BadEvent(f"payload is {type(payload).__name__}, not a dict of blocks")
            parsed = [_block(name, raw) for name, raw in payload.items()]
        except BadEvent as exc:
            self.counts.bad_events += 1
            self.counts.last_error = f"{feed_info.get('address', '?')}: {exc}"
            return []
        if self._all_seen(f"{agent_address}.feeds.{feed_name}", feed_info, payload):
            self.counts.duplicate_events += 1
            return []
        instance_id = agent_address.removeprefix(self.prefix)
        agent_class = feed_info.get("agent_class")
        agent_class = agent_class if isinstance(agent_class, str) else ""
        blocks = [
            Block(agent_address, instance_id, feed_name, n, ts, data, received, agent_class, tags)
            for n, ts, data, tags in parsed
            if ts
        ]
        self.counts.events += 1
        self.counts.samples += sum(len(b) for b in blocks)
        return blocks

    def _all_seen(self, sender: str, feed_info: Mapping[str, Any], payload: Any) -> bool:
        seq_no = feed_info.get("seq_no")
        count = feed_info.get("seq_count", 1)
        if not isinstance(seq_no, int) or not isinstance(count, int) or count < 1:
            self.tracker.observe(sender, None)
            return False
        resumed = self._resumed.pop(sender, None)
        if resumed is not None:
            self._missed(sender, *resumed, seq_no)
        if self._fill(sender, seq_no, seq_no + count - 1):
            return False
        token = _digest(payload) if seq_no == 0 else None
        verdicts = [self.tracker.observe(sender, seq_no + i, token) for i in range(count)]
        return all(v == "duplicate" for v in verdicts)

    def _missed(self, sender: str, last: int, why: str, seq_no: int) -> None:
        """Count what `sender` published between `last` (seen before the recorder was down
        or away, `why`) and `seq_no`, and let the tracker go on from there."""
        if seq_no > last + 1:
            first, end = last + 1, seq_no - 1
            self.tracker.resume(sender, end)  # not a gap to this run: counted here
        else:
            restarted = seq_no == 0 or seq_no < last - self.tracker.window
            first, end = 0, (seq_no - 1 if restarted else -1)
            self.tracker.resume(sender, last)  # a restart, or a record sent again
        if end < first:
            return
        if why == "down":
            self.counts.missed_while_down += end - first + 1
            by_feed = self.counts.missed_while_down_by_feed
        else:
            self.counts.missed_while_away += end - first + 1
            by_feed = self.counts.missed_while_away_by_feed
        ranges = by_feed.setdefault(sender, [])
        ranges.append([first, end])
        del ranges[:-MISSED_RANGES]
        gaps = self._gaps.setdefault(sender, [])
        gaps.append((first, end, why))
        del gaps[:-MISSED_RANGES]
        self._newly_missed.append(sender)

    def _fill(self, sender: str, first: int, last: int) -> bool:
        """Whether records `first`..`last` of `sender` lie in a range counted missed: they are
        `recovered` (the tracker went on past them and never saw them)."""
        gaps = self._gaps.get(sender, [])
        for i, (start, end, why) in enumerate(gaps):
            if start <= first and last <= end:
                rest = ((start, first - 1, why), (last + 1, end, why))
                gaps[i : i + 1] = [g for g in rest if g[0] <= g[1]]
                if not gaps:
                    del self._gaps[sender]
                n = last - first + 1
                self.counts.recovered += n
                if why == "down":
                    self.counts.missed_while_down -= n
                else:
                    self.counts.missed_while_away -= n
                return True
        return False

    def stats(self) -> dict[str, Any]:
        """Intake counters and the tracker's record totals (lost, duplicates, late,
        restarts, untracked), for session data and feeds."""
        return vars(self.counts) | {"records": self.tracker.totals()}


def _digest(payload: Any) -> str:
    """What tells a record 0 sent again from a restarted publisher's: its contents."""
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()
