"""Session changes pushed on the agent's ``sessions`` feed, so nobody needs to poll.

A session's status changes and messages are pushed `SESSION_PUSH_DELAY` after the first one
not yet pushed; changes of its data only with the once-a-second beat (`push` with the running
sessions). A session whose encoding did not change since its last push is not pushed again,
and one too large for an event goes out as its summary, marked ``data_too_large``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterable

from ..feed import Feed
from ..ops import OpSession
from .pacer import call_on_loop

# Session changes are pushed this long after the first unpushed one, so that the changes of a
# short op (starting, running, done) go out as one event after its replies, not as several
# events that the hub must route ahead of the reply a waiting client wants.
SESSION_PUSH_DELAY = 0.01


class SessionPushes:
    """Pushes on `feed`; `request_flush` asks the agent to publish soon."""

    def __init__(self, feed: Feed, request_flush: Callable[[], None]) -> None:
        self.feed = feed
        self._request_flush = request_flush
        self._loop: asyncio.AbstractEventLoop | None = None
        self._dirty: set[OpSession] = set()
        self._timer: asyncio.TimerHandle | None = None
        self._pushed: dict[str, str] = {}  # what each session's last push said

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Hear of changes from now on (before, there is nobody to push to)."""
        self._loop = loop

    @property
    def pending(self) -> bool:
        """Whether a session changed since the last push."""
        return bool(self._dirty)

    def changed(self, session: OpSession) -> None:
        """`OpSession`'s on_change: called from the loop or from an op's worker thread."""
        if self._loop is not None:
            call_on_loop(self._loop, self._mark, session)

    def _mark(self, session: OpSession) -> None:
        self._dirty.add(session)
        if self._timer is None and self._loop is not None:
            self._timer = self._loop.call_later(SESSION_PUSH_DELAY, self._due)

    def _due(self) -> None:
        self._timer = None
        self._request_flush()

    def push(self, running: Iterable[OpSession] = ()) -> None:
        """Publish the changed sessions, and those of `running` whose data changed."""
        sessions = self._dirty | set(running)
        self._dirty = set()
        for session in sorted(sessions, key=lambda s: s.session_id):
            encoded = session.encoded()
            text = json.dumps(encoded, sort_keys=True)
            key = f"{session.op_name}:{session.session_id}"
            if self._pushed.get(key) == text:
                continue
            self._pushed[key] = text
            if len(text) > self.feed.max_event_bytes:
                encoded = session.summary() | {"data_too_large": len(text)}
            self.feed.publish(encoded)
