"""The loop-lag watchdog sees a blocked event loop, and only counts what is late."""

import asyncio
import time

import pytest

from socs_like.testing import run_in_new_loop
from socs_like.watchdog import LoopWatchdog


def test_a_blocking_call_on_the_loop_is_measured_and_counted() -> None:
    async def scenario() -> LoopWatchdog:
        async with LoopWatchdog(interval=0.01, stall=0.1) as watchdog:
            await asyncio.sleep(0.05)  # let it take a first measure
            time.sleep(0.3)  # a blocking call on the loop: the timer wakes ~0.3 s late
            await asyncio.sleep(0.05)
        return watchdog

    watchdog = run_in_new_loop(scenario())
    stats = watchdog.stats()
    assert stats.max_lag_ms >= 200
    assert stats.stalls >= 1
    assert stats.as_dict() == {
        "max_lag_ms": stats.max_lag_ms,
        "stalls": stats.stalls,
        "threshold_ms": 100.0,
    }


def test_lags_under_the_threshold_are_not_stalls() -> None:
    watchdog = LoopWatchdog(stall=0.05)
    for lag in (0.001, 0.049, 0.05, 0.2, 0.051):
        watchdog.observe(lag)
    assert (watchdog.stalls, watchdog.max_lag) == (2, 0.2)


def test_stop_ends_the_timer_task_and_it_can_start_again() -> None:
    async def scenario() -> int:
        watchdog = LoopWatchdog(interval=0.01)
        watchdog.start()
        await asyncio.sleep(0.03)
        await watchdog.stop()
        tasks_after_stop = len(asyncio.all_tasks()) - 1  # all but this coroutine's task
        watchdog.start()
        await watchdog.stop()
        return tasks_after_stop

    assert run_in_new_loop(scenario()) == 0


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="must be > 0"):
        LoopWatchdog(interval=0)
