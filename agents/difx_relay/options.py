"""The agent's settings (socs_like.settings), and the one parser of a message selection that
both `--selection` and the `configure_relay` task use."""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from typing import Literal

from socs_like.settings import setting, settings

from . import commands
from .errors import LocalProtocolError


def selection(text: str) -> list[str] | None:
    """A selection of DiFX message types (`DifxStatusMessage,DifxAlertMessage`), or None for
    ALL; `LocalProtocolError` names an unknown type."""
    words = [w.strip() for w in text.replace("\n", ",").split(",") if w.strip()]
    if not words or words == ["ALL"]:
        return None
    commands.selection_keywords(words)
    return words


def selection_param(value: str | Iterable[object]) -> list[str] | None:
    """configure_relay's `selection`: a list of type names, a comma-separated string or ALL."""
    return selection(value if isinstance(value, str) else ",".join(map(str, value)))


def _selection_argument(text: str) -> list[str] | None:
    try:
        return selection(text)
    except LocalProtocolError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


@settings("DiFXRelay options")
class Options:
    host: str | None = setting(default=None, help="guiServer host (required in relay mode)")
    port: int | None = setting(
        default=None,
        help="guiServer TCP port (guiServer listens on 50200 unless told "
        "otherwise; there is no default here)",
    )
    mode: Literal["relay", "direct"] = setting(
        default="relay", help="relay: through guiServer; direct: join the DiFX multicast group"
    )
    multicast_group: str = setting(default="224.2.2.1", help="DiFX multicast group")
    multicast_port: int = setting(default=50200, help="DiFX multicast port")
    multicast_interface: str = setting(
        default="0.0.0.0", help="local address whose interface joins the group"
    )
    allowed_root: tuple[str, ...] = setting(
        default=(),
        metavar="PATH",
        help="folder on the DiFX host that operations may touch (repeatable); "
        "every other path is refused before it is sent",
    )
    local_root: tuple[str, ...] = setting(
        default=(),
        metavar="PATH",
        help="local folder get_file/send_file may write/read (repeatable)",
    )
    selection: list[str] | None = setting(
        default=None,
        parse=_selection_argument,
        help="comma-separated DiFX message types to relay (DifxStatusMessage, "
        "DifxAlertMessage, ...), or ALL (default); changeable with configure_relay",
    )
    relay: bool = setting(
        default=True,
        flag="--no-relay",
        help="start with guiServer's relay off (configure_relay turns it on)",
    )
    setup_path: str = setting(
        default="",
        help="text guiServer puts in front of every DiFX command line (packet 13; "
        "sent on every connect, empty by default)",
    )
    difx_version: str = setting(default="", help="DiFX version for jobs (set_version)")
    op_timeout: float = setting(
        default=10.0, help="seconds an operation waits for each guiServer reply"
    )
    idle_probe: float = setting(
        default=5.0, help="seconds of silence before the connection is probed"
    )
    probe_timeout: float = setting(
        default=3.0, help="seconds a probe may take before the connection counts as dead"
    )
    reconnect_max: float = setting(
        default=1.0, help="longest wait between connection attempts, seconds"
    )
    max_file_bytes: int = setting(
        default=64 * 1024 * 1024, help="largest file get_file/send_file move, bytes"
    )

    def __post_init__(self) -> None:
        if self.mode == "relay" and (not self.host or not self.port):
            raise ValueError("--host and --port are required in relay mode")
