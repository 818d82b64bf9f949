"""PysmurfMonitor: the WAMP-facing shell around the pysmurf publisher's datagrams.

What happens to a datagram (all parsing and rules live in the sans-I/O modules beside this):

1. The UDP listener hands the bytes to :func:`datagrams.parse` on the event loop. A bad
   datagram is counted under its reason (``rejected`` in session data), logged at most once a
   minute per reason, and dropped; its ``seq_no`` still counts when the envelope parsed.
2. A file announcement becomes a row in the next batch: every ``--batch-interval`` seconds (or
   sooner, at ``--batch-size``) one short write transaction in a worker thread inserts the
   batch. That row is the durable record: nothing slow happens before it.
3. New rows go to the checksum pool (``--checksum-workers`` threads, ``--read-size`` reads);
   results are written back in batches. On start, rows still ``pending`` from an earlier run
   are checksummed first, so a crash or a kill loses no announced file.
4. ``session_data``/``session_log`` go whole to ``pysmurf_session_data``; ``metadata`` values
   become samples of recorded ``<stream_id>_meta`` feeds, which the framework batches
   (``--meta-buffer-time``).
5. ``--rescan`` walks ``--g3-dir``/``--smurf-dir`` at start (and every ``--rescan-interval``
   seconds) to register files that arrived while nobody listened.

Per-publisher ``seq_no`` gaps, duplicates and restarts are in session data and on the
``udp_stats`` feed every ``--stats-interval`` seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import os
import socket
import time
from collections import Counter, deque
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from twisted.internet.protocol import DatagramProtocol

from socs_like import Agent, OpSession, param
from socs_like.db import Database, files, upgrade
from socs_like.db.files import Checksum, NewFile, Registered
from socs_like.sequence import SequenceTracker
from socs_like_agents.pysmurf_monitor import checksum, rescan
from socs_like_agents.pysmurf_monitor.datagrams import (
    DataFile,
    G3File,
    Ignored,
    Metadata,
    Rejected,
    SessionMessage,
    parse,
)
from socs_like_agents.pysmurf_monitor.metadata import feed_sample
from socs_like_agents.pysmurf_monitor.paths import (
    DEFAULT_DATED_DIR,
    DEFAULT_KEEP,
    DeletabilityRules,
    PathRejected,
)
from socs_like_agents.pysmurf_monitor.ratelimit import OncePer
from socs_like_agents.pysmurf_monitor.registration import RegistrationRules, new_file

log = logging.getLogger(__name__)

DEFAULT_DB = "/data/so/databases/suprsync.db"
RECOVERY_PAGE = 5000
CHECKSUM_CHUNK = 32
READ_PER_WAKEUP = 16 * 1024


class _Listener(DatagramProtocol):
    def __init__(self, on_datagram: Any) -> None:
        self.on_datagram = on_datagram

    def datagramReceived(self, data: bytes, addr: Any) -> None:
        self.on_datagram(data)


class PysmurfMonitor:
    """Pysmurf monitor: registers every file the pysmurf publisher announces for SupRsync,
    and forwards session data and metadata to feeds.

    Process ``run`` (at start-up unless ``--test-mode``) listens on ``--udp-port``; task
    ``rescan`` registers files found on disk that were never announced.
    """

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        g = parser.add_argument_group("PysmurfMonitor options")
        g.add_argument(
            "--udp-port",
            type=int,
            default=8200,
            help="UDP port the pysmurf publishers send to (default 8200)",
        )
        g.add_argument(
            "--udp-host",
            default="0.0.0.0",
            help="address to listen on (default 0.0.0.0, all interfaces)",
        )
        g.add_argument(
            "--udp-rcvbuf",
            type=int,
            default=8 * 1024 * 1024,
            help="socket receive buffer in bytes, to ride out bursts (default 8 MiB)",
        )
        g.add_argument(
            "--db-path",
            default=DEFAULT_DB,
            help="SQLite file, or a database URL such as postgresql://user@host/db "
            f"(default {DEFAULT_DB})",
        )
        g.add_argument(
            "--create-table",
            action=argparse.BooleanOptionalAction,
            default=True,
            help="create or upgrade the tables at start (an old socs database is "
            "imported in place); --no-create-table expects them ready "
            "(default: create)",
        )
        g.add_argument("--echo-sql", action="store_true", help="log every SQL statement")
        g.add_argument(
            "--test-mode",
            action="store_true",
            help="do not start 'run' at start-up; when started, 'run' ends once it "
            "has registered and checksummed at least one file",
        )
        g.add_argument(
            "--local-root",
            action="append",
            default=None,
            metavar="DIR",
            help="announced files must live under one of these folders; repeat for "
            "several (default /data)",
        )
        g.add_argument(
            "--deletable-dir",
            default=DEFAULT_DATED_DIR,
            metavar="REGEX",
            help="a smurf-archive file may be deleted after copying only if its "
            f"path matches this (default {DEFAULT_DATED_DIR!r})",
        )
        g.add_argument(
            "--keep-pattern",
            action="append",
            default=None,
            metavar="REGEX",
            help="smurf-archive files whose name matches are never deleted; repeat "
            f"for several (default {' '.join(DEFAULT_KEEP)})",
        )
        g.add_argument(
            "--batch-size",
            type=int,
            default=2000,
            help="most announcements inserted in one transaction (default 2000)",
        )
        g.add_argument(
            "--batch-interval",
            type=float,
            default=0.1,
            help="seconds between inserts of the announcements received (default 0.1)",
        )
        g.add_argument(
            "--max-queued",
            type=int,
            default=200_000,
            help="announcements held in memory while the database is unavailable; "
            "more are dropped and counted (default 200000)",
        )
        g.add_argument(
            "--checksum-workers",
            type=int,
            default=2,
            help="threads computing md5 checksums (default 2)",
        )
        g.add_argument(
            "--read-size",
            type=int,
            default=checksum.DEFAULT_READ_SIZE,
            help="bytes per read when checksumming (default 4 MiB)",
        )
        g.add_argument(
            "--meta-buffer-time",
            type=float,
            default=1.0,
            help="seconds of metadata batched into one feed message (default 1)",
        )
        g.add_argument(
            "--stats-interval",
            type=float,
            default=10.0,
            help="seconds between udp_stats feed messages (default 10)",
        )
        g.add_argument(
            "--rescan",
            action="store_true",
            help="at start, register files in --g3-dir/--smurf-dir never announced",
        )
        g.add_argument(
            "--g3-dir",
            action="append",
            default=[],
            metavar="DIR",
            help="streamer output folder to rescan (archive timestreams); repeatable",
        )
        g.add_argument(
            "--smurf-dir",
            action="append",
            default=[],
            metavar="DIR",
            help="pysmurf output folder to rescan (archive smurf); repeatable",
        )
        g.add_argument(
            "--rescan-min-age",
            type=float,
            default=660.0,
            help="rescans skip files modified less than this many seconds ago, as "
            "they may still be written (default 660)",
        )
        g.add_argument(
            "--rescan-interval",
            type=float,
            default=0.0,
            help="with --rescan, rescan again every this many seconds (default 0: only at start)",
        )

    def __init__(self, agent: Agent, args: argparse.Namespace) -> None:
        self.agent = agent
        self.args = args
        self.rules = RegistrationRules(
            # relative folders (handy in a site config) are taken from the working directory
            local_roots=tuple(os.path.abspath(r) for r in args.local_root or ["/data"]),
            deletability=DeletabilityRules(
                dated_dir=args.deletable_dir,
                keep=tuple(args.keep_pattern if args.keep_pattern is not None else DEFAULT_KEEP),
            ),
        )
        self.session_feed = agent.register_feed("pysmurf_session_data", max_buffer=10_000)
        self.stats_feed = agent.register_feed("udp_stats", max_buffer=100)
        self.meta_feeds: dict[str, Any] = {}
        self.db: Database | None = None
        self.sequence = SequenceTracker()
        self.once_a_minute = OncePer(60.0)
        self.counts: Counter[str] = Counter()
        self.rejected: Counter[str] = Counter()
        self.ignored: Counter[str] = Counter()
        self.by_type: Counter[str] = Counter()
        self._announced: list[NewFile] = []
        self._to_hash: deque[Registered] = deque()
        self._hashed: list[Checksum] = []
        self._wake = asyncio.Event()  # a batch is full, or checksums are ready to write
        self._hash_ready = asyncio.Event()
        self._last_file: str | None = None
        self._last_db_error: str | None = None
        self.loop_lag_max = 0.0
        self._db_backoff = 0.0
        self._db_retry_at = 0.0
        agent.register_process("run", self.run, startup=not args.test_mode)
        agent.register_task("rescan", self.rescan_task)

    # --- the datagram path (event loop) ----------------------------------------------------

    def on_datagram(self, data: bytes) -> None:
        self.counts["datagrams"] += 1
        self.counts["bytes"] += len(data)
        try:
            self._handle(data)
        except Exception as exc:  # a bug here must cost one datagram, never the listener
            self._reject("internal_error", f"{type(exc).__name__}: {exc}")
            log.exception("unexpected error handling a datagram")

    def _handle(self, data: bytes) -> None:
        message = parse(data)
        envelope = message.envelope
        if envelope is not None:
            self.sequence.observe(envelope.id, envelope.seq_no)
            self.by_type[envelope.type[:32]] += 1
        if isinstance(message, Rejected):
            self._reject(message.reason, message.detail)
        elif isinstance(message, (DataFile, G3File)):
            self._announce(message)
        elif isinstance(message, SessionMessage):
            self._publish(self.session_feed, message.message, "session_feed_refused")
        elif isinstance(message, Metadata):
            sample = feed_sample(message, time.time())
            if sample is None:
                self._reject("bad_field_name", f"no feed field can be made of {message.path!r}")
            else:
                self._publish(self._meta_feed(sample.feed), sample.sample, "bad_field_name")
                self.counts["metadata_samples"] += 1
        elif isinstance(message, Ignored):
            self.ignored[message.envelope.type] += 1

    def _announce(self, announcement: DataFile | G3File) -> None:
        try:
            row = new_file(announcement, self.rules, time.time())
        except PathRejected as exc:
            self._reject(exc.reason, str(exc))
            return
        if len(self._announced) >= self.args.max_queued:
            self._reject("queue_full", f"{len(self._announced)} announcements wait for the db")
            return
        self.counts["announced"] += 1
        self._last_file = row.local_path
        self._announced.append(row)
        if len(self._announced) >= self.args.batch_size:
            self._wake.set()

    def _publish(self, feed: Any, message: Any, reason: str) -> None:
        try:
            feed.publish(message)
        except ValueError as exc:
            self._reject(reason, str(exc))

    def _meta_feed(self, name: str) -> Any:
        feed = self.meta_feeds.get(name)
        if feed is None:
            feed = self.agent.register_feed(
                name, record=True, buffer_time=self.args.meta_buffer_time, max_buffer=100_000
            )
            self.meta_feeds[name] = feed
        return feed

    def _reject(self, reason: str, detail: str) -> None:
        self.rejected[str(reason)] += 1
        should, suppressed = self.once_a_minute.should_log(str(reason), time.monotonic())
        if should:
            more = f" (and {suppressed} more since last logged)" if suppressed else ""
            log.warning("datagram dropped, %s: %s%s", reason, detail, more)

    # --- the run process -----------------------------------------------------------------

    async def run(self, session: OpSession, params: dict[str, Any]) -> tuple[bool, str]:
        """run(): listen for the publisher's datagrams until stopped (see the module doc)."""
        from twisted.internet import reactor

        args = self.args
        self.db = await self.agent.to_thread(self._open_db)
        # what exists now (framework, libraries, schema) lives as long as the process; taking
        # it out of the collector's sight keeps full collections from stalling the loop
        gc.freeze()
        recover_until = await self.agent.to_thread(self._max_pending_id)
        hash_pool = ThreadPoolExecutor(args.checksum_workers, thread_name_prefix="md5")
        helpers = [
            asyncio.ensure_future(self._hasher(hash_pool)) for _ in range(args.checksum_workers)
        ]
        helpers.append(asyncio.ensure_future(self._watch_loop()))
        port = reactor.listenUDP(
            args.udp_port, _Listener(self.on_datagram), interface=args.udp_host, maxPacketSize=65535
        )
        self._enlarge_receive_buffer(port.socket)
        # Twisted reads up to 256 KiB (about a thousand datagrams) per wake-up before
        # yielding; parsing that many in one go holds the loop for tens of ms. Smaller
        # helpings keep it responsive; the kernel buffer holds the rest meanwhile.
        port.maxThroughput = READ_PER_WAKEUP
        session.add_message(
            f"Listening on udp {args.udp_host}:{args.udp_port}; database {self.db.display_url}"
        )
        session.set_status("running")
        recover_after = 0
        next_rescan = time.monotonic() if args.rescan else None
        next_stats = time.monotonic() + args.stats_interval
        try:
            while True:
                stopping = session.stop_requested
                if stopping:
                    self._db_retry_at = 0.0  # one last try, whatever the backoff says
                await self._flush_announced(session)
                if recover_after < recover_until and len(self._to_hash) < RECOVERY_PAGE:
                    recover_after = await self._recover(session, recover_after, recover_until)
                await self._flush_checksums(session)
                now = time.monotonic()
                if next_rescan is not None and now >= next_rescan and not stopping:
                    await self._rescan(args.rescan_min_age)
                    next_rescan = now + args.rescan_interval if args.rescan_interval > 0 else None
                self._update(session)
                if now >= next_stats:
                    self.stats_feed.publish(self._stats())
                    next_stats = now + args.stats_interval
                if stopping:
                    break
                if args.test_mode and self._test_mode_done(recover_after, recover_until):
                    break
                await self._nap(session, args.batch_interval)
        finally:
            port.stopListening()
            for task in helpers:
                task.cancel()
            hash_pool.shutdown(wait=False, cancel_futures=True)
            self.db.dispose()
        left = len(self._announced)
        return True, (
            f"Stopped: {self.counts['registered']} files registered, "
            f"{self.counts['checksummed']} checksummed"
            + (f", {left} announcements not yet written" if left else "")
            + "."
        )

    def _test_mode_done(self, recover_after: int, recover_until: int) -> bool:
        return (
            self.counts["registered"] > 0
            and not self._announced
            and not self._to_hash
            and not self._hashed
            and self.counts["hashing"] == 0
            and recover_after >= recover_until
        )

    async def _nap(self, session: OpSession, seconds: float) -> None:
        self._wake.clear()
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

    def _max_pending_id(self) -> int:
        return self.db.read(files.max_pending_id)

    def _db_waiting(self) -> bool:
        return time.monotonic() < self._db_retry_at

    def _db_ok(self, session: OpSession) -> None:
        if session.degraded:
            session.add_message("Database writes work again.")
        session.degraded = False
        self._db_backoff = 0.0

    async def _flush_announced(self, session: OpSession) -> None:
        db = self.db
        while self._announced and not self._db_waiting():
            batch = self._announced[: self.args.batch_size]
            try:
                made = await self.agent.to_thread(db.write, lambda s: files.register(s, batch))
            except Exception as exc:
                self._db_failed(session, exc)
                return
            del self._announced[: len(batch)]
            self.counts["registered"] += len(made)
            self.counts["already_registered"] += len(batch) - len(made)
            self._queue_for_hashing(made)
            self._db_ok(session)

    async def _flush_checksums(self, session: OpSession) -> None:
        if not self._hashed or self._db_waiting():
            return
        results, self._hashed = self._hashed, []
        try:
            await self.agent.to_thread(db_write_checksums, self.db, results)
        except Exception as exc:
            self._hashed[:0] = results
            self._db_failed(session, exc)
            return
        self._db_ok(session)
        for r in results:
            self.counts["checksummed" if r.md5 is not None else "unreadable"] += 1

    def _db_failed(self, session: OpSession, exc: Exception) -> None:
        """Keep everything in memory and try again later, backing off up to 30 s."""
        self.counts["db_errors"] += 1
        self._last_db_error = f"{type(exc).__name__}: {getattr(exc, 'orig', None) or exc}"
        self._db_backoff = min(max(0.5, self._db_backoff * 2), 30.0)
        self._db_retry_at = time.monotonic() + self._db_backoff
        if not session.degraded:
            session.add_message(f"Database unavailable, will retry: {self._last_db_error}")
        session.degraded = True
        if self.once_a_minute.should_log("database", time.monotonic())[0]:
            log.error(
                "database unavailable (work kept in memory, retrying): %s", self._last_db_error
            )

    async def _recover(self, session: OpSession, after: int, until: int) -> int:
        if self._db_waiting():
            return after
        try:
            rows = await self.agent.to_thread(
                self.db.read, lambda s: files.pending_checksums(s, RECOVERY_PAGE, after_id=after)
            )
        except Exception as exc:
            self._db_failed(session, exc)
            return after
        rows = [r for r in rows if r.id <= until]
        self.counts["recovered"] += len(rows)
        self._queue_for_hashing(rows)
        return rows[-1].id if rows and len(rows) == RECOVERY_PAGE else until

    def _queue_for_hashing(self, rows: list[Registered]) -> None:
        self._to_hash.extend(rows)
        if rows:
            self._hash_ready.set()

    async def _hasher(self, pool: ThreadPoolExecutor) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self._to_hash:
                self._hash_ready.clear()
                await self._hash_ready.wait()
                continue
            chunk = [
                self._to_hash.popleft() for _ in range(min(CHECKSUM_CHUNK, len(self._to_hash)))
            ]
            self.counts["hashing"] += len(chunk)
            try:
                results = await loop.run_in_executor(
                    pool, checksum.checksum_rows, chunk, self.args.read_size
                )
            except Exception:
                # the rows stay pending in the database and are retried at the next start
                log.exception("checksum worker failed on %d files", len(chunk))
                self.counts["checksum_failures"] += len(chunk)
                continue
            finally:
                self.counts["hashing"] -= len(chunk)
            self._hashed.extend(results)
            self._wake.set()

    async def _watch_loop(self, interval: float = 0.02) -> None:
        """Measure how late the event loop wakes us: the cost of anything blocking it."""
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + interval
            await asyncio.sleep(interval)
            lag = loop.time() - due
            self.loop_lag_max = max(self.loop_lag_max, lag)
            if lag > 0.05:
                self.counts["loop_stalls"] += 1

    @param("min_age", type=float, default=None, check=lambda v: v is None or v >= 0)
    async def rescan_task(self, session: OpSession, params: dict[str, Any]) -> tuple[bool, str]:
        """rescan(min_age=None): register files in --g3-dir/--smurf-dir never announced.

        Files modified less than ``min_age`` seconds ago (default --rescan-min-age) are left
        for later. Needs the ``run`` process to be running (it owns the database).
        """
        if self.db is None:
            return False, "Start the 'run' process first: it opens the database."
        found, too_recent = await self._rescan(params["min_age"])
        return True, f"Rescan queued {found} files for registration; {too_recent} too recent."

    async def _rescan(self, min_age: float | None) -> tuple[int, int]:
        args = self.args
        result = await self.agent.to_thread(
            lambda: rescan.scan(
                [os.path.abspath(d) for d in args.g3_dir],
                [os.path.abspath(d) for d in args.smurf_dir],
                now=time.time(),
                min_age=args.rescan_min_age if min_age is None else min_age,
            )
        )
        now = time.time()
        queued = 0
        for announcement in result.found:
            try:
                self._announced.append(new_file(announcement, self.rules, now))
                queued += 1
            except PathRejected as exc:
                self._reject(exc.reason, str(exc))
        self.counts["rescanned"] += queued
        self._wake.set()
        return queued, result.too_recent

    def _enlarge_receive_buffer(self, sock: socket.socket) -> None:
        # bursts of thousands of datagrams must wait in the kernel, not be dropped there
        for option in (getattr(socket, "SO_RCVBUFFORCE", None), socket.SO_RCVBUF):
            if option is None:
                continue
            try:
                sock.setsockopt(socket.SOL_SOCKET, option, self.args.udp_rcvbuf)
                return
            except OSError:
                continue

    # --- what is shown ---------------------------------------------------------------------

    def _stats(self) -> dict[str, Any]:
        return {
            "timestamp": time.time(),
            "datagrams": self.counts["datagrams"],
            "rejected": dict(self.rejected),
            "ignored": dict(self.ignored),
            "sequence": self.sequence.totals(),
            "publishers": self.sequence.snapshot(),
        }

    def _update(self, session: OpSession) -> None:
        c = self.counts
        db_stats = self.db.stats if self.db is not None else None
        session.data = {
            "timestamp": time.time(),
            "udp": {
                "datagrams": c["datagrams"],
                "bytes": c["bytes"],
                "by_type": dict(self.by_type),
                "rejected": dict(self.rejected),
                "ignored": dict(self.ignored),
            },
            "sequence": self.sequence.totals(),
            "publishers": self.sequence.snapshot(),
            "files": {
                "announced": c["announced"],
                "registered": c["registered"],
                "already_registered": c["already_registered"],
                "rescanned": c["rescanned"],
                "recovered": c["recovered"],
                "checksummed": c["checksummed"],
                "unreadable": c["unreadable"],
                "checksum_failures": c["checksum_failures"],
                "waiting_for_db": len(self._announced),
                "waiting_for_checksum": len(self._to_hash) + c["hashing"] + len(self._hashed),
                "last_file": self._last_file,
            },
            "loop": {
                "max_lag_ms": round(self.loop_lag_max * 1000, 1),
                "stalls_over_50ms": c["loop_stalls"],
            },
            "metadata": {"samples": c["metadata_samples"], "feeds": sorted(self.meta_feeds)},
            "db": {
                "url": self.db.display_url if self.db is not None else None,
                "errors": c["db_errors"],
                "last_error": self._last_db_error,
                "lock_retries": db_stats.lock_retries if db_stats else 0,
            },
        }


def db_write_checksums(db: Database, results: list[Checksum]) -> int:
    return db.write(lambda s: files.record_checksums(s, results))
