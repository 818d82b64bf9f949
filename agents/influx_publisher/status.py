"""What ``record`` knows of its writes (`Writes`), and its session data and feed built from
that and the queue (`publisher_stats`), without I/O: the shell passes the clocks."""

from __future__ import annotations

from dataclasses import dataclass, field

from socs_like.backoff import Backoff
from socs_like_agents.recording.backlog import Backlog
from socs_like_agents.recording.intake import FeedIntake
from socs_like_agents.recording.spool import Entry, Spool

from .lineprotocol import Lines
from .models import PublisherStats
from .options import RETRY_FIRST, RETRY_MAX
from .writer import WriteResult


def retry_backoff(cap: float = RETRY_MAX) -> Backoff:
    return Backoff(initial=min(RETRY_FIRST, cap), cap=cap, jitter=0.1)


@dataclass(kw_only=True)
class Writes:
    """The writes of one ``record`` run: their totals, whether the server takes them, and
    when the next may start while it is away (``retry_at``, monotonic s)."""

    totals: WriteResult = field(default_factory=WriteResult)
    connected: bool = False  # the last write reached the server
    write_errors: int = 0
    unanswered: int = 0  # points of writes that went out and got no answer
    last_error: str | None = None
    data_lag: float | None = None  # at the last write: its time minus its newest sample's
    retry_at: float = 0.0
    backoff: Backoff = field(default_factory=retry_backoff)
    # when the rate was last taken (monotonic s), and the points written then
    rate_since: tuple[float, int] = (0.0, 0)

    def failed(self, error: str, now: float, unanswered: int = 0) -> bool:
        """A write found the server away (monotonic `now`; `unanswered`, its points if it
        went out and got no answer): back off. Whether it is the first failure since the
        server took writes (to say so once)."""
        first = self.connected or self.last_error is None
        self.write_errors += 1
        self.unanswered += unanswered
        self.connected, self.last_error = False, error
        self.retry_at = now + self.backoff.failure()
        return first

    def succeeded(self, result: WriteResult, newest: float, now: float) -> bool:
        """A write reached the server (UNIX `now`; `newest`, the latest sample time it
        held). Whether the server is back after failures or the start (to say so once)."""
        back = not self.connected
        self.connected = True
        self.backoff.success()
        self.totals += result
        self.data_lag = round(now - newest, 3)
        return back

    def points_per_s(self, now: float) -> float:
        """Points written per second since the last call (monotonic `now`)."""
        since, written = self.rate_since
        rate = (self.totals.written - written) / max(now - since, 1e-3)
        self.rate_since = (now, self.totals.written)
        return round(rate, 1)


def publisher_stats(
    writes: Writes,
    backlog: Backlog[Entry[Lines]],
    intake: FeedIntake,
    spool: Spool | None,
    *,
    empty: int,
    points_per_s: float,
    now: float,
) -> PublisherStats:
    """``record``'s session data at UNIX time `now` (`empty`: points with no value)."""
    return PublisherStats(
        connected=writes.connected,
        written=writes.totals.written,
        rejected=writes.totals.rejected,
        dropped=backlog.dropped,
        dropped_by_feed=dict(backlog.dropped_by_feed),
        pending=backlog.pending,
        pending_bytes=backlog.pending_bytes,
        max_queue_bytes=backlog.max_bytes,
        empty=empty,
        lag=round(backlog.lag(now), 3),
        data_lag=writes.data_lag,
        points_per_s=points_per_s,
        write_errors=writes.write_errors,
        unanswered=writes.unanswered,
        last_error=writes.last_error,
        last_rejection=writes.totals.last_rejection,
        intake=intake.stats(),
        spool_errors=spool.errors if spool else 0,
        spool_last_error=spool.last_error if spool else None,
    )
