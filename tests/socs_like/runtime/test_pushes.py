"""Session pushes (runtime/pushes.py): what goes on the ``sessions`` feed, and when."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

from socs_like.feed import Feed
from socs_like.ops import OpSession
from socs_like.runtime.pushes import SessionPushes


def _pushes(
    request_flush: Callable[[], None] = lambda: None, max_event_bytes: int = 64 * 1024
) -> tuple[SessionPushes, Feed]:
    feed = Feed("site.a", "sessions", max_event_bytes=max_event_bytes)
    return SessionPushes(feed, request_flush), feed


def _pushed(feed: Feed) -> list[dict[str, Any]]:
    return [payload for payload, _ in feed.take_events()]


def test_changes_are_pushed_once_and_data_changes_only_with_the_running_sessions():
    async def scenario() -> None:
        pushes, feed = _pushes()
        pushes.start(asyncio.get_running_loop())
        a = OpSession(1, "a", on_change=pushes.changed)
        b = OpSession(2, "b", on_change=pushes.changed)
        b.add_message("b first")
        assert pushes.pending
        pushes.push()
        assert [s["op_name"] for s in _pushed(feed)] == ["a", "b"]  # in session order
        assert not pushes.pending
        a.data["x"] = 1  # a data change tells nobody: it waits for the beat
        pushes.push()
        assert _pushed(feed) == []
        pushes.push(running=[a, b])
        assert [(s["op_name"], s["data"]) for s in _pushed(feed)] == [("a", {"x": 1})]

    asyncio.run(scenario())


def test_a_session_too_large_for_an_event_goes_out_as_its_summary():
    pushes, feed = _pushes(max_event_bytes=2048)
    big = OpSession(1, "big")
    big.data["blob"] = "x" * 4096
    pushes.push(running=[big])
    (pushed,) = _pushed(feed)
    assert pushed["data_too_large"] > 4096 and "data" not in pushed
    assert pushed == big.summary() | {"data_too_large": pushed["data_too_large"]}


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
        pushes.push()
        return [m[1] for m in _pushed(feed)[0]["messages"]]

    messages = asyncio.run(scenario())
    assert flushes == ["flush"]  # one flush for the changes of one short while
    assert messages == ['Status is now "starting".', "from a thread", "and from the loop"]
