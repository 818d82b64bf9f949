"""Putting a feed's events on the hub; a recorded feed's are held until the hub has them.

A recorded feed's event is published with acknowledgement: acknowledged, the feed forgets it;
lost with its connection, it waits again in the feed (sent again after the re-join); refused
by the hub, it is dropped and counted. A plain feed's event is published and forgotten.

A recorded feed's event goes out in two forms on the same topic, each to its own audience
(packing.py's `Audience`): packed blocks to the sessions only our code has (publish option
``eligible_authrole``), and OCS's lists to everyone else (``exclude_authrole``), the lists copy
only when the site's hub lets someone else in (a legacy endpoint, anonymous observers). The
hub then routes each subscriber exactly one copy, whoever it is. The packed copy is the one
held until the hub acknowledges it; the lists copy goes along, fire and forget (sent again
with it after a lost connection). On a hub that is not ours (our agent did not join as
``agent``) the roles mean nothing there: the lists go to everyone, as before.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from autobahn.wamp.exception import ApplicationError, TransportLost
from autobahn.wamp.types import PublishOptions

from ..feed import Feed
from ..packing import PACKED_KEY, PACKED_VERSION, Audience, pack_blocks, unpack_blocks

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
    audience: Audience,
) -> None:
    """Publish `events` of `feed` on the joined session `wamp`; `on_returned` is called when
    a held event went back to the feed to be sent again."""
    for payload, info in events:
        if feed.record:
            _publish_held(wamp, feed, payload, info, on_returned, audience)
        else:
            wamp.publish(feed.address, [payload, info], options=TO_ME_TOO)


def _publish_held(
    wamp: Any,
    feed: Feed,
    payload: Any,
    info: dict[str, Any],
    on_returned: Callable[[], None],
    audience: Audience,
) -> None:
    seq_no = info["seq_no"]
    try:
        if wamp.authrole == "agent":
            packed = [pack_blocks(payload), info | {PACKED_KEY: PACKED_VERSION}]
            roles = list(audience.packed_roles)
            options = PublishOptions(acknowledge=True, exclude_me=False, eligible_authrole=roles)
            sent = wamp.publish(feed.address, packed, options=options)
            if audience.lists_copy:
                lists = PublishOptions(exclude_me=False, exclude_authrole=roles)
                wamp.publish(feed.address, [unpack_blocks(payload), info], options=lists)
        else:
            lists_only = [unpack_blocks(payload), info]
            sent = wamp.publish(feed.address, lists_only, options=HELD_AND_TO_ME_TOO)
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
