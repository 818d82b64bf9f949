"""What HostManager puts in its operations' session data (typed, so a reader can rely on it)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True, kw_only=True)
class ManagerData:
    """The supervisor's list as this host's operations show it: ``instances`` by instance id
    (the supervisor's own record of each: state, pid, uptime, restarts, last error line...),
    OCS's ``child_states`` for ``ocsbow``; ``timestamp`` when ``manager`` heard it, and what a
    ``reload`` ``added``, ``removed`` and ``changed``."""

    host: str
    instances: dict[str, dict[str, Any]]
    child_states: list[dict[str, Any]]
    timestamp: float | None = None
    added: list[str] | None = None
    removed: list[str] | None = None
    changed: list[str] | None = None

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}
