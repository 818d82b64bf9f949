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


def test_two_watchdogs_share_a_loop_and_the_last_to_stop_leaves_it_as_it_was() -> None:
    # Blocks of different lengths tell which watchdog saw which (a busy machine may add a
    # late turn of its own, never one as long as the next block).
    async def scenario() -> tuple[float, float, bool]:
        loop = asyncio.get_running_loop()
        selector = loop._selector  # type: ignore[attr-defined]
        first, second = LoopWatchdog(), LoopWatchdog()
        first.start()
        second.start()
        for block, stop in ((0.2, first.stop), (0.5, second.stop), (0.8, lambda: None)):
            await asyncio.sleep(0)
            time.sleep(block)
            await asyncio.sleep(0)
            stop()
        return first.max_lag, second.max_lag, loop._selector is selector  # type: ignore[attr-defined]

    first, second, restored = run_in_new_loop(scenario())
    assert 0.2 <= first < 0.5
    assert 0.5 <= second < 0.8
    assert restored


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="must be > 0"):
        LoopWatchdog(stall=0)
