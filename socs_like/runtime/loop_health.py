"""Loop health: the event loop's worst lag over each heartbeat interval, warned about past a
limit (a ping or a call waits that long for an answer).

The framework's `LoopWatchdog` measures; once a beat, `measure` turns its maximum into this
interval's gauge (``lag_ms`` in get_api's ``loop``, ``loop_lag_ms`` on the heartbeat).
"""

from __future__ import annotations

import logging

from ..watchdog import LoopWatchdog

log = logging.getLogger(__name__)

# Loop lag (seconds) past which the agent warns.
LAG_WARNING = 0.25


class LoopHealth:
    def __init__(self) -> None:
        self.watchdog = LoopWatchdog(stall=LAG_WARNING)
        self.lag = 0.0  # worst loop lag (s) in the last interval

    def start(self) -> None:
        self.watchdog.start()

    def stop(self) -> None:
        self.watchdog.stop()

    def measure(self) -> float:
        """End an interval: its worst lag (s), warned about past `LAG_WARNING`."""
        self.lag, self.watchdog.max_lag = self.watchdog.max_lag, 0.0
        if self.lag > LAG_WARNING:
            log.warning(
                "the event loop was blocked for %.0f ms in the last second (warning at %.0f "
                "ms): calls, pings and feeds waited that long",
                self.lag * 1000,
                LAG_WARNING * 1000,
            )
        return self.lag

    def as_dict(self) -> dict[str, float | int]:
        """The last interval's worst lag, and stalls since the start."""
        return {
            "lag_ms": round(self.lag * 1000, 1),
            "warning_ms": round(LAG_WARNING * 1000, 1),
            "stalls": self.watchdog.stalls,
        }
