"""The loop-lag watchdog sees a blocked event loop, and only counts what is late."""

import asyncio
import time

import pytest

from socs_like.testing import run_in_new_loop
from socs_like.watchdog import LoopWatchdog


def test_a_blocking_call_on_the_loop_is_measured_and_counted() -> None:
    async def scenario() -> LoopWatchdog:
        with LoopWatchdog(stall=0.1) as watchdog:
            await asyncio.sleep(0.05)
            time.sleep(0.3)  # a blocking call on the loop: what was ready waits ~0.3 s
            await asyncio.sleep(0.05)
        return watchdog

    watchdog = run_in_new_loop(scenario())
    stats = watchdog.stats()
    assert stats.max_lag_ms >= 300
    assert stats.stalls == 1
    assert stats.as_dict() == {
        "max_lag_ms": stats.max_lag_ms,
        "stalls": 1,
        "threshold_ms": 100.0,
    }


def test_lags_under_the_threshold_are_not_stalls() -> None:
    watchdog = LoopWatchdog(stall=0.05)
    for lag in (0.001, 0.049, 0.05, 0.2, 0.051):
        watchdog.observe(lag)
    assert (watchdog.stalls, watchdog.max_lag) == (2, 0.2)


def test_two_watchdogs_share_a_loop_and_the_last_to_stop_leaves_it_as_it_was() -> None:
    async def scenario() -> tuple[LoopWatchdog, LoopWatchdog, bool]:
        loop = asyncio.get_running_loop()
        selector = loop._selector  # type: ignore[attr-defined]
        first, second = LoopWatchdog(stall=0.1), LoopWatchdog(stall=0.1)
        first.start()
        second.start()
        await asyncio.sleep(0)
        time.sleep(0.2)
        await asyncio.sleep(0)
        first.stop()
        time.sleep(0.2)
        await asyncio.sleep(0)
        second.stop()
        time.sleep(0.2)  # neither measures this one
        await asyncio.sleep(0)
        return first, second, loop._selector is selector  # type: ignore[attr-defined]

    first, second, restored = run_in_new_loop(scenario())
    assert (first.stalls, second.stalls) == (1, 2)
    assert restored


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="must be > 0"):
        LoopWatchdog(stall=0)
