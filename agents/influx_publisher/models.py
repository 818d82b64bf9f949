"""What the InfluxPublisher puts in session data and on its feed (typed: a reader can rely on
them). Counts are InfluxDB points (one timestamp of one block, or of one field of a block
with ``influxdb_tags``) since ``record`` started; times are seconds. The README lists them."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True, kw_only=True)
class PublisherStats:
    """``record``'s session data, renewed once a second."""

    connected: bool  # the last write reached the server
    written: int  # points the server stored
    rejected: int  # points the server refused (type conflicts), see last_rejection
    dropped: int  # points dropped because the queue was full (oldest first)
    dropped_by_feed: dict[str, int]  # the same, by feed address (only feeds that lost some)
    pending: int  # points in the queue
    pending_bytes: int  # their size in memory (encoded, with the queue's own objects)
    max_queue_bytes: int  # the queue's bound (--max-queue-mb)
    empty: int  # points with no value (every field null): nothing to write
    lag: float  # how long the oldest queued point has waited (0 when none wait)
    data_lag: float | None  # now minus the newest sample time written (end to end)
    points_per_s: float  # points written per second over the last second
    write_errors: int  # writes that failed and were sent again later
    # points of failed writes that went out and got no answer: the server may hold them
    # (so some may be both stored and counted dropped, if the queue dropped them later)
    unanswered: int
    last_error: str | None  # the last write failure
    last_rejection: str | None  # the server's words for the last refused points
    intake: dict[str, Any]  # recording.intake counters: events, duplicates, gaps (records)
    spool_errors: int  # events not written to the spool (--spool-dir; disk full): memory only
    spool_last_error: str | None  # why the last of them was not

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def feed_block(self, timestamp: float) -> dict[str, Any]:
        """The ``influx_stats`` feed message: block ``influx_stats``, numbers only."""
        records = self.intake["records"]
        return {
            "block_name": "influx_stats",
            "timestamp": timestamp,
            "data": {
                "written": self.written,
                "rejected": self.rejected,
                "dropped": self.dropped,
                "pending": self.pending,
                "pending_bytes": self.pending_bytes,
                "lag": self.lag,
                "data_lag": math.nan if self.data_lag is None else self.data_lag,  # null
                "points_per_s": self.points_per_s,
                "write_errors": self.write_errors,
                "unanswered": self.unanswered,
                "lost_records": records["lost"],
                "duplicate_records": records["duplicates"],
            },
        }
