"""What the replies of a running DiFX job mean, sans-I/O.

`StartTracker` folds DifxStart channel codes into a phase and, at the end, an outcome;
`JobStatusCollector` folds GET_JOB_STATUS replies into the latest state per job; `StopWatch`
decides, from the correlator's own status messages, whether a stopped job really ended.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .codes import START_END, JobStatusCode, StartCode, code_name

# States an mpifxcorr process reports when its job is over.
CORRELATOR_END_STATES = frozenset({"Done", "MpiDone", "Terminated", "Crashed"})


@dataclass(frozen=True, slots=True)
class Outcome:
    ok: bool
    message: str


@dataclass(slots=True)
class StartTracker:
    """DifxStart, code by code. "config command not found" (126) and a failed config check
    (124) are warnings: guiServer goes on and runs the job unless told to bail (then 116
    "Execution stopped" and 128 follow). The channel ends with 101, 120, 119, 100 or 128."""

    input_file: str
    phase: str = "requested"
    running: bool = False
    config_ok: bool | None = None
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    outcome: Outcome | None = None

    def apply(self, code: int, payload: bytes) -> str:
        """Fold one reply in; returns a line for the session log."""
        text = payload.decode("utf-8", "replace").strip()
        name = code_name(StartCode, code)
        line = f"{name}: {text}" if text else name
        if code == StartCode.DIFX_MESSAGE:
            self.lines = [*self.lines, text][-20:]
            return line
        if code in (StartCode.DIFX_WARNING, StartCode.CONFIG_COMMAND_NOT_FOUND):
            self.warnings = [*self.warnings, line][-20:]
            return line
        if code == StartCode.DIFX_ERROR:
            self.errors = [*self.errors, text][-20:]
            return line
        if code == StartCode.FAILURE_BAD_CONFIG_FILE:
            self.config_ok = False
            self.warnings = [*self.warnings, "config check failed; guiServer runs the job anyway"]
        elif code == StartCode.SUCCESSFUL_CONFIG_FILE:
            self.config_ok = True
        elif code == StartCode.STARTING_DIFX:
            self.running = True
        if code in START_END:
            self._end(code, name)
        elif code == StartCode.STOPPED_AFTER_CONFIG:
            stopped = "Execution stopped." in self.errors or self.config_ok is False
            self.phase = "stopped after config"
            self.outcome = Outcome(
                not stopped,
                f"{self.input_file}: "
                + ("config check failed, execution stopped" if stopped else "config check passed"),
            )
        else:
            self.phase = name
        return line

    def diagnostic(self, level: str, text: str) -> None:
        """An ERROR on the main connection: when the job's folder cannot be examined, guiServer
        says so there and the start channel simply stops, with no code."""
        folder = self.input_file.rsplit("/", 1)[0] or "/"
        if level == "error" and text.startswith(
            f"statvfs failed when accessing directory {folder} "
        ):
            self.phase = "failed"
            self.outcome = Outcome(
                False, f"{self.input_file}: guiServer: {text.strip()} (no end code follows)"
            )

    def _end(self, code: int, name: str) -> None:
        ok = START_END[code]
        message = f"{self.input_file}: {name}"
        if code == StartCode.JOB_ENDED_WITH_ERRORS:
            ok = True  # the correlator wrote output after its last error: a warning, not a failure
            last = self.errors[-1] if self.errors else "-"
            message += f" ({len(self.errors)} error lines; last: {last})"
        elif code == StartCode.TERMINATED:
            message += f" after {self.phase}" + (" (stopped)" if self.running else "")
        if not ok and self.errors:
            message += f"; last error: {self.errors[-1]}"
        self.phase = "done" if ok else "failed"
        self.outcome = Outcome(ok, message)


@dataclass(slots=True)
class JobStatus:
    state: str
    time: str = ""
    message: str = ""


@dataclass(slots=True)
class JobStatusCollector:
    """GET_JOB_STATUS: 102, 110 (time), then per .input 104 (path) and 105/106/108; 101 ends.
    The 106 payload is a 24-character ctime stamp followed directly by `STATE  message`."""

    jobs: dict[str, JobStatus] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    server_time: str = ""
    done: bool = False
    _current: str | None = None

    def apply(self, code: int, payload: bytes) -> None:
        text = payload.decode("utf-8", "replace").rstrip("\n")
        if code == JobStatusCode.TIME_STRING:
            self.server_time = text.strip()
        elif code == JobStatusCode.INPUT_FILE:
            self._current = text
            self.jobs[text] = JobStatus("unknown")
        elif code == JobStatusCode.STATUS and self._current is not None:
            state, _, message = text[24:].strip().partition(" ")
            self.jobs[self._current] = JobStatus(state, text[:24].strip(), message.strip())
        elif code == JobStatusCode.NO_DIFXLOG and self._current is not None:
            self.jobs[self._current].state = "no .difxlog"
        elif code == JobStatusCode.NO_STATUS and self._current is not None:
            self.jobs[self._current].state = "no status"
        elif code in (JobStatusCode.OPEN_ERROR, JobStatusCode.FORK_FAILED):
            self.errors.append(code_name(JobStatusCode, code) + (f": {text}" if text else ""))
            self.done = code == JobStatusCode.FORK_FAILED
        elif code in (JobStatusCode.ENDED_GRACEFULLY, JobStatusCode.TERMINATED):
            self.done = True


@dataclass(slots=True)
class StopWatch:
    """After a DifxStop, was the job really ended? guiServer answers nothing to a stop: it
    looks for the processes with `ps`, reports "killing PID n on host" (WARNING) for each one
    it finds, and kills them with -9, after which a correlator says nothing more. So the end
    is confirmed by the correlator itself, either
    - reporting an end state (an mpifxcorr process, mpiProcessId >= 0: Done, MpiDone,
      Terminated, Crashed), or
    - falling silent for `quiet` s after guiServer reported a kill.
    A "Terminated" from a wrapper (mpiProcessId -1) proves nothing about the processes, and
    correlator messages that keep coming mean the job runs on (the DiFX interface guide warns
    that a stop often does nothing)."""

    job: str
    stopped_at: float
    quiet: float = 3.0
    seen: list[str] = field(default_factory=list)
    kills: list[str] = field(default_factory=list)
    ended: str | None = None
    last_correlator: float | None = None

    def observe(self, state: str, mpi_id: int, now: float) -> bool:
        """Record one status of the job; True once the end is confirmed."""
        who = "correlator" if mpi_id >= 0 else "wrapper"
        self.seen.append(f"{state} ({who})")
        if mpi_id >= 0:
            self.last_correlator = now
            if state in CORRELATOR_END_STATES:
                self.ended = state
        return self.check(now)

    def diagnostic(self, text: str) -> None:
        """A guiServer WARNING/ERROR line on the main connection."""
        if text.startswith("killing PID"):
            self.kills.append(text.strip())

    def check(self, now: float) -> bool:
        if self.ended is None and self.kills:
            silent_since = max(self.stopped_at, self.last_correlator or self.stopped_at)
            if now - silent_since >= self.quiet:
                self.ended = "killed"
        return self.ended is not None

    @property
    def confirmation(self) -> str:
        if self.ended == "killed":
            return (
                f"guiServer reported {'; '.join(self.kills)}, and the correlator has been "
                f"silent for {self.quiet:g} s since"
            )
        return f"the correlator reported {self.ended}"

    def failure(self, timeout: float) -> str:
        if self.last_correlator is not None and self.last_correlator > self.stopped_at:
            return (
                f"{self.job}: the correlator still reports ({', '.join(self.seen[-3:])}) "
                f"{timeout:g} s after DifxStop; the job is still running"
            )
        if not self.kills:
            return (
                f"{self.job}: guiServer found no process to kill and the correlator reported "
                f"no end within {timeout:g} s; the end is not confirmed"
            )
        return f"{self.job}: no end confirmed within {timeout:g} s after DifxStop"
