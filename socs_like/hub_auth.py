"""Code that runs inside the crossbar hub: who a session is, and what an agent may do.

- `create_authenticator`: crossbar's ``function`` WAMP-CRA authenticator. It reads the secrets
  file named by ``$SOCS_LIKE_SECRETS`` (the hub's environment, never its config file) and
  answers for users (their role), for agents (``agent:<instance-id>``, role ``agent``, the
  secret derived from the agent key) and for hosts (``host:<name>``, role ``controller``, the
  secret derived from the agent key too, so a host's file needs no entry in the hub's).
- `Authorizer`: the dynamic authorizer of the ``agent`` role. An agent may register and
  publish only at its own address (``<root>.<instance-id>`` and below), and call and subscribe
  anywhere under the root. The router caches authorizations by role, URI and action, not by
  session, so the per-agent answers are never cached; the rest are.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from autobahn.twisted.wamp import ApplicationSession
from autobahn.wamp.exception import ApplicationError

from .hub import AUTHORIZE_URI
from .secrets import (
    AGENT_PREFIX,
    CRA_ITERATIONS,
    CRA_KEYLEN,
    HOST_PREFIX,
    SECRETS_ENV,
    SecretsError,
    agent_salt,
    load_secrets,
)


def create_authenticator(
    config: dict[str, Any], controller: Any = None
) -> Callable[[str, str, dict[str, Any]], dict[str, Any]]:
    path = os.environ.get(SECRETS_ENV)
    if not path:
        raise RuntimeError(f"the hub needs ${SECRETS_ENV} to name the secrets file")
    secrets = load_secrets(path)

    def authenticate(realm: str, authid: str, details: dict[str, Any]) -> dict[str, Any]:
        if authid.startswith(AGENT_PREFIX):
            instance_id = authid.removeprefix(AGENT_PREFIX)
            if not instance_id or any(c.isspace() for c in instance_id):
                # (no URI has a space; a host's login is derived as if it were an agent's
                # with a space in its id)
                raise ApplicationError("wamp.error.not_authorized", "no instance id")
            secret, salt, role = secrets.agent_secret(instance_id), agent_salt(instance_id), "agent"
        elif authid.startswith(HOST_PREFIX) and authid != HOST_PREFIX:
            try:
                login = secrets.host_login(authid.removeprefix(HOST_PREFIX))
            except SecretsError:  # no agent key on this hub: no host logins (and no path told)
                raise ApplicationError(
                    "wamp.error.not_authorized", f"no principal {authid!r}"
                ) from None
            secret, salt, role = login.secret, login.salt, login.role
        elif authid in secrets.users:
            user = secrets.users[authid]
            secret, salt, role = user.secret, user.salt, user.role
        else:
            raise ApplicationError("wamp.error.not_authorized", f"no principal {authid!r}")
        return {
            "secret": secret,
            "salt": salt,
            "iterations": CRA_ITERATIONS,
            "keylen": CRA_KEYLEN,
            "role": role,
        }

    return authenticate


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
        return {"allow": allowed, "disclose": True, "cache": False}
    return {"allow": uri.startswith(root + "."), "disclose": True, "cache": True}


class Authorizer(ApplicationSession):
    """A router component that registers `AUTHORIZE_URI`; ``extra`` names the address root."""

    async def onJoin(self, details: Any) -> None:
        root = str(self.config.extra["address_root"])

        def authorize(
            session: dict[str, Any], uri: str, action: str, options: Any = None
        ) -> dict[str, Any]:
            return agent_may(root, str(session.get("authid") or ""), uri, action, options)

        await self.register(authorize, AUTHORIZE_URI)
