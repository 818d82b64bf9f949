"""The device list file: one ``<logger-node> <device>`` per line (sans-I/O).

Blank lines and lines starting with ``#`` are skipped. Anything else that is not exactly a
logger node and a device name is an error naming the line: the original's JSON exporter
silently produced nothing after the list format changed, so a changed format must stop the
grab, not empty the plots.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import ListFileError

NODE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,31}$")
# ACNET names: a one-character prefix, ':' (or '_' in the alternate spelling), then the name
DEVICE = re.compile(r"^[A-Za-z0-9][:_][A-Za-z0-9_]{1,30}$")


@dataclass(frozen=True, kw_only=True)
class DeviceRef:
    node: str
    device: str
    line: int


def parse_device_list(text: str, path: str = "<list>") -> list[DeviceRef]:
    """The devices of a list file, in file order; ``ListFileError`` at the first bad line."""
    devices: list[DeviceRef] = []
    seen: dict[tuple[str, str], int] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.split()
        if len(fields) != 2:
            raise ListFileError(
                path, number, line, f"{len(fields)} field(s); expected '<logger-node> <device>'"
            )
        node, device = fields
        if not NODE.match(node):
            raise ListFileError(path, number, line, f"{node!r} is not a logger node name")
        if not DEVICE.match(device):
            raise ListFileError(path, number, line, f"{device!r} is not a device name like B:VIMIN")
        key = (node, device)
        if key in seen:
            raise ListFileError(path, number, line, f"duplicate of line {seen[key]}")
        seen[key] = number
        devices.append(DeviceRef(node=node, device=device, line=number))
    if not devices:
        raise ListFileError(path, 0, "", "no devices listed")
    return devices


def read_device_list(path: str) -> list[DeviceRef]:
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise ListFileError(path, 0, "", f"cannot read the list file ({exc})") from None
    return parse_device_list(text, path)
