"""Reading client requests the way guiServer reads them.

Command documents (packet 3) go through DiFX's message parser, which is expat with callbacks
(msg/difxparse.c): the message type is the index of `<header><type>` in DiFX's type list; body
elements are matched by name at any depth, the last one of a name winning (`env` is a list);
`manager`/`datastream`/`process` carry their nodes in attributes. The parser never reports an
error (its counter is never incremented, spec §7), so a broken document yields whatever was read
before the break, usually type 0 ("Unknown"). We parse with Python's expat, incrementally and
non-finally as DiFX does, and keep what was read.

The binary requests 23 and 24 are length-prefixed fields (spec §3).
"""

from __future__ import annotations

import contextlib
import struct
from dataclasses import dataclass, field
from typing import Final
from xml.parsers import expat

# DiFX's message type list, in its order (msg/difxmessage.c:105-135): the index is the type.
MESSAGE_TYPES: Final = (
    "Unknown",
    "DifxLoadMessage",
    "DifxAlertMessage",
    "Mark6StatusMessage",
    "Mark6SlotStatusMessage",
    "Mark5StatusMessage",
    "DifxStatusMessage",
    "DifxInfoMessage",
    "DifxDatastreamMessage",
    "DifxCommand",
    "DifxParameter",
    "DifxStart",
    "DifxStop",
    "Mark5VersionMessage",
    "Mark5ConditionMessage",
    "DifxTransientMessage",
    "DifxSmartMessage",
    "Mark5DriveStatsMessage",
    "DifxDiagnosticMessage",
    "DifxFileTransfer",
    "DifxFileOperation",
    "DifxVex2DifxRun",
    "DifxMachinesDefinition",
    "DifxGetDirectory",
    "DifxMk5Control",
    "DifxMark5Copy",
    "DifxVsis",
    "Mark6ActivityMessage",
)
_CONDITION, _DRIVE_STATS = 14, 17
_NODE_ELEMENTS: Final = frozenset({"manager", "datastream", "process"})
_NODES_TYPES: Final = frozenset({"DifxStart", "DifxMachinesDefinition"})


@dataclass
class Command:
    """What guiServer's parser made of one command document."""

    type_index: int = 0
    values: dict[str, str] = field(default_factory=dict)
    env: list[str] = field(default_factory=list)
    manager: str = ""
    datastreams: list[str] = field(default_factory=list)
    processes: list[tuple[str, int]] = field(default_factory=list)

    @property
    def type_name(self) -> str:
        return MESSAGE_TYPES[self.type_index]

    def text(self, name: str) -> str:
        return self.values.get(name, "")

    def number(self, name: str) -> int:
        """C's atoi: leading blanks, a sign, digits; anything else stops it (0 if none)."""
        text = self.text(name).lstrip(" \t\n\r\f\v")
        end = 1 if text[:1] in ("+", "-") else 0
        while end < len(text) and text[end].isdigit():
            end += 1
        try:
            return max(-(2**31), min(2**31 - 1, int(text[:end])))
        except ValueError:
            return 0


def _nodes(text: str) -> list[str]:
    """Node names as DiFX splits a `nodes` attribute: on blanks, commas and brackets."""
    for sep in ",(){}[]":
        text = text.replace(sep, " ")
    return text.split()


def parse_command(data: bytes) -> Command:
    """Parse a command document; never raises (the real parser never fails either)."""
    cmd = Command()
    stack: list[str] = []
    chars: list[str] = []

    def start(name: str, attrs: dict[str, str]) -> None:
        stack.append(name)
        chars.clear()
        if cmd.type_name in _NODES_TYPES and name in _NODE_ELEMENTS:
            if name == "manager":
                cmd.manager = attrs.get("node", "")
            elif name == "datastream":
                cmd.datastreams.extend(_nodes(attrs.get("nodes", "")))
            else:
                # threads defaults to 1 and is read with atoi (msg/difxparse.c).
                n = Command(values={"t": attrs["threads"]}).number("t") if "threads" in attrs else 1
                cmd.processes.extend((node, n) for node in _nodes(attrs.get("nodes", "")))

    def end(name: str) -> None:
        text = "".join(chars)
        chars.clear()
        if len(stack) >= 3 and stack[0] == "difxMessage":
            if stack[1] == "header" and name == "type" and text in MESSAGE_TYPES:
                index = MESSAGE_TYPES.index(text)
                cmd.type_index = _DRIVE_STATS if index == _CONDITION else index
            elif stack[1] == "body":
                if name == "env":
                    cmd.env.append(text)
                else:
                    cmd.values[name] = text
        stack.pop()

    parser = expat.ParserCreate()
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = chars.append
    # DiFX copies the payload with strncpy, so the document ends at the first NUL.
    with contextlib.suppress(expat.ExpatError):
        parser.Parse(data.split(b"\0", 1)[0], False)
    return cmd


class Truncated(ValueError):
    """A binary request shorter than its fields say."""


class _Reader:
    def __init__(self, data: bytes) -> None:
        self._data, self._pos = data, 0

    def int32(self) -> int:
        if self._pos + 4 > len(self._data):
            raise Truncated(f"needs an int32 at byte {self._pos}, has {len(self._data)}")
        (value,) = struct.unpack_from(">i", self._data, self._pos)
        self._pos += 4
        return int(value)

    def string(self) -> str:
        n = self.int32()
        if n < 0 or self._pos + n > len(self._data):
            raise Truncated(f"string of {n} bytes at byte {self._pos} overruns the packet")
        text = self._data[self._pos : self._pos + n]
        self._pos += n
        return text.decode("utf-8", "replace")


@dataclass(frozen=True)
class JobStatusRequest:
    """Packet 24 (SSC:1046-1064)."""

    short: bool
    pattern: str
    address: str
    port: int


def parse_job_status(data: bytes) -> JobStatusRequest:
    r = _Reader(data)
    short = r.int32() != 0
    pattern = r.string()
    address = r.string()
    return JobStatusRequest(short, pattern, address, r.int32())


@dataclass(frozen=True)
class FileListRequest:
    """Packet 23 (SSC:1098-1134)."""

    files: tuple[str, ...]
    destination: str
    format: str
    ref_mjd: int
    address: str
    port: int


def parse_file_list(data: bytes) -> FileListRequest:
    r = _Reader(data)
    n = r.int32()
    if n < 0 or n > len(data) // 4:
        raise Truncated(f"file count {n} does not fit the packet")
    files = tuple(r.string() for _ in range(n))
    destination, fmt = r.string(), r.string()
    ref_mjd = r.int32()
    address = r.string()
    return FileListRequest(files, destination, fmt, ref_mjd, address, r.int32())
