"""FileRecorder's settings (socs_like.settings)."""

from __future__ import annotations

from socs_like.settings import setting, settings
from socs_like_agents.recording.options import (
    InitialState,
    initial_state_setting,
    max_queue_bytes,
    max_queue_setting,
)


@settings("FileRecorder options")
class Options:
    data_dir: str = setting(default="var/data/hdf5", help="where files go (var/data/hdf5)")
    time_per_file: float = setting(
        default=3600.0, help="s of data per file; files start on multiples of it (default 3600)"
    )
    flush_interval: float = setting(
        default=1.0, help="s between write rounds, each ending in a flush (default 1)"
    )
    max_queue_mb: float = max_queue_setting(128, "blocks (kept on disk too, in DATA_DIR/.spool)")
    initial_state: InitialState = initial_state_setting()

    def __post_init__(self) -> None:
        if self.flush_interval <= 0 or self.time_per_file <= 0:
            raise ValueError("need --flush-interval > 0 and --time-per-file > 0")
        max_queue_bytes(self.max_queue_mb)
