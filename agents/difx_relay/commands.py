"""Builders of every packet and command document the agent sends to guiServer.

Element names and binary layouts are guiServer's (the README's protocol reference); a value
guiServer would misread or ignore (an unknown function, a direction other than the two exact
strings, a file-list format it does not know) is refused here with `LocalProtocolError`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final
from xml.sax.saxutils import escape, quoteattr

from .errors import LocalProtocolError
from .framing import Packet, PacketId, pack_int
from .messages import ALL_KEYWORDS, SELECTION_KEYWORDS, XML_DECLARATION

COMMAND_TYPES: Final = (
    "DifxStart",
    "DifxStop",
    "DifxFileTransfer",
    "DifxFileOperation",
    "DifxVex2DifxRun",
    "DifxMachinesDefinition",
    "DifxGetDirectory",
    "DifxMk5Control",
    "DifxMark5Copy",
    "DifxCommand",
)
FILE_OPERATIONS: Final = ("ls", "mkdir", "rmdir", "rm", "mv", "cp", "touch")
# DiFX's start functions (DifxStartFunctionString); RUN_MONITOR adds the real-time monitor,
# which the DiFX interface guide treats as opt-in.
START_FUNCTIONS: Final = (
    "default",
    "NRAO",
    "USNO",
    "RUN_MONITOR",
    "CONFIG_ONLY",
    "BAIL_ON_CONFIG_FAIL",
)
TRANSFER_DIRECTIONS: Final = ("from DiFX", "to DiFX")  # compared with strcmp by guiServer
FILELIST_FORMATS: Final = ("MKIV", "VLBA", "MARK5B", "VDIF")


# --------------------------------------------------------------------------- plain packets


def _text(packet_id: PacketId, text: str) -> Packet:
    return Packet(packet_id, text.encode("utf-8"))


def relay(on: bool) -> Packet:
    return Packet(PacketId.RELAY, pack_int(1 if on else 0))


def command(document: bytes) -> Packet:
    return Packet(PacketId.COMMAND, document)


def version_request() -> Packet:
    return Packet(PacketId.GUISERVER_VERSION)


def difx_setup_path(path: str) -> Packet:
    return _text(PacketId.DIFX_SETUP_PATH, path)


def selection_keywords(names: Iterable[str]) -> list[str]:
    """guiServer keywords for message type names as the DiFX interface guide spells them
    (`DifxStatusMessage`, `DifxAlertMessage`, ...); the keywords themselves are accepted too."""
    out: list[str] = []
    for name in names:
        keyword = SELECTION_KEYWORDS.get(name, name)
        if keyword not in ALL_KEYWORDS:
            raise LocalProtocolError(
                f"unknown message type {name!r}; known: {', '.join(SELECTION_KEYWORDS)}"
            )
        if keyword not in out:
            out.append(keyword)
    return out


def message_selection(names: Iterable[str] | None) -> Packet:
    """ALL_MESSAGES for None; otherwise SELECTED_MESSAGES and one keyword per line (without
    SELECTED_MESSAGES guiServer keeps relaying everything)."""
    if names is None:
        return _text(PacketId.MESSAGE_SELECTION, "ALL_MESSAGES")
    return _text(
        PacketId.MESSAGE_SELECTION, "\n".join(["SELECTED_MESSAGES", *selection_keywords(names)])
    )


def channel_all_data(on: bool) -> Packet:
    return Packet(PacketId.CHANNEL_ALL_DATA_ON if on else PacketId.CHANNEL_ALL_DATA_OFF)


def _lp_string(text: str) -> bytes:
    raw = text.encode("utf-8")
    return pack_int(len(raw)) + raw


def get_job_status(pattern: str, channel: int, *, short: bool = True, address: str = "") -> Packet:
    payload = pack_int(1 if short else 0) + _lp_string(pattern) + _lp_string(address)
    return Packet(PacketId.GET_JOB_STATUS, payload + pack_int(channel))


def generate_filelist(
    *,
    files: Sequence[str],
    destination: str,
    data_format: str,
    ref_mjd: int,
    channel: int,
    address: str = "",
) -> Packet:
    """GENERATE_FILELIST: int32 n, n length-prefixed file names, then length-prefixed
    destination and format, int32 reference MJD, length-prefixed address, int32 channel."""
    if not any(data_format.startswith(f) for f in FILELIST_FORMATS):
        raise LocalProtocolError(
            f"data format {data_format!r} does not start with one of {', '.join(FILELIST_FORMATS)}"
        )
    payload = pack_int(len(files)) + b"".join(_lp_string(f) for f in files)
    payload += _lp_string(destination) + _lp_string(data_format) + pack_int(ref_mjd)
    return Packet(PacketId.GENERATE_FILELIST, payload + _lp_string(address) + pack_int(channel))


# --------------------------------------------------------------------------- command documents


def _el(tag: str, value: object) -> str:
    return f"<{tag}>{escape(str(value))}</{tag}>"


def command_document(command_type: str, body: str) -> bytes:
    """The COMMAND payload: a `<difxMessage>` whose body is `body` (already XML)."""
    if command_type not in COMMAND_TYPES:
        raise LocalProtocolError(f"unknown command type {command_type!r}")
    return (
        f"{XML_DECLARATION}<difxMessage><header><type>{command_type}</type></header>"
        f"<body>{body}</body></difxMessage>"
    ).encode()


@dataclass(frozen=True, slots=True)
class Process:
    node: str
    threads: int


def difx_start(
    *,
    input_file: str,
    channel: int,
    manager: str,
    datastreams: Sequence[str],
    processes: Sequence[Process],
    difx_version: str = "",
    force: bool = True,
    restart_seconds: int = 0,
    function: str = "default",
) -> bytes:
    if function not in START_FUNCTIONS:
        raise LocalProtocolError(
            f"function {function!r} is not one of {', '.join(START_FUNCTIONS)}"
        )
    procs = "".join(
        f'<process nodes={quoteattr(p.node)} threads="{int(p.threads)}"/>' for p in processes
    )
    body = (
        _el("input", input_file)
        + f"<manager node={quoteattr(manager)}/>"
        + f"<datastream nodes={quoteattr(' '.join(datastreams))}/>"
        + procs
        + _el("difxVersion", difx_version)
        + _el("force", 1 if force else 0)
        + _el("restartSeconds", int(restart_seconds))  # read with atoi
        + _el("function", function)
        + _el("port", channel)
    )
    return command_document("DifxStart", body)


def difx_stop(*, input_file: str) -> bytes:
    return command_document("DifxStop", _el("input", input_file))


def file_operation(*, operation: str, path: str, channel: int, arg: str = "") -> bytes:
    if operation not in FILE_OPERATIONS:
        raise LocalProtocolError(f"file operation {operation!r} is not one of {FILE_OPERATIONS}")
    body = _el("port", channel) + _el("operation", operation) + _el("arg", arg) + _el("path", path)
    return command_document("DifxFileOperation", body)


def file_transfer(*, direction: str, origin: str, destination: str, channel: int) -> bytes:
    """direction: "from DiFX" (get) or "to DiFX" (send), exactly."""
    if direction not in TRANSFER_DIRECTIONS:
        raise LocalProtocolError(f"file transfer direction {direction!r} is not understood")
    body = (
        _el("origin", origin)
        + _el("destination", destination)
        + _el("direction", direction)
        + _el("port", channel)
    )
    return command_document("DifxFileTransfer", body)


def vex2difx_run(
    *,
    pass_path: str,
    v2d_file: str,
    channel: int,
    calc_command: str = "calcif2",
    calc_only: bool = False,
    difx_version: str = "",
    user: str = "",
    node: str = "",
) -> bytes:
    body = (
        _el("user", user)
        + _el("node", node)
        + _el("difxVersion", difx_version)
        + _el("passPath", pass_path)
        + _el("file", v2d_file)
        + _el("calcCommand", calc_command)
        + _el("calcOnly", 1 if calc_only else 0)
        + _el("port", channel)
    )
    return command_document("DifxVex2DifxRun", body)


def machines_definition(
    *,
    input_file: str,
    machines_file: str,
    threads_file: str,
    manager: str,
    datastreams: Sequence[str],
    processes: Sequence[Process],
    channel: int,
    difx_version: str = "",
    test_processors: bool = False,
) -> bytes:
    procs = "".join(
        f'<process nodes={quoteattr(p.node)} threads="{int(p.threads)}"/>' for p in processes
    )
    body = (
        _el("input", input_file)
        + _el("machinesFile", machines_file)
        + _el("threadsFile", threads_file)
        + f"<manager node={quoteattr(manager)}/>"
        + f"<datastream nodes={quoteattr(' '.join(datastreams))}/>"
        + procs
        + _el("difxVersion", difx_version)
        + _el("testProcessors", "true" if test_processors else "false")  # only "true" is on
        + _el("port", channel)
    )
    return command_document("DifxMachinesDefinition", body)


def get_directory(
    *, mark5: str, vsn: str, channel: int, generate_new: bool = False, difx_version: str = ""
) -> bytes:
    body = (
        _el("difxVersion", difx_version)
        + _el("mark5", mark5)
        + _el("vsn", vsn)
        + _el("generateNew", int(generate_new))
        + _el("port", channel)
    )
    return command_document("DifxGetDirectory", body)


def mk5_control(*, command_text: str, target_node: str, channel: int) -> bytes:
    body = _el("command", command_text) + _el("targetNode", target_node) + _el("port", channel)
    return command_document("DifxMk5Control", body)


def mark5_copy(
    *, mark5: str, vsn: str, scans: str, destination: str, channel: int, difx_version: str = ""
) -> bytes:
    body = (
        _el("difxVersion", difx_version)
        + _el("mark5", mark5)
        + _el("vsn", vsn)
        + _el("scans", scans)
        + _el("destination", destination)
        + _el("port", channel)
    )
    return command_document("DifxMark5Copy", body)
