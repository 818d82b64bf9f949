"""Session pushes (runtime/pushes.py): what goes on the ``sessions`` feed, and when."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

from socs_like.feed import Feed
from socs_like.ops import OpSession
from socs_like.runtime.pushes import PushClock, SessionPushes


def _pushes(
    request_flush: Callable[[], None] = lambda: None,
    max_event_bytes: int = 64 * 1024,
    data_interval: float = 5.0,
) -> tuple[SessionPushes, Feed]:
    feed = Feed("site.a", "sessions", max_event_bytes=max_event_bytes)
    return SessionPushes(feed, request_flush, data_interval), feed


def _pushed(feed: Feed) -> list[dict[str, Any]]:
    return [payload for payload, _ in feed.take_events()]


def test_the_clock_lets_a_change_of_data_alone_out_once_an_interval_and_nothing_unchanged():
    clock = PushClock(data_interval=5.0)
    assert clock.due("acq", 0.0)  # never pushed
    assert clock.take("acq", {"data": 1}, 0.0)
    assert not clock.due("acq", 4.9)
    assert clock.take("acq", {"data": 2, "messages": ["m"]}, 4.9)
    assert not clock.due("acq", 9.8)  # the interval counts from any push
    assert clock.due("acq", 9.9)
    assert not clock.take("acq", {"data": 2, "messages": ["m"]}, 9.9)  # nothing new: never
    assert clock.due("acq", 10.0)  # and not counted as a push
    assert clock.due("other", 1.0)  # per op


def test_status_changes_and_messages_go_at_once_data_alone_once_its_interval_has_passed():
    async def scenario() -> None:
        pushes, feed = _pushes(data_interval=5.0)
        pushes.start(asyncio.get_running_loop())
        a = OpSession(1, "a", on_change=pushes.changed)
        b = OpSession(2, "b", on_change=pushes.changed)
        b.add_message("b first")
        assert pushes.pending
        pushes.push(0.0)
        assert [s["op_name"] for s in _pushed(feed)] == ["a", "b"]  # in session order
        assert not pushes.pending
        a.data["x"] = 1  # a data change tells nobody: it waits for a beat
        pushes.push(0.1)
        assert _pushed(feed) == []
        pushes.push(4.9, running=[a, b])  # its interval has not passed
        assert _pushed(feed) == []
        pushes.push(5.0, running=[a, b])  # now it has; b did not change: not pushed again
        assert [(s["op_name"], s["data"]) for s in _pushed(feed)] == [("a", {"x": 1})]
        a.data["x"] = 2
        a.add_message("a says")  # a message takes the data along at once
        pushes.push(5.01)
        [pushed] = _pushed(feed)
        assert (pushed["data"], pushed["messages"][-1][1]) == ({"x": 2}, "a says")

    asyncio.run(scenario())


def test_a_process_updating_its_data_every_second_is_pushed_once_an_interval_and_at_its_end():
    """The bound, and what a watcher must never miss: a status change with the data as it
    then stands, and the final data at "done"."""

    async def scenario() -> None:
        pushes, feed = _pushes(data_interval=5.0)
        pushes.start(asyncio.get_running_loop())
        acq = OpSession(1, "acq", on_change=pushes.changed)
        acq.set_status("running")
        pushes.push(0.0)
        first = _pushed(feed)
        for second in range(1, 31):  # the beat; the data changes every second
            acq.data = {"samples": second}
            if second == 12:
                acq.set_status("stopping")
                pushes.push(second + 0.01)  # the publishing turn the change asked for
            pushes.push(float(second), running=[acq])
        acq.data = {"samples": 31}
        acq.finish(True, "stopped")
        pushes.push(31.01)
        pushed = first + _pushed(feed)
        statuses = [(p["status"], p["data"].get("samples")) for p in pushed]
        assert ("stopping", 12) in statuses
        assert statuses[-1] == ("done", 31)
        data_alone = len(pushed) - 3  # less running, stopping and done
        assert data_alone <= 30 / 5, statuses

    asyncio.run(scenario())


def test_a_session_too_large_for_an_event_goes_out_as_its_summary():
    pushes, feed = _pushes(max_event_bytes=2048)
    big = OpSession(1, "big")
    big.data["blob"] = "x" * 4096
    pushes.push(0.0, running=[big])
    (pushed,) = _pushed(feed)
    assert pushed["data_too_large"] > 4096 and "data" not in pushed
    assert pushed == big.summary() | {"data_too_large": pushed["data_too_large"]}


def test_data_json_cannot_encode_goes_out_as_the_summary_with_the_reason_once(caplog):
    """It used to raise out of the beat and stop the agent's pacer: no heartbeat, no feed."""
    pushes, feed = _pushes()
    odd = OpSession(1, "odd")
    odd.data["seen"] = {1, 2}
    pushes.push(0.0, running=[odd])
    (pushed,) = _pushed(feed)
    reason = "Object of type set is not JSON serializable"
    assert pushed == odd.summary() | {"data_not_json": reason}
    assert "session data of odd is not JSON" in caplog.text
    pushes.push(5.0, running=[odd])  # nothing changed: not said again
    assert _pushed(feed) == []


def test_a_change_from_a_worker_thread_is_pushed_from_the_loop_soon_after():
    flushes: list[str] = []

    async def scenario() -> list[str]:
        flushed = asyncio.Event()

        def request_flush() -> None:
            flushes.append("flush")
            flushed.set()

        pushes, feed = _pushes(request_flush)
        session = OpSession(1, "op", on_change=pushes.changed)  # before start: nobody hears
        assert not pushes.pending
        pushes.start(asyncio.get_running_loop())
        thread = threading.Thread(target=session.add_message, args=("from a thread",))
        thread.start()
        thread.join()
        session.add_message("and from the loop")
        await asyncio.wait_for(flushed.wait(), 10)
        pushes.push(0.0)
        return [m[1] for m in _pushed(feed)[0]["messages"]]

    messages = asyncio.run(scenario())
    assert flushes == ["flush"]  # one flush for the changes of one short while
    assert messages == ['Status is now "starting".', "from a thread", "and from the loop"]


def test_sessions_of_one_op_run_back_to_back_are_pushed_as_the_newest_only():
    """A script calling a short task in a loop: each session replaces the last of its op for
    every watcher (the dashboard keeps the newest), so one push per op, not one per call."""

    async def scenario() -> list[tuple[str, int, str]]:
        pushes, feed = _pushes()
        pushes.start(asyncio.get_running_loop())
        other = OpSession(1, "acq", on_change=pushes.changed)
        for session_id in (2, 3, 4):
            run = OpSession(session_id, "task", on_change=pushes.changed)
            run.finish(True, f"call {session_id}")
        other.set_status("running")
        pushes.push(0.0)
        return [(s["op_name"], s["session_id"], s["status"]) for s in _pushed(feed)]

    assert asyncio.run(scenario()) == [("acq", 1, "running"), ("task", 4, "done")]
