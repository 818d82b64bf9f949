"""When to try the database again after a failure, without sleeping.

The agent keeps its work in memory while the database is away and tries again after a delay
from :class:`socs_like.backoff.Backoff` (0.5 s doubling up to 30 s by default). The gate holds
the deadline; the agent's loop asks :meth:`RetryGate.open` each round.
"""

from __future__ import annotations

from socs_like.backoff import Backoff


class RetryGate:
    def __init__(self, backoff: Backoff | None = None) -> None:
        self.backoff = backoff if backoff is not None else Backoff(initial=0.5, factor=2, cap=30)
        self.retry_at = 0.0
        self.errors = 0
        self.last_error: str | None = None

    @property
    def failing(self) -> bool:
        return self.backoff.failures > 0

    def open(self, now: float) -> bool:
        """May we try now (monotonic seconds)?"""
        return now >= self.retry_at

    def failed(self, now: float, error: str | None = None) -> float:
        """Record a failure at ``now`` (and what it was); the seconds until the next try."""
        self.errors += 1
        self.last_error = error
        delay = self.backoff.failure()
        self.retry_at = now + delay
        return delay

    def succeeded(self) -> bool:
        """Record a success; True if it ends a run of failures (the database is back)."""
        was_failing = self.failing
        self.backoff.success()
        self.retry_at = 0.0
        return was_failing

    def force(self) -> None:
        """Allow one try now, whatever the backoff says (e.g. a last try before stopping)."""
        self.retry_at = 0.0


def describe(exc: Exception) -> str:
    """One line for a database error: SQLAlchemy's wrapper names the driver's error (``orig``)."""
    return f"{type(exc).__name__}: {getattr(exc, 'orig', None) or exc}"
