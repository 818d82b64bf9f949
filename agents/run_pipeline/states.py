"""The status machine of a run, as tables (the original's statuses, plus the claims).

``raw_status`` (where the raw data is)::

    acquired -> transferring -> ondeck -> compressing -> compressed -> archiving -> archived
       ^             |                        |                           |
       +-- failed ---+        ondeck <-- failed                compressed <-- failed

``processed_status`` (what the batch system did with it)::

    none -> queueing -> processing -> processed
              |   \\          |
              |    +---------+--> failed          (exit code and log path kept)
              +--> none  (job vanished or cancelled in the scheduler: reset)

Rules:

- Every change goes through :func:`store.RunStore.change`, a compare-and-set on both status
  columns (and the attempt number, for marks from a job): two pipelines can never both take
  a run, and a job from an earlier attempt cannot mark a newer one.
- ``transferring``, ``compressing`` and ``archiving`` are claims held by ``owner``
  (``host:pid``). A claim whose owner is a dead process on this host, or older than
  ``max_transfer_time`` (owner elsewhere), is released back to the state before it.
- An ``archived`` run keeps its ``owner`` until the files it no longer needs are removed
  (the packed run, the local bundle, the raw folder): a pass killed in between, or a
  cleaning that failed, is known from the database, and the next pass cleans up.
- A run tagged ``do-not-transfer`` stays ``acquired``; ``do-not-process`` stays ``none``.
"""

from __future__ import annotations

from typing import Final

ACQUIRED: Final = "acquired"
TRANSFERRING: Final = "transferring"
ONDECK: Final = "ondeck"
COMPRESSING: Final = "compressing"
COMPRESSED: Final = "compressed"
ARCHIVING: Final = "archiving"
ARCHIVED: Final = "archived"
RAW_STATUSES: Final = (
    ACQUIRED,
    TRANSFERRING,
    ONDECK,
    COMPRESSING,
    COMPRESSED,
    ARCHIVING,
    ARCHIVED,
)

NONE: Final = "none"
QUEUEING: Final = "queueing"
PROCESSING: Final = "processing"
PROCESSED: Final = "processed"
FAILED: Final = "failed"
PROCESSED_STATUSES: Final = (NONE, QUEUEING, PROCESSING, PROCESSED, FAILED)

# a claim -> the state it falls back to when released
CLAIM_FALLBACK: Final = {TRANSFERRING: ACQUIRED, COMPRESSING: ONDECK, ARCHIVING: COMPRESSED}

# what a job script may report, and from which processed status
MARKS: Final = {
    PROCESSING: (QUEUEING,),
    PROCESSED: (QUEUEING, PROCESSING),
    FAILED: (QUEUEING, PROCESSING),
}

DO_NOT_TRANSFER: Final = "do-not-transfer"
DO_NOT_PROCESS: Final = "do-not-process"
KNOWN_TAGS: Final = (DO_NOT_TRANSFER, DO_NOT_PROCESS)
# the original's comment tags
LEGACY_TAGS: Final = {"#DNT": DO_NOT_TRANSFER, "#DNP": DO_NOT_PROCESS}


def status_text(raw: str, processed: str) -> str:
    """How the event log writes a pair of statuses."""
    return f"{raw}/{processed}"


def tags_text(tags: set[str] | list[str] | tuple[str, ...]) -> str:
    """Tags as stored: sorted, space-separated, no duplicates."""
    return " ".join(sorted(set(tags)))


def tags_of(text: str) -> set[str]:
    return set(text.split())
