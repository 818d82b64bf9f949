"""Where processing jobs run: ``local`` (this host, a bounded pool of subprocesses),
``slurm`` (``sbatch --parsable``, ``squeue``) and ``pbs`` (``qsub``, ``qstat``).

Each batch backend does two things, both blocking: :meth:`submit` a script and return the
job id, and :meth:`jobs` — one scheduler query per pass — the state of every job it can
see, by id and by name. The pipeline (not the scheduler's log) decides what a state means
for a run; see :mod:`.pipeline`.

Slurm keeps finished jobs in ``squeue --states=all`` for ``MinJobAge`` (300 s by default),
so a job that ended without marking its run (cancelled, killed at its walltime) is seen
with its final state; after that it is gone, which the pipeline treats the same way.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from .errors import SubmitError
from .hosts import Host
from .jobs import Flavour


class JobState(enum.StrEnum):
    ALIVE = "alive"  # pending or running
    DONE = "done"  # ended on its own (its marks tell how)
    CANCELLED = "cancelled"  # killed by an operator or the scheduler


@dataclass(frozen=True)
class JobInfo:
    job_id: str
    name: str
    state: JobState
    detail: str  # the scheduler's own word


_SLURM_STATES = {
    "PENDING": JobState.ALIVE,
    "CONFIGURING": JobState.ALIVE,
    "RUNNING": JobState.ALIVE,
    "COMPLETING": JobState.ALIVE,
    "SUSPENDED": JobState.ALIVE,
    "REQUEUED": JobState.ALIVE,
    "RESIZING": JobState.ALIVE,
    "COMPLETED": JobState.DONE,
    "FAILED": JobState.DONE,
}
# PBS/Torque one-letter states; F (PBS Pro) and C (Torque) are finished
_PBS_STATES = {
    "Q": JobState.ALIVE,
    "H": JobState.ALIVE,
    "W": JobState.ALIVE,
    "R": JobState.ALIVE,
    "E": JobState.ALIVE,
    "T": JobState.ALIVE,
    "B": JobState.ALIVE,
    "S": JobState.ALIVE,
    "F": JobState.DONE,
    "C": JobState.DONE,
}


class BatchBackend:
    """A batch system reached by commands on ``host`` (this one or over SSH)."""

    flavour: Flavour

    def __init__(self, host: Host, timeout: float = 60.0) -> None:
        self.host = host
        self.timeout = timeout

    def submit_argv(self, script_path: str) -> list[str]:
        raise NotImplementedError

    def parse_job_id(self, stdout: str) -> str:
        raise NotImplementedError

    def jobs(self) -> dict[str, JobInfo]:
        """Every job the scheduler shows, keyed by id *and* by name."""
        raise NotImplementedError

    def submit(self, script_path: str) -> str:
        result = self.host.run(self.submit_argv(script_path), timeout=self.timeout)
        if not result.ok:
            raise SubmitError(f"job not submitted: {result.describe()}")
        job_id = self.parse_job_id(result.stdout_text)
        if not job_id:
            raise SubmitError(f"{result.command} gave no job id: {result.stdout_text!r}")
        return job_id

    def _query(self, argv: Sequence[str]) -> str:
        result = self.host.run(argv, timeout=self.timeout)
        if not result.ok:
            raise SubmitError(f"cannot list jobs: {result.describe()}")
        return result.stdout_text


class SlurmBackend(BatchBackend):
    flavour: Flavour = "slurm"

    def submit_argv(self, script_path: str) -> list[str]:
        return ["sbatch", "--parsable", script_path]

    def parse_job_id(self, stdout: str) -> str:
        # "123" or "123;cluster"
        return stdout.strip().split(";", 1)[0]

    def jobs(self) -> dict[str, JobInfo]:
        text = self._query(["squeue", "--noheader", "--states=all", "--format=%i|%T|%j"])
        out: dict[str, JobInfo] = {}
        for line in text.splitlines():
            parts = line.strip().split("|", 2)
            if len(parts) != 3:
                continue
            job_id, word, name = parts
            state = _SLURM_STATES.get(word, JobState.CANCELLED)
            info = JobInfo(job_id, name, state, word)
            out[job_id] = out[name] = info
        return out


class PbsBackend(BatchBackend):
    flavour: Flavour = "pbs"

    def submit_argv(self, script_path: str) -> list[str]:
        return ["qsub", script_path]

    def parse_job_id(self, stdout: str) -> str:
        return stdout.strip()

    def jobs(self) -> dict[str, JobInfo]:
        # the plain listing (both PBS Pro and Torque): Job id, Name, User, Time, S, Queue
        text = self._query(["qstat", "-x"])
        out: dict[str, JobInfo] = {}
        for line in text.splitlines():
            words = line.split()
            if len(words) < 6 or words[0].startswith(("Job", "-")):
                continue
            job_id, name, letter = words[0], words[1], words[4]
            info = JobInfo(job_id, name, _PBS_STATES.get(letter, JobState.CANCELLED), letter)
            out[job_id] = out[name] = info
        return out


def backend(name: str, host: Host) -> BatchBackend:
    if name == "slurm":
        return SlurmBackend(host)
    if name == "pbs":
        return PbsBackend(host)
    raise ValueError(f"unknown batch backend {name!r}; choose local, slurm or pbs")
