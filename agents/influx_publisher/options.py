"""The publisher's command-line arguments: where InfluxDB is (`server`, OCS's arguments), what
it writes and how it batches, and the queue (`recording.options`)."""

from __future__ import annotations

import argparse

from socs_like_agents.recording.options import add_initial_state_argument, add_max_queue_argument

from .layout import Layout
from .server import add_server_arguments
from .status import RETRY_MAX


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("InfluxPublisher options")
    add_server_arguments(group)
    group.add_argument(
        "--layout",
        choices=[layout.value for layout in Layout],
        default=Layout.OCS.value,
        help="'ocs' (default): measurements, tags and types as OCS's InfluxDB publisher "
        "writes them (integers as integers; influxdb_tags honoured); 'floats': as this "
        "publisher wrote before, every number a float and influxdb_tags ignored, for a "
        "database it filled",
    )
    add_initial_state_argument(group)
    group.add_argument(
        "--batch-size",
        type=int,
        default=10_000,
        help="points per write at most, unless one event holds more (default 10000)",
    )
    group.add_argument(
        "--flush-interval",
        type=float,
        default=1.0,
        help="a point waits at most this long (s) for its batch to fill (default 1)",
    )
    # 128 MiB: 80 min of the demo site's feeds (about 27 kB/s of line protocol).
    add_max_queue_argument(group, 128, "line protocol")
    group.add_argument(
        "--spool-dir",
        metavar="DIR",
        help="keep the queue on disk in DIR too (about --max-queue-mb of it), so a "
        "publisher killed -9 loses nothing it received: it sends it when it starts "
        "again. Without it the queue is in memory only (default)",
    )
    group.add_argument(
        "--timeout", type=float, default=10.0, help="HTTP time-out of one write, s (10)"
    )
    group.add_argument(
        "--retry-max",
        type=float,
        default=RETRY_MAX,
        help="while the server is away, writes are tried again after 0.2 s, then twice as "
        f"long each time up to this many s (default {RETRY_MAX:g})",
    )
