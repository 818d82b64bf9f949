"""Loop-lag watchdog: how late the event loop wakes a timer, the cost of anything blocking it.

An agent's event loop serves the hub, its feeds and every op; a blocking call in one op (a
slow file read, a long parse, a full garbage collection) delays them all. The watchdog sleeps
``interval`` seconds over and over and measures how late each wake-up comes: the worst delay
seen and the number of wake-ups later than ``stall`` are what to put in session data.

Enable it in any agent, in the op whose lifetime it should share::

    async with LoopWatchdog() as watchdog:
        while not session.stop_requested:
            session.data["loop"] = watchdog.stats().as_dict()
            await session.sleep(1)

or ``watchdog.start()`` / ``await watchdog.stop()`` when the op's shape does not suit a
``with`` block. It costs one timer every ``interval`` (20 ms by default).
"""

from __future__ import annotations

import asyncio
import types
from dataclasses import asdict, dataclass


@dataclass(frozen=True, kw_only=True)
class LoopStats:
    """``max_lag_ms``: the latest wake-up seen (milliseconds); ``stalls``: wake-ups later
    than the stall threshold; ``threshold_ms``: that threshold."""

    max_lag_ms: float
    stalls: int
    threshold_ms: float

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


class LoopWatchdog:
    def __init__(self, interval: float = 0.02, stall: float = 0.05) -> None:
        if interval <= 0 or stall <= 0:
            raise ValueError("interval and stall must be > 0")
        self.interval = interval
        self.stall = stall
        self.max_lag = 0.0
        self.stalls = 0
        self._task: asyncio.Task[None] | None = None

    def stats(self) -> LoopStats:
        return LoopStats(
            max_lag_ms=round(self.max_lag * 1000, 1),
            stalls=self.stalls,
            threshold_ms=round(self.stall * 1000, 1),
        )

    def observe(self, lag: float) -> None:
        """Record one wake-up ``lag`` seconds late (the timer loop calls it)."""
        self.max_lag = max(self.max_lag, lag)
        if lag > self.stall:
            self.stalls += 1

    async def run(self) -> None:
        """Measure until cancelled."""
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + self.interval
            await asyncio.sleep(self.interval)
            self.observe(loop.time() - due)

    def start(self) -> None:
        """Start measuring on the running loop (once)."""
        if self._task is None:
            self._task = asyncio.ensure_future(self.run())

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def __aenter__(self) -> LoopWatchdog:
        self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: types.TracebackType | None,
    ) -> None:
        await self.stop()
