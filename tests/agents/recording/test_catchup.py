"""Catching up: a recorder asks each publisher for what its intake missed, page by page, and
a publisher that started again since is asked from its first record."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from autobahn.wamp.exception import ApplicationError, TransportLost

from socs_like.feed import Feed
from socs_like_agents.recording import catchup
from socs_like_agents.recording.catchup import CatchUp, catch_up
from socs_like_agents.recording.intake import FeedIntake

FEED = "observatory.fd1.feeds.temps"


class Publishers:
    """The hub as a recorder's catch-up sees it: each agent's replay query, on real feeds."""

    def __init__(self, *feeds: Feed, page_bytes: int = 1) -> None:
        self.feeds = {f.address: f for f in feeds}
        self.page_bytes = page_bytes  # one record a call: the recorder must ask again
        self.calls: list[tuple[str, int]] = []

    async def call(self, address: str, q: str, feed: str, first: int, last: int | None) -> Any:
        self.calls.append((feed, first))
        kept = self.feeds.get(f"{address}.feeds.{feed}")
        if kept is None:
            raise ApplicationError("wamp.error.no_such_procedure", address)
        events = kept.replay(first, last, self.page_bytes)
        return {"next_seq_no": kept.next_seq_no, "events": events}


def sent(n: int) -> Feed:
    feed = Feed("observatory.fd1", "temps", record=True)
    for t in range(n):
        feed.publish({"block_name": "b", "timestamp": float(t), "data": {"v": 1.0}})
    feed.take(None, hold=True)
    return feed


def caught_up(publishers: Publishers, intake: FeedIntake) -> list[float]:
    times: list[float] = []

    def deliver(payload: Any, feed_info: dict[str, Any]) -> None:
        times.extend(t for b in intake.take(payload, feed_info, 0.0) for t in b.timestamps)

    asyncio.run(catch_up(publishers, intake, deliver))  # type: ignore[arg-type]
    return times


def test_what_went_by_is_asked_for_page_by_page_and_a_gone_agent_is_skipped():
    intake = FeedIntake("observatory", "exclude_influx")
    intake.resume({"observatory.gone.feeds.f": 7, FEED: 2})
    assert caught_up(Publishers(sent(6)), intake) == [3.0, 4.0, 5.0]
    assert intake.counts.replayed == 3
    assert intake.wanted() == [("observatory.gone.feeds.f", 8, None)]


def test_a_publisher_that_started_again_is_asked_from_its_first_record():
    intake = FeedIntake("observatory", "exclude_influx")
    intake.resume({FEED: 50})
    publishers = Publishers(sent(3), page_bytes=10**6)
    assert caught_up(publishers, intake) == [0.0, 1.0, 2.0]
    assert publishers.calls == [("temps", 51), ("temps", 0), ("temps", 3)]


def test_a_lost_hub_ends_the_round():
    class Away(Publishers):
        async def call(self, *args: Any, **kwargs: Any) -> Any:
            self.calls.append(args)
            raise TransportLost()

    intake = FeedIntake("observatory", "exclude_influx")
    intake.resume({FEED: 2, "observatory.fd2.feeds.f": 7})
    away = Away()
    assert caught_up(away, intake) == [] and len(away.calls) == 1


def test_an_event_that_shows_records_missed_has_them_asked_for_at_once():
    publisher = sent(4)  # 0..3, acknowledged by a hub that died before delivering 1..2
    intake = FeedIntake("observatory", "exclude_influx")
    times: list[float] = []

    def deliver(payload: Any, feed_info: dict[str, Any]) -> None:
        times.extend(t for b in intake.take(payload, feed_info, 0.0) for t in b.timestamps)
        catching.after_take()

    async def run() -> None:
        deliver(*publisher.replay(0, 0, 10**6)[0])
        intake.away()
        deliver(*publisher.replay(3, 3, 10**6)[0])  # the first event after the re-join
        for _ in range(100):  # the asks answer without I/O: a few loop turns
            await asyncio.sleep(0)

    catching = CatchUp(Publishers(publisher, page_bytes=10**6), intake, deliver)  # type: ignore[arg-type]
    asyncio.run(run())
    assert times == [0.0, 3.0, 1.0, 2.0]
    assert (intake.counts.recovered, intake.counts.missed_while_away) == (2, 0)


class LateOrFrozen(Publishers):
    """The publisher first does not answer (`failure`: not on the hub yet, or frozen), then
    does: its feed then stays quiet, so no later event would tell of the gap."""

    def __init__(self, failure: Exception, *feeds: Feed) -> None:
        super().__init__(*feeds, page_bytes=10**6)
        self.failure: Exception | None = failure

    async def call(self, address: str, q: str, feed: str, first: int, last: int | None) -> Any:
        if self.failure is not None:
            self.calls.append((feed, first))
            failure, self.failure = self.failure, None
            raise failure
        return await super().call(address, q, feed, first, last)


@pytest.mark.parametrize(
    "failure",
    [ApplicationError("wamp.error.no_such_procedure", "gone"), TimeoutError()],
    ids=["not_back_yet", "frozen"],
)
def test_a_publisher_that_did_not_answer_is_asked_again_though_its_feed_went_quiet(
    monkeypatch, failure
):
    monkeypatch.setattr(catchup, "RETRY_EVERY", 0.01)
    intake = FeedIntake("observatory", "exclude_influx")
    intake.resume({FEED: 1, "observatory.fd1.feeds.other": 0})  # both of the same agent
    publishers = LateOrFrozen(failure, sent(4))
    times: list[float] = []

    def deliver(payload: Any, feed_info: dict[str, Any]) -> None:
        times.extend(t for b in intake.take(payload, feed_info, 0.0) for t in b.timestamps)

    async def run() -> None:
        CatchUp(publishers, intake, deliver).start()  # type: ignore[arg-type]
        for _ in range(1000):  # up to 5 s on a loaded machine; done within a few retries
            await asyncio.sleep(0.005)
            if times:
                return

    asyncio.run(run())
    assert times == [2.0, 3.0]
    first_round = publishers.calls[:2]
    if isinstance(failure, TimeoutError):  # a frozen agent is not waited on once per feed
        assert first_round == [("temps", 2), ("temps", 2)]
    else:
        assert first_round == [("temps", 2), ("other", 1)]
