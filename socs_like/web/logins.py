"""The dashboard's logins, sans-I/O: tokens, who they belong to, and when they expire.

The hub checks a login, not the dashboard: the server opens a hub session as the user
(WAMP-CRA) and, once the hub has let it join, records it here under a fresh random token,
which the browser keeps in a cookie. Whatever the login does goes through that session, so the
agents see the user's own role. A login unused for `idle` seconds expires; nothing is written
to disk, so a dashboard restart ends every login.

Also here: which buttons a role is offered. (What slows down guessing, too many failed
logins from one address refused for a while, is `socs_like.throttle.FailureThrottle`; the
``Host`` and ``Origin`` checks are in `socs_like.web.sites`.)
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Generic, TypeVar

COOKIE = "socs_login"
DEFAULT_IDLE = 8 * 3600.0  # seconds: a working shift
# The roles whose logins may start, stop and abort operations (the page shows them buttons).
OPERATOR_ROLES = ("controller", "admin")

S = TypeVar("S")


@dataclass(eq=False)
class Login(Generic[S]):
    """One logged-in user: the hub session made for them and the role the hub gave it."""

    token: str = field(repr=False)
    user: str
    role: str
    session: S = field(repr=False)
    last_used: float

    def public(self) -> dict[str, str]:
        """What the page may know: never the token or the secret."""
        return {"user": self.user, "role": self.role}


class Logins(Generic[S]):
    """Tokens to logins; `S` is whatever hub session the server keeps per login."""

    def __init__(self, idle: float = DEFAULT_IDLE) -> None:
        if idle <= 0:
            raise ValueError("the idle time of a login must be positive")
        self.idle = idle
        self._by_token: dict[str, Login[S]] = {}

    def __len__(self) -> int:
        return len(self._by_token)

    def add(self, user: str, role: str, session: S, now: float) -> Login[S]:
        login = Login(secrets.token_urlsafe(32), user, role, session, now)
        self._by_token[login.token] = login
        return login

    def peek(self, token: str | None, now: float) -> Login[S] | None:
        """The login of `token` if it is live, without counting this as a use."""
        login = self._by_token.get(token) if token else None
        if login is None or now - login.last_used > self.idle:
            return None
        return login

    def use(self, token: str | None, now: float) -> Login[S] | None:
        """The live login of `token`, its idle time reset; None when unknown or expired."""
        login = self.peek(token, now)
        if login is not None:
            login.last_used = now
        return login

    def remove(self, token: str | None) -> Login[S] | None:
        return self._by_token.pop(token, None) if token else None

    def expire(self, now: float) -> list[Login[S]]:
        """Take out every login idle for longer than allowed (their sessions are to be
        closed by the caller)."""
        gone = [x for x in self._by_token.values() if now - x.last_used > self.idle]
        for login in gone:
            del self._by_token[login.token]
        return gone

    def clear(self) -> list[Login[S]]:
        gone = list(self._by_token.values())
        self._by_token.clear()
        return gone


def may_operate(role: str | None, op_role: str = "controller") -> bool:
    """Whether the page should offer a role the buttons of an op that needs `op_role` (the
    agent decides in the end; this only spares people buttons that cannot work)."""
    if role not in OPERATOR_ROLES:
        return False
    return op_role != "admin" or role == "admin"
