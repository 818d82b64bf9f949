"""The agent's pace: a beat once a second, and a publishing turn whenever one is asked for.

`Pacer` runs ``beat(now)`` once an interval and ``turn(now)`` after it and whenever
`request` asks (from any thread: a feed's publish, a session change); `turn` says how soon it
wants to run again (a backlog: at once; nothing waiting: `math.inf`). What the beat and the
turn do is the agent's (socs_like/agent.py); here is only *when*.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any

# The shortest wait between turns: a turn that wants another at once still lets the loop's
# other callbacks run first.
MIN_WAIT = 0.001


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
        self._wake = asyncio.Event()
        self._requested = False

    def request(self) -> None:
        """Ask for a turn soon (thread-safe; asking again before it comes costs nothing)."""
        if self._requested or self._loop is None:
            return
        self._requested = True
        call_on_loop(self._loop, self._wake.set)

    def start(self) -> asyncio.Task[None]:
        """Run on the running loop until the returned task is cancelled."""
        self._loop = asyncio.get_running_loop()
        return asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        next_beat = self._clock()
        while True:
            now = self._clock()
            if now >= next_beat:
                self._beat(now)
                next_beat = now + self.interval
            # What the beat asked for (its heartbeat) is this turn's; a request made during
            # the turn brings another at once instead of being lost.
            self._requested = False
            self._wake.clear()
            wait = min(next_beat - now, self._turn(now))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), max(wait, MIN_WAIT))
