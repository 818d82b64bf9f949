"""Typed shapes of everything the monitor publishes: session data of its ops and feed payloads.

Each is a frozen dataclass; :meth:`as_dict` gives the JSON-ready form that goes on the wire
(``session.data`` or ``feed.publish``). Counts are numbers of datagrams or files since the
``run`` process started; times are UNIX seconds; sizes are bytes. The README lists them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, cast

from socs_like.watchdog import LoopStats


class _Model:
    def as_dict(self) -> dict[str, Any]:
        return asdict(cast(Any, self))  # every subclass is a dataclass


@dataclass(frozen=True, kw_only=True)
class UdpCounts(_Model):
    """Datagrams received and what became of them."""

    datagrams: int
    bytes: int
    by_type: dict[str, int]  # envelope type -> datagrams (types cut to 32 characters)
    rejected: dict[str, int]  # rejection reason -> datagrams
    ignored: dict[str, int]  # ignored type -> datagrams
    receive_buffer: int | None  # bytes the kernel granted the socket (its doubled figure)
    kernel_drops: int | None  # datagrams the kernel dropped, receive buffer full (None: unknown)


@dataclass(frozen=True, kw_only=True)
class SequenceTotals(_Model):
    """``seq_no`` bookkeeping summed over publishers (datagrams); see socs_like.sequence."""

    received: int
    lost: int
    duplicates: int
    late: int
    restarts: int
    untracked: int


@dataclass(frozen=True, kw_only=True)
class FileCounts(_Model):
    """Files announced, registered and checksummed."""

    announced: int  # accepted announcements (queued for the database)
    registered: int  # rows inserted
    already_registered: int  # announcements of a path already registered
    rescanned: int  # files queued by a rescan (periodic, asked for, or after a loss)
    recovered: int  # rows of an earlier run checksummed at start
    checksummed: int
    unreadable: int  # files that could not be read (the row keeps the error)
    checksum_failures: int  # rows whose checksum worker failed (hashed at the next start)
    waiting_for_db: int
    waiting_for_checksum: int
    last_file: str | None


@dataclass(frozen=True, kw_only=True)
class LossCounts(_Model):
    """Losses seen and the targeted rescans they asked for (see lost.py)."""

    gaps: int  # seq_no gaps seen (each may cover several datagrams)
    requested: int  # losses that asked for a rescan (gaps, queue_full, kernel drops)
    unrecoverable: int  # losses of a publisher with no known folder
    rescans: int  # targeted rescans run
    found: int  # files those rescans queued (already registered ones are skipped later)
    pending: list[str]  # publishers whose rescan is due soon


@dataclass(frozen=True, kw_only=True)
class MetadataCounts(_Model):
    samples: int
    feeds: list[str]


@dataclass(frozen=True, kw_only=True)
class DbCounts(_Model):
    url: str | None  # without password
    errors: int
    last_error: str | None
    lock_retries: int


@dataclass(frozen=True, kw_only=True)
class RunSessionData(_Model):
    """``session.data`` of the ``run`` process."""

    timestamp: float
    udp: UdpCounts
    sequence: SequenceTotals
    publishers: dict[str, dict[str, int | None]]  # id -> socs_like.sequence.SenderCounts
    files: FileCounts
    losses: LossCounts
    loop: LoopStats
    metadata: MetadataCounts
    db: DbCounts


@dataclass(frozen=True, kw_only=True)
class RescanSessionData(_Model):
    """``session.data`` of the ``rescan`` task."""

    found: int  # files queued for registration
    too_recent: int  # files left for later: modified less than min_age seconds ago


@dataclass(frozen=True, kw_only=True)
class UdpStats(_Model):
    """A message of the ``udp_stats`` feed, every ``--stats-interval`` seconds."""

    timestamp: float
    datagrams: int
    rejected: dict[str, int]
    ignored: dict[str, int]
    kernel_drops: int | None
    sequence: SequenceTotals
    publishers: dict[str, dict[str, int | None]]
