"""Typed session data of the DiFX relay's operations (what `session.data` holds after each
task). The README lists them with their fields and units; feed payloads are in `feeds`.

Each model turns into session data with `as_data()` (plain JSON types only).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from socs_like import OpSession

    from .jobcontrol import JobStatusCollector, StartTracker

Result = tuple[bool, str]  # what a task returns
INLINE_FILE_LIMIT = 256 * 1024  # largest file a task reads into session data, bytes


class SessionData:
    def as_data(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload, no-any-return]


def done(session: OpSession, result: SessionData, message: str) -> Result:
    """A task's success: `result` into the session data, `message` its closing line."""
    session.data.update(result.as_data())
    return True, message


@dataclass(slots=True)
class LsResult(SessionData):
    path: str
    args: str
    entries: list[str]  # one per line of ls's output, newline removed


@dataclass(slots=True)
class FileOpResult(SessionData):
    operation: str  # mkdir | rmdir | touch | rm | mv | cp
    path: str
    arg: str  # flags (rm) or the absolute destination (mv, cp)
    exists: dict[str, bool]  # what the ls after it found, per path checked


@dataclass(slots=True)
class GetResult(SessionData):
    path: str
    size: int  # of the file, bytes
    data: bytes = field(repr=False, default=b"")
    text: str | None = None  # the file itself, when it came inline (no local_path)
    local_path: str | None = None  # where it was written

    def as_data(self) -> dict[str, Any]:
        kept = {"text": self.text, "local_path": self.local_path}
        return {"path": self.path, "size": self.size} | {
            k: v for k, v in kept.items() if v is not None
        }


@dataclass(slots=True)
class SendResult(SessionData):
    path: str
    size: int  # bytes guiServer confirmed


@dataclass(slots=True)
class Vex2DifxResult(SessionData):
    input_files: list[str]  # new .input files, full paths
    im_files: list[str]  # new .im files, full paths


@dataclass(slots=True)
class MachinesResult(SessionData):
    input: str
    machines_file: str  # as guiServer named it (111), else as requested
    threads_file: str
    nodes_passed: list[str] = field(default_factory=list)  # processor tests (120)
    nodes_failed: list[str] = field(default_factory=list)  # processor tests (119): dropped
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@dataclass(slots=True)
class DifxVersion(SessionData):
    difx_version: str  # used for vex2difx, machines and jobs


@dataclass(slots=True)
class RelaySettings(SessionData):
    relay_on: bool
    selection: list[str] | None  # DiFX type names, None = all messages


@dataclass(slots=True)
class JobProgress(SessionData):
    """start_job's session data while it runs; `StartResult` adds the rest at the end."""

    job: str
    phase: str = "requested"  # last DifxStart step
    state: str | None = None  # last state the correlator reported on the feed
    progress: float = 0.0  # percent


@dataclass(slots=True)
class StartResult(SessionData):
    job: str
    phase: str  # last DifxStart step: requested ... running, done, failed
    running: bool  # guiServer started the correlator (113)
    config_ok: bool | None  # config check passed (125) / failed (124) / not seen
    warnings: list[str]
    errors: list[str]  # the correlator's error lines (116), last 20
    waiting_stopped: bool = False  # the task was aborted: the job itself goes on
    state: str | None = None  # last state the correlator reported on the feed
    progress: float = 0.0  # percent, from the correlator's status messages

    @classmethod
    def from_tracker(cls, t: StartTracker, *, waiting_stopped: bool = False) -> StartResult:
        job = t.input_file.rsplit("/", 1)[-1].removesuffix(".input")
        return cls(
            job=job,
            phase=t.phase,
            running=t.running,
            config_ok=t.config_ok,
            warnings=list(t.warnings),
            errors=list(t.errors),
            waiting_stopped=waiting_stopped,
        )


@dataclass(slots=True)
class StopResult(SessionData):
    job: str
    ended: str | None  # the correlator's end state, "killed" (silent after a kill), or None
    states_seen: list[str]  # "State (correlator|wrapper)" after the stop, in order
    kills: list[str]  # guiServer's "killing PID n on host" lines


@dataclass(slots=True)
class JobStatusResult(SessionData):
    pattern: str
    server_time: str  # guiServer's clock, ctime text
    jobs: dict[str, dict[str, str]]  # .input path → {state, time, message}
    errors: list[str]

    @classmethod
    def from_collector(cls, pattern: str, c: JobStatusCollector) -> JobStatusResult:
        jobs = {path: asdict(status) for path, status in c.jobs.items()}
        return cls(pattern=pattern, server_time=c.server_time, jobs=jobs, errors=c.errors)


@dataclass(slots=True)
class FileListResult(SessionData):
    destination: str  # the file list written (104)
    existed: bool = False  # the destination existed and guiServer asked (103)
    cancelled: bool = False  # ... and we answered cancel
    processed: int = 0  # files processed (110)
    lines: list[str] = field(default_factory=list)  # one per file (111)
    errors: list[str] = field(default_factory=list)


@dataclass(slots=True)
class DirectoryResult(SessionData):
    mark5: str
    vsn: str
    path: str = ""  # the directory file on the DiFX host (303)
    date: str = ""  # its date (307)
    lines: list[str] = field(default_factory=list)  # the directory, line by line (310)
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Mk5ControlResult(SessionData):
    command: str
    target_node: str
    output: list[str] = field(default_factory=list)  # stdout lines (108)
    errors: list[str] = field(default_factory=list)  # stderr lines (110)


@dataclass(slots=True)
class Mark5CopyResult(SessionData):
    mark5: str
    vsn: str
    scans: str
    destination: str
    output: list[str] = field(default_factory=list)  # stdout lines (312)
    errors: list[str] = field(default_factory=list)  # stderr lines (305)
    had_errors: bool = False  # 314


@dataclass(slots=True)
class SenderSeq:
    """Sequence accounting of one sending process (host, mpiProcessId)."""

    received: int
    lost: int
    duplicates: int
    late: int
    restarts: int
    last_seq: int | None


@dataclass(slots=True)
class RelaySummary(SessionData):
    """Session data of the `relay` process."""

    mode: str  # relay | direct
    server: str  # host:port of guiServer, or the multicast group:port
    connected: bool
    last_error: str | None  # None while connected
    reconnects: int
    last_disconnect: str | None
    relay_on: bool  # guiServer relays multicast to us
    selection: list[str] | None  # guiServer keywords, None = all messages
    documents: dict[str, int]  # per DiFX message type
    bad_documents: int
    last_bad_document: str | None
    seq_lost: int  # messages missing, over all sending processes
    seq_late: int
    seq_duplicates: int
    sender_restarts: int
    senders: dict[str, dict[str, int | None]]  # "host/mpiProcessId" → SenderSeq fields
    identifiers: dict[str, int]  # messages per job identifier (not a loss measure)
    channel_errors: int
    server_messages: dict[str, int]  # guiServer's information / warning / error packets
    guiserver: dict[str, Any] | None  # the version burst
    jobs: dict[str, dict[str, object]]
