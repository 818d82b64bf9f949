"""InfluxPublisher: every recorded feed of the site, written to InfluxDB 1.x.

The WAMP-facing shell: one wildcard subscription (``<root>..feeds.``, `Listener`) brings
every feed of every agent, including agents that start later; `FeedIntake` keeps the
recorded ones (and drops duplicates, counts gaps), each event is encoded once as line
protocol (`Lines`) and queued in the `Backlog` (bounded in bytes), and the ``record``
process sends batches through `InfluxWriter` in the worker pool, backing off while the
server is away. Its counters go to session data and to its own recorded feed
``influx_stats`` once a second.

With ``--spool-dir`` each event's points are also appended to a `Spool` on disk as they
arrive, and the number below which all are written (or dropped, counted) is committed after
each write: a publisher killed -9 sends, when it starts again, what it had received and not
written. Points sent twice that way overwrite themselves (InfluxDB keeps one point per series
and time).

What was published while it was not running, or away from the hub, it asks the publishing
agents for when it starts and each time it re-joins (`recording.catchup`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any

from socs_like import Agent, OpSession
from socs_like_agents.recording.backlog import Backlog, Batch
from socs_like_agents.recording.intake import Block, FeedIntake
from socs_like_agents.recording.listener import Listener
from socs_like_agents.recording.options import max_queue_bytes
from socs_like_agents.recording.spool import Entry, Spool, reopen, segment_bytes, settle

from . import options, spooled
from .errors import InfluxNoAnswer, InfluxUnavailable
from .layout import Layout
from .lineprotocol import Lines
from .server import server_from
from .status import Writes, publisher_stats, retry_backoff
from .writer import InfluxWriter, WriteResult

log = logging.getLogger(__name__)

STATS_EVERY = 1.0
POLL = 0.02  # how often the writer looks at the queue when nothing is due
# Writes in flight at once: the next batch is on its way while the server stores the last
# one, so the publisher keeps up with more.
IN_FLIGHT = 2


class InfluxPublisher:
    """Writes every recorded feed to an InfluxDB 1.x database as OCS's InfluxDBAgent does
    (``--layout``, see `layout`).

    Operations: process ``record`` (runs at start-up unless ``--initial-state idle``).
    """

    Options = options.Options

    def __init__(self, agent: Agent, settings: options.Options) -> None:
        self.agent = agent
        self.batch_size = settings.batch_size
        self.retry_max = settings.retry_max
        self.flush_interval = settings.flush_interval
        self.layout = Layout(settings.layout)
        self.intake = FeedIntake(agent.address_root, exclude_flag="exclude_influx")
        self.backlog: Backlog[Entry[Lines]] = Backlog(max_queue_bytes(settings.max_queue_mb))
        self.spool = (
            Spool(Path(settings.spool_dir), segment_bytes(self.backlog.max_bytes))
            if settings.spool_dir
            else None
        )
        self.spool_opened = False
        self.empty = 0  # points with no value: nothing to write
        server = server_from(settings.server)
        self.writer = InfluxWriter(
            server.url,
            server.database,
            settings.timeout,
            server.auth,
            verify=server.verify,
            gzip=server.gzip,
        )
        self.feed = agent.register_feed("influx_stats", record=True)
        self.listener = Listener(agent, self.intake, self._keep)
        agent.register_process("record", self.record, startup=settings.initial_state == "record")

    def _keep(self, blocks: list[Block], received: float) -> None:
        lines = Lines.of(blocks, received, self.layout)
        self.empty += lines.empty
        if lines.points:
            self.backlog.add(Entry(self._spooled(lines), lines))

    def _spooled(self, lines: Lines) -> int:
        """Append `lines` to the spool: its record number (0 without a spool)."""
        if self.spool is None:
            return 0
        return self.spool.append(spooled.encode(lines, self.intake.last_of(lines.feed)))

    async def _resume(self) -> None:
        """Queue what the spool holds from an earlier run, and go on from the record numbers
        it saw (see `FeedIntake.resume`)."""
        if self.spool is None or self.spool_opened:
            return
        records, seen = await self.agent.to_thread(
            reopen, self.spool, spooled.decode, spooled.UNREADABLE
        )
        self.spool_opened = True
        for number, lines in records:
            self.backlog.add(Entry(number, lines))
        self.intake.resume(seen)
        if records:
            log.info("%d points from the spool of an earlier run queued", self.backlog.pending)

    def _commit(self, out: dict[Any, Batch[Entry[Lines]]]) -> None:
        """Settle, in the spool, what is written or dropped."""
        if self.spool is not None:
            settle(self.spool, self.backlog, out.values(), self.intake.last_seen())

    def _due(self, now: float, stopping: bool) -> bool:
        pending = self.backlog.pending
        return pending >= self.batch_size or (
            pending > 0 and (stopping or self.backlog.lag(now) >= self.flush_interval)
        )

    async def record(self, session: OpSession, params: dict) -> tuple[bool, str]:
        """record()

        **Process** - Queue the points of every recorded feed and write them to InfluxDB in
        batches of ``--batch-size``, at least every ``--flush-interval`` s. While the server
        is away the queue holds up to ``--max-queue-mb`` (then drops the oldest, counted)
        and writes are retried with backoff. On stop, what is queued is written first if the
        server takes it.

        session.data: :class:`~.models.PublisherStats` (written, rejected, dropped,
        dropped_by_feed, pending, pending_bytes, max_queue_bytes, empty, lag, data_lag,
        points_per_s, write_errors, last_error, last_rejection, intake).
        """
        await self._resume()
        session.set_status("running")
        self.listener.start()
        writes = Writes(rate_since=(time.monotonic(), 0), backoff=retry_backoff(self.retry_max))
        stopping = False
        flush_failed = False  # once stopping, a failed write ends the flush
        inflight: dict[asyncio.Future[WriteResult], Batch[Entry[Lines]]] = {}

        def renew_stats() -> None:
            rate = writes.points_per_s(time.monotonic())
            stats = publisher_stats(
                writes,
                self.backlog,
                self.intake,
                self.spool,
                empty=self.empty,
                points_per_s=rate,
                now=time.time(),
            )
            self._commit(inflight)  # drops too are settled
            session.data = stats.as_dict()
            self.feed.publish(stats.feed_block(time.time()))

        try:
            while True:
                stopping = stopping or session.stop_requested
                now = time.monotonic()
                if now >= writes.rate_since[0] + STATS_EVERY:
                    renew_stats()
                while (
                    len(inflight) < IN_FLIGHT
                    and now >= writes.retry_at
                    and not flush_failed
                    and self._due(time.time(), stopping)
                ):
                    batch = self.backlog.take(self.batch_size)
                    write: asyncio.Future[WriteResult] = asyncio.ensure_future(
                        self.agent.to_thread(self.writer.write, [e.chunk for e in batch.chunks])
                    )
                    inflight[write] = batch
                if not inflight:
                    if stopping:
                        break
                    await session.sleep(POLL)
                    continue
                done, _ = await asyncio.wait(
                    inflight, timeout=POLL, return_when=asyncio.FIRST_COMPLETED
                )
                for write in done:
                    batch = inflight.pop(write)
                    try:
                        result = write.result()
                    except InfluxUnavailable as exc:
                        self.backlog.put_back(batch)
                        unanswered = batch.points if isinstance(exc, InfluxNoAnswer) else 0
                        if writes.failed(str(exc), time.monotonic(), unanswered):
                            log.warning("%s; queueing until it is back", exc)
                        flush_failed = stopping
                        continue
                    newest = max(e.chunk.newest for e in batch.chunks)
                    if writes.succeeded(result, newest, time.time()):
                        log.info("InfluxDB at %s takes writes", self.writer.url)
                    self._commit(inflight)
        finally:
            self.listener.stop()
            for write, batch in inflight.items():  # cancelled mid-write: keep what it held
                write.cancel()
                self.backlog.put_back(batch)
        renew_stats()
        left = self.backlog.pending
        return True, (
            f"stopped: {writes.totals.written} points written, {self.backlog.dropped} dropped"
            + (f", {left} not written (InfluxDB unavailable)" if left else "")
        )
