"""One datagram in: counted, checked, and handed on; never an exception out.

:class:`Intake` is the monitor's datagram path without I/O. The agent gives it the bytes as
they arrive (:meth:`Intake.receive`) and two ways out: ``publish_session`` (the
``pysmurf_session_data`` feed) and ``publish_meta`` (a ``<stream_id>_meta`` feed, by name).
File announcements go to the :class:`~.announcements.AnnouncementQueue`.

- A datagram that cannot be used is counted under its reason (``rejected``), logged at most
  once a minute per reason (with how many were not logged), and dropped.
- ``seq_no`` is tracked per publisher, also for rejected datagrams whose envelope parsed. A
  gap is logged (once a minute per publisher, with the total) and asks
  :class:`~.lost.LossRecovery` for a targeted rescan of that publisher's folders; so does an
  announcement refused because the queue is full.
- Anything else that goes wrong handling one datagram (a bug) is counted as
  ``internal_error`` and logged with its traceback; the next datagram is handled as usual.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from socs_like.sequence import SequenceTracker
from socs_like_agents.pysmurf_monitor.announcements import AnnouncementQueue
from socs_like_agents.pysmurf_monitor.datagrams import (
    DataFile,
    G3File,
    Ignored,
    Metadata,
    Rejected,
    SessionMessage,
    parse,
)
from socs_like_agents.pysmurf_monitor.errors import PathRejected
from socs_like_agents.pysmurf_monitor.lost import LossRecovery
from socs_like_agents.pysmurf_monitor.metadata import feed_sample
from socs_like_agents.pysmurf_monitor.ratelimit import OncePer
from socs_like_agents.pysmurf_monitor.registration import RegistrationRules, new_file

log = logging.getLogger("socs_like_agents.pysmurf_monitor")

MAX_TYPE = 32  # envelope types are counted cut to this many characters


class Intake:
    def __init__(
        self,
        *,
        rules: RegistrationRules,
        queue: AnnouncementQueue,
        losses: LossRecovery,
        publish_session: Callable[[dict[str, Any]], object],
        publish_meta: Callable[[str, dict[str, Any]], object],
        once_per: float = 60.0,
    ) -> None:
        self.rules = rules
        self.queue = queue
        self.losses = losses
        self.publish_session = publish_session
        self.publish_meta = publish_meta
        self.sequence: SequenceTracker[str] = SequenceTracker()
        self.once = OncePer(once_per)
        self.counts: Counter[str] = Counter()
        self.rejected: Counter[str] = Counter()
        self.ignored: Counter[str] = Counter()
        self.by_type: Counter[str] = Counter()
        self.meta_feeds: set[str] = set()
        self.last_file: str | None = None

    def receive(self, data: bytes, now: float, mono: float) -> None:
        """Handle one datagram received at ``now`` (UNIX time; ``mono``: monotonic)."""
        self.counts["datagrams"] += 1
        self.counts["bytes"] += len(data)
        try:
            self._handle(data, now, mono)
        except Exception as exc:  # a bug here must cost one datagram, never the listener
            self.reject("internal_error", f"{type(exc).__name__}: {exc}", mono)
            log.exception("unexpected error handling a datagram")

    def _handle(self, data: bytes, now: float, mono: float) -> None:
        message = parse(data)
        envelope = message.envelope
        if envelope is not None:
            self.by_type[envelope.type[:MAX_TYPE]] += 1
            before = self.sequence.counts(envelope.id)
            lost_before = before.lost if before is not None else 0
            if self.sequence.observe(envelope.id, envelope.seq_no) == "gap":
                self._gap(envelope.id, lost_before, now, mono)
        if isinstance(message, Rejected):
            self.reject(message.reason, message.detail, mono)
        elif isinstance(message, (DataFile, G3File)):
            self.announce(message, now, mono)
        elif isinstance(message, SessionMessage):
            self._publish(
                lambda: self.publish_session(message.message), "session_feed_refused", mono
            )
        elif isinstance(message, Metadata):
            sample = feed_sample(message, now)
            if sample is None:
                self.reject(
                    "bad_field_name", f"no feed field can be made of {message.path!r}", mono
                )
            elif self._publish(
                lambda: self.publish_meta(sample.feed, sample.sample), "bad_field_name", mono
            ):
                self.meta_feeds.add(sample.feed)
                self.counts["metadata_samples"] += 1
        elif isinstance(message, Ignored):
            self.ignored[message.envelope.type[:MAX_TYPE]] += 1

    def announce(
        self, announcement: DataFile | G3File, now: float, mono: float, *, rescanned: bool = False
    ) -> bool:
        """Queue the row of an announced (or ``rescanned``) file; False if refused."""
        try:
            row = new_file(announcement, self.rules, now)
        except PathRejected as exc:
            self.reject(exc.reason, str(exc), mono)
            return False
        publisher = announcement.envelope.id
        if not self.queue.offer(row, bounded=not rescanned):
            self.reject("queue_full", f"{len(self.queue)} announcements wait for the db", mono)
            self.losses.lost(publisher, now)
            return False
        if rescanned:
            return True
        self.losses.learn(announcement)
        self.counts["announced"] += 1
        self.last_file = row.local_path
        return True

    def rescanned(self, found: Iterable[DataFile | G3File], now: float, mono: float) -> int:
        """Queue the files a rescan found; how many were taken."""
        queued = sum(1 for f in found if self.announce(f, now, mono, rescanned=True))
        self.counts["rescanned"] += queued
        return queued

    def _gap(self, publisher: str, lost_before: int, now: float, mono: float) -> None:
        counts = self.sequence.counts(publisher)
        assert counts is not None  # observe() just created it
        self.counts["gaps"] += 1
        rescan = self.losses.lost(publisher, now)
        should, suppressed = self.once.should_log(f"gap {publisher}", mono)
        if should:
            log.warning(
                "publisher %s: %d datagrams lost before seq_no %s (%d lost from it so far%s); %s",
                publisher,
                counts.lost - lost_before,
                counts.last_seq,
                counts.lost,
                f", {suppressed} more gaps not logged" if suppressed else "",
                f"rescanning its folders in {self.losses.delay:g} s"
                if rescan
                else "no folder of it is known to rescan (see --g3-dir/--smurf-dir)",
            )

    def _publish(self, publish: Callable[[], object], reason: str, mono: float) -> bool:
        try:
            publish()
        except ValueError as exc:  # the feed refused it (too large, bad name)
            self.reject(reason, str(exc), mono)
            return False
        return True

    def reject(self, reason: str, detail: str, mono: float) -> None:
        """Count a dropped datagram (or file) under ``reason``; log it at most once a minute."""
        self.rejected[str(reason)] += 1
        should, suppressed = self.once.should_log(str(reason), mono)
        if should:
            more = f" (and {suppressed} more since last logged)" if suppressed else ""
            log.warning("datagram dropped, %s: %s%s", reason, detail, more)
