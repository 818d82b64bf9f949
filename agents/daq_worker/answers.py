"""Each task's answer for one host, from what ``WorkerInterface`` returned (sans-I/O): the
result's typed model, and whether the task's condition held there (``HostOk.ok``)."""

from __future__ import annotations

from .models import CleanCheck, GrawList, HostOk, ProgramCheck, TailLines, WorkingDir
from .organize import TransferReport


def working_dir(path: str) -> HostOk:
    return HostOk(result=WorkingDir(working_dir=path))


def graw_list(files: list[str], budget: int) -> HostOk:
    """The waiting files, cut to ``budget`` names (``truncated`` says so)."""
    listed = GrawList(count=len(files), files=files[:budget], truncated=len(files) > budget)
    return HostOk(result=listed)


def clean_check(clean: bool) -> HostOk:
    summary = "clean" if clean else ".graw files are waiting"
    return HostOk(ok=clean, result=CleanCheck(clean=clean, summary=summary))


def program_check(program: str, running: bool) -> HostOk:
    summary = f"{program} {'runs' if running else 'is not running'}"
    return HostOk(ok=running, result=ProgramCheck(running=running, summary=summary))


def transfer(report: TransferReport, budget: int | None = None) -> HostOk:
    """A move's or copy's report, name lists cut to ``budget`` (None: whole), with its
    one-line summary; ok only when complete."""
    result = {**report.to_dict(max_names=budget), "summary": report.summary()}
    return HostOk(ok=report.complete, result=result)


def tail(lines: list[str]) -> HostOk:
    return HostOk(result=TailLines(lines=lines))
