"""The heartbeat: ``{op_name: op_code}`` on the ``heartbeat`` feed once a second, as OCS's.

Its feed_info carries ``time`` (UNIX s, when it was sent, so a listener can tell how long the
hub took) and ``loop_lag_ms`` (loop_health.py). An agent may stop beating (`enabled`) to
show a listener what a silent agent looks like; the feed_info is kept current all the same.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from ..feed import Feed


class Heartbeat:
    def __init__(self, feed: Feed, clock: Callable[[], float] = time.time) -> None:
        self.feed = feed
        self.enabled = True
        self._clock = clock

    def beat(self, op_codes: dict[str, int], loop_lag: float) -> None:
        self.feed.info_extra["time"] = self._clock()
        self.feed.info_extra["loop_lag_ms"] = round(loop_lag * 1000, 1)
        if self.enabled:
            self.feed.publish(op_codes)
