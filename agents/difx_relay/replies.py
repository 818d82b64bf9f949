"""What the inner-packet replies of the machines, file list, directory, Mk5Control and Mark5Copy
operations mean, sans-I/O: one reader per operation folds each packet into its typed result.

`Ops` drives them all the same way (`Ops._converse`): it feeds every packet to `apply`, writes
the `Step`'s line to the session log and its answer back on the channel, and stops once `done`;
a `failure` then fails the operation. What each code means is in the README's protocol
reference; DifxStart and job status have their readers in `jobcontrol`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Protocol

from .codes import DirectoryCode, FileListCode, MachinesCode, code_name
from .framing import unpack_int
from .models import DirectoryResult, FileListResult, MachinesResult

_MACHINES_WARNINGS = frozenset(
    {
        MachinesCode.WARNING_NO_MACHINES_FILE_SPECIFIED,
        MachinesCode.WARNING_NO_THREADS_FILE_SPECIFIED,
        MachinesCode.LOW_THREAD_COUNT,
    }
)
_MACHINES_ERRORS = frozenset(
    {
        MachinesCode.FAILURE_NO_HEADNODE,
        MachinesCode.FAILURE_NO_DATASOURCES,
        MachinesCode.FAILURE_NO_PROCESSORS,
        MachinesCode.FAILURE_NO_FILES_SPECIFIED,
        MachinesCode.FAILURE_OPEN_MACHINES_FILE,
        MachinesCode.FAILURE_OPEN_THREADS_FILE,
        MachinesCode.FAILURE_FILE_REMOVAL,
        MachinesCode.FAILURE_POPEN,
    }
)
_FILELIST_ERRORS = frozenset(
    {
        FileListCode.PATH_ACCESS_FAILURE,
        FileListCode.OPEN_ERROR,
        FileListCode.BAD_FORMAT,
        FileListCode.ERRORS_ENCOUNTERED,
    }
)


@dataclass(frozen=True, slots=True)
class Step:
    """What one packet asks of the operation."""

    line: str | None = None  # for the session log
    answer: int | None = None  # an int32 guiServer now reads from us on the channel


class Reader(Protocol):
    done: bool
    failure: str | None  # set with `done` when the operation failed

    def apply(self, code: int, payload: bytes) -> Step: ...


def _text(payload: bytes) -> str:
    return payload.decode("utf-8", "replace").rstrip("\n")


def _line(codes: type[enum.IntEnum], code: int, text: str) -> str:
    return code_name(codes, code) + (f": {text}" if text else "")


def _why(reasons: list[str]) -> str:
    return "; ".join(reasons) or "no reason given"


@dataclass(slots=True)
class MachinesReader:
    """DifxMachinesDefinition: 100-122; 101 ends it well, 100 badly."""

    result: MachinesResult
    done: bool = False
    failure: str | None = None

    def apply(self, code: int, payload: bytes) -> Step:
        text = payload.decode("utf-8", "replace").strip()
        line = _line(MachinesCode, code, text)
        r = self.result
        if code == MachinesCode.MACHINES_FILE_NAME:
            r.machines_file = text
        elif code == MachinesCode.THREADS_FILE_NAME:
            r.threads_file = text
        elif code == MachinesCode.SUCCESS_MPIRUN:
            r.nodes_passed.append(text)
        elif code == MachinesCode.FAILURE_MPIRUN:
            r.nodes_failed.append(text)
        elif code in _MACHINES_WARNINGS:
            r.warnings.append(line)
        elif code in _MACHINES_ERRORS:
            r.errors.append(line)
        elif code == MachinesCode.TERMINATED:
            self.failure = f"define machines for {r.input} failed: {_why(r.errors)}"
        self.done = code in (MachinesCode.ENDED_GRACEFULLY, MachinesCode.TERMINATED)
        return Step(line)


@dataclass(slots=True)
class FileListReader:
    """GENERATE_FILELIST: 100-112. If the destination exists the server asks (103) and reads
    our int32 answer: 106 overwrite, 107 cancel; the 100 after a cancel is no failure."""

    destination: str  # as requested
    overwrite: bool
    result: FileListResult
    done: bool = False
    failure: str | None = None

    def apply(self, code: int, payload: bytes) -> Step:
        r = self.result
        if code == FileListCode.PROCESSED_COUNT:
            r.processed = unpack_int(payload, "processed count")
            return Step(f"processed count: {r.processed}")
        text = _text(payload)
        line = _line(FileListCode, code, text)
        if code == FileListCode.DESTINATION_EXISTS:
            r.existed = True
            return Step(line, FileListCode.OVERWRITE if self.overwrite else FileListCode.CANCEL)
        if code == FileListCode.FINAL_NAME:
            r.destination = text
        elif code == FileListCode.FILE_RESULT:
            r.lines.append(text)
        elif code in _FILELIST_ERRORS:
            r.errors.append(f"{code_name(FileListCode, code)}: {text}")
        elif code == FileListCode.TERMINATED:
            r.cancelled = r.existed and not self.overwrite
            if not r.cancelled:
                self.failure = f"file list {self.destination} failed: {_why(r.errors)}"
        self.done = code in (FileListCode.ENDED_GRACEFULLY, FileListCode.TERMINATED)
        return Step(line)


@dataclass(slots=True)
class DirectoryReader:
    """DifxGetDirectory: 301-314, ended by 302 (done) or 304 (failed); the directory's own
    lines (310) are kept, not logged."""

    result: DirectoryResult
    done: bool = False
    failure: str | None = None

    def apply(self, code: int, payload: bytes) -> Step:
        text = _text(payload)
        r = self.result
        if code == DirectoryCode.FILEDATA:
            r.lines.append(text)
            return Step()
        if code == DirectoryCode.FULLPATH:
            r.path = text
        elif code == DirectoryCode.DATE:
            r.date = text
        elif code in (DirectoryCode.MPIRUN_ERROR, DirectoryCode.GENERATE_ERRORS):
            r.warnings.append(text or code_name(DirectoryCode, code))
        elif code in (DirectoryCode.NO_ENVIRONMENT_VARIABLE, DirectoryCode.FILE_NOT_FOUND):
            r.errors.append(code_name(DirectoryCode, code))
        elif code == DirectoryCode.FAILED:
            why = _why(r.errors + r.warnings)
            self.failure = f"directory of {r.vsn} on {r.mark5} failed: {why}"
        self.done = code in (DirectoryCode.COMPLETED, DirectoryCode.FAILED)
        return Step(_line(DirectoryCode, code, text))


@dataclass(slots=True)
class OutputReader:
    """A command run on a Mark5 unit, its output relayed line by line: Mk5Control (108 stdout,
    110 stderr, 101 ends) and Mark5Copy (312, 305, 302 ends; 314: there were errors)."""

    stdout: int
    stderr: int
    end: int
    errors_flag: int | None = None
    output: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    had_errors: bool = False
    done: bool = False
    failure: str | None = None

    def apply(self, code: int, payload: bytes) -> Step:
        text = _text(payload)
        if code == self.stdout:
            self.output.append(text)
            return Step(text)
        if code == self.stderr:
            self.errors.append(text)
            return Step(f"error: {text}")
        self.had_errors = self.had_errors or code == self.errors_flag
        self.done = code == self.end
        return Step()
