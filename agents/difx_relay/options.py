"""The agent's command-line arguments, and the one parser of a message selection that both
`--selection` and the `configure_relay` task use."""

from __future__ import annotations

import argparse
from collections.abc import Iterable

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


def add_arguments(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("DiFXRelay options")
    g.add_argument("--host", help="guiServer host (required in relay mode)")
    g.add_argument(
        "--port",
        type=int,
        help="guiServer TCP port (guiServer listens on 50200 unless told "
        "otherwise; there is no default here)",
    )
    g.add_argument(
        "--mode",
        choices=["relay", "direct"],
        default="relay",
        help="relay: through guiServer; direct: join the DiFX multicast group",
    )
    g.add_argument("--multicast-group", default="224.2.2.1")
    g.add_argument("--multicast-port", type=int, default=50200)
    g.add_argument(
        "--multicast-interface",
        default="0.0.0.0",
        help="local address whose interface joins the group",
    )
    g.add_argument(
        "--allowed-root",
        action="append",
        default=[],
        metavar="PATH",
        help="folder on the DiFX host that operations may touch (repeatable); "
        "every other path is refused before it is sent",
    )
    g.add_argument(
        "--local-root",
        action="append",
        default=[],
        metavar="PATH",
        help="local folder get_file/send_file may write/read (repeatable)",
    )
    g.add_argument(
        "--selection",
        type=_selection_argument,
        default=None,
        help="comma-separated DiFX message types to relay (DifxStatusMessage, "
        "DifxAlertMessage, ...), or ALL (default); changeable with configure_relay",
    )
    g.add_argument(
        "--no-relay",
        dest="relay",
        action="store_false",
        help="start with guiServer's relay off (configure_relay turns it on)",
    )
    g.add_argument(
        "--setup-path",
        default="",
        help="text guiServer puts in front of every DiFX command line (packet 13; "
        "sent on every connect, empty by default)",
    )
    g.add_argument("--difx-version", default="", help="DiFX version for jobs (set_version)")
    g.add_argument(
        "--op-timeout",
        type=float,
        default=10.0,
        help="seconds an operation waits for each guiServer reply",
    )
    g.add_argument(
        "--idle-probe",
        type=float,
        default=5.0,
        help="seconds of silence before the connection is probed",
    )
    g.add_argument(
        "--probe-timeout",
        type=float,
        default=3.0,
        help="seconds a probe may take before the connection counts as dead",
    )
    g.add_argument(
        "--reconnect-max",
        type=float,
        default=1.0,
        help="longest wait between connection attempts, seconds",
    )
    g.add_argument("--max-file-bytes", type=int, default=64 * 1024 * 1024)
