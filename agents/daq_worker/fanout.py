"""One task on many workers, sans-I/O: which hosts a call may name, what a host that failed
shows, and what the task ends with (session data, messages, outcome).

A refused request (unknown host) raises ``RequestError``, an ``OpFailed`` that ends the
session; a host that fails is an entry in the data, never a crash.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import ConnectError, RequestError, WorkerError
from .models import HostFailed, HostOk, TaskData

# session data must stay well below the hub's 1 MB message: name lists are cut to share this
NAME_BUDGET = 5000


def select(asked: list[str] | None, served: list[str]) -> list[str]:
    """The hosts a call runs on, each once: ``asked`` (None: all ``served``)."""
    if asked is None:
        return served
    if not all(isinstance(h, str) for h in asked):
        raise RequestError(f"hosts must be a list of host names, not {asked!r}")
    unknown = [h for h in asked if h not in served]
    if unknown or not asked:
        raise RequestError(f"unknown host(s) {unknown or asked}; this agent serves {served}")
    return list(dict.fromkeys(asked))


def name_budget(hosts: int) -> int:
    """How many names each of ``hosts`` hosts may list in session data (at least 20)."""
    return max(20, NAME_BUDGET // hosts)


def failure(exc: WorkerError) -> HostFailed:
    """A host's entry when its call raised: a connection's own state, else ``error``."""
    state = exc.state if isinstance(exc, ConnectError) else "error"
    return HostFailed(state=state, error=str(exc))


@dataclass(frozen=True, kw_only=True)
class TaskOutcome:
    """How a task on many hosts ends: its session data, a message per host that failed (the
    data's ``failed`` order), and the op's ``(ok, message)``."""

    data: TaskData
    messages: list[str]
    ok: bool
    message: str


def outcome(what: str, results: dict[str, HostOk | HostFailed], now: float) -> TaskOutcome:
    """The end of task ``what`` given each host's entry; ``now`` in UNIX s."""
    failed = sorted(h for h, r in results.items() if isinstance(r, HostFailed) or not r.ok)
    data = TaskData(hosts=dict(results), failed=failed, timestamp=now)
    problems = [f"{host}: {_reason(results[host])}" for host in failed]
    message = f"{what}: {len(results) - len(problems)} of {len(results)} hosts ok"
    if problems:
        message += f"; {problems[0]}"
    return TaskOutcome(data=data, messages=problems, ok=not problems, message=message)


def _reason(entry: HostOk | HostFailed) -> object:
    # a failed host says its error; a host whose check did not hold, its result's summary
    shown = entry.to_dict()
    return shown.get("error") or shown.get("summary")
