"""Code that runs inside the crossbar hub: who a session is, and what an agent may do.

`Gatekeeper` is a router component. It holds the WAMP-CRA authenticator (`AUTHENTICATE_URI`,
crossbar's ``dynamic`` type), which reads the secrets file named by ``$SOCS_LIKE_SECRETS``
(the hub's environment, never its config file) and answers for users (their role), for agents
(``agent:<instance-id>``, role ``agent``, the secret derived from the agent key) and for hosts
(``host:<name>``, role ``controller``, the secret derived from the agent key too, so a host's
file needs no entry in the hub's). Crossbar checks the answer to the challenge after that and
tells nobody how it went, so a refusal is always its "signature is invalid": a name nobody
has, and an attempt the `LoginGuard` holds up, get a random secret no answer matches under a
salt that looks and stays like a real one (`principal`). The guard counts users' failed logins
per address and per user; agents and hosts are never held up (their secrets, derived from a
random key, cannot be guessed), so a host's agents all joining again after a hub restart
never wait.

Before it answers any login, it puts the ``agent`` role (`AgentRole`) in the router: an agent
may register and publish only at its own address (``<root>.<instance-id>`` and below), and
call and subscribe anywhere under the root. The router caches authorizations by role, URI and
action, not by session, so the per-agent answers are never cached; the rest are. The role
answers inside the router: as crossbar's dynamic authorizer (a procedure), every publish of an
agent cost the hub a call, an invocation, a yield and a result: ≈ 100 µs of its CPU, a third
more than routing that event to two subscribers cost without it.

With ``$SOCS_LIKE_HUB_STATS`` set (`HUB_STATS_ENV`), it writes the router's message counts to
that file each second (`write_stats`), for benchmarks.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets as _random
import time
from collections.abc import Callable
from typing import Any

from autobahn.twisted.wamp import ApplicationSession
from crossbar.router.role import RouterRole
from twisted.internet import reactor
from twisted.internet.defer import succeed
from twisted.internet.task import LoopingCall, deferLater

from .hub import AUTHENTICATE_URI, HUB_STATS_ENV
from .secrets import (
    AGENT_PREFIX,
    CRA_ITERATIONS,
    CRA_KEYLEN,
    HOST_PREFIX,
    SECRETS_ENV,
    Secrets,
    SecretsError,
    agent_salt,
    load_secrets,
)
from .throttle import LoginGuard, Verdict, peer_address

JOINED_TOPIC = "wamp.session.on_join"  # crossbar's meta event: a session has joined
WAIT_STEP = 0.1  # seconds between two looks at an attempt the guard makes wait
AGENT_PUBLISHES_KEPT = 10_000  # answers to agents' publishes kept (a few per agent)


def principal(secrets: Secrets, authid: str, admitted: bool = True) -> dict[str, Any]:
    """What the authenticator answers for `authid`: its secret, salt and role; for a name
    nobody has, an agent id that cannot be, or an attempt not `admitted`, a random secret."""
    secret, salt, role = _random.token_urlsafe(32), secrets.decoy_salt(authid), "observer"
    if authid.startswith(AGENT_PREFIX):
        instance_id = authid.removeprefix(AGENT_PREFIX)
        salt, role = agent_salt(instance_id), "agent"
        # (no URI has a space; a host's login is derived as if it were an agent's with a
        # space in its id, so no agent id with one may log in)
        if instance_id and not any(c.isspace() for c in instance_id) and admitted:
            # (a hub holding derived secrets only may not know it: then it is none of ours)
            with contextlib.suppress(SecretsError):
                secret = secrets.agent_secret(instance_id)
    elif authid.startswith(HOST_PREFIX) and authid != HOST_PREFIX:
        with contextlib.suppress(SecretsError):  # no agent key on this hub: no host logins
            login = secrets.host_login(authid.removeprefix(HOST_PREFIX))
            salt, role = login.salt, login.role
            if admitted:
                secret = login.secret
    elif authid in secrets.users:
        user = secrets.users[authid]
        salt, role = user.salt, user.role
        if admitted:
            secret = user.secret
    return {
        "secret": secret,
        "salt": salt,
        "iterations": CRA_ITERATIONS,
        "keylen": CRA_KEYLEN,
        "role": role,
    }


def agent_may(
    root: str, authid: str, uri: str, action: str, options: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The authorization of an ``agent`` session `authid` for `action` on `uri` (with the
    request's `options`, whose ``match`` a registration may give)."""
    if action in ("register", "publish"):
        instance_id = authid.removeprefix(AGENT_PREFIX)
        own = f"{root}.{instance_id}"
        under_own = uri.startswith(own + ".")
        # a prefix `own` would also match another agent's `own9...`: only `own.` and below
        exact = (options or {}).get("match", "exact") != "prefix" and uri == own
        allowed = authid.startswith(AGENT_PREFIX) and (exact or under_own)
        # (as for every role, the publisher is not disclosed: see `socs_like.hub._permission`)
        return {"allow": allowed, "disclose": False, "cache": False}
    return {"allow": uri.startswith(root + "."), "disclose": action == "call", "cache": True}


class AgentRole(RouterRole):
    """The ``agent`` role of the router of `root`: `agent_may` for the session's authid."""

    def __init__(self, router: Any, root: str) -> None:
        super().__init__(router, "agent")  # type: ignore[no-untyped-call]
        self.root = root

    def authorize(self, session: Any, uri: str, action: str, options: Any) -> dict[str, Any]:
        return agent_may(self.root, str(session._authid or ""), uri, action, options)


def with_agent_publishes_cached(
    authorize: Callable[..., Any], role: AgentRole
) -> Callable[..., Any]:
    """The router's `authorize`, with the answers to an ``agent`` session's publishes kept.
    crossbar keeps an answer per role and URI, but an agent's depends on its authid too
    (`agent_may` says ``cache: False``), so crossbar asked `AgentRole` again, through a
    Deferred of its own, at every publish: some 3 % of the hub's CPU with 30 acquiring
    agents. For a publish `agent_may` reads only the authid and the URI: they are the key."""
    kept: dict[tuple[str, str], dict[str, Any]] = {}

    def authorize_kept(session: Any, uri: str, action: str, options: Any) -> Any:
        if action != "publish" or session._authrole != "agent":
            return authorize(session, uri, action, options)
        key = (str(session._authid or ""), uri)
        answer = kept.get(key)
        if answer is None:
            if len(kept) >= AGENT_PUBLISHES_KEPT:
                kept.clear()  # an agent publishing to ever new URIs keeps it from growing
            answer = kept[key] = role.authorize(session, uri, action, options)
        return succeed(answer)

    return authorize_kept


def no_delay(router: Any, session_id: int) -> None:
    """Send session `session_id`'s messages at once. Crossbar sets TCP_NODELAY on WebSocket
    connections only: on RawSocket ones Nagle's algorithm held small messages back until the
    peer acknowledged the last (up to its 40 ms delayed ACK)."""
    session = router._session_id_to_session.get(session_id)
    connection = getattr(getattr(session, "_transport", None), "transport", None)
    set_no_delay = getattr(connection, "setTcpNoDelay", None)
    if set_no_delay is not None:
        set_no_delay(True)


def write_stats(router: Any, path: str) -> None:
    """The messages `router` has received and sent so far, by WAMP message type, and the
    time, to `path` (replaced whole, so that a reader never sees half of it)."""
    messages = router.stats()["messages"]
    draft = f"{path}.draft"
    with open(draft, "w") as out:
        json.dump({"time": time.time(), **messages}, out)
    os.replace(draft, path)


def hub_secrets() -> Secrets:
    """The secrets of the hub's process: the file named by ``$SOCS_LIKE_SECRETS``."""
    path = os.environ.get(SECRETS_ENV)
    if not path:
        raise RuntimeError(f"the hub needs ${SECRETS_ENV} to name the secrets file")
    return load_secrets(path)


class Gatekeeper(ApplicationSession):
    """A router component; ``extra`` names the address root."""

    async def onJoin(self, details: Any) -> None:
        root = str(self.config.extra["address_root"])
        secrets = hub_secrets()
        guard = LoginGuard()

        async def authenticate(realm: str, authid: str | None, session: dict[str, Any]) -> Any:
            authid = authid or ""
            if authid.startswith((AGENT_PREFIX, HOST_PREFIX)):
                return principal(secrets, authid)
            address = peer_address(str(session["transport"]["peer"]))
            while True:
                admission = guard.admit(session["session"], address, authid, time.monotonic())
                if admission.verdict is not Verdict.WAIT:
                    break
                await deferLater(reactor, WAIT_STEP)
            for held in admission.held:
                self.log.warn("too many failed logins lately: refusing logins {held}", held=held)
            return principal(secrets, authid, admission.verdict is Verdict.CHECK)

        # A router component's transport is crossbar's pass-through to the router itself.
        router = self._transport._router  # type: ignore[union-attr]
        role = AgentRole(router, root)
        router.add_role(role)
        # an attribute of this router, found before its class's method by the broker
        router.authorize = with_agent_publishes_cached(router.authorize, role)
        if stats_path := os.environ.get(HUB_STATS_ENV):
            self._stats = LoopingCall(write_stats, router, stats_path)
            self._stats.start(1.0)

        def on_join(joined: dict[str, Any]) -> None:
            guard.joined(joined["session"])
            no_delay(router, joined["session"])

        await self.subscribe(on_join, JOINED_TOPIC)
        await self.register(authenticate, AUTHENTICATE_URI)
