"""Exponential backoff: how long to wait before trying again after a failure.

One object per thing that can fail (a host, a database, a child process), so a dead peer is
not hammered and a healthy one is retried at once. Pure: it computes delays and never sleeps,
so the caller sleeps however it sleeps (``await session.sleep(...)``, ``time.sleep``, a
deadline stored for later).

The n-th failure in a row waits ``initial * factor ** (n - 1)``, never more than ``cap``; with
``jitter`` j > 0 each delay is multiplied by a random factor in ``[1 - j, 1 + j)`` (still
capped), so many clients that failed together do not retry together. A success resets it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class Backoff:
    """Delays for repeated failures. ``failure()`` returns the next one, ``success()`` resets.

    >>> b = Backoff(initial=0.5, factor=2, cap=3)
    >>> [b.failure() for _ in range(5)]
    [0.5, 1.0, 2.0, 3, 3]
    >>> b.success(); b.failure()
    0.5
    """

    initial: float = 0.5
    factor: float = 2.0
    cap: float = 30.0
    jitter: float = 0.0
    rng: random.Random = field(default_factory=random.Random, repr=False, compare=False)
    failures: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        if not 0 < self.initial <= self.cap:
            raise ValueError(f"need 0 < initial <= cap, not initial={self.initial} cap={self.cap}")
        if self.factor < 1:
            raise ValueError(f"factor must be >= 1, not {self.factor}")
        if not 0 <= self.jitter < 1:
            raise ValueError(f"jitter must be in [0, 1), not {self.jitter}")

    @property
    def base_delay(self) -> float:
        """The delay the next failure will get, before jitter (``initial`` after a success)."""
        # multiply step by step and stop at the cap: no overflow however long the outage
        delay = self.initial
        for _ in range(self.failures if self.factor > 1 else 0):
            delay *= self.factor
            if delay >= self.cap:
                return self.cap
        return delay

    def failure(self) -> float:
        """Record a failure; the seconds to wait before the next attempt."""
        delay = self.base_delay
        self.failures += 1
        if self.jitter:
            delay *= 1 + self.jitter * (2 * self.rng.random() - 1)
        return min(delay, self.cap)

    def success(self) -> None:
        """Record a success: the next failure waits ``initial`` again."""
        self.failures = 0
