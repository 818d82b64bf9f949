"""PysmurfMonitor: the WAMP-facing shell around the pysmurf publisher's datagrams.

This module only wires the parts together; each part is a module of its own, tested alone:

1. The UDP listener hands each datagram to :class:`.intake.Intake` on the event loop
   (parsing, rejections, ``seq_no`` per publisher, feeds, the bounded
   :class:`.announcements.AnnouncementQueue`). :mod:`.udp` sets the socket's receive buffer
   (what the kernel granted is logged) and reads the kernel's drop counter.
2. Every ``--batch-interval`` seconds (or at ``--batch-size``) one short write transaction in
   a worker thread inserts the queued announcements. That row is the durable record.
3. New rows go to the :class:`.hashing.HashPool`; results are written back in batches. On
   start, rows still ``pending`` from an earlier run are read by :class:`.recovery.RecoveryPager`
   and hashed first, so a crash or a kill loses no announced file.
4. A database failure keeps everything in memory; :class:`.retry.RetryGate` says when to try
   again.
5. Any loss seen (a ``seq_no`` gap, ``queue_full``, kernel drops) asks
   :class:`.lost.LossRecovery` for a targeted rescan of the publisher's folders; ``--rescan``
   also walks ``--g3-dir``/``--smurf-dir`` at start and every ``--rescan-interval`` seconds.
6. :class:`socs_like.watchdog.LoopWatchdog` measures how late the event loop runs.

Session data and feed payloads are the typed models of :mod:`.models`.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import time
from collections.abc import Sequence
from typing import Any

from twisted.internet.protocol import DatagramProtocol

from socs_like import Agent, OpSession, param
from socs_like.db import Database
from socs_like.feed import Feed
from socs_like.watchdog import LoopWatchdog
from socs_like_agents.filedb import queries as files
from socs_like_agents.filedb.queries import Checksum, NewFile
from socs_like_agents.filedb.schema import upgrade
from socs_like_agents.pysmurf_monitor import options, rescan, udp
from socs_like_agents.pysmurf_monitor.announcements import AnnouncementQueue
from socs_like_agents.pysmurf_monitor.errors import NotRunning
from socs_like_agents.pysmurf_monitor.hashing import HashPool
from socs_like_agents.pysmurf_monitor.intake import Intake
from socs_like_agents.pysmurf_monitor.lost import TargetedRescan
from socs_like_agents.pysmurf_monitor.models import (
    DbCounts,
    FileCounts,
    LossCounts,
    MetadataCounts,
    RescanSessionData,
    RunSessionData,
    SequenceTotals,
    UdpCounts,
    UdpStats,
)
from socs_like_agents.pysmurf_monitor.recovery import RecoveryPager
from socs_like_agents.pysmurf_monitor.retry import RetryGate

log = logging.getLogger(__name__)

# Twisted reads up to 256 KiB (about a thousand datagrams) per wake-up before yielding;
# parsing that many in one go holds the loop for tens of ms. Smaller helpings keep it
# responsive; the kernel buffer holds the rest meanwhile.
READ_PER_WAKEUP = 16 * 1024
DROPS_EVERY = 0.5  # seconds between reads of the kernel's drop counter


class _Listener(DatagramProtocol):
    def __init__(self, intake: Intake) -> None:
        self.intake = intake

    def datagramReceived(self, data: bytes, addr: Any) -> None:
        self.intake.receive(data, time.time(), time.monotonic())


class PysmurfMonitor:
    """Pysmurf monitor: registers every file the pysmurf publisher announces for SupRsync,
    and forwards session data and metadata to feeds.

    Process ``run`` (at start-up unless ``--test-mode``) listens on ``--udp-port``; task
    ``rescan`` registers files found on disk that were never announced.
    """

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        options.add_arguments(parser)

    def __init__(self, agent: Agent, args: argparse.Namespace) -> None:
        self.agent = agent
        self.args = args
        self.session_feed = agent.register_feed("pysmurf_session_data", max_buffer=10_000)
        self.stats_feed = agent.register_feed("udp_stats", max_buffer=100)
        self.meta_feeds: dict[str, Feed] = {}
        self.queue = AnnouncementQueue(args.max_queued, args.batch_size)
        self.losses = options.loss_recovery(args)
        self.intake = Intake(
            rules=options.registration_rules(args),
            queue=self.queue,
            losses=self.losses,
            publish_session=self.session_feed.publish,
            publish_meta=lambda name, sample: self._meta_feed(name).publish(sample),
        )
        self.hashes = HashPool(args.checksum_workers, args.read_size, on_ready=self._wake_up)
        self.db_gate = RetryGate()
        self.watchdog = LoopWatchdog()
        self.db: Database | None = None
        self.recovery: RecoveryPager | None = None
        self.receive_buffer: udp.ReceiveBuffer | None = None
        self.kernel_drops: int | None = None
        self.loss_rescans = 0
        self.loss_found = 0
        self._counts = self.intake.counts  # one Counter for everything counted
        self._last_db_error: str | None = None
        self._wake = asyncio.Event()  # a batch is full, or checksums are ready to write
        agent.register_process("run", self.run, startup=not args.test_mode)
        agent.register_task("rescan", self.rescan_task)

    def _wake_up(self) -> None:
        self._wake.set()

    def _meta_feed(self, name: str) -> Feed:
        feed = self.meta_feeds.get(name)
        if feed is None:
            feed = self.agent.register_feed(
                name, record=True, buffer_time=self.args.meta_buffer_time, max_buffer=100_000
            )
            self.meta_feeds[name] = feed
        return feed

    # --- the run process -----------------------------------------------------------------

    async def run(self, session: OpSession, params: dict[str, Any]) -> tuple[bool, str]:
        """run(): listen for the publisher's datagrams until stopped (see the module doc)."""
        from twisted.internet import reactor

        args = self.args
        self.db = db = await self.agent.to_thread(self._open_db)
        # what exists now (framework, libraries, schema) lives as long as the process; taking
        # it out of the collector's sight keeps full collections from stalling the loop
        gc.freeze()
        self.recovery = recovery = RecoveryPager(
            await self.agent.to_thread(db.read, files.max_pending_id)
        )
        self.hashes.start()
        self.watchdog.start()
        port = reactor.listenUDP(
            args.udp_port, _Listener(self.intake), interface=args.udp_host, maxPacketSize=65535
        )
        self.receive_buffer = udp.set_receive_buffer(port.socket, args.udp_rcvbuf)
        (log.warning if self.receive_buffer.short else log.info)(self.receive_buffer.describe())
        port.maxThroughput = READ_PER_WAKEUP
        drops_base = udp.udp_drops(port.socket)
        session.add_message(
            f"Listening on udp {args.udp_host}:{args.udp_port}; database {db.display_url}; "
            + self.receive_buffer.describe()
        )
        session.set_status("running")
        # Files announced while this monitor was down are too young for the start rescan
        # when it restarted soon after: one more, once they are old enough, finds them.
        start = time.monotonic()
        rescans_due = [start, start + args.rescan_min_age] if args.rescan else []
        next_stats = time.monotonic() + args.stats_interval
        next_drops = time.monotonic()
        try:
            while True:
                stopping = session.stop_requested
                if stopping:
                    self.db_gate.force()  # one last try, whatever the backoff says
                await self._flush_announced(session)
                if recovery.wants_page(self.hashes.queued) and self.db_gate.open(time.monotonic()):
                    await self._recover(session, recovery)
                await self._flush_checksums(session)
                now = time.monotonic()
                if now >= next_drops and drops_base is not None:
                    self._check_kernel_drops(port.socket, drops_base)
                    next_drops = now + DROPS_EVERY
                if not stopping and not self.db_gate.failing:
                    for target in self.losses.due(time.time()):
                        await self._loss_rescan(target)
                if rescans_due and now >= rescans_due[0] and not stopping:
                    await self._rescan(args.rescan_min_age)
                    rescans_due = [t for t in rescans_due if t > now]
                    if args.rescan_interval > 0:
                        rescans_due = sorted([*rescans_due, now + args.rescan_interval])
                session.data = self._session_data().as_dict()
                if now >= next_stats:
                    self.stats_feed.publish(self._stats().as_dict())
                    next_stats = now + args.stats_interval
                if stopping:
                    break
                if args.test_mode and self._test_mode_done(recovery):
                    break
                await self._nap(session, args.batch_interval)
        finally:
            port.stopListening()
            await self.hashes.close()
            await self.watchdog.stop()
            db.dispose()
        left = len(self.queue)
        return True, (
            f"Stopped: {self._counts['registered']} files registered, "
            f"{self._counts['checksummed']} checksummed"
            + (f", {left} announcements not yet written" if left else "")
            + "."
        )

    def _test_mode_done(self, recovery: RecoveryPager) -> bool:
        """--test-mode (an OCS flag kept for compatibility): done after the first files."""
        return (
            self._counts["registered"] > 0
            and not self.queue
            and self.hashes.waiting == 0
            and recovery.done
        )

    async def _nap(self, session: OpSession, seconds: float) -> None:
        self._wake.clear()
        if self.queue.batch_ready:
            return
        waiter = asyncio.ensure_future(self._wake.wait())
        stopper = asyncio.ensure_future(session.sleep(seconds))
        try:
            await asyncio.wait([waiter, stopper], return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
            stopper.cancel()

    def _open_db(self) -> Database:
        db = Database(self.args.db_path, echo=self.args.echo_sql)
        if self.args.create_table:
            before, after = upgrade(db)
            if before != after:
                log.info("database %s: schema %s -> %s", db.display_url, before or "none", after)
        return db

    def _check_kernel_drops(self, sock: Any, base: int) -> None:
        drops = udp.udp_drops(sock)
        if drops is None:
            return
        drops -= base
        new = drops - (self.kernel_drops or 0)
        self.kernel_drops = drops
        if new > 0:
            rescanning = self.losses.lost_from_anyone(time.time())
            log.warning(
                "the kernel dropped %d datagrams (%d so far): the receive buffer (%s bytes) was "
                "full; rescanning the folders of %s",
                new,
                drops,
                self.receive_buffer.granted if self.receive_buffer else "?",
                ", ".join(rescanning) or "no publisher (none known yet)",
            )

    # --- the database side ---------------------------------------------------------------

    def _db_ok(self, session: OpSession) -> None:
        if self.db_gate.succeeded():
            session.add_message("Database writes work again.")
        session.degraded = False

    def _db_failed(self, session: OpSession, exc: Exception) -> None:
        """Keep everything in memory and try again later (RetryGate's backoff)."""
        self._last_db_error = f"{type(exc).__name__}: {getattr(exc, 'orig', None) or exc}"
        was_failing = self.db_gate.failing
        self.db_gate.failed(time.monotonic())
        if not was_failing:
            session.add_message(f"Database unavailable, will retry: {self._last_db_error}")
            log.error(
                "database unavailable (work kept in memory, retrying): %s", self._last_db_error
            )
        session.degraded = True

    async def _flush_announced(self, session: OpSession) -> None:
        assert self.db is not None
        db = self.db
        while self.queue and self.db_gate.open(time.monotonic()):
            batch = self.queue.batch()
            try:
                made = await self.agent.to_thread(db.write, _registering(batch))
            except Exception as exc:
                self._db_failed(session, exc)
                return
            self.queue.written(len(batch))
            self._counts["registered"] += len(made)
            self._counts["already_registered"] += len(batch) - len(made)
            self.hashes.submit(made)
            self._db_ok(session)

    async def _flush_checksums(self, session: OpSession) -> None:
        assert self.db is not None
        if not self.db_gate.open(time.monotonic()):
            return
        results = self.hashes.take()
        if not results:
            return
        try:
            await self.agent.to_thread(self.db.write, _recording(results))
        except Exception as exc:
            self.hashes.put_back(results)
            self._db_failed(session, exc)
            return
        self._db_ok(session)
        for r in results:
            self._counts["checksummed" if r.md5 is not None else "unreadable"] += 1

    async def _recover(self, session: OpSession, recovery: RecoveryPager) -> None:
        assert self.db is not None
        after, page = recovery.after, recovery.page
        try:
            rows = await self.agent.to_thread(
                self.db.read, lambda s: files.pending_checksums(s, page, after_id=after)
            )
        except Exception as exc:
            self._db_failed(session, exc)
            return
        self.hashes.submit(recovery.accept(rows))

    # --- rescans -------------------------------------------------------------------------

    @param("min_age", type=float, default=None, check=lambda v: v is None or v >= 0)
    async def rescan_task(self, session: OpSession, params: dict[str, Any]) -> tuple[bool, str]:
        """rescan(min_age=None): register files in --g3-dir/--smurf-dir never announced.

        Files modified less than ``min_age`` seconds ago (default --rescan-min-age) are left
        for later. Needs the ``run`` process to be running (it owns the database).
        """
        if self.db is None:
            raise NotRunning("Start the 'run' process first: it opens the database.")
        found, too_recent = await self._rescan(params["min_age"])
        session.data = RescanSessionData(found=found, too_recent=too_recent).as_dict()
        return True, f"Rescan queued {found} files for registration; {too_recent} too recent."

    async def _rescan(self, min_age: float | None) -> tuple[int, int]:
        args = self.args
        result = await self.agent.to_thread(
            lambda: rescan.scan(
                list(self.losses.g3_dirs),
                list(self.losses.smurf_dirs),
                now=time.time(),
                min_age=args.rescan_min_age if min_age is None else min_age,
            )
        )
        queued = self._queue_found(result.found)
        self._counts["rescanned"] += queued
        return queued, result.too_recent

    async def _loss_rescan(self, target: TargetedRescan) -> None:
        result = await self.agent.to_thread(
            lambda: rescan.scan(
                list(target.g3_dirs),
                list(target.smurf_dirs),
                now=time.time(),
                min_age=0.0,
                publisher=target.publisher,
                modified_before=target.modified_before,
            )
        )
        queued = self._queue_found([self.losses.named(f) for f in result.found])
        self.loss_rescans += 1
        self.loss_found += queued
        self._counts["rescanned"] += queued
        log.info(
            "rescan after a loss from %s: %d files found in %s (already registered ones are "
            "skipped when written)",
            target.publisher,
            queued,
            ", ".join((*target.g3_dirs, *target.smurf_dirs)),
        )

    def _queue_found(self, found: Sequence[Any]) -> int:
        now, mono = time.time(), time.monotonic()
        queued = sum(1 for f in found if self.intake.announce(f, now, mono, rescanned=True))
        if queued:
            self._wake.set()
        return queued

    # --- what is shown ---------------------------------------------------------------------

    def _sequence_totals(self) -> SequenceTotals:
        return SequenceTotals(**self.intake.sequence.totals())

    def _stats(self) -> UdpStats:
        return UdpStats(
            timestamp=time.time(),
            datagrams=self._counts["datagrams"],
            rejected=dict(self.intake.rejected),
            ignored=dict(self.intake.ignored),
            kernel_drops=self.kernel_drops,
            sequence=self._sequence_totals(),
            publishers=self.intake.sequence.snapshot(),
        )

    def _session_data(self) -> RunSessionData:
        c = self._counts
        db = self.db
        return RunSessionData(
            timestamp=time.time(),
            udp=UdpCounts(
                datagrams=c["datagrams"],
                bytes=c["bytes"],
                by_type=dict(self.intake.by_type),
                rejected=dict(self.intake.rejected),
                ignored=dict(self.intake.ignored),
                receive_buffer=self.receive_buffer.granted if self.receive_buffer else None,
                kernel_drops=self.kernel_drops,
            ),
            sequence=self._sequence_totals(),
            publishers=self.intake.sequence.snapshot(),
            files=FileCounts(
                announced=c["announced"],
                registered=c["registered"],
                already_registered=c["already_registered"],
                rescanned=c["rescanned"],
                recovered=self.recovery.recovered if self.recovery else 0,
                checksummed=c["checksummed"],
                unreadable=c["unreadable"],
                checksum_failures=self.hashes.failures,
                waiting_for_db=len(self.queue),
                waiting_for_checksum=self.hashes.waiting,
                last_file=self.intake.last_file,
            ),
            losses=LossCounts(
                gaps=c["gaps"],
                requested=self.losses.requested,
                unrecoverable=self.losses.unrecoverable,
                rescans=self.loss_rescans,
                found=self.loss_found,
                pending=self.losses.pending,
            ),
            loop=self.watchdog.stats(),
            metadata=MetadataCounts(samples=c["metadata_samples"], feeds=sorted(self.meta_feeds)),
            db=DbCounts(
                url=db.display_url if db is not None else None,
                errors=self.db_gate.errors,
                last_error=self._last_db_error,
                lock_retries=db.stats.lock_retries if db is not None else 0,
            ),
        )


def _registering(batch: list[NewFile]) -> Any:
    return lambda s: files.register(s, batch)


def _recording(results: list[Checksum]) -> Any:
    return lambda s: files.record_checksums(s, results)
