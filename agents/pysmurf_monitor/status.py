"""What the monitor shows: the ``run`` session data and the ``udp_stats`` feed, built from its
parts (typed, :mod:`.models`); :class:`Running`, what ``run`` holds while it runs; and when a
``--test-mode`` run is done."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from socs_like.db import Database
from socs_like.watchdog import LoopStats
from socs_like_agents.pysmurf_monitor.hashing import HashPool
from socs_like_agents.pysmurf_monitor.intake import Intake
from socs_like_agents.pysmurf_monitor.models import (
    DbCounts,
    FileCounts,
    LossCounts,
    MetadataCounts,
    RunSessionData,
    SequenceTotals,
    UdpCounts,
    UdpStats,
)
from socs_like_agents.pysmurf_monitor.recovery import RecoveryPager
from socs_like_agents.pysmurf_monitor.retry import RetryGate
from socs_like_agents.pysmurf_monitor.udp import KernelDrops, ReceiveBuffer


@dataclass(kw_only=True)
class Running:
    """What the ``run`` process opened, for as long as it runs: the database (the ``rescan``
    task needs it too), crash recovery, the socket's receive buffer and drop counter, and the
    event loop's worst lag seen (s) since it started."""

    db: Database
    recovery: RecoveryPager
    receive_buffer: ReceiveBuffer
    drops: KernelDrops
    worst_lag: float = 0.0

    def loop_stats(self, lag: float, health: dict[str, float | int]) -> LoopStats:
        """The worst loop lag since ``run`` started, counting ``lag`` (the framework's, of
        the last heartbeat interval), with the stalls since the agent started and their
        threshold (``health``: the framework's loop health, as ``get_api`` shows it)."""
        self.worst_lag = max(self.worst_lag, lag)
        return LoopStats(
            max_lag_ms=round(self.worst_lag * 1000, 1),
            stalls=int(health["stalls"]),
            threshold_ms=float(health["warning_ms"]),
        )


def run_session_data(
    *,
    now: float,
    intake: Intake,
    hashes: HashPool,
    gate: RetryGate,
    running: Running | None,
    loop: LoopStats,
    meta_feeds: Iterable[str],
) -> RunSessionData:
    c = intake.counts
    losses = intake.losses
    db = running.db if running is not None else None
    return RunSessionData(
        timestamp=now,
        udp=UdpCounts(
            datagrams=c["datagrams"],
            bytes=c["bytes"],
            by_type=dict(intake.by_type),
            rejected=dict(intake.rejected),
            ignored=dict(intake.ignored),
            receive_buffer=running.receive_buffer.granted if running is not None else None,
            kernel_drops=running.drops.total if running is not None else None,
        ),
        sequence=SequenceTotals(**intake.sequence.totals()),
        publishers=intake.sequence.snapshot(),
        files=FileCounts(
            announced=c["announced"],
            registered=c["registered"],
            already_registered=c["already_registered"],
            rescanned=c["rescanned"],
            recovered=running.recovery.recovered if running is not None else 0,
            checksummed=c["checksummed"],
            unreadable=c["unreadable"],
            checksum_failures=hashes.failures,
            waiting_for_db=len(intake.queue),
            waiting_for_checksum=hashes.waiting,
            last_file=intake.last_file,
        ),
        losses=LossCounts(
            gaps=c["gaps"],
            requested=losses.requested,
            unrecoverable=losses.unrecoverable,
            rescans=losses.rescans,
            found=losses.found,
            pending=losses.pending,
        ),
        loop=loop,
        metadata=MetadataCounts(samples=c["metadata_samples"], feeds=sorted(meta_feeds)),
        db=DbCounts(
            url=db.display_url if db is not None else None,
            errors=gate.errors,
            last_error=gate.last_error,
            lock_retries=db.stats.lock_retries if db is not None else 0,
        ),
    )


def udp_stats(now: float, intake: Intake, kernel_drops: int | None) -> UdpStats:
    return UdpStats(
        timestamp=now,
        datagrams=intake.counts["datagrams"],
        rejected=dict(intake.rejected),
        ignored=dict(intake.ignored),
        kernel_drops=kernel_drops,
        sequence=SequenceTotals(**intake.sequence.totals()),
        publishers=intake.sequence.snapshot(),
    )


def stopped(intake: Intake) -> str:
    """The message ``run`` ends with."""
    c, left = intake.counts, len(intake.queue)
    return (
        f"Stopped: {c['registered']} files registered, {c['checksummed']} checksummed"
        + (f", {left} announcements not yet written" if left else "")
        + "."
    )


def first_files_done(intake: Intake, hashes: HashPool, recovery: RecoveryPager) -> bool:
    """``--test-mode`` (an OCS flag kept for compatibility): ``run`` is done once files are
    registered, none waits for the database or a checksum, and crash recovery is over."""
    return (
        intake.counts["registered"] > 0
        and not intake.queue
        and hashes.waiting == 0
        and recovery.done
    )
