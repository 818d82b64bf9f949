"""The agent's pace (runtime/pacer.py): a beat once an interval, a turn when asked."""

from __future__ import annotations

import asyncio
import math
import threading

from socs_like.runtime.pacer import BEAT_EARLY, Pacer


def test_a_beat_first_then_turns_when_asked_from_the_loop_or_a_thread():
    async def scenario() -> list[str]:
        seen: list[str] = []
        turned = asyncio.Event()

        def turn(now: float) -> float:
            seen.append("turn")
            turned.set()
            return math.inf  # nothing waits: only a request brings the next turn

        pacer = Pacer(beat=lambda now: seen.append("beat"), turn=turn, interval=3600)
        pacer.request()  # before start: nobody to wake, and no harm
        pacer.start()
        for ask in (pacer.request, lambda: threading.Thread(target=pacer.request).start()):
            await asyncio.wait_for(turned.wait(), 10)
            turned.clear()
            ask()
        await asyncio.wait_for(turned.wait(), 10)
        pacer.stop()
        return seen

    assert asyncio.run(scenario()) == ["beat", "turn", "turn", "turn"]


def test_a_request_made_during_a_turn_brings_another_turn():
    async def scenario() -> int:
        turns = 0
        third = asyncio.Event()

        def turn(now: float) -> float:
            nonlocal turns
            turns += 1
            if turns < 3:
                pacer.request()  # as a session push publishing on the sessions feed does
            else:
                third.set()
            return math.inf

        pacer = Pacer(beat=lambda now: None, turn=turn, interval=3600)
        pacer.start()
        await asyncio.wait_for(third.wait(), 10)
        pacer.stop()
        return turns

    assert asyncio.run(scenario()) == 3


def test_the_beat_comes_once_an_interval_on_the_given_clock():
    async def scenario() -> list[float]:
        beats: list[float] = []
        now = [0.0]
        fourth = asyncio.Event()

        def beat(at: float) -> None:
            beats.append(at)
            if len(beats) == 4:
                fourth.set()

        def turn(at: float) -> float:
            now[0] += 0.5  # each turn the clock moves half an interval
            return 0.0

        pacer = Pacer(beat=beat, turn=turn, interval=1.0, clock=lambda: now[0])
        pacer.start()
        await asyncio.wait_for(fourth.wait(), 10)
        pacer.stop()
        return beats

    assert asyncio.run(scenario()) == [0.0, 1.0, 2.0, 3.0]


def test_a_beat_goes_with_a_turn_near_its_time_and_keeps_that_turns_pace():
    """An acquiring FakeData woke for its heartbeat and, 10 to 120 ms away and drifting, for
    its once-a-second samples: three wake-ups a second with the acknowledgement. A turn from
    BEAT_EARLY before the beat's time to half an interval after brings the beat (the next is
    an interval after that turn); without one the beat comes half an interval late, and the
    next an interval after its time."""

    async def scenario() -> list[float]:
        beats: list[float] = []
        now = [0.0]
        turned = asyncio.Event()

        def turn(at: float) -> float:
            turned.set()
            return math.inf

        pacer = Pacer(beat=beats.append, turn=turn, interval=1.0, clock=lambda: now[0])
        pacer.start()
        await asyncio.wait_for(turned.wait(), 10)
        # 1.003: just after its time; 2.45: 0.447 after (the next is due at 3.45); 3.0: too
        # early; 4.0: 0.55 after, as the beat's own timer comes (the next is due at 4.5);
        # 4.44: too early; 4.46: within BEAT_EARLY
        for at in (1.003, 2.45, 3.0, 4.0, 4.44, 4.46):
            turned.clear()
            now[0] = at
            pacer.request()
            await asyncio.wait_for(turned.wait(), 10)
        pacer.stop()
        return beats

    assert BEAT_EARLY == 0.05
    assert asyncio.run(scenario()) == [0.0, 1.003, 2.45, 4.0, 4.46]


def test_work_done_about_once_an_interval_carries_the_beat_in_its_own_wake_ups():
    """Whenever the work started: here a third of an interval after the first beat."""

    async def scenario() -> tuple[int, int]:
        turns = beats = 0

        def beat(now: float) -> None:
            nonlocal beats
            beats += 1

        def turn(now: float) -> float:
            nonlocal turns
            turns += 1
            return math.inf

        pacer = Pacer(beat=beat, turn=turn, interval=0.3)
        pacer.start()
        await asyncio.sleep(0.1)
        for _ in range(8):
            pacer.request()
            await asyncio.sleep(0.31)  # a process's work, a little over an interval apart
        pacer.stop()
        return turns, beats

    turns, beats = asyncio.run(scenario())
    assert beats >= 8
    # a turn at the start and one per request, not one more for each beat (17); three to
    # spare for a busy machine's late sleeps
    assert turns <= 12
