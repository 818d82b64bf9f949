"""The ``monitor`` process's tally across sweeps (sans-I/O): sweeps so far, sweeps in which
each host was not ``ok``, and a message each time a host's state changes."""

from __future__ import annotations

from .models import MonitorData
from .status import WorkerStatus


class MonitorTally:
    """Fed each sweep's readings with :meth:`record`; :meth:`data` is the session data."""

    def __init__(self, hosts: list[str]) -> None:
        self.sweeps = 0
        self.problems = dict.fromkeys(hosts, 0)
        self._states: dict[str, str] = {}
        self._last: list[WorkerStatus] = []

    def record(self, statuses: list[WorkerStatus]) -> list[str]:
        """Count one sweep; the messages for hosts whose state changed (the first reading of
        a host is a change)."""
        self.sweeps += 1
        self._last = statuses
        changes = []
        for status in statuses:
            if status.state != "ok":
                self.problems[status.host] += 1
            if self._states.get(status.host) != status.state:
                detail = f": {status.error}" if status.error else ""
                changes.append(f"{status.host} is {status.state}{detail}")
            self._states[status.host] = status.state
        return changes

    def data(self, *, sweep_seconds: float, now: float) -> MonitorData:
        """Session data after the last sweep, which took ``sweep_seconds`` and ended ``now``
        (UNIX s)."""
        return MonitorData(
            hosts={s.host: s.to_dict() for s in self._last},
            problems=dict(self.problems),
            sweeps=self.sweeps,
            sweep_seconds=round(sweep_seconds, 4),
            timestamp=now,
        )


def pause(interval: float, elapsed: float) -> float:
    """Seconds to sleep after a sweep that took ``elapsed`` so sweeps start ``interval`` apart
    (none when it took longer)."""
    return max(0.0, interval - elapsed)
