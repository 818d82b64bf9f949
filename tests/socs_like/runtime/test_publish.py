"""Acknowledged publishing (runtime/publish.py): what becomes of a held event as the hub
answers. The hub's side is a stand-in that records what it is handed and answers as told;
tests/socs_like/test_hub_restart.py drives the same code against a real hub."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from autobahn.wamp.exception import ApplicationError, TransportLost

from socs_like.feed import Feed, feed_event
from socs_like.packing import EVERYONE, Audience
from socs_like.runtime.publish import HELD_AND_TO_ME_TOO, publish


class Hub:
    """`publish` as an autobahn session offers it: a future per acknowledged event."""

    def __init__(self, lost: bool = False, authrole: str | None = None) -> None:
        self.lost = lost
        self.authrole = authrole  # None: a hub that is not ours
        self.sent: list[tuple[str, Any, Any]] = []
        self.answers: list[asyncio.Future[None]] = []

    def publish(self, topic: str, args: Any, options: Any) -> Any:
        if self.lost:
            raise TransportLost()
        self.sent.append((topic, args, options))
        if not options.acknowledge:
            return None
        answer: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.answers.append(answer)
        return answer


def _recorded(n: int) -> Feed:
    feed = Feed("site.a", "rec", record=True, max_event_bytes=200)  # one sample an event
    for i in range(n):
        feed.publish({"block_name": "b", "timestamp": float(i), "data": {"v": float(i)}})
    return feed


@pytest.mark.parametrize(
    ("answer", "pending", "dropped", "returned"),
    [
        (None, 0, 0, 0),  # acknowledged: forgotten
        (ApplicationError("wamp.close.transport_lost"), 1, 0, 1),  # lost: sent again later
        ("cancelled", 1, 0, 1),
        (ApplicationError("wamp.error.not_authorized"), 0, 1, 0),  # refused: dropped, counted
    ],
)
def test_a_held_event_is_forgotten_sent_again_or_dropped_as_the_hub_answers(
    answer, pending, dropped, returned
):
    async def scenario() -> tuple[Feed, list[str]]:
        feed, hub, back = _recorded(1), Hub(), []
        publish(hub, feed, feed.take(None, hold=True)[0], lambda: back.append("again"), EVERYONE)
        assert feed.held_bytes > 0 and hub.sent[0][2] is HELD_AND_TO_ME_TOO
        if answer == "cancelled":
            hub.answers[0].cancel()
        elif answer is None:
            hub.answers[0].set_result(None)
        else:
            hub.answers[0].set_exception(answer)
        await asyncio.sleep(0)  # the done callback
        return feed, back

    feed, back = asyncio.run(scenario())
    assert (feed.pending, feed.dropped, feed.held_bytes) == (pending, dropped, 0)
    assert len(back) == returned


def test_events_of_a_transport_gone_while_sending_wait_again_in_order():
    async def scenario() -> Feed:
        feed = _recorded(3)
        publish(Hub(lost=True), feed, feed.take(None, hold=True)[0], lambda: None, EVERYONE)
        return feed

    feed = asyncio.run(scenario())
    assert feed.pending == 3 and feed.held_bytes == 0
    assert [info["seq_no"] for _, info in feed.take(None)[0]] == [0, 1, 2]


def test_a_plain_feeds_events_are_published_and_forgotten():
    feed = Feed("site.a", "plain")
    feed.publish({"n": 1})
    hub = Hub()
    publish(hub, feed, feed.take(None)[0], lambda: None, EVERYONE)
    ((topic, (payload, info), options),) = hub.sent
    assert (topic, payload, info["seq_no"]) == ("site.a.feeds.plain", {"n": 1}, 0)
    assert (options.acknowledge, options.exclude_me) == (None, False)
    assert feed.pending == 0 and feed.held_bytes == 0


@pytest.mark.parametrize("lists_copy", [True, False])
def test_on_our_hub_our_roles_get_packed_blocks_and_everyone_else_the_lists(lists_copy):
    async def scenario() -> tuple[Feed, Hub]:
        feed, hub = _recorded(1), Hub(authrole="agent")
        audience = Audience(("agent", "controller"), lists_copy=lists_copy)
        publish(hub, feed, feed.take(None, hold=True)[0], lambda: None, audience)
        hub.answers[0].set_result(None)
        await asyncio.sleep(0)
        return feed, hub

    feed, hub = asyncio.run(scenario())
    assert feed.held_bytes == 0  # the packed copy is the one acknowledged
    (_, packed, options), *rest = hub.sent
    assert options.eligible_authrole == ["agent", "controller"] and options.acknowledge
    lists = Feed("site.a", "rec", record=True, max_event_bytes=200)
    lists.publish({"block_name": "b", "timestamp": 0.0, "data": {"v": 0.0}})
    expected = lists.take_events()[0]
    assert isinstance(packed[0]["b"]["timestamps"], bytes)
    assert feed_event((packed,)) == expected  # decoded: what the lists form says
    if lists_copy:
        [(_, copy, copy_options)] = rest
        assert copy == list(expected) and copy_options.exclude_authrole == ["agent", "controller"]
        assert not copy_options.acknowledge
    else:
        assert rest == []
