"""Putting a feed's events on the hub; a recorded feed's are held until the hub has them.

A recorded feed's event is published with acknowledgement: acknowledged, the feed forgets it;
lost with its connection, it waits again in the feed (sent again after the re-join); refused
by the hub, it is dropped and counted. A plain feed's event is published and forgotten.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from autobahn.wamp.exception import ApplicationError, TransportLost
from autobahn.wamp.types import PublishOptions

from ..feed import Feed

log = logging.getLogger(__name__)

# Feeds reach their own agent too when it subscribes to them (a recorder records its own
# stats, the Registry sees its own heartbeat); WAMP leaves a publisher out of its own events
# unless it asks.
TO_ME_TOO = PublishOptions(exclude_me=False)
HELD_AND_TO_ME_TOO = PublishOptions(acknowledge=True, exclude_me=False)


def connection_lost(exc: BaseException | None) -> bool:
    """Whether a failed request failed because its connection ended (autobahn fails every
    outstanding request so when a session closes), not because the hub refused it."""
    if isinstance(exc, TransportLost):
        return True
    return isinstance(exc, ApplicationError) and exc.error.startswith("wamp.close.")


def publish(
    wamp: Any,
    feed: Feed,
    events: list[tuple[Any, dict[str, Any]]],
    on_returned: Callable[[], None],
) -> None:
    """Publish `events` of `feed` on the joined session `wamp`; `on_returned` is called when
    a held event went back to the feed to be sent again."""
    for payload, info in events:
        if feed.record:
            _publish_held(wamp, feed, payload, info, on_returned)
        else:
            wamp.publish(feed.address, [payload, info], options=TO_ME_TOO)


def _publish_held(
    wamp: Any, feed: Feed, payload: Any, info: dict[str, Any], on_returned: Callable[[], None]
) -> None:
    seq_no = info["seq_no"]
    try:
        sent = wamp.publish(feed.address, [payload, info], options=HELD_AND_TO_ME_TOO)
    except TransportLost:  # the transport went while we were sending
        feed.release(seq_no)
        return
    sent.add_done_callback(lambda done: published(feed, seq_no, done, on_returned))


def published(
    feed: Feed, seq_no: int, done: asyncio.Future[Any], on_returned: Callable[[], None]
) -> None:
    """The hub's answer to the held event of `feed` that starts at `seq_no`."""
    exc = None if done.cancelled() else done.exception()
    if not done.cancelled() and exc is None:
        feed.acknowledge(seq_no)
    elif done.cancelled() or connection_lost(exc):
        feed.release(seq_no)  # sent again once we are back
        on_returned()
    else:
        log.warning("the hub refused an event of feed %s: %s", feed.name, exc)
        feed.drop_held(seq_no)
