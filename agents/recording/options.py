"""The arguments both recorders take alike (the InfluxPublisher, the FileRecorder), in one
place: whether ``record`` starts at start-up, and the byte bound of their `Backlog`."""

from __future__ import annotations

import argparse

from .backlog import MIB


def add_initial_state_argument(group: argparse._ArgumentGroup) -> None:
    group.add_argument(
        "--initial-state",
        choices=["idle", "record"],
        default="record",
        help="'record' starts recording at start-up (default)",
    )


def add_max_queue_argument(group: argparse._ArgumentGroup, default_mib: float, what: str) -> None:
    """The recorders' ``--max-queue-mb``: the byte bound of their `Backlog`."""
    group.add_argument(
        "--max-queue-mb",
        type=float,
        default=default_mib,
        metavar="MIB",
        help=f"MiB of {what} the queue holds while writing fails or lags (in memory: the "
        f"agent grows by this much, and a few MiB of work besides); past that the oldest "
        f"are dropped and counted (default {default_mib:g})",
    )


def max_queue_bytes(args: argparse.Namespace) -> int:
    mib = float(args.max_queue_mb)
    if not mib > 0:
        raise ValueError("--max-queue-mb must be more than 0")
    return round(mib * MIB)
