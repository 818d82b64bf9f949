"""Loop-lag watchdog: how long the event loop kept what was ready waiting, the cost of anything
blocking it.

An agent's event loop serves the hub, its feeds and every op; a blocking call in one op (a
slow file read, a long parse, a full garbage collection) delays them all. The watchdog times
each turn of the loop: from the moment its selector hands over what is ready until the loop
asks again, everything that became ready meanwhile waited (a blocking call shows whole), and
a selector that woke later than it was asked to shows the machine kept the loop off the CPU.
The worst lag seen and the number of turns later than ``stall`` are what to put in session
data.

It adds no timer of its own: a timer sleeping a short interval over and over would wake
every agent of a site ten times a second for nothing (~0.15 ms of CPU each here, more than an
idle agent's heartbeat). It sits instead between the loop and its selector, where every turn
passes; asyncio has no public hook there, so it swaps the loop's ``_selector`` for a wrapper
while it runs and puts it back when the last watchdog of the loop stops.

Enable it in any agent, in the op whose lifetime it should share::

    with LoopWatchdog() as watchdog:
        while not session.stop_requested:
            session.data["loop"] = watchdog.stats().as_dict()
            await session.sleep(1)

or ``watchdog.start()`` / ``watchdog.stop()`` when the op's shape does not suit a ``with``
block (both on the loop's thread, the first while it runs).
"""

from __future__ import annotations

import asyncio
import logging
import selectors
import time
import types
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class LoopStats:
    """``max_lag_ms``: the longest the loop kept what was ready waiting (milliseconds);
    ``stalls``: turns of the loop that kept it waiting longer than the stall threshold;
    ``threshold_ms``: that threshold."""

    max_lag_ms: float
    stalls: int
    threshold_ms: float

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


class _TimedSelector(selectors.BaseSelector):
    """The loop's own selector, with each turn's lag told to `observers`."""

    def __init__(self, inner: selectors.BaseSelector) -> None:
        self.inner = inner
        self.observers: list[Callable[[float], None]] = []
        self._returned = time.monotonic()  # when the last select gave the loop its events

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        previous, asked = self._returned, time.monotonic()
        ready = self.inner.select(timeout)
        self._returned = returned = time.monotonic()
        lag = asked - previous  # the turn that just ended: what was ready waited so long
        if timeout is not None and not ready:
            lag = max(lag, returned - asked - timeout)  # woken late
        for observe in self.observers:
            observe(lag)
        return ready

    def register(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self.inner.register(fileobj, events, data)

    def unregister(self, fileobj: Any) -> selectors.SelectorKey:
        return self.inner.unregister(fileobj)

    def modify(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self.inner.modify(fileobj, events, data)

    def get_key(self, fileobj: Any) -> selectors.SelectorKey:
        return self.inner.get_key(fileobj)

    def get_map(self) -> Mapping[Any, selectors.SelectorKey]:
        return self.inner.get_map()

    def close(self) -> None:
        self.inner.close()


class LoopWatchdog:
    def __init__(self, stall: float = 0.05) -> None:
        if stall <= 0:
            raise ValueError("stall must be > 0")
        self.stall = stall
        self.max_lag = 0.0
        self.stalls = 0
        self._loop: asyncio.AbstractEventLoop | None = None

    def stats(self) -> LoopStats:
        return LoopStats(
            max_lag_ms=round(self.max_lag * 1000, 1),
            stalls=self.stalls,
            threshold_ms=round(self.stall * 1000, 1),
        )

    def observe(self, lag: float) -> None:
        """Record one turn of the loop that kept what was ready waiting `lag` seconds."""
        if lag > self.max_lag:
            self.max_lag = lag
        if lag > self.stall:
            self.stalls += 1

    def start(self) -> None:
        """Start measuring the running loop (once)."""
        if self._loop is not None:
            return
        loop = asyncio.get_running_loop()
        selector = getattr(loop, "_selector", None)
        if not isinstance(selector, selectors.BaseSelector):
            log.warning("the loop lag is not measured on %s (no selector)", type(loop).__name__)
            return
        if not isinstance(selector, _TimedSelector):
            selector = _TimedSelector(selector)
            loop._selector = selector  # type: ignore[attr-defined]
        selector.observers.append(self.observe)
        self._loop = loop

    def stop(self) -> None:
        loop, self._loop = self._loop, None
        selector = getattr(loop, "_selector", None)
        if not isinstance(selector, _TimedSelector):
            return  # never started, or its loop is closed
        selector.observers.remove(self.observe)
        if not selector.observers:
            loop._selector = selector.inner  # type: ignore[union-attr]

    def __enter__(self) -> LoopWatchdog:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: types.TracebackType | None,
    ) -> None:
        self.stop()
