"""An agent that subscribes to feeds receives its own too: WAMP leaves a publisher out of its
own events unless it asks, and so the InfluxPublisher's ``influx_stats`` never reached
InfluxDB, and the Registry had no sighting of itself (`socs-like status` waited for it)."""

from __future__ import annotations

from typing import Any

from socs_like import Agent, OpSession
from socs_like.testing import wait_until


class Echo:
    """Subscribes to every feed of the site; ``say`` publishes on a recorded and a plain feed."""

    def __init__(self, agent: Agent, settings: object) -> None:
        self.heard: list[str] = []
        self.recorded = agent.register_feed("recorded", record=True)
        self.plain = agent.register_feed("plain")
        agent.subscribe(f"{agent.address_root}..feeds.", self._on_event, match="wildcard")
        agent.register_task("say", self.say)

    def _on_event(self, payload: Any, feed_info: dict[str, Any]) -> None:
        self.heard.append(feed_info["feed_name"])

    async def say(self, session: OpSession, params: dict[str, Any]) -> tuple[bool, str]:
        self.plain.publish({"n": 1})
        self.recorded.publish({"block_name": "b", "timestamp": 1.0, "data": {"n": 1.0}})
        return True, "said"


def test_an_agent_hears_its_own_feeds_recorded_and_plain(inprocess_agent, make_client):
    echo = inprocess_agent(Echo, "echo1")
    client = make_client("echo1")
    for times in (1, 2):
        assert client.say.start().ok and client.say.wait(timeout=10).session["success"]
        wait_until(lambda: echo.instance.heard.count("recorded") == times, 10)  # noqa: B023
        wait_until(lambda: echo.instance.heard.count("plain") == times, 10)  # noqa: B023
    wait_until(lambda: "heartbeat" in echo.instance.heard, 10)
