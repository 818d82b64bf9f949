"""FakeData's settings (socs_like.settings)."""

from __future__ import annotations

from typing import Literal

from socs_like.settings import setting, settings


@settings("FakeData options")
class Options:
    num_channels: int = setting(default=2, help="channels in the feed (default 2)")
    sample_rate: float = setting(default=10.0, help="samples per second per channel (default 10)")
    frame_length: float = setting(
        default=0.1, help="seconds of samples per published block (default 0.1)"
    )
    mode: Literal["idle", "acq"] = setting(
        default="idle", help="'acq' starts acquisition at start-up (default idle)"
    )
