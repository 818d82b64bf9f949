"""Agent: one WAMP session serving the OCS wire contract for an agent's operations and feeds.

The agent's own code registers operations and feeds in its constructor; `Agent.run` then
connects to the hub and serves until it is told to stop. Nothing here schedules work before
`run`, so an `Agent` can be built and inspected in a test without a reactor. This class is
the facade agents see; each concern behind it is a module of `socs_like.runtime`.

On the wire (docs/wire.md has the whole contract):

- ``<address>``: management RPC (``get_api``), with op *summaries* instead of whole sessions;
- ``<address>.ops``: ``(action, op_name, params=None, timeout=None, password=None)``
  returning ``[code, message, session]`` (runtime/dispatch.py);
- ``<address>.feeds.<feed>``: feeds, each event ``(payload, feed_info)``;
- ``<address>.feeds.heartbeat``: ``{op_name: op_code}`` once a second (runtime/heartbeat.py);
- ``<address>.feeds.sessions``: session changes, pushed (runtime/pushes.py), so nobody
  needs to poll: status changes and messages at once, data changes alone at most once per
  ``--session-data-interval``.

Additions that OCS clients and agents never see unless they ask:

- ``start_wait``, an ops action (advertised in get_api's ``extensions``): start a task and
  wait for it in one routed call, ``(start_wait, op_name, params, timeout)``, answered like
  ``wait`` (or like ``start`` when the start is refused).
- ``replay``, a management query: ``(q="replay", feed=NAME, first=N, last=M or None)``
  answers ``{"next_seq_no": ..., "events": [[payload, feed_info], ...]}``, the records of a
  recorded feed numbered N to M still kept of what was sent (one event each, a bounded
  amount a call): a recorder that was away asks for what it missed.
- loop health (runtime/loop_health.py): the event loop's worst lag over the last heartbeat
  interval, as ``loop.lag_ms`` in get_api and ``loop_lag_ms`` in the heartbeat's feed_info.
- get_api's ``settings``: every declared setting of the agent (socs_like/settings.py) with
  its flag, type, default, help and the value in effect; a secret one's value is redacted.

The hub may come and go (runtime/hub_session.py): the agent starts without it, keeps its
operations running while it is away (feeds buffer, bounded), and re-registers when it returns.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import math
import os
import socket
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from autobahn.wamp.exception import ApplicationError
from autobahn.wamp.types import RegisterOptions

from .access import AccessPolicy
from .feed import Feed, feed_event
from .packing import unpack_blocks
from .runtime.dispatch import EXTENSIONS, MAX_MESSAGE_BYTES, Answer, OpsDispatch
from .runtime.heartbeat import Heartbeat
from .runtime.hub_session import (
    EXIT_ALREADY_RUNNING,
    EXIT_HUB_TIMEOUT,
    EXIT_OK,
    HubSession,
    Subscription,
)
from .runtime.loop_health import LAG_WARNING, LoopHealth
from .runtime.operations import Operations, OpFunc, OpSpec
from .runtime.pacer import Pacer
from .runtime.publish import publish
from .runtime.pushes import SessionPushes
from .runtime.scheduler import FeedScheduler
from .settings import NoOptions, describe
from .site_config import AgentSettings

__all__ = [
    "EXIT_ALREADY_RUNNING",
    "EXIT_HUB_TIMEOUT",
    "EXIT_OK",
    "LAG_WARNING",
    "MAX_MESSAGE_BYTES",
    "Agent",
    "OpFunc",
]

log = logging.getLogger(__name__)
T = TypeVar("T")


class Agent:
    """The framework side of one agent instance."""

    def __init__(
        self,
        settings: AgentSettings,
        *,
        agent_class: str,
        options: object | None = None,
        workers: int = 8,
        stop_grace: float = 0.3,
    ) -> None:
        self.settings = settings
        self.agent_class = agent_class
        self.options = options if options is not None else NoOptions()  # the declared settings
        self.instance_id = settings.instance_id
        self.address_root = settings.address_root
        self.address = settings.address
        self.stop_grace = stop_grace
        self.feeds: dict[str, Feed] = {}
        self._subscriptions: list[Subscription] = []
        self._on_hub_lost: list[Callable[[], None]] = []
        self._on_hub_joined: list[Callable[[], None]] = []
        self._stopped: asyncio.Future[int] | None = None
        self._pacer = Pacer(beat=self._beat, turn=self._turn)
        self._heartbeat = Heartbeat(self.register_feed("heartbeat", max_buffer=1))
        sessions_feed = self.register_feed("sessions", max_buffer=1000)
        self._pushes = SessionPushes(
            sessions_feed, self._pacer.request, settings.session_data_interval
        )
        self.operations = Operations(on_change=self._pushes.changed, workers=workers)
        self._dispatch = OpsDispatch(self.operations, AccessPolicy(settings.passwords))
        self._scheduler = FeedScheduler(self.feeds, always=(self._heartbeat.feed, sessions_feed))
        self._health = LoopHealth()
        self._hub = HubSession(
            settings,
            procedures=[
                (self.management_handler, self.address, None),
                (self._ops_rpc, f"{self.address}.ops", RegisterOptions(details_arg="details")),
            ],
            subscriptions=self._subscriptions,
            on_joined=self._hub_joined,
            on_left=self._hub_left,
            shutdown=self.shutdown,
        )

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
        spec = OpSpec(name, "task", func, None, abortable, blocking, startup, role)
        self.operations.register(spec)

    def register_process(
        self,
        name: str,
        start: OpFunc,
        stop: OpFunc | None = None,
        blocking: bool = False,
        startup: bool | dict[str, Any] = False,
        role: str = "controller",
    ) -> None:
        spec = OpSpec(name, "process", start, stop, True, blocking, startup, role)
        self.operations.register(spec)

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
            # the site config's word for this instance's feed wins over the agent's default
            buffer_time=self.settings.feed_buffer_times.get(name, buffer_time),
            agg_params=agg_params,
            max_buffer=max_buffer,
            max_event_bytes=MAX_MESSAGE_BYTES // 4,
            on_publish=self._pacer.request,
        )
        self.feeds[name] = feed
        return feed

    def unknown_feed_settings(self) -> list[str]:
        """The feeds the site config sets for this instance that the agent did not register
        (a misspelt name, or a feed of another agent class)."""
        return sorted(self.settings.feed_buffer_times.keys() - self.feeds.keys())

    def subscribe(
        self, topic: str, handler: Callable[[Any, dict[str, Any]], Any], match: str = "exact"
    ) -> None:
        """Subscribe `handler(payload, feed_info)` to a feed topic; renewed after reconnects."""
        self._subscriptions.append((topic, lambda *args, **kw: handler(*feed_event(args)), match))

    def read_hub_every(self, seconds: float) -> None:
        """Read what the hub sends at most once per `seconds` (by default, as it comes): for
        an agent that hears many events and need not act on each at once (the Registry hears
        every heartbeat of the site), one wake-up takes in many instead of one each. A call
        to the agent then waits as long, at most."""
        self._hub.read_every = seconds

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
        after a while (a call on a connection that died is never answered)."""
        return await self._hub.call(procedure, *args, **kwargs)

    async def to_thread(self, func: Callable[..., T], *args: Any) -> T:
        """Run `func(*args)` in the agent's bounded worker pool."""
        return await self.operations.to_thread(func, *args)

    @property
    def heartbeat_enabled(self) -> bool:
        return self._heartbeat.enabled

    @heartbeat_enabled.setter
    def heartbeat_enabled(self, enabled: bool) -> None:
        self._heartbeat.enabled = enabled

    # --- the ops RPC: one way in, over the hub or in-process ---------------------------------

    def ops_handler(
        self,
        action: str,
        op_name: str,
        params: dict[str, Any] | None = None,
        timeout: float | None = None,
        password: str | None = None,
        *,
        authrole: str | None = None,
    ) -> Answer:
        """Serve one request of the OCS ops RPC by a caller of role `authrole`:
        ``[code, message, session]``, or an awaitable of it (a ``wait`` on a running op)."""
        return self._dispatch.handle(action, op_name, params, timeout, password, authrole)

    def _ops_rpc(
        self,
        action: str,
        op_name: str,
        params: dict[str, Any] | None = None,
        timeout: float | None = None,
        password: str | None = None,
        details: Any = None,
    ) -> Any:
        # The hub discloses the caller's role with each call (None from a hub without
        # authentication).
        role = getattr(details, "caller_authrole", None)
        answer = self.ops_handler(action, op_name, params, timeout, password, authrole=role)
        return asyncio.ensure_future(answer) if inspect.isawaitable(answer) else answer

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
        # in OCS's lists (a recorded feed may keep packed columns, packing.py): the answer's
        # reader may be anyone's, and it is small
        kept_events = kept.replay(first, last, MAX_MESSAGE_BYTES // 4)
        events = [(unpack_blocks(payload), info) for payload, info in kept_events]
        return {"next_seq_no": kept.next_seq_no, "events": events}

    def api(self) -> dict[str, Any]:
        return {
            "agent_class": self.agent_class,
            "instance_hostname": socket.gethostname(),
            "instance_pid": os.getpid(),
            "feeds": [[name, feed.encoded()] for name, feed in self.feeds.items()],
            "tasks": self.operations.listing("task"),
            "processes": self.operations.listing("process"),
            "extensions": list(EXTENSIONS),
            "loop": self.loop_health(),
            "settings": describe(self.options),
        }

    @property
    def loop_lag(self) -> float:
        """The loop's worst lag (s) in the last heartbeat interval."""
        return self._health.lag

    def loop_health(self) -> dict[str, float | int]:
        """The loop's worst lag in the last heartbeat interval, and stalls since the start."""
        return self._health.as_dict()

    # --- the beat and the publishing turn (runtime/pacer.py says when) ----------------------

    def _beat(self, now: float) -> None:
        lag = self._health.measure()
        for feed in self.feeds.values():
            feed.tick(now)
        self._heartbeat.beat(self.operations.op_codes(), lag)
        self._pushes.push(now, self.operations.running())  # data changes, once due
        self._hub.check_timeout(now)

    def _turn(self, now: float) -> float:
        if self._pushes.pending:
            self._pushes.push(now)
        wamp = self._hub.wamp
        if wamp is None:
            return math.inf  # feeds buffer until the hub is back
        batches, wait = self._scheduler.turn(now, self._hub.write_buffered())
        for batch in batches:
            publish(
                wamp, batch.feed, batch.events, self._pacer.request, self.settings.feed_audience
            )
        return wait

    # --- the hub's comings and goings --------------------------------------------------------

    def _hub_joined(self, first: bool) -> None:
        self._pacer.request()  # what waited while the hub was away
        for callback in self._on_hub_joined:
            callback()
        if first:
            for spec in self.operations.specs.values():
                if spec.startup is not False:
                    params = spec.startup if isinstance(spec.startup, dict) else None
                    _, message, _ = self._dispatch.start(spec, params)
                    log.info("startup: %s", message)

    def _hub_left(self, was_joined: bool) -> None:
        if was_joined:
            for callback in self._on_hub_lost:
                callback()
        # What the lost connection carried unacknowledged goes again after the re-join
        # (autobahn's Component sessions never fail their outstanding requests).
        for feed in self.feeds.values():
            feed.release_all()

    # --- life cycle --------------------------------------------------------------------------

    async def run(self) -> int:
        """Serve until `shutdown`; returns the process exit code."""
        loop = asyncio.get_running_loop()
        self._stopped = loop.create_future()
        for name in self.unknown_feed_settings():
            log.warning("the site config sets feed %r, which this agent does not have", name)
        self._pushes.start(loop)
        self._hub.start(loop)
        self._pacer.start()
        self._health.start()
        code = await self._stopped
        self._health.stop()
        await self.operations.stop_all(self.stop_grace)
        self._pacer.stop()
        await self._hub.stop()
        return code

    def shutdown(self, code: int = EXIT_OK) -> None:
        """Ask `run` to stop all operations and return `code`."""
        if self._stopped is not None and not self._stopped.done():
            self._stopped.set_result(code)

    @property
    def blocked_threads(self) -> bool:
        """True when a blocking op is still running in a worker thread."""
        return self.operations.blocked_threads
