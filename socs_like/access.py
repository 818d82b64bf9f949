"""Who may do what to an agent's operations (sans-I/O; the agent asks at each ops call).

The hub authenticates every session and discloses the caller's role with each call; the
agent decides here. ``status`` and ``wait`` are open to every role; ``start``, ``stop`` and
``abort`` need the role the operation declares (``controller`` unless it says ``admin``).
An OCS-style ``password=`` may lift a caller to the level the site config maps it to; the
site config holds only slow salted (argon2) hashes, and no password is ever logged or sent on.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Protocol

# Roles by rank. An agent calling another agent counts as a controller.
LEVELS = {
    "observer": 1,
    "legacy-observer": 1,
    "controller": 2,
    "legacy-controller": 2,
    "agent": 2,
    "admin": 3,
}
OP_ROLES = ("controller", "admin")
READ_ONLY_ACTIONS = frozenset({"status", "wait"})


class PasswordHash(Protocol):
    @property
    def level(self) -> str: ...
    @property
    def hash(self) -> str: ...


def hash_password(password: str) -> str:
    """An argon2 hash for the site config's ``hub.passwords``."""
    from argon2 import PasswordHasher

    return PasswordHasher().hash(password)


class AccessPolicy:
    """One agent's rules: the password hashes of the site config, and what it learnt."""

    def __init__(self, passwords: Iterable[PasswordHash] = ()) -> None:
        self._passwords = [(p.hash, LEVELS[p.level]) for p in passwords]
        # Verified passwords by their SHA-256, so argon2's deliberate slowness is paid once
        # per password and agent, not on every call; the password itself is not kept.
        self._known: dict[str, int] = {}

    def _password_level(self, password: str) -> int:
        key = hashlib.sha256(password.encode()).hexdigest()
        if key in self._known:
            return self._known[key]
        from argon2 import PasswordHasher
        from argon2.exceptions import Argon2Error, InvalidHashError

        hasher = PasswordHasher()
        level = 0
        for stored, granted in self._passwords:
            try:
                if hasher.verify(stored, password):
                    level = max(level, granted)
            except (Argon2Error, InvalidHashError):
                continue
        self._known[key] = level
        return level

    def refusal(
        self,
        action: str,
        op_name: str,
        needed: str,
        authrole: str | None,
        password: str | None = None,
    ) -> str | None:
        """Why the caller may not do `action` on `op_name`, or None when it may.

        `authrole` None means the hub did not disclose a role: a hub without authentication
        (such as a plain OCS hub), where the agent can tell nothing and refuses nothing.
        """
        if authrole is None or action in READ_ONLY_ACTIONS:
            return None
        level = LEVELS.get(authrole, 0)
        if password and self._passwords:
            level = max(level, self._password_level(password))
        if level >= LEVELS[needed]:
            return None
        return (
            f'Not allowed: "{action}" on "{op_name}" needs the {needed} role; this caller is '
            f"{authrole} (observers may only call get_api, status and wait)."
            if authrole in ("observer", "legacy-observer", "anonymous")
            else f'Not allowed: "{action}" on "{op_name}" needs the {needed} role; '
            f"this caller is {authrole}."
        )
