"""The settings both recorders declare alike (the InfluxPublisher, the FileRecorder), in one
place: whether ``record`` starts at start-up, and the byte bound of their `Backlog`."""

from __future__ import annotations

from typing import Any, Literal

from socs_like.settings import setting

from .backlog import MIB

InitialState = Literal["idle", "record"]


def initial_state_setting() -> Any:
    """The recorders' ``--initial-state``."""
    return setting(default="record", help="'record' starts recording at start-up (default)")


def max_queue_setting(default_mib: float, what: str) -> Any:
    """The recorders' ``--max-queue-mb``: the byte bound of their `Backlog`."""
    return setting(
        default=default_mib,
        metavar="MIB",
        help=f"MiB of {what} the queue holds while writing fails or lags (in memory: the "
        f"agent grows by this much, and a few MiB of work besides); past that the oldest "
        f"are dropped and counted (default {default_mib:g})",
    )


def max_queue_bytes(mib: float) -> int:
    """``--max-queue-mb`` in bytes; a `ValueError` refuses a bound that is not positive."""
    if not mib > 0:
        raise ValueError("--max-queue-mb must be more than 0")
    return round(mib * MIB)
