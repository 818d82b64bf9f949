"""The dashboard's web server: one page, a JSON API and a Server-Sent Events stream.

Routes (all JSON unless said otherwise):

- ``GET /``: the page; ``GET /static/...``: its scripts, styles and panels, served from this
  package; ``GET /static/plotly.min.js``: plotly.js from the installed ``plotly`` package.
- ``GET /api/overview``: the hub's state and one row per agent.
- ``GET /api/agents/{id}``: one agent: its row, operations (with start-form fields and their
  current sessions, asked of the agent) and feeds; ``error`` says why the agent did not answer.
- ``POST /api/login`` ``{user, secret}``: the hub checks them (the server joins the hub as that
  user); a login cookie and ``{login: {user, role}}``, or 401 ``wrong user or secret``; after
  5 failures from one address within a minute, 429 until the oldest is a minute old.
  ``POST /api/logout`` ends it. Read-only dashboards offer no login (403).
- ``POST /api/agents/{id}/ops/{op}/{action}`` (``start``, ``stop``, ``abort``), body
  ``{"params": {...}}``: the agent's reply ``{status, msg, session}``, made through the
  logged-in user's own hub session, so the agent applies that user's role; 401 without a live
  login, 403 when read-only, 502 with ``error`` when the hub or the agent cannot be reached.
- Every POST whose ``Origin`` is not this page's own (scheme, host and port) is refused (403):
  with the cookie's SameSite=Strict, another site's page cannot act as a logged-in user.
- Every request whose ``Host`` is neither loopback nor an allowed name is refused (421), so a
  page of another site whose name was made to resolve here (DNS rebinding) reads nothing.
- ``GET /api/agents/{id}/feeds``: the counters of the agent's feeds (``{feeds: [...]}``).
- ``GET /api/agents/{id}/feeds/{feed}``: a feed's counters and its recent events; 404 before
  its first event, with ``exists`` false when the agent's get_api lists no such feed.
- ``GET /api/events[?feed=ID/FEED...]``: the event stream: ``snapshot`` first (with the named
  feeds' recent events), then ``hub``
  (connected or lost, and why), ``overview`` once a second, ``session`` at once on every pushed
  change, and ``feed`` events of the feeds named in the query.

A page that cannot keep up (its queue fills) has its stream closed; the browser reconnects and
starts again from a snapshot, so it never shows a state that silently skipped events.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import ssl
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from socs_like.client import AsyncClient, ClientError, HubRefused
from socs_like.secrets import Credentials
from socs_like.throttle import FailureThrottle

from .forms import op_fields
from .hub import HubLink
from .logins import COOKIE, DEFAULT_IDLE, Login, Logins
from .sites import host_refusal, origin_refusal
from .state import SiteState

log = logging.getLogger(__name__)

STATIC = Path(str(resources.files("socs_like.web") / "static"))
QUEUE_LIMIT = 2000  # events waiting for one page before its stream is closed
OVERVIEW_EVERY = 1.0  # seconds between overview events
SNAPSHOT_RECENT = 50  # recent events of each named feed in a stream's snapshot
ACTIONS = ("start", "stop", "abort")
READ_ONLY = "this dashboard is read-only: operations cannot be started or stopped from it"
NOT_LOGGED_IN = "log in to start, stop or abort operations (without a login the page is read-only)"
WRONG_LOGIN = "wrong user or secret"


def plotly_js() -> Path:
    """plotly.min.js as the installed plotly package ships it."""
    return Path(str(resources.files("plotly") / "package_data" / "plotly.min.js"))


@dataclass(eq=False)
class _Listener:
    feeds: set[tuple[str, str]]
    queue: asyncio.Queue[tuple[str, dict[str, Any]] | None] = field(
        default_factory=lambda: asyncio.Queue(QUEUE_LIMIT)
    )


class Dashboard:
    """The state, the hub link and the pages' streams of one dashboard."""

    def __init__(
        self,
        *,
        site_config: str | None,
        hub_url: str,
        address_root: str,
        read_only: bool,
        expire_after: float = 5.0,
        watch_as: Credentials | None = None,
        login_idle: float = DEFAULT_IDLE,
        tls: bool = False,
        allowed_hosts: frozenset[str] = frozenset(),
    ) -> None:
        """`watch_as`: the hub user of the dashboard's own session (None: this host's client
        user); `tls`: the page is served over TLS (the login cookie is then Secure);
        `allowed_hosts`: the names (lowercase) answered besides loopback."""
        self.read_only = read_only
        self.allowed_hosts = allowed_hosts
        self.site_config = site_config
        self.tls = tls
        self.state = SiteState(address_root, expire_after)
        self.hub = HubLink(
            self.state, self.emit, site_config=site_config, hub_url=hub_url, credentials=watch_as
        )
        self.logins: Logins[AsyncClient] = Logins(login_idle)
        self.throttle = FailureThrottle()
        self.listeners: set[_Listener] = set()
        self._tasks: list[asyncio.Task[None]] = []

    # --- events ----------------------------------------------------------------------------

    def emit(self, kind: str, data: dict[str, Any]) -> None:
        key = (data.get("agent"), data.get("feed")) if kind == "feed" else None
        for listener in list(self.listeners):
            if key is not None and key not in listener.feeds:
                continue
            try:
                listener.queue.put_nowait((kind, data))
            except asyncio.QueueFull:
                self._drop(listener)

    def _drop(self, listener: _Listener) -> None:
        self.listeners.discard(listener)
        while not listener.queue.empty():
            listener.queue.get_nowait()
        listener.queue.put_nowait(None)  # the stream handler ends the response

    def overview(self) -> dict[str, Any]:
        now = time.time()
        return {
            "hub": self.hub.status(),
            "agents": self.state.overview(now),
            "registry_age": None
            if self.state.registry_seen is None
            else now - self.state.registry_seen,
            "server_time": now,
        }

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(OVERVIEW_EVERY)
            if self.listeners:
                self.emit("overview", self.overview())
            for login in self.logins.expire(time.time()):
                log.info("login of %s (%s) expired", login.user, login.role)
                await _close(login)

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self.hub.run()), loop.create_task(self._tick())]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for listener in list(self.listeners):
            self._drop(listener)
        for login in self.logins.clear():
            await _close(login)
        await self.hub.close()

    @web.middleware
    async def host_guard(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """421 for a request addressed to a name this dashboard does not answer to."""
        why = host_refusal(request.headers.get("Host"), self.allowed_hosts)
        if why is not None:
            return web.json_response({"error": why}, status=421)
        return await handler(request)

    # --- handlers --------------------------------------------------------------------------

    async def page(self, request: web.Request) -> web.StreamResponse:
        return web.FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    async def plotly(self, request: web.Request) -> web.StreamResponse:
        return web.FileResponse(plotly_js(), headers={"Cache-Control": "max-age=86400"})

    async def config(self, request: web.Request) -> web.Response:
        panels = sorted(p.name for p in (STATIC / "panels").glob("*.js"))
        return web.json_response(
            {
                "read_only": self.read_only,
                "address_root": self.state.address_root,
                "panels": panels,
                "login": self._who(request),
            }
        )

    # --- logins ----------------------------------------------------------------------------

    def _login(self, request: web.Request) -> Login[AsyncClient] | None:
        """The live login of the request's cookie (its idle time starts again)."""
        return self.logins.use(request.cookies.get(COOKIE), time.time())

    def _who(self, request: web.Request) -> dict[str, str] | None:
        login = self._login(request)
        return None if login is None else login.public()

    def _refusal(self, request: web.Request) -> web.Response | None:
        """403 for a state-changing request that another site's page made."""
        why = origin_refusal(request.headers.get("Origin"), request.scheme, request.host)
        return None if why is None else web.json_response({"error": why}, status=403)

    async def login(self, request: web.Request) -> web.Response:
        if self.read_only:
            return web.json_response(
                {"error": "this dashboard is read-only: it offers no login"}, status=403
            )
        if (refused := self._refusal(request)) is not None:
            return refused
        address = request.remote or ""
        if (wait := self.throttle.wait(address, time.time())) is not None:
            seconds = math.ceil(wait)
            return web.json_response(
                {"error": f"too many failed logins from {address}: try again in {seconds} s"},
                status=429,
                headers={"Retry-After": str(seconds)},
            )
        try:
            body = await request.json()
        except json.JSONDecodeError:
            body = None
        user = body.get("user") if isinstance(body, dict) else None
        secret = body.get("secret") if isinstance(body, dict) else None
        if not isinstance(user, str) or not isinstance(secret, str) or not user or not secret:
            return web.json_response({"error": "give a user and a secret"}, status=400)
        # The hub checks the login: we join it as that user (WAMP-CRA; the secret itself
        # never crosses to the hub) and keep that session for what the login does.
        client = AsyncClient.from_site(
            "web", self.site_config, credentials=Credentials(user, secret), timeout=5.0
        )
        try:
            role = await client.connect()
        except HubRefused:
            await client.close()
            self.throttle.failed(address, time.time())
            log.info("a login was refused by the hub")  # no name: it may be a mistyped secret
            return web.json_response({"error": WRONG_LOGIN}, status=401)
        except ClientError as exc:
            await client.close()
            return web.json_response({"error": f"cannot log in now: {exc}"}, status=502)
        if role is None:
            await client.close()
            return web.json_response(
                {"error": "the hub gave this session no role: logins need an authenticated hub"},
                status=502,
            )
        if (earlier := self.logins.remove(request.cookies.get(COOKIE))) is not None:
            await _close(earlier)  # a browser logging in again replaces its login
        self.throttle.succeeded(address)
        login = self.logins.add(user, role, client, time.time())
        log.info("%s logged in (%s)", user, role)
        response = web.json_response({"login": login.public()})
        response.set_cookie(
            COOKIE, login.token, path="/", httponly=True, samesite="Strict", secure=self.tls
        )
        return response

    async def logout(self, request: web.Request) -> web.Response:
        if (refused := self._refusal(request)) is not None:
            return refused
        login = self.logins.remove(request.cookies.get(COOKIE))
        if login is not None:
            log.info("%s logged out", login.user)
            await _close(login)
        response = web.json_response({"login": None})
        response.del_cookie(COOKIE, path="/")
        return response

    async def api_overview(self, request: web.Request) -> web.Response:
        return web.json_response(self.overview())

    async def api_agent(self, request: web.Request) -> web.Response:
        instance_id = request.match_info["id"]
        address = f"{self.state.address_root}.{instance_id}"
        answer: dict[str, Any] = {"instance_id": instance_id, "error": None, "ops": []}
        try:
            api = await self.hub.get_api(instance_id)
        except ClientError as exc:
            api = None
            answer["error"] = str(exc)
        info = self.state.agent(address)
        if info is None:
            raise web.HTTPNotFound(text=f"{instance_id!r} is not an agent name")
        if api is not None:
            names = [
                (kind, name, op_info)
                for kind in ("tasks", "processes")
                for name, _s, op_info in api.get(kind, [])
            ]
            sessions = await asyncio.gather(
                *(self._status(instance_id, name) for _k, name, _i in names)
            )
            for (kind, name, op_info), session in zip(names, sessions, strict=True):
                if session is not None:
                    self.state.session(address, info.agent_class, session)
                answer["ops"].append(
                    {
                        "name": name,
                        "kind": "task" if kind == "tasks" else "process",
                        "info": op_info,
                        "fields": [f.encoded() for f in op_fields(op_info)],
                        "session": info.sessions.get(name, {}),
                    }
                )
            answer["feeds_declared"] = [name for name, _feed in api.get("feeds", [])]
        answer["row"] = self.state.row(info, time.time())
        answer["feeds"] = self.state.agent_feeds(instance_id, time.time())
        return web.json_response(answer)

    async def _status(self, instance_id: str, op_name: str) -> dict[str, Any] | None:
        try:
            reply = await self.hub.request(instance_id, "status", op_name)
        except ClientError:
            return None
        return reply.session or None

    async def api_op(self, request: web.Request) -> web.Response:
        instance_id, op_name = request.match_info["id"], request.match_info["op"]
        action = request.match_info["action"]
        if action not in ACTIONS:
            return web.json_response(
                {"error": f"action must be one of {list(ACTIONS)}, not {action!r}"}, status=400
            )
        if self.read_only:
            return web.json_response({"error": READ_ONLY}, status=403)
        if (refused := self._refusal(request)) is not None:
            return refused
        login = self._login(request)
        if login is None:
            return web.json_response({"error": NOT_LOGGED_IN}, status=401)
        try:
            body = await request.json() if request.can_read_body else {}
        except json.JSONDecodeError as exc:
            return web.json_response({"error": f"the body is not JSON: {exc}"}, status=400)
        params = body.get("params") if isinstance(body, dict) else None
        if params is not None and not isinstance(params, dict):
            return web.json_response({"error": "params must be an object"}, status=400)
        try:
            reply = await self.hub.request(instance_id, action, op_name, params, login.session)
        except HubRefused:
            # The hub no longer takes this user (a secret rotated while it was restarted).
            self.logins.remove(login.token)
            await _close(login)
            return web.json_response(
                {"error": "the hub no longer accepts this login: log in again"}, status=401
            )
        except ClientError as exc:
            return web.json_response({"error": str(exc)}, status=502)
        return web.json_response(
            {"status": reply.status, "msg": reply.msg, "session": reply.session}
        )

    async def api_feeds(self, request: web.Request) -> web.Response:
        """The counters of an agent's feeds: what its page redraws every second, without
        asking the agent anything."""
        return web.json_response(
            {"feeds": self.state.agent_feeds(request.match_info["id"], time.time())}
        )

    async def api_feed(self, request: web.Request) -> web.Response:
        key = (request.match_info["id"], request.match_info["feed"])
        stats = self.state.feeds.get(key)
        if stats is None:
            agent, feed = key
            info = self.state.agents.get(agent)
            declared = info.feeds if info is not None else None
            if declared is not None and feed not in declared:
                # its get_api answered without this feed: nothing will ever come
                shown = ", ".join(f for f in declared if f not in ("heartbeat", "sessions"))
                why = f"no such feed: {agent} has no feed {feed!r} (its feeds: {shown or 'none'})"
                return web.json_response({"error": why, "exists": False}, status=404)
            why = f"no event of feed {feed!r} of {agent!r} received yet"
            return web.json_response({"error": why, "exists": None}, status=404)
        return web.json_response(stats.encoded(time.time()) | {"recent": list(stats.recent)})

    async def events(self, request: web.Request) -> web.StreamResponse:
        feeds = set()
        for item in request.query.getall("feed", []):
            agent, _, feed = item.partition("/")
            feeds.add((agent, feed))
        listener = _Listener(feeds)
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-cache",
                "X-Accel-Buffering": "no",
            }
        )
        await response.prepare(request)
        self.listeners.add(listener)
        try:
            sessions = {i: a.sessions for i, a in self.state.agents.items() if a.sessions}
            # the named feeds' recent events, so a panel starts with them and then goes on
            # with the stream's events in order (none lost or doubled between the two)
            recent = {
                f"{agent}/{feed}": list(self.state.feeds[agent, feed].recent)[-SNAPSHOT_RECENT:]
                for agent, feed in feeds
                if (agent, feed) in self.state.feeds
            }
            snapshot = self.overview() | {
                "read_only": self.read_only,
                "login": self._who(request),
                "sessions": sessions,
                "recent": recent,
            }
            await response.write(_sse("snapshot", snapshot))
            async for chunk in _drain(listener):
                await response.write(chunk)
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self.listeners.discard(listener)
        return response


async def _close(login: Login[AsyncClient]) -> None:
    with contextlib.suppress(ClientError):
        await login.session.close()


def _sse(kind: str, data: dict[str, Any]) -> bytes:
    return f"event: {kind}\ndata: {json.dumps(data, default=str)}\n\n".encode()


async def _drain(listener: _Listener) -> AsyncIterator[bytes]:
    """Whatever is queued, as one write; ends when the listener is dropped."""
    while True:
        items = [await listener.queue.get()]
        while not listener.queue.empty():
            items.append(listener.queue.get_nowait())
        chunks = []
        for item in items:
            if item is None:
                return
            chunks.append(_sse(*item))
        yield b"".join(chunks)


def make_app(dashboard: Dashboard) -> web.Application:
    app = web.Application(middlewares=[dashboard.host_guard])
    app.router.add_get("/", dashboard.page)
    app.router.add_get("/static/plotly.min.js", dashboard.plotly)
    app.router.add_static("/static/", STATIC)
    app.router.add_get("/api/config", dashboard.config)
    app.router.add_post("/api/login", dashboard.login)
    app.router.add_post("/api/logout", dashboard.logout)
    app.router.add_get("/api/overview", dashboard.api_overview)
    app.router.add_get("/api/events", dashboard.events)
    app.router.add_get("/api/agents/{id}", dashboard.api_agent)
    app.router.add_post("/api/agents/{id}/ops/{op}/{action}", dashboard.api_op)
    app.router.add_get("/api/agents/{id}/feeds", dashboard.api_feeds)
    app.router.add_get("/api/agents/{id}/feeds/{feed}", dashboard.api_feed)

    async def on_startup(app: web.Application) -> None:
        await dashboard.start()

    async def on_shutdown(app: web.Application) -> None:
        await dashboard.stop()

    app.on_startup.append(on_startup)
    app.on_shutdown.append(on_shutdown)
    return app


async def serve(
    dashboard: Dashboard, host: str, port: int, tls: ssl.SSLContext | None = None
) -> web.AppRunner:
    """Start serving on `host`:`port` (over TLS with `tls`); the caller cleans the runner up."""
    runner = web.AppRunner(make_app(dashboard), handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, host, port, ssl_context=tls).start()
    return runner
