"""An agent that subscribes to every recorded feed (a recorder) receives its own recorded feeds
too: WAMP leaves a publisher out of its own events unless it asks, and the InfluxPublisher's
``influx_stats`` never reached InfluxDB so."""

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


def test_an_agent_hears_its_own_recorded_feeds_and_not_its_plain_ones(inprocess_agent, make_client):
    echo = inprocess_agent(Echo, "echo1")
    client = make_client("echo1")
    for times in (1, 2):
        assert client.say.start().ok and client.say.wait(timeout=10).session["success"]
        wait_until(lambda: echo.instance.heard.count("recorded") == times, 10)  # noqa: B023
    # its heartbeat (sent at start) and plain feed went out before, and were not delivered to it
    assert "plain" not in echo.instance.heard and "heartbeat" not in echo.instance.heard
