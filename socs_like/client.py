"""Clients for agents: `AsyncClient` for asyncio code, `Client` (OCS-shaped) for everything else.

Both speak the OCS wire contract, so they drive socs_like agents and real OCS agents alike.
WAMP over RawSocket to our hub is the default transport (`socs_like.liveness` says how a silent
hub is found); crossbar's HTTP bridge (``/call``) is the other.
Every call has a timeout, and a connection that goes away fails the calls waiting on it with
`ClientError` instead of leaving them hanging.

`Client` runs an `AsyncClient` on an event loop in a thread of its own, so it works from
plain scripts, from a REPL, and from tests. (Agents are Twisted processes and do not use
these clients: they use `Agent.subscribe` and the hub directly.)
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import itertools
import json
import logging
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Coroutine
from typing import Any, NamedTuple, TypeVar
from urllib.parse import urlparse

from autobahn.asyncio.rawsocket import WampRawSocketClientFactory, WampRawSocketClientProtocol
from autobahn.asyncio.wamp import ApplicationSession
from autobahn.exception import Disconnected
from autobahn.wamp.exception import ApplicationError, TransportLost
from autobahn.wamp.serializer import MsgPackSerializer
from autobahn.wamp.types import ComponentConfig, SubscribeOptions

from .feed import feed_event
from .liveness import keep_alive
from .ops import ResponseCode
from .secrets import Credentials, client_context
from .signed_bridge import sign_http_query
from .site_config import (
    find_site_config,
    read_site_config,
    site_client_credentials,
    site_http_signing,
)

T = TypeVar("T")
DEFAULT_TIMEOUT = 10.0
# autobahn warns "session closed with reason ..." (through the logger txaio names after our
# session class) whenever the hub ends a session; the caller hears why from us, once
# (`HubRefused`, `ClientError`), so that line only repeated it at every retry.
logging.getLogger(f"{__name__}._Session").setLevel(logging.ERROR)
# What crossbar's HTTP bridge answers a caller its ``require_ip`` leaves out (the site
# config's ``http_bridge: loopback``), as its log category AR466 words it.
BRIDGE_REFUSES_ADDRESS = "Request denied based on IP address."
# How soon the kernel finds a silent hub (see `socs_like.liveness`): as the agents' defaults.
PING_INTERVAL = 5.0
PING_TIMEOUT = 5.0


class ClientError(Exception):
    """A call that could not be made or answered; the text says why."""


class HubRefused(ClientError):
    """The hub refused to let us join (a wrong or unknown user or secret, or no anonymous
    access): unlike a hub that cannot be reached, trying again will not help."""


class Reply(NamedTuple):
    """What every ops call returns, as OCS's OCSReply does."""

    status: int
    msg: str
    session: dict[str, Any]

    @property
    def ok(self) -> bool:
        return self.status == ResponseCode.OK


# --- transports -------------------------------------------------------------------------------


class _RawSocketProtocol(WampRawSocketClientProtocol):
    """autobahn's, quiet about a connection that ends before the hub's handshake answer:
    there is no session yet to tell, and autobahn warned "ApplicationSession.onClose raised"
    for it (the caller hears why from us)."""

    def _on_connection_lost(self, exc: Exception | None) -> None:
        if getattr(self, "_session", None) is not None:
            super()._on_connection_lost(exc)  # type: ignore[no-untyped-call]


class _WampTransport:
    def __init__(
        self,
        url: str,
        realm: str,
        timeout: float,
        credentials: Callable[[], Credentials | None] = lambda: None,
        ca_file: str | None = None,
    ) -> None:
        self.url = url
        self.realm = realm
        self.timeout = timeout
        # Read at each connection: the hub may write the secrets file after we are made.
        self.credentials = credentials
        self.ca_file = ca_file
        self._session: ApplicationSession | None = None
        # The join under way: callers that come meanwhile wait for it instead of each
        # opening a connection of their own.
        self._joining: asyncio.Future[ApplicationSession] | None = None

    @property
    def connected(self) -> bool:
        return self._session is not None and self._session.is_attached()

    @property
    def authrole(self) -> str | None:
        """The role the hub gave this session when it joined; None when not joined."""
        return self._session.authrole if self.connected else None  # type: ignore[union-attr]

    @property
    def authid(self) -> str | None:
        """Who the hub knows this session as; None when not joined."""
        return self._session.authid if self.connected else None  # type: ignore[union-attr]

    async def connect(self) -> ApplicationSession:
        if self._session is not None and self._session.is_attached():
            return self._session
        if self._joining is None:
            self._joining = asyncio.ensure_future(self._join())
            self._joining.add_done_callback(self._joined)
        joining = self._joining
        try:
            # shielded: one caller that gives up does not end the join the others wait for
            return await asyncio.shield(joining)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if joining.cancelled() and not (task and task.cancelling()):
                raise ClientError(f"closed while joining the hub at {self.url}") from None
            raise

    def _joined(self, joining: asyncio.Future[ApplicationSession]) -> None:
        self._joining = None
        if not joining.cancelled():
            joining.exception()  # a join nobody waits for any more fails quietly

    async def _join(self) -> ApplicationSession:
        loop = asyncio.get_running_loop()
        joined: asyncio.Future[ApplicationSession] = loop.create_future()
        credentials = self.credentials()

        class _Session(ApplicationSession):
            def onConnect(self) -> None:
                if credentials is None:
                    self.join(self.config.realm)
                else:
                    self.join(self.config.realm, ["wampcra"], credentials.authid)

            def onChallenge(self, challenge: Any) -> str:
                assert credentials is not None
                return credentials.signature(challenge.extra)

            def onJoin(self, details: Any) -> None:
                if not joined.done():
                    joined.set_result(self)

            def onLeave(self, details: Any) -> None:
                if not joined.done():
                    joined.set_exception(
                        HubRefused(f"the hub refused us: {details.reason}: {details.message}")
                    )
                super().onLeave(details)

            def onDisconnect(self) -> None:
                if not joined.done():
                    joined.set_exception(ClientError("the hub closed the connection"))

        parsed = urlparse(self.url)
        factory = WampRawSocketClientFactory(
            lambda: _Session(ComponentConfig(self.realm)), serializer=MsgPackSerializer()
        )
        factory.protocol = _RawSocketProtocol
        transport: asyncio.Transport | None = None
        try:
            tls = client_context(self.ca_file) if parsed.scheme == "wss" else None
            # asyncio.timeout, not wait_for: in Python 3.11 wait_for loses a close's
            # cancellation that comes as the connection is made
            async with asyncio.timeout(self.timeout):
                transport, _ = await loop.create_connection(
                    factory,
                    parsed.hostname or "localhost",
                    parsed.port or (443 if tls else 80),
                    ssl=tls,
                )
            keep_alive(transport.get_extra_info("socket"), PING_INTERVAL, PING_TIMEOUT)
            async with asyncio.timeout(self.timeout):
                session = await joined
        except (OSError, TimeoutError) as exc:
            reason = str(exc) or "timed out"  # a time-out's own text is empty
            raise ClientError(f"cannot reach the hub at {self.url}: {reason}") from None
        finally:
            if transport is not None and (joined.cancelled() or not joined.done()):
                # a hub too slow to answer, or a close meanwhile: no connection of ours stays
                transport.abort()
        self._session = session
        return session

    async def call(
        self, uri: str, *args: Any, call_timeout: float | None = None, **kwargs: Any
    ) -> Any:
        session = await self.connect()
        limit = call_timeout or self.timeout
        try:
            return await _within(session.call(uri, *args, **kwargs), limit)
        except TimeoutError:
            raise ClientError(f"no answer from {uri} in {limit:.1f} s") from None
        except (TransportLost, Disconnected):  # gone, or closing with the session not yet left
            raise ClientError(f"lost the connection to the hub while calling {uri}") from None
        except ApplicationError as exc:
            if exc.error == "wamp.error.no_such_procedure":
                raise ClientError(
                    f"no agent answers at {uri.removesuffix('.ops')}: is it running?"
                ) from None
            if "transport_lost" in exc.error or "goodbye" in exc.error:
                raise ClientError(f"lost the connection to the hub while calling {uri}") from None
            raise ClientError(f"{uri}: {exc.error}: {exc.error_message()}") from None

    async def subscribe(self, topic: str, handler: Callable[..., Any], match: str) -> None:
        session = await self.connect()
        await asyncio.wait_for(
            session.subscribe(handler, topic, SubscribeOptions(match=match)), self.timeout
        )

    async def close(self) -> None:
        if self._joining is not None:
            self._joining.cancel()
        session, self._session = self._session, None
        if session is not None and session.is_attached():
            closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

            def on_disconnect(*args: Any, **kwargs: Any) -> None:
                if not closed.done():
                    closed.set_result(None)

            session.on("disconnect", on_disconnect)
            session.leave()
            with contextlib.suppress(TimeoutError):  # no goodbye from the hub: the socket goes
                await asyncio.wait_for(closed, 1.0)


async def _within(answer: asyncio.Future[T], seconds: float) -> T:
    """`answer`, or TimeoutError once `seconds` have passed (`answer` is then cancelled, which
    autobahn tells the hub). Unlike ``asyncio.wait_for`` (Python 3.11), the caller goes on in
    the loop turn after the answer, not two."""
    expired = False

    def expire() -> None:
        nonlocal expired
        expired = answer.cancel()

    timer = asyncio.get_running_loop().call_later(seconds, expire)
    try:
        return await answer
    except asyncio.CancelledError:
        if expired:
            raise TimeoutError from None
        raise
    finally:
        timer.cancel()


class _HttpTransport:
    """crossbar's HTTP caller bridge: one POST per call, signed when `signing` (key, secret)
    is given (a bridge in ``signed`` mode refuses anything else)."""

    def __init__(
        self,
        url: str,
        timeout: float,
        signing: tuple[str, str] | None = None,
        ca_file: str | None = None,
    ) -> None:
        self.url = url
        self.timeout = timeout
        self._signing = signing
        self._seq = itertools.count(1)
        self._tls = client_context(ca_file) if url.startswith("https:") else None

    connected = True  # every call is a connection of its own

    def _post(self, uri: str, args: list[Any], kwargs: dict[str, Any], timeout: float) -> Any:
        body = json.dumps({"procedure": uri, "args": args, "kwargs": kwargs}).encode()
        url = self.url
        if self._signing is not None:
            key, secret = self._signing
            url += "?" + urllib.parse.urlencode(sign_http_query(key, secret, body, next(self._seq)))
        request = urllib.request.Request(
            url, body, {"Content-Type": "application/json"}, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout, context=self._tls) as response:
                answer = json.load(response)
        except urllib.error.HTTPError as exc:
            try:
                detail = json.load(exc)
            except ValueError:
                detail = {}
            error = detail.get("error", f"HTTP {exc.code}")
            if error == BRIDGE_REFUSES_ADDRESS:
                raise ClientError(
                    f"the hub's HTTP bridge at {self.url} takes calls from its own host only "
                    "(hub.http_bridge: loopback): call over WAMP (without --http), or set "
                    "hub.http_bridge: signed in the site config and give this host the bridge "
                    "key (socs-like secrets for-host)"
                ) from None
            if error == "wamp.error.no_such_procedure":
                raise ClientError(
                    f"no agent answers at {uri.removesuffix('.ops')}: is it running?"
                ) from None
            raise ClientError(f"{uri}: {error}: {detail.get('args', '')}") from None
        except (OSError, ValueError) as exc:
            raise ClientError(f"HTTP call to {self.url} failed: {exc}") from None
        if "error" in answer:
            raise ClientError(f"{uri}: {answer['error']}: {answer.get('args', '')}")
        return answer["args"][0] if answer.get("args") else None

    async def call(
        self, uri: str, *args: Any, call_timeout: float | None = None, **kwargs: Any
    ) -> Any:
        return await asyncio.get_running_loop().run_in_executor(
            None, self._post, uri, list(args), kwargs, call_timeout or self.timeout
        )

    async def subscribe(self, topic: str, handler: Callable[..., Any], match: str) -> None:
        raise ClientError("the HTTP bridge cannot subscribe: use the WAMP transport")

    async def close(self) -> None:
        return None


def _discard(task: asyncio.Task[Any]) -> None:
    """Done-callback for a call whose answer nobody wants: retrieve its outcome, quietly."""
    if not task.cancelled():
        task.exception()


# --- the asyncio client -----------------------------------------------------------------------


class AsyncClient:
    """Talk to one agent (or, with `call`, to any procedure) from asyncio code."""

    def __init__(
        self,
        instance_id: str,
        *,
        hub_url: str = "ws://localhost:8001/ws",
        http_url: str | None = None,
        realm: str = "test_realm",
        address_root: str = "observatory",
        transport: str = "wamp",
        timeout: float = DEFAULT_TIMEOUT,
        credentials: Credentials | None = None,
        http_signing: tuple[str, str] | None = None,
        anonymous: bool = False,
        ca_file: str | None = None,
        site_config: str | None = None,
    ) -> None:
        """`credentials` default to this host's client user, from the secrets file of
        `site_config` (found by the usual rule when None; see `socs_like.secrets`);
        `anonymous` connects without any. `http_signing` (key, secret) signs the HTTP
        transport's calls; `from_site` finds them for a site whose bridge is ``signed``."""
        self.instance_id = instance_id
        self.address_root = address_root
        self.address = f"{address_root}.{instance_id}"
        self.timeout = timeout
        # Whether the agent offers the one-call start_wait (get_api's "extensions"); None
        # until get_api has been asked.
        self._start_wait: bool | None = None
        if transport == "wamp":
            given = credentials

            def find_credentials() -> Credentials | None:
                if anonymous:
                    return None
                return given if given is not None else site_client_credentials(site_config)

            self._transport: _WampTransport | _HttpTransport = _WampTransport(
                hub_url, realm, timeout, find_credentials, ca_file
            )
        elif transport == "http":
            if not http_url:
                http_url = f"http://{urlparse(hub_url).netloc}/call"
            self._transport = _HttpTransport(http_url, timeout, http_signing, ca_file)
        else:
            raise ValueError(f"transport must be 'wamp' or 'http', not {transport!r}")

    @classmethod
    def from_site(
        cls, instance_id: str, site_config: str | None = None, **kwargs: Any
    ) -> AsyncClient:
        """A client for `instance_id` on the hub named in the site config."""
        path = find_site_config(site_config)
        if path is not None:
            hub = read_site_config(path)[0].hub  # the hub block is all a client needs
            kwargs = {
                "hub_url": hub.wamp_server,
                "http_url": hub.http_url,
                "realm": hub.wamp_realm,
                "address_root": hub.address_root,
                "ca_file": hub.ca_bundle(),
                "site_config": str(path),
            } | kwargs
            if kwargs.get("transport") == "http" and "http_signing" not in kwargs:
                kwargs["http_signing"] = site_http_signing(str(path))
        return cls(instance_id, **kwargs)

    @property
    def connected(self) -> bool:
        return self._transport.connected

    @property
    def authrole(self) -> str | None:
        """The role the hub gave our session (WAMP); None when not joined or unauthenticated."""
        return self._transport.authrole if isinstance(self._transport, _WampTransport) else None

    @property
    def authid(self) -> str | None:
        """Who the hub knows our session as (WAMP); None when not joined."""
        return self._transport.authid if isinstance(self._transport, _WampTransport) else None

    async def connect(self) -> str | None:
        """Join the hub now (WAMP only); the role the hub gave us, None without
        authentication. `HubRefused` when the hub will not have us."""
        if not isinstance(self._transport, _WampTransport):
            raise ClientError("only the WAMP transport keeps a session to join")
        await self._transport.connect()
        return self.authrole

    async def call(
        self, uri: str, *args: Any, call_timeout: float | None = None, **kwargs: Any
    ) -> Any:
        return await self._transport.call(uri, *args, call_timeout=call_timeout, **kwargs)

    async def get_api(self) -> dict[str, Any]:
        api: dict[str, Any] = await self.call(self.address, "get_api")
        self._start_wait = "start_wait" in (api.get("extensions") or ())
        return api

    async def request(
        self,
        action: str,
        op_name: str,
        params: dict[str, Any] | None = None,
        timeout: float | None = None,
    ) -> Reply:
        """One ops call; for ``wait`` and ``start_wait``, `timeout` is the agent's wait and the
        call gets a little longer."""
        kwargs: dict[str, Any] = {}
        call_timeout = None
        if action in ("wait", "start_wait"):
            kwargs["timeout"] = timeout
            call_timeout = (timeout or 0) + self.timeout
        answer = await self.call(
            f"{self.address}.ops", action, op_name, params, call_timeout=call_timeout, **kwargs
        )
        code, message, session = answer
        return Reply(code, message, session or {})

    async def run_task(
        self,
        op_name: str,
        params: dict[str, Any] | None = None,
        on_progress: Callable[[Reply], None] | None = None,
        poll: float = 10.0,
    ) -> Reply:
        """Start a task and wait until it is done, reporting progress every `poll` s.

        An agent that offers ``start_wait`` (ours: get_api says so, asked once per client)
        does both in one call. For others (OCS agents), over WAMP the ``wait`` goes out right
        behind the ``start``, without waiting for the start's answer: the hub hands both to
        the agent in order, so the wait applies to the session the start made, and the pair
        costs one round trip instead of two. If the start is refused, its reply is returned
        and the wait is left to end by itself (at the latest after `poll` s): cancelling it
        would make the agent's WAMP library log a traceback for the interrupted call.
        """
        if self._start_wait is None:
            with contextlib.suppress(ClientError):  # no answer: the plain calls will say why
                await self.get_api()
        if self._start_wait:
            reply = await self.request("start_wait", op_name, params, timeout=poll)
            if reply.status == ResponseCode.ERROR and reply.msg.startswith("Unknown action"):
                self._start_wait = False  # another agent took the address: ask plainly
                return await self.run_task(op_name, params, on_progress, poll)
            if reply.status != ResponseCode.TIMEOUT:
                return reply
            if on_progress is not None:
                on_progress(reply)
        elif isinstance(self._transport, _WampTransport):
            await self._transport.connect()  # both calls must use the one session
            loop = asyncio.get_running_loop()
            start = loop.create_task(self.request("start", op_name, params))
            wait = loop.create_task(self.request("wait", op_name, timeout=poll))
            try:
                reply = await start
            except BaseException:
                wait.add_done_callback(_discard)
                raise
            if not reply.ok:
                wait.add_done_callback(_discard)
                return reply
            reply = await wait
            if reply.status != ResponseCode.TIMEOUT:
                return reply
            if on_progress is not None:
                on_progress(reply)
        else:
            reply = await self.request("start", op_name, params)
            if not reply.ok:
                return reply
        while True:
            reply = await self.request("wait", op_name, timeout=poll)
            if reply.status != ResponseCode.TIMEOUT:
                return reply
            if on_progress is not None:
                on_progress(reply)

    async def subscribe(
        self,
        feed_or_topic: str,
        handler: Callable[[Any, dict[str, Any]], Any],
        match: str = "exact",
    ) -> None:
        """Call `handler(payload, feed_info)` for each event of a feed of this agent (by
        name) or of any feed topic (a full URI, wildcards with ``match="wildcard"``)."""
        topic = feed_or_topic if "." in feed_or_topic else f"{self.address}.feeds.{feed_or_topic}"
        await self._transport.subscribe(
            topic, lambda *args, **kw: handler(*feed_event(args)), match
        )

    async def close(self) -> None:
        await self._transport.close()


# --- the thread-backed, OCS-shaped client ------------------------------------------------------


class _Loop:
    """An event loop in a daemon thread, shared by every `Client` of the process."""

    _instance: _Loop | None = None
    _lock = threading.Lock()

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(
            target=self.loop.run_forever, name="socs-client", daemon=True
        )
        self.thread.start()

    @classmethod
    def get(cls) -> _Loop:
        with cls._lock:
            if cls._instance is None:
                cls._instance = _Loop()
            return cls._instance

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None) -> T:
        done: concurrent.futures.Future[T] = concurrent.futures.Future()
        task: asyncio.Task[None] | None = None

        def begin() -> None:
            nonlocal task
            task = self.loop.create_task(_settle(coro, done))

        self.loop.call_soon_threadsafe(begin)
        try:
            return done.result(timeout)
        except TimeoutError:
            # after `begin`: callbacks run in the order they were handed over
            self.loop.call_soon_threadsafe(lambda: task and task.cancel())
            raise ClientError(f"no answer in {timeout:.1f} s") from None


async def _settle(coro: Coroutine[Any, Any, T], done: concurrent.futures.Future[T]) -> None:
    """`coro`'s outcome into `done` in its last step. (`run_coroutine_threadsafe` sets its
    future from a done-callback: the waiting thread went on a turn of the loop later.)"""
    try:
        result = await coro
    except BaseException as exc:
        done.set_exception(exc)
        if not isinstance(exc, Exception):
            raise  # cancelled (or the interpreter stopping): the task ends so
        return
    done.set_result(result)


def run_sync(coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
    """Run a coroutine of the asyncio clients on the shared client thread and return its
    result, from code that is not itself asyncio."""
    return _Loop.get().run(coro, timeout)


class _Op:
    def __init__(self, client: Client, name: str) -> None:
        self._client = client
        self.name = name

    def _request(
        self, action: str, params: dict[str, Any] | None = None, timeout: float | None = None
    ) -> Reply:
        return run_sync(self._client.aclient.request(action, self.name, params, timeout))

    def start(self, **params: Any) -> Reply:
        return self._request("start", params)

    def wait(self, timeout: float | None = None) -> Reply:
        return self._request("wait", timeout=timeout)

    def status(self) -> Reply:
        return self._request("status")


class _Task(_Op):
    def abort(self) -> Reply:
        return self._request("abort")

    def __call__(self, **params: Any) -> Reply:
        """Start the task and wait until it is done."""
        return run_sync(self._client.aclient.run_task(self.name, params))


class _Process(_Op):
    def stop(self) -> Reply:
        return self._request("stop")

    def __call__(self) -> Reply:
        return self.status()


class Client:
    """An OCS-style client: ``c.delay_task(delay=1)``, ``c.acq.start()``, ``c.acq.stop()``.

    Building one makes no network call. The agent's operations become attributes (dashes
    turn into underscores) from its get_api, fetched by `connect` or by the first use of an
    attribute the client does not have. An operation named like a method of the client
    (``run`` is common; ``request``, ``close`` are not) hides that method on this instance;
    the client itself never calls its methods through the instance, so it keeps working.
    """

    def __init__(self, instance_id: str, site_config: str | None = None, **kwargs: Any) -> None:
        self.instance_id = instance_id
        self.aclient = AsyncClient.from_site(instance_id, site_config, **kwargs)
        self._connected = False

    def connect(self) -> Client:
        """Ask the agent for its operations now; `ClientError` if it cannot be reached."""
        api = run_sync(self.aclient.get_api())
        for name, _, _info in api["tasks"]:
            setattr(self, name.replace("-", "_"), _Task(self, name))
        for name, _, _info in api["processes"]:
            setattr(self, name.replace("-", "_"), _Process(self, name))
        self._connected = True
        return self

    def __getattr__(self, name: str) -> Any:
        # Only reached for names the instance lacks: an operation not fetched yet, or a typo.
        if name.startswith("_") or self.__dict__.get("_connected", True):
            raise AttributeError(f"{self!r} has no operation or attribute {name!r}")
        Client.connect(self)
        return getattr(self, name)

    def get_api(self) -> dict[str, Any]:
        return run_sync(self.aclient.get_api())

    def request(
        self,
        action: str,
        op_name: str,
        params: dict[str, Any] | None = None,
        timeout: float | None = None,
    ) -> Reply:
        return run_sync(self.aclient.request(action, op_name, params, timeout))

    def subscribe(
        self, feed_or_topic: str, handler: Callable[..., Any], match: str = "exact"
    ) -> None:
        """Subscribe; `handler` runs in the client's thread."""
        run_sync(self.aclient.subscribe(feed_or_topic, handler, match))

    def close(self) -> None:
        run_sync(self.aclient.close())

    def __repr__(self) -> str:
        return f"Client({self.instance_id!r})"


def wait_for_agent(client: AsyncClient, timeout: float) -> Coroutine[Any, Any, dict[str, Any]]:
    """get_api, retried until the agent answers or `timeout` passes."""

    async def attempt() -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            try:
                return await client.get_api()
            except ClientError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.02)

    return attempt()
