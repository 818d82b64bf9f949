"""Failed logins, counted and held up; sans-I/O (the caller gives the time).

- `FailureThrottle`: failures per key (an address, a user name) within a sliding window. The
  dashboard uses it per browser address: after `limit` failures a key waits until the oldest
  of them is `window` seconds old.
- `LoginGuard`: the hub's, per address and per user. The hub never hears that a WAMP-CRA
  answer was wrong (crossbar checks it and tells nobody); it hears only of sessions that
  join. So every attempt counts as failed from the moment it is let through until its session
  joins; one that has not joined `settle` seconds later failed. An address or user with
  `limit` attempts in flight or failed waits to see how they end, so a guesser gets no more
  than `limit` answers a window however many connections it opens at once, while good logins
  (a host's sessions all joining again after a hub restart) only ever wait for each other to
  join. Once `limit` of them have failed, the key is refused until they are `window` old.
  Refused attempts are never checked, so they count against nobody.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Hashable
from dataclasses import dataclass


class FailureThrottle:
    """Failures per key: after `limit` within `window` seconds, the key is refused until the
    oldest of them is `window` seconds old. A failure recorded with an `attempt` id can be
    taken back (`retract`) when that attempt turns out to have succeeded."""

    def __init__(self, limit: int = 5, window: float = 60.0) -> None:
        self.limit = limit
        self.window = window
        self._failures: dict[str, deque[tuple[float, Hashable]]] = {}
        self._keys: dict[Hashable, str] = {}  # attempt id -> its key, for `retract`
        self._swept = 0.0

    def __len__(self) -> int:
        """How many keys have failures on record."""
        return len(self._failures)

    def _recent(self, key: str, now: float) -> deque[tuple[float, Hashable]]:
        failures = self._failures.get(key, deque())
        while failures and now - failures[0][0] >= self.window:
            self._keys.pop(failures.popleft()[1], None)
        if not failures:
            self._failures.pop(key, None)
        return failures

    def wait(self, key: str, now: float) -> float | None:
        """Seconds `key` must wait before its next try, or None when it may try now."""
        failures = self._recent(key, now)
        if len(failures) < self.limit:
            return None
        return failures[-self.limit][0] + self.window - now

    def settled(self, key: str, now: float, settle: float) -> int:
        """How many of `key`'s failures are at least `settle` seconds old."""
        return sum(1 for t, _ in self._recent(key, now) if now - t >= settle)

    def failed(self, key: str, now: float, attempt: Hashable = None) -> None:
        if now - self._swept >= self.window:
            # keys nobody tries again (a guesser's every fresh user name) are not kept
            for stale in list(self._failures):
                self._recent(stale, now)
            self._swept = now
        self._failures[key] = self._recent(key, now)
        self._failures[key].append((now, attempt))
        if attempt is not None:
            self._keys[attempt] = key

    def retract(self, attempt: Hashable) -> None:
        """The failure recorded for `attempt` was none; unknown attempts are ignored."""
        key = self._keys.pop(attempt, None)
        if key is None:
            return
        kept = deque(f for f in self._failures[key] if f[1] != attempt)
        if kept:
            self._failures[key] = kept
        else:
            del self._failures[key]

    def succeeded(self, key: str) -> None:
        for _, attempt in self._failures.pop(key, ()):
            self._keys.pop(attempt, None)


def peer_address(peer: str) -> str:
    """The address a login from crossbar's peer descriptor `peer` is counted under
    (``tcp4:10.0.0.5:50412`` -> ``10.0.0.5``)."""
    kind, _, rest = peer.partition(":")
    return rest.rpartition(":")[0] if kind in ("tcp4", "tcp6") else peer


class Verdict(enum.Enum):
    CHECK = "check"  # check the answer for real
    WAIT = "wait"  # ask again shortly: earlier attempts have yet to end
    REFUSE = "refuse"  # held up: refuse whatever the answer


@dataclass(frozen=True)
class Admission:
    verdict: Verdict
    held: tuple[str, ...] = ()  # what this attempt found held up that was not before


class LoginGuard:
    """The hub's failed logins per address and per user (see the module's doc)."""

    def __init__(
        self,
        per_address: int = 20,
        per_user: int = 50,
        window: float = 60.0,
        settle: float = 5.0,
    ) -> None:
        self.settle = settle
        self._addresses = FailureThrottle(per_address, window)
        self._users = FailureThrottle(per_user, window)
        self._held: set[str] = set()

    def admit(self, attempt: Hashable, address: str, user: str, now: float) -> Admission:
        """Whether login `attempt` (a session id) from `address` as `user` is checked now."""
        keys = (
            (self._addresses, address, f"from address {address}"),
            (self._users, user, f"as user {user[:64]!r}"),
        )
        held = [name for t, key, name in keys if t.settled(key, now, self.settle) >= t.limit]
        if held:
            fresh = tuple(name for name in held if name not in self._held)
            self._held.update(fresh)
            return Admission(Verdict.REFUSE, fresh)
        if any(t.wait(key, now) is not None for t, key, _ in keys):
            return Admission(Verdict.WAIT)
        for t, key, name in keys:
            t.failed(key, now, attempt)
            self._held.discard(name)
        return Admission(Verdict.CHECK)

    def joined(self, attempt: Hashable) -> None:
        """Session `attempt` joined: its login was good after all."""
        self._addresses.retract(attempt)
        self._users.retract(attempt)
