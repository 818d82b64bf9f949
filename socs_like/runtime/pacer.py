"""The agent's pace: a beat once a second, and a publishing turn whenever one is asked for.

`Pacer` runs ``beat(now)`` once an interval and ``turn(now)`` after it and whenever
`request` asks (from any thread: a feed's publish, a session change); `turn` says how soon it
wants to run again (a backlog: at once; nothing waiting: `math.inf`). What the beat and the
turn do is the agent's (socs_like/agent.py); here is only *when*.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

# The shortest wait between turns: a turn that wants another at once still lets the loop's
# other callbacks run first.
MIN_WAIT = 0.001
# A beat comes with a turn that runs for another reason from BEAT_EARLY s before its time to
# half an interval after it, and then keeps that turn's pace: an agent's own periodic work (a
# process that publishes once a second, started at any moment) and its heartbeat share one
# wake-up, instead of two that drift past each other. With no such turn the beat comes half
# an interval late on its own timer, and the next one an interval after its time: beats are
# 0.95 to 1.5 intervals apart.
BEAT_EARLY = 0.05


def call_on_loop(loop: asyncio.AbstractEventLoop, func: Callable[..., Any], *args: Any) -> None:
    """Call `func(*args)` now when on `loop`'s thread, else soon on `loop`."""
    try:
        current = asyncio.get_running_loop()
    except RuntimeError:
        current = None
    if current is loop:
        func(*args)
    else:
        loop.call_soon_threadsafe(func, *args)


class Pacer:
    """Runs on the loop's own timers, one at a time: a turn costs no task and no extra trip
    round the loop (a task waiting on an event with a time-out cost four)."""

    def __init__(
        self,
        beat: Callable[[float], None],
        turn: Callable[[float], float],
        interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._beat = beat
        self._turn = turn
        self.interval = interval
        self._clock = clock
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._next_beat = 0.0
        self._requested = False

    def request(self) -> None:
        """Ask for a turn soon (thread-safe; asking again before it comes costs nothing)."""
        if self._requested or self._loop is None:
            return
        self._requested = True
        call_on_loop(self._loop, self._after, 0.0)

    def start(self) -> None:
        """Beat and turn on the running loop until `stop`."""
        self._loop = asyncio.get_running_loop()
        self._next_beat = self._clock()
        self._after(0.0)

    def stop(self) -> None:
        self._loop = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _after(self, delay: float) -> None:
        """Have the next turn come within `delay` seconds (a turn already due sooner stays)."""
        loop = self._loop
        if loop is None:
            return
        timer = self._timer
        if timer is not None:
            if timer.when() <= loop.time() + delay:
                return
            timer.cancel()
        self._timer = loop.call_later(delay, self._run)

    def _run(self) -> None:
        self._timer = None
        now = self._clock()
        due, late = self._next_beat, self.interval / 2
        if now >= due - BEAT_EARLY:
            self._beat(now)
            on_its_own = now >= due + late
            self._next_beat = now + self.interval - (late if on_its_own else 0.0)
        # What the beat asked for (its heartbeat) is this turn's; a request made during
        # the turn brings another at once instead of being lost.
        self._requested = False
        wait = min(self._next_beat + late - now, self._turn(now))
        self._after(max(wait, MIN_WAIT))
