"""Session changes pushed on the agent's ``sessions`` feed, so nobody needs to poll.

When (`PushClock`, sans-I/O): a status change or a message goes out `SESSION_PUSH_DELAY`
after the first one not yet pushed (a waiting client and the dashboard want it now); a change
of a running session's data alone at most once per ``data_interval`` (the agent's
``--session-data-interval``, 5 s by default), looked for at the agent's
once-a-second beat. A process that updates its data every second so costs the hub one event
every few seconds, not one a second. Each push carries the whole session as it is then: the
data as it stood at a status change goes out with it, and the final data with "done". A
session replaces the last of its op for every watcher, so of the sessions of one op changed
since the last push only the newest goes out: a script that calls a short task in a loop costs
one push per `SESSION_PUSH_DELAY`, not one per call.

A session whose encoding did not change since its last push is not pushed again; one too
large for an event goes out as its summary, marked ``data_too_large``, and one whose data JSON
cannot encode (a set, an object) as its summary marked ``data_not_json`` with the reason.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Iterable
from typing import Any

from ..feed import Feed
from ..ops import OpSession
from .pacer import call_on_loop

log = logging.getLogger(__name__)

# Session changes are pushed this long after the first unpushed one, so that the changes of a
# short op (starting, running, done) go out as one event after its replies, not as several
# events that the hub must route ahead of the reply a waiting client wants.
SESSION_PUSH_DELAY = 0.01


class PushClock:
    """Whether a session may be pushed now, and whether it says anything new — per op (a
    new session of an op replaces the last), with the time given by the caller."""

    def __init__(self, data_interval: float) -> None:
        self.data_interval = data_interval
        self._last: dict[str, tuple[float, dict[str, Any]]] = {}  # op -> (when, what) pushed

    def due(self, op_name: str, now: float) -> bool:
        """Whether a data change of a running session may go out: once `data_interval` has
        passed since the op's last push of any kind (a status change or a message goes out at
        once, without asking)."""
        last = self._last.get(op_name)
        return last is None or now - last[0] >= self.data_interval

    def take(self, op_name: str, encoded: dict[str, Any], now: float) -> bool:
        """Whether `encoded` differs from the op's last push; if so it is the last push now."""
        last = self._last.get(op_name)
        if last is not None and last[1] == encoded:
            return False
        self._last[op_name] = (now, encoded)
        return True


class SessionPushes:
    """Pushes on `feed`; `request_flush` asks the agent to publish soon."""

    def __init__(
        self,
        feed: Feed,
        request_flush: Callable[[], None],
        data_interval: float,
    ) -> None:
        self.feed = feed
        self.clock = PushClock(data_interval)
        self._request_flush = request_flush
        self._loop: asyncio.AbstractEventLoop | None = None
        self._dirty: dict[str, OpSession] = {}  # op -> its newest changed session
        self._timer: asyncio.TimerHandle | None = None

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Hear of changes from now on (before, there is nobody to push to)."""
        self._loop = loop

    @property
    def pending(self) -> bool:
        """Whether a session's status or messages changed since the last push."""
        return bool(self._dirty)

    def changed(self, session: OpSession) -> None:
        """`OpSession`'s on_change: called from the loop or from an op's worker thread."""
        if self._loop is not None:
            call_on_loop(self._loop, self._mark, session)

    def _mark(self, session: OpSession) -> None:
        held = self._dirty.get(session.op_name)
        if held is None or held.session_id < session.session_id:
            self._dirty[session.op_name] = session
        if self._timer is None and self._loop is not None:
            self._timer = self._loop.call_later(SESSION_PUSH_DELAY, self._due)

    def _due(self) -> None:
        self._timer = None
        self._request_flush()

    def push(self, now: float, running: Iterable[OpSession] = ()) -> None:
        """Publish the sessions whose status or messages changed, and those of `running`
        whose data changed and whose data interval has passed (`now`: monotonic s)."""
        dirty, self._dirty = self._dirty, {}
        due = {s for s in running if self.clock.due(s.op_name, now)}
        for session in sorted(due.union(dirty.values()), key=lambda s: s.session_id):
            encoded = session.encoded()
            if not self.clock.take(session.op_name, encoded, now):
                continue
            try:
                size = len(json.dumps(encoded))
            except (TypeError, ValueError) as exc:  # an op put a set, an object... in its data
                # Said once per change, and never raised: it would stop the agent's beat.
                log.warning("session data of %s is not JSON: %s", session.op_name, exc)
                encoded = session.summary() | {"data_not_json": str(exc)}
                size = len(json.dumps(encoded))
            else:
                if size > self.feed.max_event_bytes:
                    encoded = session.summary() | {"data_too_large": size}
                    size = len(json.dumps(encoded))
            # encoded() is a JSON-safe copy already: the feed need not copy it again
            self.feed.publish_json(encoded, size)
