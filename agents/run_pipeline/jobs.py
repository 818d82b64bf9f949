"""Batch jobs, sans I/O: the walltime a run needs, the queue that takes it, and the job
script that processes it and reports back through ``socs-like runs mark``.

Walltime (the original's rule): events divided by the source's rate (LED runs are fast,
360·60 events a minute; anything else 40·60), times a 1.2 margin, clipped to 3 minutes …
14 days. A job that fits the short queue's limit (4 h) goes there, the rest to the long one.

The script is the same for Slurm and PBS but for its directive lines. It marks the run
``processing`` with its job id, runs the processing command, then marks ``processed`` or
``failed`` with the exit code; each mark names the attempt, so a job left over from an
earlier attempt cannot change a run that was since resubmitted. If the first mark is
refused (the run was reset or taken over), the job does nothing. A job killed by the
scheduler (``scancel``, walltime) marks nothing: the pipeline sees it gone and decides.
"""

from __future__ import annotations

import math
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final, Literal

MIN_WALLTIME: Final = 3 * 60
MAX_WALLTIME: Final = 14 * 24 * 3600
MARGIN: Final = 1.2
EVENTS_PER_MINUTE: Final = {"led": 360 * 60}
DEFAULT_EVENTS_PER_MINUTE: Final = 40 * 60

Flavour = Literal["slurm", "pbs"]
JOB_ID_VARIABLE: Final = {"slurm": "SLURM_JOB_ID", "pbs": "PBS_JOBID"}


def walltime(events: int, source: str) -> int:
    """Seconds a run of ``events`` from ``source`` is given."""
    rate = EVENTS_PER_MINUTE.get(source.lower(), DEFAULT_EVENTS_PER_MINUTE)
    seconds = math.ceil(max(events, 0) / rate * 60 * MARGIN)
    return min(max(seconds, MIN_WALLTIME), MAX_WALLTIME)


@dataclass(frozen=True, kw_only=True)
class Queues:
    """Short and long queue (PBS) or partition (Slurm), and the short one's limit."""

    short: str = "standby"
    long: str = "physics"
    short_limit: int = 4 * 3600

    def choose(self, seconds: int) -> str:
        return self.short if seconds <= self.short_limit else self.long


def hms(seconds: int) -> str:
    """``D-HH:MM:SS`` style walltime: ``HH:MM:SS`` with hours past 24 kept as hours (both
    Slurm and PBS read that)."""
    hours, rest = divmod(seconds, 3600)
    return f"{hours:02d}:{rest // 60:02d}:{rest % 60:02d}"


@dataclass(frozen=True, kw_only=True)
class JobSpec:
    """One processing job of one run."""

    run: str
    attempt: int
    queue: str
    walltime: int  # seconds
    log_path: str
    command: str  # the processing command, one shell line
    mark: Sequence[str]  # argv of ``socs-like runs ... mark RUN`` without status and options

    @property
    def job_name(self) -> str:
        """Unique per run and attempt: how a job submitted just before a crash is found."""
        return f"run-{self.run}-{self.attempt}"


def process_command(template: str, values: Mapping[str, str]) -> str:
    """The processing command: ``template`` with ``{raw}``, ``{out}``, ``{run}``,
    ``{events}``, ``{source}``, ``{python}`` replaced by shell-quoted values."""
    return template.format_map({k: shlex.quote(v) for k, v in values.items()})


def script(job: JobSpec, flavour: Flavour) -> str:
    """The batch script for ``job``."""
    if flavour == "slurm":
        directives = [
            f"#SBATCH --job-name={job.job_name}",
            f"#SBATCH --partition={job.queue}",
            f"#SBATCH --time={hms(job.walltime)}",
            f"#SBATCH --output={job.log_path}",
            "#SBATCH --ntasks=1",
        ]
    else:
        directives = [
            f"#PBS -N {job.job_name}",
            f"#PBS -q {job.queue}",
            f"#PBS -l walltime={hms(job.walltime)}",
            f"#PBS -o {job.log_path}",
            "#PBS -j oe",
        ]
    job_id = "${" + JOB_ID_VARIABLE[flavour] + "}"
    mark = shlex.join([*job.mark, "--attempt", str(job.attempt)])
    return "\n".join(
        [
            "#!/bin/bash",
            *directives,
            f"# run {job.run}, attempt {job.attempt}: written by the run pipeline",
            f'mark() {{ {mark} --job-id "{job_id}" --log {shlex.quote(job.log_path)} "$@"; }}',
            "mark processing || { echo 'run taken over or reset: nothing to do'; exit 0; }",
            # its own shell: an `exit` in the command ends the command, not the marks
            f"bash -c {shlex.quote(job.command)}",
            "code=$?",
            'if [ "$code" -eq 0 ]; then mark processed --exit-code 0',
            'else mark failed --exit-code "$code"; fi',
            'exit "$code"',
            "",
        ]
    )
