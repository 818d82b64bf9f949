"""What the replies of a running operation mean, sans-I/O.

`StartTracker` folds DifxStart channel codes into a phase and, at the end, an outcome;
`JobStatusCollector` folds GET_JOB_STATUS replies into the latest state per job.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .codes import START_FAILURES, START_SUCCESSES, JobStatusCode, StartCode


@dataclass(frozen=True, slots=True)
class Outcome:
    ok: bool
    message: str


def _code_name(code: int) -> str:
    try:
        return StartCode(code).name.lower().replace("_", " ")
    except ValueError:
        return f"code {code}"


@dataclass(slots=True)
class StartTracker:
    input_file: str
    phase: str = "requested"
    started: bool = False
    notes: list[str] = field(default_factory=list)
    outcome: Outcome | None = None

    def apply(self, code: int, payload: bytes) -> str:
        """Fold one reply in; returns a line for the session log."""
        text = payload.decode("utf-8", "replace").strip()
        name = _code_name(code)
        line = f"{name}: {text}" if text else name
        if code in (StartCode.DIFX_MESSAGE, StartCode.DIFX_WARNING, StartCode.DIFX_ERROR):
            self.notes = ([*self.notes, line])[-20:]
        if code == StartCode.STARTED:
            self.started = True
            self.phase = "running"
        elif code in START_FAILURES:
            self.phase = "failed"
            message = f"{self.input_file}: {name}" + (f" ({text})" if text else "")
            errors = [n for n in self.notes if n.startswith("difx error")]
            if errors:
                message += f"; last {errors[-1]}"
            self.outcome = Outcome(False, message)
        elif code in START_SUCCESSES:
            self.phase = "done"
            self.outcome = Outcome(True, f"{self.input_file}: {name}")
        elif code not in (StartCode.DIFX_MESSAGE, StartCode.DIFX_WARNING):
            self.phase = name
        return line


@dataclass(slots=True)
class JobStatusCollector:
    jobs: dict[str, dict[str, str]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    done: bool = False
    _current: str | None = None

    def apply(self, code: int, payload: bytes) -> None:
        text = payload.decode("utf-8", "replace").rstrip("\n")
        if code == JobStatusCode.INPUT_FILE:
            self._current = text
            self.jobs[text] = {"state": "unknown", "time": ""}
        elif code == JobStatusCode.STATUS and self._current is not None:
            # guiServer: the first 24 characters are a ctime() stamp, the rest the state.
            self.jobs[self._current] = {"time": text[:24].strip(), "state": text[24:].strip()}
        elif code in (JobStatusCode.NO_DIFXLOG, JobStatusCode.NO_STATUS) and self._current:
            self.jobs[self._current]["state"] = (
                "no .difxlog" if code == JobStatusCode.NO_DIFXLOG else "no status"
            )
        elif code in (JobStatusCode.OPEN_ERROR, JobStatusCode.FORK_FAILED):
            self.errors.append(f"{JobStatusCode(code).name.lower()}: {text}")
        elif code in (JobStatusCode.ENDED_GRACEFULLY, JobStatusCode.TERMINATED):
            self.done = True
