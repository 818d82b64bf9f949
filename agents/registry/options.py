"""Registry's settings (socs_like.settings)."""

from __future__ import annotations

from socs_like.settings import setting, settings


@settings("Registry options")
class Options:
    wait_time: float = setting(
        default=5.0,
        help="seconds without a heartbeat before an agent is expired, and between"
        " publishes of every agent's op codes (5)",
    )
