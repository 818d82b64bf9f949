"""PysmurfMonitor: the WAMP-facing shell around the pysmurf publisher's datagrams.

This module only wires the parts together; each part is a module of its own, tested alone:

1. The UDP listener hands each datagram to :class:`.intake.Intake` on the event loop (parsing,
   rejections, ``seq_no``, feeds, the bounded :class:`.announcements.AnnouncementQueue`).
   :mod:`.udp` sets the socket's receive buffer and counts the kernel's drops.
2. Every ``--batch-interval`` seconds (or at ``--batch-size``) one short write transaction in
   a worker thread inserts the queued announcements. That row is the durable record.
3. New rows go to the :class:`.hashing.HashPool`; results are written back in batches. On
   start, rows still ``pending`` from an earlier run are read by :class:`.recovery.RecoveryPager`
   and hashed first, so a crash or a kill loses no announced file.
4. A database failure keeps everything in memory; :class:`.retry.RetryGate` says when to retry.
5. Any loss seen (a ``seq_no`` gap, ``queue_full``, kernel drops) asks
   :class:`.lost.LossRecovery` for a targeted rescan of the publisher's folders; ``--rescan``
   also walks ``--g3-dir``/``--smurf-dir`` at start and as :mod:`.schedule` says.
6. The event loop's lag is the framework's (``Agent.loop_lag``, runtime/loop_health.py).

Settings are declared in :mod:`.options` (the parts built from them in :mod:`.config`);
session data and feed payloads are built by :mod:`.status` as the typed models of
:mod:`.models`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy.orm import Session
from twisted.internet.protocol import DatagramProtocol

from socs_like import Agent, OpSession, param
from socs_like.db import Database
from socs_like.feed import Feed
from socs_like_agents.filedb import queries as files
from socs_like_agents.filedb.schema import upgrade
from socs_like_agents.pysmurf_monitor import config, options, rescan, retry, status, udp
from socs_like_agents.pysmurf_monitor.announcements import AnnouncementQueue
from socs_like_agents.pysmurf_monitor.datagrams import DataFile, G3File
from socs_like_agents.pysmurf_monitor.errors import NotRunning
from socs_like_agents.pysmurf_monitor.hashing import HashPool
from socs_like_agents.pysmurf_monitor.intake import Intake
from socs_like_agents.pysmurf_monitor.lost import TargetedRescan
from socs_like_agents.pysmurf_monitor.models import RescanSessionData
from socs_like_agents.pysmurf_monitor.recovery import RecoveryPager
from socs_like_agents.pysmurf_monitor.retry import RetryGate
from socs_like_agents.pysmurf_monitor.schedule import DROPS_EVERY, Every, RescanSchedule
from socs_like_agents.pysmurf_monitor.status import Running

log = logging.getLogger(__name__)

# Twisted reads up to 256 KiB (about a thousand datagrams) per wake-up before yielding;
# parsing that many in one go holds the loop for tens of ms. Smaller helpings keep it
# responsive; the kernel buffer holds the rest meanwhile.
READ_PER_WAKEUP = 16 * 1024


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

    Options = options.Options

    def __init__(self, agent: Agent, args: options.Options) -> None:
        self.agent = agent
        self.args = args
        self.session_feed = agent.register_feed("pysmurf_session_data", max_buffer=10_000)
        self.stats_feed = agent.register_feed("udp_stats", max_buffer=100)
        self.meta_feeds: dict[str, Feed] = {}
        self.queue = AnnouncementQueue(args.max_queued, args.batch_size)
        self.losses = config.loss_recovery(args)
        self.intake = Intake(
            rules=config.registration_rules(args),
            queue=self.queue,
            losses=self.losses,
            publish_session=self.session_feed.publish,
            publish_meta=lambda name, sample: self._meta_feed(name).publish(sample),
        )
        self._wake = asyncio.Event()  # a batch is full, or checksums are ready to write
        self.hashes = HashPool(args.checksum_workers, args.read_size, on_ready=self._wake.set)
        self.db_gate = RetryGate()
        self.running: Running | None = None  # while `run` runs
        self._counts = self.intake.counts  # one Counter for everything counted
        agent.register_process("run", self.run, startup=not args.test_mode)
        agent.register_task("rescan", self.rescan_task)

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
        db = await self.agent.to_thread(self._open_db)
        recovery = RecoveryPager(await self.agent.to_thread(db.read, files.max_pending_id))
        self.hashes.start()
        port = reactor.listenUDP(
            args.udp_port, _Listener(self.intake), interface=args.udp_host, maxPacketSize=65535
        )
        port.maxThroughput = READ_PER_WAKEUP
        buffer = udp.set_receive_buffer(port.socket, args.udp_rcvbuf)
        (log.warning if buffer.short else log.info)(buffer.describe())
        self.running = running = Running(
            db=db,
            recovery=recovery,
            receive_buffer=buffer,
            drops=udp.KernelDrops(udp.udp_drops(port.socket)),
        )
        session.add_message(
            f"Listening on udp {args.udp_host}:{args.udp_port}; database {db.display_url}; "
            + buffer.describe()
        )
        session.set_status("running")
        start = time.monotonic()
        rescans = RescanSchedule(
            start, enabled=args.rescan, min_age=args.rescan_min_age, interval=args.rescan_interval
        )
        stats_due = Every(args.stats_interval, first=start + args.stats_interval)
        drops_due = Every(DROPS_EVERY, first=start)
        try:
            while True:
                stopping = session.stop_requested
                if stopping:
                    self.db_gate.force()  # one last try, whatever the backoff says
                await self._flush_announced(session, db)
                if recovery.wants_page(self.hashes.queued) and self.db_gate.open(time.monotonic()):
                    await self._recover(session, db, recovery)
                await self._flush_checksums(session, db)
                now = time.monotonic()
                if running.drops.base is not None and drops_due.due(now):
                    new = running.drops.update(udp.udp_drops(port.socket))
                    self.losses.kernel_dropped(
                        new, running.drops.total, buffer.granted, time.time()
                    )
                if not stopping and not self.db_gate.failing:
                    for target in self.losses.due(time.time()):
                        await self._loss_rescan(target)
                if not stopping and rescans.due(now):
                    await self._rescan(args.rescan_min_age)
                session.data = status.run_session_data(
                    now=time.time(),
                    intake=self.intake,
                    hashes=self.hashes,
                    gate=self.db_gate,
                    running=running,
                    loop=running.loop_stats(self.agent.loop_lag, self.agent.loop_health()),
                    meta_feeds=self.meta_feeds,
                ).as_dict()
                if stats_due.due(now):
                    stats = status.udp_stats(time.time(), self.intake, running.drops.total)
                    self.stats_feed.publish(stats.as_dict())
                if stopping or (
                    args.test_mode and status.first_files_done(self.intake, self.hashes, recovery)
                ):
                    break
                await self._nap(session, args.batch_interval)
        finally:
            self.running = None
            port.stopListening()
            await self.hashes.close()
            db.dispose()
        return True, status.stopped(self.intake)

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

    # --- the database side: work stays in memory while it fails --------------------------

    async def _db_call(
        self, session: OpSession, call: Callable[[Callable[[Session], Any]], Any], work: Any
    ) -> tuple[bool, Any]:
        """``call(work)`` in a thread: (True, result), or (False, None) and the gate backs off."""
        try:
            result = await self.agent.to_thread(call, work)
        except Exception as exc:
            error = retry.describe(exc)
            if not self.db_gate.failing:
                session.add_message(f"Database unavailable, will retry: {error}")
                log.error("database unavailable (work kept in memory, retrying): %s", error)
            self.db_gate.failed(time.monotonic(), error)
            session.degraded = True
            return False, None
        if self.db_gate.succeeded():
            session.add_message("Database writes work again.")
        session.degraded = False
        return True, result

    async def _flush_announced(self, session: OpSession, db: Database) -> None:
        while self.queue and self.db_gate.open(time.monotonic()):
            batch = self.queue.batch()
            ok, made = await self._db_call(
                session, db.write, lambda s, rows=batch: files.register(s, rows)
            )
            if not ok:
                return
            self.queue.written(len(batch))
            self._counts["registered"] += len(made)
            self._counts["already_registered"] += len(batch) - len(made)
            self.hashes.submit(made)

    async def _flush_checksums(self, session: OpSession, db: Database) -> None:
        if not self.db_gate.open(time.monotonic()):
            return
        results = self.hashes.take()
        if not results:
            return
        ok, _ = await self._db_call(session, db.write, lambda s: files.record_checksums(s, results))
        if not ok:
            self.hashes.put_back(results)
            return
        for r in results:
            self._counts["checksummed" if r.md5 is not None else "unreadable"] += 1

    async def _recover(self, session: OpSession, db: Database, recovery: RecoveryPager) -> None:
        after, page = recovery.after, recovery.page
        ok, rows = await self._db_call(
            session, db.read, lambda s: files.pending_checksums(s, page, after_id=after)
        )
        if ok:
            self.hashes.submit(recovery.accept(rows))

    # --- rescans -------------------------------------------------------------------------

    @param("min_age", type=float, default=None, check=lambda v: v is None or v >= 0)
    async def rescan_task(self, session: OpSession, params: dict[str, Any]) -> tuple[bool, str]:
        """rescan(min_age=None): register files in --g3-dir/--smurf-dir never announced.

        Files modified less than ``min_age`` seconds ago (default --rescan-min-age) are left
        for later. Needs the ``run`` process to be running (it owns the database).
        """
        if self.running is None:
            raise NotRunning("Start the 'run' process first: it opens the database.")
        found, too_recent = await self._rescan(params["min_age"])
        session.data = RescanSessionData(found=found, too_recent=too_recent).as_dict()
        return True, f"Rescan queued {found} files for registration; {too_recent} too recent."

    async def _rescan(self, min_age: float | None) -> tuple[int, int]:
        g3, smurf = list(self.losses.g3_dirs), list(self.losses.smurf_dirs)
        age = self.args.rescan_min_age if min_age is None else min_age
        result = await self.agent.to_thread(
            lambda: rescan.scan(g3, smurf, now=time.time(), min_age=age)
        )
        return self._queue_found(result.found), result.too_recent

    async def _loss_rescan(self, target: TargetedRescan) -> None:
        result = await self.agent.to_thread(rescan.scan_target, target, time.time())
        self.losses.rescanned(target, self._queue_found(map(self.losses.named, result.found)))

    def _queue_found(self, found: Iterable[DataFile | G3File]) -> int:
        queued = self.intake.rescanned(found, time.time(), time.monotonic())
        if queued:
            self._wake.set()
        return queued
