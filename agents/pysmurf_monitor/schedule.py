"""When the ``run`` process does its periodic work, by the monotonic clock, without sleeping.

Each round of the loop asks: read the kernel's drop counter now (:class:`Every`
``DROPS_EVERY`` s)? publish ``udp_stats`` (every ``--stats-interval``)? rescan
(:class:`RescanSchedule`)? A ``due`` answer of True also moves the timer on.
"""

from __future__ import annotations

DROPS_EVERY = 0.5  # seconds between reads of the kernel's drop counter


class Every:
    """Due at ``first``, then ``interval`` seconds after each time it was due."""

    def __init__(self, interval: float, first: float) -> None:
        self.interval = interval
        self.next = first

    def due(self, now: float) -> bool:
        if now < self.next:
            return False
        self.next = now + self.interval
        return True


class RescanSchedule:
    """``--rescan``: at start, ``min_age`` and ``2 × min_age`` seconds later, then every
    ``interval`` seconds (0: never again).

    The later passes are there because files announced while the monitor was down are too
    young for the start rescan when it restarted soon after. A file announced to the process
    before (which died before registering it) may still be written after this one started:
    the pass at ``2 × min_age`` takes files last written up to ``min_age`` after the start
    (found by the 2-hour soak: two files announced at the moment of a kill, written a second
    after the restart, never registered).
    """

    def __init__(self, start: float, *, enabled: bool, min_age: float, interval: float) -> None:
        self.interval = interval
        self.times = [start, start + min_age, start + 2 * min_age] if enabled else []

    def due(self, now: float) -> bool:
        if not self.times or now < self.times[0]:
            return False
        self.times = [t for t in self.times if t > now]
        if self.interval > 0:
            self.times = sorted([*self.times, now + self.interval])
        return True
