"""The agent's session at the hub: joining, registering, re-joining after a loss, giving up.

The hub may come and go: the agent starts without it, keeps its operations running while it
is away, and registers again when it returns (autobahn's `Component` retries for ever, a
second apart at most). The agent gives up (`EXIT_HUB_TIMEOUT`) only once the hub has been
away longer than the site's ``crossbar_timeout``; it refuses to run beside another agent that
holds its address and answers there (`EXIT_ALREADY_RUNNING`). It speaks RawSocket, and pings
the hub itself (`socs_like.liveness`).
"""

from __future__ import annotations

import asyncio
import copy
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlparse

from autobahn.asyncio.component import Component
from autobahn.asyncio.wamp import Session
from autobahn.wamp.exception import ApplicationError, TransportLost
from autobahn.wamp.types import PublishOptions, RegisterOptions, SubscribeOptions

from ..liveness import keep_alive
from ..secrets import client_context
from ..site_config import AgentSettings

log = logging.getLogger(__name__)

EXIT_OK, EXIT_HUB_TIMEOUT, EXIT_ALREADY_RUNNING = 0, 1, 2
# What `HubSession.call` waits for an answer at most.
CALL_TIMEOUT = 30.0
# What leaving waits for the hub's goodbye at most.
GOODBYE_TIMEOUT = 1.0
ADDRESS_HELD = "wamp.error.procedure_already_exists"

Procedure = tuple[Callable[..., Any], str, RegisterOptions | None]
Subscription = tuple[str, Callable[..., Any], str]  # topic, handler, match


def hub_endpoint(url: str, ca_file: str | None) -> dict[str, Any]:
    """For a ``wss://`` hub: a TLS endpoint verified against `ca_file`."""
    parsed = urlparse(url)
    if parsed.scheme != "wss":
        return {}
    tls = client_context(ca_file)
    host = parsed.hostname or "localhost"
    return {"endpoint": {"type": "tcp", "host": host, "port": parsed.port or 443, "tls": tls}}


def _socket_transport(wamp: Any) -> Any:
    """The asyncio transport under a joined autobahn session (its RawSocket protocol's), or
    None."""
    return getattr(wamp.transport, "transport", None)


async def _answers(wamp: Any, address: str, timeout: float) -> bool:
    """Whether the session holding `address` answers a get_api (even with an error) within
    `timeout` s."""
    try:
        await asyncio.wait_for(wamp.call(address, "get_api"), timeout)
    except TimeoutError:
        return False
    except ApplicationError as exc:  # canceled: the hub found the holder gone meanwhile
        return exc.error not in (ApplicationError.CANCELED, ApplicationError.NO_SUCH_PROCEDURE)
    return True


def _forced(options: RegisterOptions | None) -> RegisterOptions:
    """`options` that take a registration over from the session holding it."""
    forced = copy.copy(options) if options else RegisterOptions()
    forced.force_reregister = True
    return forced


def _consume_outcome(future: asyncio.Future[Any]) -> None:
    """Read a background future's outcome so asyncio does not log it as never retrieved."""
    if not future.cancelled():
        future.exception()


class _Session(Session):
    """Notes when the hub last sent anything (`heard`), for the pings. Closes the connection
    after a goodbye a loop turn later than autobahn does: autobahn tells the Component of the
    goodbye a turn after closing, and the Component took the connection lost in between for a
    failure (logged as an error at every stop)."""

    heard = 0.0  # time.monotonic() of the hub's last message
    read_every = 0.0  # read the connection at most once per this many s (0: as data comes)
    _reading_paused = False

    def onMessage(self, msg: Any) -> None:
        self.heard = time.monotonic()
        super().onMessage(msg)
        if self.read_every and not self._reading_paused:
            transport = _socket_transport(self)
            if transport is not None:
                # what comes meanwhile waits in the kernel, and is all read in one wake-up
                self._reading_paused = True
                transport.pause_reading()
                asyncio.get_running_loop().call_later(self.read_every, self._read_again, transport)

    def _read_again(self, transport: Any) -> None:
        self._reading_paused = False
        transport.resume_reading()  # asyncio's: nothing on a connection closed meanwhile

    def disconnect(self) -> None:
        if self._session_id is None:  # left: the goodbye is still on its way to the Component
            asyncio.get_running_loop().call_soon(super().disconnect)
        else:
            super().disconnect()


class HubSession:
    """`procedures` are registered and `subscriptions` (a live list) subscribed at each join;
    then `on_joined(first)` runs. `on_left(was_joined)` runs at each loss or failed join, and
    `shutdown(code)` when the agent must not go on."""

    def __init__(
        self,
        settings: AgentSettings,
        *,
        procedures: Sequence[Procedure],
        subscriptions: Sequence[Subscription],
        on_joined: Callable[[bool], None],
        on_left: Callable[[bool], None],
        shutdown: Callable[[int], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self._procedures = procedures
        self._subscriptions = subscriptions
        self._on_joined = on_joined
        self._on_left = on_left
        self._shutdown = shutdown
        self._clock = clock
        self.wamp: Any = None  # the joined autobahn session, or None while the hub is away
        self.away_since: float | None = clock()
        self._joined_before = False
        # Why the last try to join the hub failed, once said; None after a join.
        self._join_failure: str | None = None
        self._component: Component | None = None
        self._pinging: asyncio.Future[None] | None = None
        self.read_every = 0.0  # see `Agent.read_hub_every`

    # --- what the agent asks -----------------------------------------------------------------

    async def call(self, procedure: str, *args: Any, **kwargs: Any) -> Any:
        """Call `procedure` at the hub; `TransportLost` while the hub is away, `TimeoutError`
        after `CALL_TIMEOUT` (a call on a connection that died is never answered)."""
        if self.wamp is None:
            raise TransportLost("the hub is away")
        return await asyncio.wait_for(self.wamp.call(procedure, *args, **kwargs), CALL_TIMEOUT)

    def write_buffered(self) -> int:
        """Bytes waiting in the hub connection's write buffer (0 while away)."""
        transport = _socket_transport(self.wamp) if self.wamp is not None else None
        return int(transport.get_write_buffer_size()) if transport is not None else 0

    def check_timeout(self, now: float) -> None:
        """Shut the agent down once the hub has been away longer than the site allows."""
        timeout = self.settings.crossbar_timeout
        if timeout > 0 and self.away_since is not None and now - self.away_since > timeout:
            log.error("the hub has been away for more than %.0f s: giving up", timeout)
            self._shutdown(EXIT_HUB_TIMEOUT)

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Join the hub, and join again after each loss, until `stop`."""
        settings = self.settings
        component = Component(
            transports=[
                {
                    "type": "rawsocket",
                    "url": settings.hub_url,
                    "serializer": "msgpack",
                    "max_retries": -1,
                    "initial_retry_delay": 0.1,
                    "max_retry_delay": 1.0,
                    "retry_delay_growth": 1.5,
                    "retry_delay_jitter": 0.1,
                    **hub_endpoint(settings.hub_url, settings.ca_file),
                }
            ],
            realm=settings.realm,
            session_factory=_Session,
            authentication=(
                settings.credentials.component_auth() if settings.credentials else None
            ),
        )
        component.on("join", self._on_join)
        component.on("connectfailure", self._on_connect_failure)
        component.on("leave", self._on_leave)
        component.on("disconnect", self._on_leave)
        running = component.start(loop=loop)
        # The component's own future fails when we stop it mid-retry; that is expected.
        running.add_done_callback(_consume_outcome)
        self._component = component

    async def stop(self) -> None:
        """Say goodbye to the hub (a moment at most) and stop joining it."""
        self.wamp = None
        if self._pinging is not None:
            self._pinging.cancel()
        component, self._component = self._component, None
        if component is None:
            return
        stopping = asyncio.ensure_future(component.stop())
        stopping.add_done_callback(_consume_outcome)
        try:
            await asyncio.wait_for(asyncio.shield(stopping), GOODBYE_TIMEOUT)
        except TimeoutError:
            log.warning("the hub did not answer our goodbye in time; leaving anyway")
        except Exception:  # a hub already gone makes the goodbye fail: we leave all the same
            pass

    # --- the component's events --------------------------------------------------------------

    async def _on_join(self, wamp: Any, details: Any) -> None:
        address = self.settings.address
        keep_alive(
            _socket_transport(wamp).get_extra_info("socket"),
            self.settings.ping_interval,
            self.settings.ping_timeout,
        )
        try:
            await self._register(wamp)
            for topic, handler, match in self._subscriptions:
                await wamp.subscribe(handler, topic, SubscribeOptions(match=match))
        except ApplicationError as exc:
            if exc.error == ADDRESS_HELD:
                log.error('an agent at "%s" is already running: not starting a second one', address)
            else:
                log.error("the hub refused our registration: %s", exc.error_message())
            self._shutdown(EXIT_ALREADY_RUNNING)
            return
        self.wamp = wamp
        wamp.read_every = self.read_every  # after the registrations, which it would slow
        self.away_since = None
        self._join_failure = None
        log.info("joined the hub at %s as %s", self.settings.hub_url, address)
        first = not self._joined_before
        self._joined_before = True
        if self._pinging is not None:  # the last connection's: it would end at its next wake
            self._pinging.cancel()
        self._pinging = asyncio.ensure_future(self._ping(wamp))
        self._on_joined(first)

    async def _register(self, wamp: Any) -> None:
        """Register our procedures; if another session holds our address, take them over
        unless that session answers there: after a partition the hub may not yet have found
        our own old session dead."""
        taking_over = False
        for handler, uri, options in self._procedures:
            try:
                await wamp.register(handler, uri, _forced(options) if taking_over else options)
                continue
            except ApplicationError as exc:
                address = self.settings.address
                held = exc.error == ADDRESS_HELD and not taking_over
                if not held or await _answers(wamp, address, self.settings.ping_timeout):
                    raise
            log.warning(
                'our address "%s" was still held at the hub by a session that does not '
                "answer (most likely our own, lost): taking it over",
                address,
            )
            taking_over = True
            await wamp.register(handler, uri, _forced(options))

    async def _ping(self, wamp: _Session) -> None:
        """While `wamp` is our session, ask the hub for an answer once it has sent nothing
        for ping_interval s (an agent that hears acknowledgements or events does not ask);
        drop the connection when one is late by ping_timeout s (see `socs_like.liveness`)."""
        interval, timeout = self.settings.ping_interval, self.settings.ping_timeout
        # Delivered to nobody: only our own session is eligible, and a publisher is excluded.
        options = PublishOptions(acknowledge=True, eligible=[wamp.session_id])
        while True:
            await asyncio.sleep(max(0.0, wamp.heard + interval - time.monotonic()))
            if self.wamp is not wamp:
                return
            if time.monotonic() - wamp.heard < interval:
                continue  # heard from the hub meanwhile
            try:
                answer = wamp.publish(self.settings.address, options=options)
                await asyncio.wait_for(answer, timeout)
            except TimeoutError:
                log.warning("the hub has not answered for %.0f s: dropping the connection", timeout)
                _socket_transport(wamp).abort()
                return
            except Exception:  # the connection went meanwhile: `_on_leave` says so
                return

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
        was_joined = self.wamp is not None
        if was_joined:
            log.warning("lost the hub; operations go on, feeds buffer until it is back")
        self.wamp = None
        if self.away_since is None:
            self.away_since = self._clock()
        self._on_left(was_joined)
