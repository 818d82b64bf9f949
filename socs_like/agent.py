"""Agent: one WAMP session serving the OCS wire contract for an agent's operations and feeds.

The agent's own code registers operations and feeds in its constructor; `Agent.run` then
connects to the hub and serves until it is told to stop. Nothing here schedules work before
`run`, so an `Agent` can be built and inspected in a test without a reactor.

On the wire (docs/wire.md has the whole contract):

- ``<address>``: management RPC (``get_api``), with op *summaries* instead of whole sessions;
- ``<address>.ops``: ``(action, op_name, params=None, timeout=None, password=None)``
  returning ``[code, message, session]``;
- ``<address>.feeds.<feed>``: feeds, each event ``(payload, feed_info)``;
- ``<address>.feeds.heartbeat``: ``{op_name: op_code}`` once a second;
- ``<address>.feeds.sessions``: every session change, pushed (status and messages within
  `SESSION_PUSH_DELAY`, data changes at most once a second), so nobody needs to poll.

Two additions that OCS clients and agents never see unless they ask:

- ``start_wait``, an ops action (advertised in get_api's ``extensions``): start a task and
  wait for it in one routed call, ``(start_wait, op_name, params, timeout)``, answered like
  ``wait`` (or like ``start`` when the start is refused).
- ``replay``, a management query: ``(q="replay", feed=NAME, first=N, last=M or None)``
  answers ``{"next_seq_no": ..., "events": [[payload, feed_info], ...]}``, the records of a
  recorded feed numbered N to M still kept of what was sent (one event each, a bounded
  amount a call): a recorder that was away asks for what it missed.
- loop health: the event loop's worst lag over the last heartbeat interval, as
  ``loop.lag_ms`` in get_api and ``loop_lag_ms`` in the heartbeat's feed_info (with ``time``,
  when it was sent); a warning is logged each interval it passes `LAG_WARNING`.

The hub may come and go: the agent starts without it, keeps its operations running while it
is away (feeds buffer, bounded), and re-registers when it returns.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import inspect
import json
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlparse

from autobahn.asyncio.component import Component
from autobahn.wamp.exception import ApplicationError, TransportLost
from autobahn.wamp.types import PublishOptions, RegisterOptions, SubscribeOptions

from .access import OP_ROLES, AccessPolicy
from .feed import Feed, feed_event
from .ops import OpFailed, OpSession, ParamError, ParamSpec, ResponseCode, check_params
from .secrets import client_context
from .site_config import AgentSettings
from .watchdog import LoopWatchdog

log = logging.getLogger(__name__)
T = TypeVar("T")

OpFunc = Callable[[OpSession, dict[str, Any]], Any]

# Crossbar's default limit for one WebSocket message; our events and replies stay below it.
MAX_MESSAGE_BYTES = 1024 * 1024
EXIT_OK, EXIT_HUB_TIMEOUT, EXIT_ALREADY_RUNNING = 0, 1, 2
# Session changes are pushed this long after the first unpushed one, so that the changes of a
# short op (starting, running, done) go out as one event after its replies, not as several
# events that the hub must route ahead of the reply a waiting client wants.
SESSION_PUSH_DELAY = 0.01
# The ops RPC actions this agent offers beyond OCS's; get_api lists them as "extensions".
EXTENSIONS = ("start_wait",)
# Loop lag (seconds) past which the agent warns: a ping or a call waits that long for an
# answer. The watchdog wakes every LAG_PROBE s; longer would miss short stalls, shorter costs
# CPU in every one of a site's agents.
LAG_WARNING = 0.25
LAG_PROBE = 0.1
# Overload: feed events published in one loop turn add up to at most PUBLISH_BUDGET estimated
# bytes (serialising them holds the loop, ~25 MB/s of JSON), and none are published while
# more than HIGH_WATER bytes wait in the socket's write buffer (a ping queued behind them
# would wait until the hub has read them all). What cannot go out waits in the feeds' bounded
# buffers, which drop the oldest and count it. Heartbeat and session pushes always go out.
PUBLISH_BUDGET = 512 * 1024
HIGH_WATER = 2 * 1024 * 1024
# A recorded feed's events are published with acknowledgement and held until the hub has
# them (feed.py), so a connection that dies silently loses nothing. While this many estimated
# bytes await acknowledgement the feed sends no more: a hub that stopped answering (half-open
# connection, not yet noticed by the pings) costs a bounded window, and the rest waits in
# the feed's bounded buffer.
UNACKED_WINDOW = 4 * 1024 * 1024
# Recorded feeds reach their own agent too when it subscribes to them (a recorder records its
# own stats); WAMP leaves a publisher out of its own events unless it asks.
HELD_AND_TO_ME_TOO = PublishOptions(acknowledge=True, exclude_me=False)
# What `Agent.call` waits for an answer at most.
CALL_TIMEOUT = 30.0


@dataclass(frozen=True)
class _Op:
    name: str
    kind: str  # "task" or "process"
    func: OpFunc
    stopper: OpFunc | None  # a process's stop function
    abortable: bool  # a task that watches session.stop_requested
    blocking: bool
    startup: bool | dict[str, Any]
    role: str = "controller"  # the role a caller needs to start or stop it

    def info(self) -> dict[str, Any]:
        info: dict[str, Any] = {
            "blocking": self.blocking,
            "docstring": inspect.getdoc(self.func),
            "op_type": self.kind,
        }
        if self.kind == "task":
            info["abortable"] = self.abortable
        if self.role != "controller":  # an extra key, as params: only for admin ops
            info["role"] = self.role
        specs: dict[str, ParamSpec] = getattr(self.func, "_socs_params", {})
        if specs:  # an extra key: OCS clients read only the ones they know
            info["params"] = [spec.described() for spec in specs.values()]
        return info


class Agent:
    """The framework side of one agent instance."""

    def __init__(
        self,
        settings: AgentSettings,
        *,
        agent_class: str,
        args: argparse.Namespace | None = None,
        workers: int = 8,
        stop_grace: float = 0.3,
    ) -> None:
        self.settings = settings
        self.agent_class = agent_class
        self.args = args if args is not None else argparse.Namespace()
        self.instance_id = settings.instance_id
        self.address_root = settings.address_root
        self.address = settings.address
        self.stop_grace = stop_grace
        self.heartbeat_enabled = True
        self.feeds: dict[str, Feed] = {}
        self._ops: dict[str, _Op] = {}
        self._sessions: dict[str, OpSession] = {}
        self._runners: dict[str, asyncio.Task[None]] = {}
        self._subscriptions: list[tuple[str, Callable[..., Any], str]] = []
        self._on_hub_lost: list[Callable[[], None]] = []
        self._on_hub_joined: list[Callable[[], None]] = []
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="op")
        self._next_session_id = 0
        self._wamp: Any = None  # the joined autobahn session, or None while the hub is away
        self._stoppers: set[asyncio.Future[None]] = set()
        self._away_since: float | None = time.monotonic()
        # Why the last try to join the hub failed, once said; None after a join.
        self._join_failure: str | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake_flusher: asyncio.Event | None = None
        self._flush_requested = False
        self._dirty_sessions: set[OpSession] = set()
        self._push_timer: asyncio.TimerHandle | None = None
        self._pushed_data: dict[str, str] = {}
        self._stopped: asyncio.Future[int] | None = None
        self._started_ops = False
        self._watchdog = LoopWatchdog(interval=LAG_PROBE, stall=LAG_WARNING)
        self.loop_lag = 0.0  # worst loop lag (s) in the last heartbeat interval
        self._access = AccessPolicy(settings.passwords)
        self._heartbeat = self.register_feed("heartbeat", max_buffer=1)
        self._sessions_feed = self.register_feed("sessions", max_buffer=1000)

    # --- registration (the agent's constructor calls these) --------------------------------

    def register_task(
        self,
        name: str,
        func: OpFunc,
        abortable: bool = False,
        blocking: bool = False,
        startup: bool | dict[str, Any] = False,
        role: str = "controller",
    ) -> None:
        """Register a task. An abortable task watches ``session.stop_requested`` (or awaits
        ``session.sleep``) and returns when an abort sets it. `role` is what a caller needs
        to start or abort it: ``controller`` or ``admin``."""
        self._register(_Op(name, "task", func, None, abortable, blocking, startup, role))

    def register_process(
        self,
        name: str,
        start: OpFunc,
        stop: OpFunc | None = None,
        blocking: bool = False,
        startup: bool | dict[str, Any] = False,
        role: str = "controller",
    ) -> None:
        self._register(_Op(name, "process", start, stop, True, blocking, startup, role))

    def _register(self, op: _Op) -> None:
        if op.role not in OP_ROLES:
            raise ValueError(f"operation {op.name!r}: role must be one of {OP_ROLES}")
        if op.name in self._ops:
            raise ValueError(f"operation {op.name!r} is registered twice")
        if not op.blocking and not inspect.iscoroutinefunction(op.func):
            raise TypeError(
                f"operation {op.name!r}: give an async function, or register it with blocking=True"
            )
        self._ops[op.name] = op

    def register_feed(
        self,
        name: str,
        record: bool = False,
        buffer_time: float = 0.0,
        agg_params: Mapping[str, Any] | None = None,
        max_buffer: int = 100_000,
    ) -> Feed:
        if name in self.feeds:
            raise ValueError(f"feed {name!r} is registered twice")
        feed = Feed(
            self.address,
            name,
            agent_class=self.agent_class,
            record=record,
            buffer_time=buffer_time,
            agg_params=agg_params,
            max_buffer=max_buffer,
            max_event_bytes=MAX_MESSAGE_BYTES // 4,
            on_publish=self._request_flush,
        )
        self.feeds[name] = feed
        return feed

    def subscribe(
        self, topic: str, handler: Callable[[Any, dict[str, Any]], Any], match: str = "exact"
    ) -> None:
        """Subscribe `handler(payload, feed_info)` to a feed topic; renewed after reconnects."""
        self._subscriptions.append((topic, lambda *args, **kw: handler(*feed_event(args)), match))

    def on_hub_lost(self, callback: Callable[[], None]) -> None:
        """Call `callback()` (on the loop) each time the joined hub is lost: what is published
        until the subscriptions are renewed after the re-join does not reach this agent."""
        self._on_hub_lost.append(callback)

    def on_hub_joined(self, callback: Callable[[], None]) -> None:
        """Call `callback()` (on the loop) each time the agent has joined the hub, once its
        subscriptions are in place."""
        self._on_hub_joined.append(callback)

    async def call(self, procedure: str, *args: Any, **kwargs: Any) -> Any:
        """Call `procedure` at the hub; `TransportLost` while the hub is away, `TimeoutError`
        after `CALL_TIMEOUT` (a call on a connection that died is never answered)."""
        if self._wamp is None:
            raise TransportLost("the hub is away")
        return await asyncio.wait_for(self._wamp.call(procedure, *args, **kwargs), CALL_TIMEOUT)

    async def to_thread(self, func: Callable[..., T], *args: Any) -> T:
        """Run `func(*args)` in the agent's bounded worker pool."""
        return await asyncio.get_running_loop().run_in_executor(self._pool, func, *args)

    # --- the ops RPC -------------------------------------------------------------------------

    def ops_handler(
        self,
        action: str,
        op_name: str,
        params: dict[str, Any] | None = None,
        timeout: float | None = None,
        password: str | None = None,
    ) -> list[Any] | Awaitable[list[Any]]:
        """Serve one request of the OCS ops RPC: ``[code, message, session]``.

        Only a ``wait`` on a running op answers later (an awaitable); every other request is
        answered at once, without a round through the event loop's task machinery.
        """
        op = self._ops.get(op_name)
        if op is None:
            return [int(ResponseCode.ERROR), f'No task or process called "{op_name}".', {}]
        session = self._sessions.get(op_name)
        if action == "start":
            return self._start(op, params)
        if action == "start_wait":
            started = self._start(op, params)
            if started[0] != ResponseCode.OK:
                return started
            return self._wait(self._sessions[op_name], timeout)
        if action == "status":
            if session is None:
                return [int(ResponseCode.OK), "No session active.", {}]
            return self._reply(ResponseCode.OK, "Session active.", session)
        if action == "wait":
            if session is None:
                return [int(ResponseCode.OK), "Idle.", {}]
            if session.status == "done":
                return self._reply(ResponseCode.OK, f'Operation "{op_name}" is done.', session)
            return self._wait(session, timeout)
        if action in ("stop", "abort"):
            wanted = "stop" if op.kind == "process" else "abort"
            if action != wanted:
                return [
                    int(ResponseCode.ERROR),
                    f'"{op_name}" is a {op.kind}: use {wanted}, not {action}.',
                    {},
                ]
            if not op.abortable:
                return [int(ResponseCode.ERROR), f'Task "{op_name}" cannot be aborted.', {}]
            if session is None or session.status == "done":
                return [
                    int(ResponseCode.ERROR),
                    f'Operation "{op_name}" is not running.',
                    session.summary() if session else {},
                ]
            self._request_stop(op, session, params or {})
            return self._reply(
                ResponseCode.OK, f'Requested {action} on {op.kind} "{op_name}".', session
            )
        return [int(ResponseCode.ERROR), f'Unknown action "{action}".', {}]

    async def _wait(self, session: OpSession, timeout: float | None) -> list[Any]:
        if await session.wait_done(timeout):
            return self._reply(ResponseCode.OK, f'Operation "{session.op_name}" is done.', session)
        return self._reply(
            ResponseCode.TIMEOUT,
            f'Operation "{session.op_name}" still running; wait timed out.',
            session,
        )

    def _ops_rpc(
        self,
        action: str,
        op_name: str,
        params: dict[str, Any] | None = None,
        timeout: float | None = None,
        password: str | None = None,
        details: Any = None,
    ) -> Any:
        op = self._ops.get(op_name)
        if op is not None:
            refusal = self._access.refusal(
                action, op_name, op.role, getattr(details, "caller_authrole", None), password
            )
            if refusal is not None:
                return [int(ResponseCode.ERROR), refusal, {}]
        answer = self.ops_handler(action, op_name, params, timeout)
        if inspect.isawaitable(answer):
            return asyncio.ensure_future(answer)
        return answer

    def _reply(self, code: ResponseCode, message: str, session: OpSession) -> list[Any]:
        encoded = session.encoded()
        size = len(json.dumps(encoded))
        if size > MAX_MESSAGE_BYTES - 4096:
            return [
                int(ResponseCode.ERROR),
                f'Session data of "{session.op_name}" is {size} bytes, over the '
                f"{MAX_MESSAGE_BYTES}-byte message limit; the agent must keep less in "
                "session.data (this reply leaves the data out).",
                session.summary(),
            ]
        return [int(code), message, encoded]

    def _start(self, op: _Op, params: dict[str, Any] | None) -> list[Any]:
        current = self._sessions.get(op.name)
        if current is not None and current.status != "done":
            return self._reply(
                ResponseCode.ERROR, f'Operation "{op.name}" already in progress.', current
            )
        if params is not None and not isinstance(params, dict):
            return [int(ResponseCode.ERROR), "params must be a dict of parameter names.", {}]
        try:
            checked = check_params(op.func, params)
        except ParamError as exc:
            return [int(ResponseCode.ERROR), f'Bad parameters for "{op.name}": {exc}', {}]
        self._next_session_id += 1
        session = OpSession(self._next_session_id, op.name, on_change=self._session_changed)
        self._sessions[op.name] = session
        self._runners[op.name] = asyncio.ensure_future(self._run_op(op, session, checked))
        return self._reply(ResponseCode.OK, f'Started {op.kind} "{op.name}".', session)

    async def _run_op(self, op: _Op, session: OpSession, params: dict[str, Any]) -> None:
        try:
            if op.blocking:
                result = await self.to_thread(op.func, session, params)
            else:
                result = await op.func(session, params)
            ok, message = _outcome(op.name, result)
        except asyncio.CancelledError:
            ok, message = False, "Cancelled: the agent is shutting down."
        except OpFailed as exc:  # an expected failure: its message says it all
            ok, message = False, str(exc)
            log.warning("operation %s failed: %s", op.name, message)
        except Exception as exc:  # an op's failure must never take the agent down
            log.exception("operation %s failed", op.name)
            ok, message = False, f"Crashed: {type(exc).__name__}: {exc}"
        session.finish(ok, message)

    def _request_stop(self, op: _Op, session: OpSession, params: dict[str, Any]) -> None:
        session.request_stop()
        if op.kind == "task":
            session.add_message("Abort requested.")
        elif op.stopper is not None:
            stopping = asyncio.ensure_future(
                self._call_stopper(op.name, op.stopper, session, params)
            )
            self._stoppers.add(stopping)  # a task nobody references may be collected mid-run
            stopping.add_done_callback(self._stoppers.discard)

    async def _call_stopper(
        self, op_name: str, stopper: OpFunc, session: OpSession, params: dict[str, Any]
    ) -> None:
        try:
            if inspect.iscoroutinefunction(stopper):
                await stopper(session, params)
            else:
                await self.to_thread(stopper, session, params)
        except Exception as exc:
            log.exception("stopper of %s failed", op_name)
            session.add_message(f"Stop request failed: {type(exc).__name__}: {exc}")

    # --- management --------------------------------------------------------------------------

    def management_handler(self, q: str, **kwargs: Any) -> Any:
        if q == "get_api":
            return self.api()
        if q == "get_tasks":
            return self.api()["tasks"]
        if q == "get_processes":
            return self.api()["processes"]
        if q == "get_feeds":
            return self.api()["feeds"]
        if q == "get_agent_class":
            return self.agent_class
        if q == "replay":
            return self._replay(**kwargs)
        raise ApplicationError("ocs.error.unknown_query", f"unknown management query {q!r}")

    def _replay(self, feed: str, first: int, last: int | None = None) -> dict[str, Any]:
        kept = self.feeds.get(feed)
        if kept is None or not kept.record:
            raise ApplicationError("ocs.error.unknown_feed", f"no recorded feed {feed!r}")
        events = kept.replay(first, last, MAX_MESSAGE_BYTES // 4)
        return {"next_seq_no": kept.next_seq_no, "events": events}

    def api(self) -> dict[str, Any]:
        def ops(kind: str) -> list[list[Any]]:
            out = []
            for name, op in sorted(self._ops.items()):
                if op.kind != kind:
                    continue
                session = self._sessions.get(name)
                summary = (
                    session.summary() if session else {"op_name": name, "status": "no_history"}
                )
                out.append([name, summary, op.info()])
            return out

        return {
            "agent_class": self.agent_class,
            "instance_hostname": socket.gethostname(),
            "instance_pid": os.getpid(),
            "feeds": [[name, feed.encoded()] for name, feed in self.feeds.items()],
            "tasks": ops("task"),
            "processes": ops("process"),
            "extensions": list(EXTENSIONS),
            "loop": self.loop_health(),
        }

    def loop_health(self) -> dict[str, float | int]:
        """The loop's worst lag in the last heartbeat interval, and stalls since the start."""
        return {
            "lag_ms": round(self.loop_lag * 1000, 1),
            "warning_ms": round(LAG_WARNING * 1000, 1),
            "stalls": self._watchdog.stalls,
        }

    def _measure_loop(self) -> None:
        # Called once per heartbeat: the watchdog's maximum becomes this interval's gauge.
        self.loop_lag, self._watchdog.max_lag = self._watchdog.max_lag, 0.0
        if self.loop_lag > LAG_WARNING:
            log.warning(
                "the event loop was blocked for %.0f ms in the last second (warning at %.0f "
                "ms): calls, pings and feeds waited that long",
                self.loop_lag * 1000,
                LAG_WARNING * 1000,
            )

    # --- pushing sessions and feeds ----------------------------------------------------------

    def _session_changed(self, session: OpSession, urgent: bool) -> None:
        # Called from the loop or from an op's worker thread: hand over to the loop.
        loop = self._loop
        if loop is None:
            return
        if loop_is_current(loop):
            self._mark_dirty(session)
        else:
            loop.call_soon_threadsafe(self._mark_dirty, session)

    def _mark_dirty(self, session: OpSession) -> None:
        self._dirty_sessions.add(session)
        if self._push_timer is None and self._loop is not None:
            self._push_timer = self._loop.call_later(SESSION_PUSH_DELAY, self._push_due)

    def _push_due(self) -> None:
        self._push_timer = None
        self._request_flush()

    def _push_sessions(self, include_data_changes: bool) -> None:
        sessions = set(self._dirty_sessions)
        self._dirty_sessions.clear()
        if include_data_changes:
            for session in self._sessions.values():
                if session.status != "done":
                    sessions.add(session)
        for session in sorted(sessions, key=lambda s: s.session_id):
            encoded = session.encoded()
            text = json.dumps(encoded, sort_keys=True)
            key = f"{session.op_name}:{session.session_id}"
            if self._pushed_data.get(key) == text:
                continue
            self._pushed_data[key] = text
            if len(text) > self._sessions_feed.max_event_bytes:
                encoded = session.summary() | {"data_too_large": len(text)}
            self._sessions_feed.publish(encoded)

    def _request_flush(self) -> None:
        # Feeds call this from any thread on every publish; wake the flusher once.
        if self._flush_requested or self._loop is None:
            return
        self._flush_requested = True
        if loop_is_current(self._loop):
            self._wake()
        else:
            self._loop.call_soon_threadsafe(self._wake)

    def _wake(self) -> None:
        if self._wake_flusher is not None:
            self._wake_flusher.set()

    async def _flusher(self) -> None:
        """Publish feeds when due; heartbeat and session-data pushes once a second."""
        assert self._wake_flusher is not None
        last_flush = dict.fromkeys(self.feeds, 0.0)
        next_beat = time.monotonic()
        always = (self._heartbeat, self._sessions_feed)
        while True:
            now = time.monotonic()
            if now >= next_beat:
                self._measure_loop()
                for feed in self.feeds.values():
                    feed.tick(now)
                # When it was sent (UNIX s), so a listener can tell how long the hub took.
                self._heartbeat.info_extra["time"] = time.time()
                self._heartbeat.info_extra["loop_lag_ms"] = round(self.loop_lag * 1000, 1)
                if self.heartbeat_enabled:
                    self._heartbeat.publish(
                        {
                            name: int(self._sessions[name].op_code) if name in self._sessions else 1
                            for name in self._ops
                        }
                    )
                self._push_sessions(include_data_changes=True)
                next_beat = now + 1.0
                self._check_hub_timeout(now)
            elif self._dirty_sessions:
                self._push_sessions(include_data_changes=False)
            self._flush_requested = False
            wait = next_beat - now
            if self._wamp is not None:
                budget = PUBLISH_BUDGET
                congested = _write_buffer_size(self._wamp) > HIGH_WATER
                for name, feed in list(self.feeds.items()):
                    if not feed.pending:
                        continue
                    due = last_flush.get(name, 0.0) + feed.buffer_time
                    if now < due:
                        wait = min(wait, due - now)
                        continue
                    if feed in always:
                        events, _ = feed.take(None)
                    elif feed.held_bytes > UNACKED_WINDOW:
                        wait = min(wait, 0.05)  # until acknowledgements come, or the loss
                        continue
                    elif congested or budget <= 0:
                        # Try again soon: at once for a spent budget (other callbacks run
                        # first), after a moment for a socket that must drain.
                        wait = min(wait, 0.005 if congested else 0.0)
                        continue
                    else:
                        events, size = feed.take(budget, hold=feed.record)
                        budget -= size
                    if feed.pending:
                        wait = 0.0  # a backlog: more next turn, after the loop's other work
                    else:
                        last_flush[name] = now
                    for payload, info in events:
                        if feed.record:
                            self._publish_held(feed, payload, info)
                        else:
                            self._wamp.publish(feed.address, [payload, info])
            self._wake_flusher.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake_flusher.wait(), max(wait, 0.001))

    def _publish_held(self, feed: Feed, payload: Any, info: dict[str, Any]) -> None:
        """Publish an event the feed holds until the hub acknowledges it."""
        seq_no = info["seq_no"]
        try:
            sent = self._wamp.publish(feed.address, [payload, info], options=HELD_AND_TO_ME_TOO)
        except TransportLost:  # the transport went while we were sending
            feed.release(seq_no)
            return
        sent.add_done_callback(lambda done: self._published(feed, seq_no, done))

    def _published(self, feed: Feed, seq_no: int, done: asyncio.Future[Any]) -> None:
        exc = None if done.cancelled() else done.exception()
        if not done.cancelled() and exc is None:
            feed.acknowledge(seq_no)
        elif done.cancelled() or _connection_lost(exc):
            feed.release(seq_no)  # sent again once we are back
            self._request_flush()
        else:
            log.warning("the hub refused an event of feed %s: %s", feed.name, exc)
            feed.drop_held(seq_no)

    def _check_hub_timeout(self, now: float) -> None:
        timeout = self.settings.crossbar_timeout
        if timeout > 0 and self._away_since is not None and now - self._away_since > timeout:
            log.error("the hub has been away for more than %.0f s: giving up", timeout)
            self.shutdown(EXIT_HUB_TIMEOUT)

    # --- connection ----------------------------------------------------------------------------

    async def _on_join(self, wamp: Any, details: Any) -> None:
        _set_tcp_nodelay(wamp)
        try:
            await wamp.register(self.management_handler, self.address)
            await wamp.register(
                self._ops_rpc, f"{self.address}.ops", RegisterOptions(details_arg="details")
            )
            for topic, handler, match in self._subscriptions:
                await wamp.subscribe(handler, topic, SubscribeOptions(match=match))
        except ApplicationError as exc:
            if exc.error == "wamp.error.procedure_already_exists" and self._started_ops:
                # We were joined before: what holds our address is most likely our own old
                # session, on a connection the hub has not yet found dead (a partition that
                # closed no socket). It goes within the hub's ping time-out; so do not exit,
                # drop this connection and join again.
                log.warning(
                    'our address "%s" is still held at the hub, most likely by our own lost '
                    "session; joining again in a moment",
                    self.address,
                )
                wamp.disconnect()
            elif exc.error == "wamp.error.procedure_already_exists":
                log.error(
                    'an agent at "%s" is already running: not starting a second one', self.address
                )
                self.shutdown(EXIT_ALREADY_RUNNING)
            else:
                log.error("the hub refused our registration: %s", exc.error_message())
                self.shutdown(EXIT_ALREADY_RUNNING)
            return
        was_away = self._away_since
        self._wamp = wamp
        self._away_since = None
        self._join_failure = None
        log.info("joined the hub at %s as %s", self.settings.hub_url, self.address)
        if was_away is not None:
            self._request_flush()
        for callback in self._on_hub_joined:
            callback()
        if not self._started_ops:
            self._started_ops = True
            for op in self._ops.values():
                if op.startup is not False:
                    params = op.startup if isinstance(op.startup, dict) else None
                    _, message, _ = self._start(op, params)
                    log.info("startup: %s", message)

    def _on_connect_failure(self, component: Any, error: BaseException) -> None:
        """Say why the hub cannot be joined (a wrong CA, nobody listening...) once, and again
        only when the reason changes: the component tries again for ever, a second apart."""
        cause = str(error) or type(error).__name__
        if cause != self._join_failure:
            self._join_failure = cause
            log.warning(
                "cannot join the hub at %s: %s; trying again until it works",
                self.settings.hub_url,
                cause,
            )

    def _on_leave(self, *args: Any, **kwargs: Any) -> None:
        if self._wamp is not None:
            log.warning("lost the hub; operations go on, feeds buffer until it is back")
            for callback in self._on_hub_lost:
                callback()
        self._wamp = None
        if self._away_since is None:
            self._away_since = time.monotonic()
        # What the lost connection carried unacknowledged goes again after the re-join
        # (autobahn's Component sessions never fail their outstanding requests).
        for feed in self.feeds.values():
            feed.release_all()

    async def run(self) -> int:
        """Serve until `shutdown`; returns the process exit code."""
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._wake_flusher = asyncio.Event()
        self._stopped = loop.create_future()
        component = Component(
            transports=[
                {
                    "type": "websocket",
                    "url": self.settings.hub_url,
                    "max_retries": -1,
                    "initial_retry_delay": 0.1,
                    "max_retry_delay": 1.0,
                    "retry_delay_growth": 1.5,
                    "retry_delay_jitter": 0.1,
                    "options": {
                        "autoPingInterval": self.settings.ping_interval,
                        "autoPingTimeout": self.settings.ping_timeout,
                        "openHandshakeTimeout": 5.0,
                        "maxMessagePayloadSize": 0,
                        "maxFramePayloadSize": 0,
                    },
                    **hub_endpoint(self.settings.hub_url, self.settings.ca_file),
                }
            ],
            realm=self.settings.realm,
            authentication=(
                self.settings.credentials.component_auth() if self.settings.credentials else None
            ),
        )
        component.on("join", self._on_join)
        component.on("connectfailure", self._on_connect_failure)
        component.on("leave", self._on_leave)
        component.on("disconnect", self._on_leave)
        running = component.start(loop=loop)
        # The component's own future fails when we stop it mid-retry; that is expected.
        running.add_done_callback(_consume_outcome)
        flusher = asyncio.ensure_future(self._flusher())
        self._watchdog.start()
        code = await self._stopped
        await self._watchdog.stop()
        await self._stop_ops()
        flusher.cancel()
        self._wamp = None
        stopping = asyncio.ensure_future(component.stop())
        stopping.add_done_callback(_consume_outcome)
        try:
            await asyncio.wait_for(asyncio.shield(stopping), 1.0)
        except TimeoutError:
            log.warning("the hub did not answer our goodbye in time; leaving anyway")
        except Exception:  # a hub already gone makes the goodbye fail: we leave all the same
            pass
        return code

    def shutdown(self, code: int = EXIT_OK) -> None:
        """Ask `run` to stop all operations and return `code`."""
        if self._stopped is not None and not self._stopped.done():
            self._stopped.set_result(code)

    async def _stop_ops(self) -> None:
        running = [(self._ops[n], s) for n, s in self._sessions.items() if s.status != "done"]
        for op, session in running:
            if op.abortable:
                self._request_stop(op, session, {})
        tasks = [self._runners[op.name] for op, _ in running]
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=self.stop_grace)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=self.stop_grace)
        # Threads of blocking ops cannot be interrupted; don't wait for them at exit.
        self._pool.shutdown(wait=False, cancel_futures=True)

    @property
    def blocked_threads(self) -> bool:
        """True when a blocking op is still running in a worker thread."""
        return any(not t.done() for t in self._runners.values())


def _outcome(op_name: str, result: Any) -> tuple[bool, str]:
    """Read an op's ``(ok, message)``; anything else is a clear failure, not a crash."""
    if isinstance(result, tuple) and len(result) == 2 and isinstance(result[0], bool):
        return result[0], str(result[1])
    return False, (
        f"operation {op_name!r} returned {result!r}; an operation must return "
        "(ok: bool, message: str)"
    )


def _consume_outcome(future: asyncio.Future[Any]) -> None:
    """Read a background future's outcome so asyncio does not log it as never retrieved."""
    if not future.cancelled():
        future.exception()


def _connection_lost(exc: BaseException | None) -> bool:
    """Whether a failed request failed because its connection ended (autobahn fails every
    outstanding request so when a session closes), not because the hub refused it."""
    if isinstance(exc, TransportLost):
        return True
    return isinstance(exc, ApplicationError) and exc.error.startswith("wamp.close.")


def _hub_transport(wamp: Any) -> Any:
    """The asyncio transport under a joined autobahn session, or None."""
    return getattr(getattr(wamp, "_transport", None), "transport", None)


def _write_buffer_size(wamp: Any) -> int:
    transport = _hub_transport(wamp)
    if transport is None:
        return 0
    return int(transport.get_write_buffer_size())


def _set_tcp_nodelay(wamp: Any) -> None:
    """Turn Nagle's algorithm off on the hub connection.

    autobahn never sets TCP_NODELAY on a client WebSocket, so the socket keeps Nagle on. A
    reply written right after another small message (a start reply followed by its session
    push) then waits for the hub's delayed ACK: ~40 ms on Linux.
    """
    transport = _hub_transport(wamp)
    sock = transport.get_extra_info("socket") if transport is not None else None
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        with contextlib.suppress(OSError):  # already closed: nothing to do
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def hub_endpoint(url: str, ca_file: str | None) -> dict[str, Any]:
    """For a ``wss://`` hub: a TLS endpoint verified against `ca_file`."""
    parsed = urlparse(url)
    if parsed.scheme != "wss":
        return {}
    tls = client_context(ca_file)
    host = parsed.hostname or "localhost"
    return {"endpoint": {"type": "tcp", "host": host, "port": parsed.port or 443, "tls": tls}}


def loop_is_current(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False
