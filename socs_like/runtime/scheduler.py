"""Which feed events go out in this loop turn — sans-I/O (the caller gives the time and the
bytes waiting in the socket, and publishes what it is handed).

Overload: feed events published in one loop turn add up to at most `PUBLISH_BUDGET` estimated
bytes (serialising them holds the loop, ~25 MB/s of JSON), and none are published while more
than `HIGH_WATER` bytes wait in the socket's write buffer (a ping queued behind them would
wait until the hub has read them all). What cannot go out waits in the feeds' bounded buffers,
which drop the oldest and count it. The heartbeat and session pushes (`always`) always go out.

A recorded feed's events are held until the hub acknowledges them (feed.py, publish.py), so a
connection that dies silently loses nothing. While `UNACKED_WINDOW` estimated bytes await
acknowledgement the feed sends no more: a hub that stopped answering (a half-open connection,
not yet noticed by the pings) costs a bounded window, and the rest waits in the feed's bounded
buffer. A feed with a ``buffer_time`` goes out at most once per that time.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from ..feed import Feed

PUBLISH_BUDGET = 512 * 1024
HIGH_WATER = 2 * 1024 * 1024
UNACKED_WINDOW = 4 * 1024 * 1024
# How soon to look again at a feed that waits for acknowledgements (or for the loss of its
# connection), and at one that waits for the socket to drain.
ACK_RETRY = 0.05
DRAIN_RETRY = 0.005


@dataclass(frozen=True)
class Batch:
    feed: Feed
    events: list[tuple[Any, dict[str, Any]]]


class FeedScheduler:
    """The publish budget over `feeds` (a live mapping: feeds registered later count too)."""

    def __init__(self, feeds: Mapping[str, Feed], always: Collection[Feed]) -> None:
        self.feeds = feeds
        self.always = always
        self._last_flush: dict[str, float] = {}

    def turn(self, now: float, write_buffered: int) -> tuple[list[Batch], float]:
        """The events to publish now, and the seconds until a turn is due again (`math.inf`
        when nothing waits); a recorded feed's events are taken held."""
        batches: list[Batch] = []
        wait = math.inf
        budget = PUBLISH_BUDGET
        congested = write_buffered > HIGH_WATER
        for name, feed in list(self.feeds.items()):
            if not feed.pending:
                continue
            due = self._last_flush.get(name, 0.0) + feed.buffer_time
            if now < due:
                wait = min(wait, due - now)
                continue
            if feed in self.always:
                events, _ = feed.take(None)
            elif feed.held_bytes > UNACKED_WINDOW:
                wait = min(wait, ACK_RETRY)
                continue
            elif congested or budget <= 0:
                # Try again soon: at once for a spent budget (other callbacks run first),
                # after a moment for a socket that must drain.
                wait = min(wait, DRAIN_RETRY if congested else 0.0)
                continue
            else:
                events, size = feed.take(budget, hold=feed.record)
                budget -= size
            if feed.pending:
                wait = 0.0  # a backlog: more next turn, after the loop's other work
            else:
                self._last_flush[name] = now
            batches.append(Batch(feed, events))
        return batches, wait
