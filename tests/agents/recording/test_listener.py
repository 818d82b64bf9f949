"""The recorders' listener: events are kept only while ``record`` runs, and catching up is
asked for when it starts and at each re-join while it runs, not otherwise."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from socs_like_agents.recording.intake import Block, FeedIntake
from socs_like_agents.recording.listener import Listener

INFO = {"agent_address": "observatory.fd1", "feed_name": "temps", "record": True}


class Hub:
    """What a listener asks of its agent: the subscription, the hub's comings and goings,
    and the replay queries catching up sends (every publisher has nothing more)."""

    address_root = "observatory"

    def __init__(self) -> None:
        self.handlers: list[Callable[[Any, dict[str, Any]], Any]] = []
        self.lost: list[Callable[[], None]] = []
        self.joined: list[Callable[[], None]] = []
        self.asked: list[tuple[str, int]] = []

    def subscribe(self, topic: str, handler: Any, match: str) -> None:
        assert (topic, match) == ("observatory..feeds.", "wildcard")
        self.handlers.append(handler)

    def on_hub_lost(self, callback: Callable[[], None]) -> None:
        self.lost.append(callback)

    def on_hub_joined(self, callback: Callable[[], None]) -> None:
        self.joined.append(callback)

    async def call(self, address: str, q: str, feed: str, first: int, last: int | None) -> Any:
        self.asked.append((feed, first))
        return {"next_seq_no": first, "events": []}

    def publish(self, seq_no: int) -> None:
        payload = {"b": {"block_name": "b", "timestamps": [float(seq_no)], "data": {"v": [1]}}}
        for handler in self.handlers:
            handler(payload, INFO | {"seq_no": seq_no})

    def go_away_and_back(self) -> None:
        for callback in [*self.lost, *self.joined]:
            callback()


def test_events_are_kept_while_recording_and_what_went_by_is_asked_for():
    hub, intake = Hub(), FeedIntake("observatory", "exclude_influx")
    kept: list[tuple[list[Block], float]] = []

    async def scenario() -> None:
        listener = Listener(hub, intake, lambda blocks, t: kept.append((blocks, t)))  # type: ignore[arg-type]
        hub.publish(0)  # record not running: not taken
        hub.go_away_and_back()
        await asyncio.sleep(0.01)
        assert kept == [] and hub.asked == [] and intake.counts.events == 0
        intake.resume({"observatory.fd1.feeds.temps": 4})
        listener.start()  # asks for what went by since the last run's record 4
        await asyncio.sleep(0.01)
        assert hub.asked == [("temps", 5)]
        hub.publish(5)
        hub.go_away_and_back()  # asks again, after the last record seen
        await asyncio.sleep(0.01)
        assert hub.asked == [("temps", 5), ("temps", 6)]
        listener.stop()
        hub.publish(6)
        hub.go_away_and_back()
        await asyncio.sleep(0.01)

    asyncio.run(scenario())
    assert hub.asked == [("temps", 5), ("temps", 6)]
    assert [(b.feed, b.timestamps) for blocks, _ in kept for b in blocks] == [
        ("observatory.fd1.feeds.temps", [5.0])
    ]
    assert kept[0][1] == kept[0][0][0].received  # handed the time the intake took it at
