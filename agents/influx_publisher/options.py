"""The publisher's settings (socs_like.settings): where InfluxDB is (`server`, OCS's
arguments), what it writes and how it batches, and the queue (`recording.options`)."""

from __future__ import annotations

from typing import Literal

from socs_like.settings import part, setting, settings
from socs_like_agents.recording.options import (
    InitialState,
    initial_state_setting,
    max_queue_bytes,
    max_queue_setting,
)

from .server import ServerOptions

LayoutName = Literal["ocs", "floats"]  # layout.Layout's values
RETRY_FIRST, RETRY_MAX = 0.2, 5.0  # s between writes while the server is away


@settings("InfluxPublisher options")
class Options:
    layout: LayoutName = setting(
        default="ocs",
        help="'ocs' (default): measurements, tags and types as OCS's InfluxDB publisher "
        "writes them (integers as integers; influxdb_tags honoured); 'floats': as this "
        "publisher wrote before, every number a float and influxdb_tags ignored, for a "
        "database it filled",
    )
    initial_state: InitialState = initial_state_setting()
    batch_size: int = setting(
        default=10_000,
        help="points per write at most, unless one event holds more (default 10000)",
    )
    flush_interval: float = setting(
        default=1.0, help="a point waits at most this long (s) for its batch to fill (default 1)"
    )
    # 128 MiB: 80 min of the demo site's feeds (about 27 kB/s of line protocol).
    max_queue_mb: float = max_queue_setting(128, "line protocol")
    spool_dir: str | None = setting(
        default=None,
        metavar="DIR",
        help="keep the queue on disk in DIR too (about --max-queue-mb of it), so a "
        "publisher killed -9 loses nothing it received: it sends it when it starts "
        "again. Without it the queue is in memory only (default)",
    )
    timeout: float = setting(default=10.0, help="HTTP time-out of one write, s (10)")
    retry_max: float = setting(
        default=RETRY_MAX,
        help="while the server is away, writes are tried again after 0.2 s, then twice as "
        f"long each time up to this many s (default {RETRY_MAX:g})",
    )
    server: ServerOptions = part(default_factory=ServerOptions)

    def __post_init__(self) -> None:
        if self.batch_size < 1 or self.flush_interval <= 0 or self.retry_max <= 0:
            raise ValueError("need --batch-size >= 1, --flush-interval > 0 and --retry-max > 0")
        max_queue_bytes(self.max_queue_mb)
