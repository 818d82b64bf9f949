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

A feed whose publisher does not answer (not back on the hub yet, or frozen: the call times
out) is asked again every `RETRY_EVERY` seconds for as long as a publisher keeps what it sent
(`DEFAULT_REPLAY_SECONDS`): the feed may have gone quiet, and then no later event would tell
of the gap (found by the soak: a recorder restarted just before the publisher froze and the
hub restarted; the feed's last 290 samples reached only the other recorder).

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
from socs_like.feed import DEFAULT_REPLAY_SECONDS

from .intake import FeedIntake

log = logging.getLogger(__name__)

RETRY_EVERY = 5.0  # s between asks of a feed whose publisher did not answer

Deliver = Callable[[Any, dict[str, Any]], None]


class CatchUp:
    """Runs `catch_up` in the background: for every feed after a recorder's start and each
    re-join, and for one feed when an event of it shows records missed (`after_take`: a
    publisher that had not re-joined yet when asked, events the dying hub acknowledged and
    never delivered)."""

    def __init__(self, agent: Agent, intake: FeedIntake, deliver: Deliver) -> None:
        self.agent, self.intake, self.deliver = agent, intake, deliver
        self._running: set[asyncio.Future[None]] = set()  # referenced until done
        self._give_up: dict[str, float] = {}  # feed -> when its publisher keeps nothing more
        self._asking_again: set[str] = set()  # feeds with an ask scheduled

    def start(self, only: str | None = None) -> None:
        task = asyncio.ensure_future(self._round(only))
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _round(self, only: str | None) -> None:
        unanswered = await catch_up(self.agent, self.intake, self.deliver, only)
        loop = asyncio.get_running_loop()
        for feed in unanswered:
            give_up = self._give_up.setdefault(feed, loop.time() + DEFAULT_REPLAY_SECONDS)
            if loop.time() >= give_up:  # nothing of it is kept any more: stays counted missed
                del self._give_up[feed]
            elif feed not in self._asking_again:
                self._asking_again.add(feed)
                loop.call_later(RETRY_EVERY, self._ask_again, feed)
        for feed in set(self._give_up) - set(unanswered):
            if only is None or feed == only:
                del self._give_up[feed]  # answered (or no longer wanted)

    def _ask_again(self, feed: str) -> None:
        self._asking_again.discard(feed)
        self.start(feed)

    def after_take(self) -> None:
        """Ask at once for what the last event taken showed missing."""
        for feed in self.intake.newly_missed():
            self.start(feed)


async def catch_up(
    agent: Agent, intake: FeedIntake, deliver: Deliver, only: str | None = None
) -> list[str]:
    """Ask each publisher (or only feed `only`'s) for what `intake` wants, and `deliver` each
    record it sends (counted in ``intake.counts.replayed``); the feeds whose publisher did not
    answer, to ask again."""
    unanswered: dict[str, str] = {}  # feed -> why
    silent: set[str] = set()  # agents whose call timed out: not asked again this round
    for feed, first, last in intake.wanted():
        if only is not None and feed != only:
            continue
        agent_address, _, feed_name = feed.rpartition(".feeds.")
        if agent_address in silent:
            unanswered[feed] = "no answer"
            continue
        try:
            await _fetch(agent, intake, agent_address, feed_name, first, last, deliver)
        except TransportLost as exc:  # the hub went: the next join asks again
            log.info("catching up stopped: %s", exc or type(exc).__name__)
            return []
        except TimeoutError:  # a frozen agent, or the hub went
            silent.add(agent_address)
            unanswered[feed] = "no answer"
        except (ApplicationError, KeyError, TypeError, ValueError) as exc:  # that feed only
            unanswered[feed] = str(getattr(exc, "error", None) or repr(exc))
    if unanswered:
        # most often an agent not (yet) back on the hub: asked again a few seconds later
        log.info(
            "no replay from %d feeds (asking again): %s",
            len(unanswered),
            ", ".join(f"{feed} ({why})" for feed, why in unanswered.items()),
        )
    return list(unanswered)


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
