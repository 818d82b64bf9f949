"""Catching up: a recorder asks the publishing agents for the records it missed.

A recorder misses records while it is not running, and while it is away from the hub (after
a hub restart, publishers that re-joined first send what they buffered before it has
subscribed again). Its intake knows which (`FeedIntake.wanted`: the ranges counted missed,
and everything after the last record seen of each feed not heard from since). Each
publishing agent keeps the records it sent last (``Feed.replay``, a bounded amount) and
answers the ``replay`` management query (docs/wire.md); what comes back goes through the
recorder's own event handler, so the intake keeps each record once and moves it from
``missed_while_*`` to ``recovered``. A feed asked for everything after its last record
is also how a feed that went quiet while the recorder was away is caught up: no later event
would have told of the gap.

What a publisher no longer keeps, or a publisher that is gone (or an OCS agent, which has no
``replay``), stays counted as missed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from autobahn.wamp.exception import ApplicationError, TransportLost

from socs_like import Agent

from .intake import FeedIntake

log = logging.getLogger(__name__)

Deliver = Callable[[Any, dict[str, Any]], None]


class CatchUp:
    """Runs `catch_up` in the background: for every feed after a recorder's start and each
    re-join, and for one feed when an event of it shows records missed (`after_take`: a
    publisher that had not re-joined yet when asked, events the dying hub acknowledged and
    never delivered)."""

    def __init__(self, agent: Agent, intake: FeedIntake, deliver: Deliver) -> None:
        self.agent, self.intake, self.deliver = agent, intake, deliver
        self._running: set[asyncio.Future[None]] = set()  # referenced until done

    def start(self, only: str | None = None) -> None:
        task = asyncio.ensure_future(catch_up(self.agent, self.intake, self.deliver, only))
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    def after_take(self) -> None:
        """Ask at once for what the last event taken showed missing."""
        for feed in self.intake.newly_missed():
            self.start(feed)


async def catch_up(
    agent: Agent, intake: FeedIntake, deliver: Deliver, only: str | None = None
) -> None:
    """Ask each publisher (or only feed `only`'s) for what `intake` wants, and `deliver` each
    record it sends (counted in ``intake.counts.replayed``)."""
    unanswered: list[str] = []
    for feed, first, last in intake.wanted():
        if only is not None and feed != only:
            continue
        agent_address, _, feed_name = feed.rpartition(".feeds.")
        try:
            await _fetch(agent, intake, agent_address, feed_name, first, last, deliver)
        except (TransportLost, TimeoutError) as exc:  # the hub went: the next join asks again
            log.info("catching up stopped: %s", exc or type(exc).__name__)
            return
        except (ApplicationError, KeyError, TypeError, ValueError) as exc:  # that feed only
            unanswered.append(f"{feed} ({getattr(exc, 'error', None) or exc!r})")
    if unanswered:
        # most often an agent not (yet) back on the hub: its next event with a gap asks again
        log.info("no replay from %d feeds: %s", len(unanswered), ", ".join(unanswered))


async def _fetch(
    agent: Agent,
    intake: FeedIntake,
    address: str,
    feed: str,
    first: int,
    last: int | None,
    deliver: Deliver,
) -> None:
    while last is None or first <= last:
        reply = await agent.call(address, q="replay", feed=feed, first=first, last=last)
        events = reply["events"]
        if not events:
            if last is None and 0 < reply["next_seq_no"] < first:
                first = 0  # the publisher started again since: its new records, from 0
                continue
            return
        for payload, feed_info in events:
            intake.counts.replayed += 1
            deliver(payload, feed_info)
        first = int(events[-1][1]["seq_no"]) + 1
