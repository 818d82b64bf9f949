"""The DaqWorker's session data and feed payloads as typed models (sans-I/O).

A subscriber or a script reading ``session["data"]`` can rely on these shapes; each model's
``to_dict()`` is exactly what goes on the wire, and the package's ``README.md`` lists the fields
with their units. Times are UNIX seconds (float), durations seconds, sizes bytes.

Task session data (every task)::

    TaskData(hosts={host: HostOk | HostFailed}, failed=[host...], timestamp)

``HostOk`` carries the task's own result (``WorkingDir``, ``GrawList``, ``CleanCheck``,
``ProgramCheck``, ``TailLines`` or a transfer report); ``HostFailed`` says why a host gave no
answer. While ``organize_files`` runs, each host's entry is an ``OrganizeProgress``.
The monitor's session data is ``MonitorData``; its recorded feed carries ``FeedSample``s.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

JSON = dict[str, Any]


@dataclass(frozen=True, kw_only=True)
class HostFailed:
    """A host that gave no answer. ``state``: ``unreachable``, ``host-key-rejected``,
    ``auth-failed`` or ``error``; ``error``: one line naming the host."""

    state: str
    error: str

    def to_dict(self) -> JSON:
        return {"ok": False, "state": self.state, "error": self.error}


@dataclass(frozen=True, kw_only=True)
class WorkingDir:
    """``find_data_router``: the data router's working directory on the worker."""

    working_dir: str


@dataclass(frozen=True, kw_only=True)
class GrawList:
    """``get_graw_list``: ``count`` files wait; ``files`` (full paths) cut to a budget."""

    count: int
    files: list[str]
    truncated: bool


@dataclass(frozen=True, kw_only=True)
class CleanCheck:
    """``working_dir_is_clean``: whether no ``.graw`` file waits (the task fails if one does)."""

    clean: bool
    summary: str


@dataclass(frozen=True, kw_only=True)
class ProgramCheck:
    """``check_ecc_server_status`` / ``check_data_router_status`` (fails when not running)."""

    running: bool
    summary: str


@dataclass(frozen=True, kw_only=True)
class TailLines:
    """``tail_file``: the last lines of the file, without their line ends."""

    lines: list[str]


HostResult = WorkingDir | GrawList | CleanCheck | ProgramCheck | TailLines


@dataclass(frozen=True, kw_only=True)
class HostOk:
    """A host's answer: ``ok`` (whether the task's condition held) and the result's fields,
    flat (``{"ok": true, "working_dir": ...}``). A transfer report comes as its dict."""

    ok: bool = True
    result: HostResult | JSON

    def to_dict(self) -> JSON:
        fields = self.result if isinstance(self.result, dict) else asdict(self.result)
        return {"ok": self.ok, **fields}


@dataclass(frozen=True, kw_only=True)
class OrganizeProgress:
    """One host's ``organize_files`` while it runs (replaced by the report at the end).

    ``to_move``: files the plan moves; ``moved``: renamed so far; ``failed``: renames that
    failed so far; ``already_there`` and ``clashes``: as in the report; ``elapsed``: seconds
    since the move started; ``destination``: the run folder."""

    running: bool = True
    destination: str
    to_move: int
    moved: int
    failed: int
    already_there: int
    clashes: int
    elapsed: float

    def to_dict(self) -> JSON:
        return {"ok": True, **asdict(self)}


@dataclass(frozen=True, kw_only=True)
class TaskData:
    """Session data of every task: each host's entry, the hosts that failed, when (UNIX s)."""

    hosts: dict[str, HostOk | HostFailed | OrganizeProgress]
    failed: list[str] = field(default_factory=list)
    timestamp: float

    def to_dict(self) -> JSON:
        return {
            "hosts": {host: entry.to_dict() for host, entry in self.hosts.items()},
            "failed": list(self.failed),
            "timestamp": self.timestamp,
        }


@dataclass(frozen=True, kw_only=True)
class MonitorData:
    """Session data of the ``monitor`` process, replaced after every sweep.

    ``hosts``: each worker's ``WorkerStatus.to_dict()``; ``problems``: sweeps in which each host
    was not ``ok``; ``sweeps``: sweeps so far; ``sweep_seconds``: duration of the last sweep;
    ``timestamp``: its end (UNIX s)."""

    hosts: dict[str, JSON]
    problems: dict[str, int]
    sweeps: int
    sweep_seconds: float
    timestamp: float

    def to_dict(self) -> JSON:
        return asdict(self)


@dataclass(frozen=True, kw_only=True)
class FeedSample:
    """One sample of the recorded feed ``worker_status``: a block of fields at one time."""

    block_name: str
    timestamp: float
    data: dict[str, int]

    def to_dict(self) -> JSON:
        return asdict(self)
