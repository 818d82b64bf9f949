"""What the kernel does with our UDP socket: the receive buffer it grants, the datagrams it drops.

UDP has no flow control: when datagrams arrive faster than the agent reads them they wait in
the socket's receive buffer, and once that is full the kernel drops the rest, silently. So:

- :func:`set_receive_buffer` asks for a size and reads back what was granted. Linux caps
  ``SO_RCVBUF`` at ``net.core.rmem_max`` (212 992 bytes on a stock host) without an error;
  ``SO_RCVBUFFORCE`` goes past the cap but needs ``CAP_NET_ADMIN``. Python's ``socket`` module
  does not export ``SO_RCVBUFFORCE``, so its Linux value is spelled here. The kernel reports
  twice the size it books for data (the other half pays for its bookkeeping), and each small
  datagram costs about a kilobyte of it whatever its length.
- :func:`udp_drops` reads the per-socket drop counter the kernel keeps in ``/proc/net/udp``
  (the last column, matched by the socket's inode), so drops are counted, not guessed;
  :class:`KernelDrops` turns its readings into drops since we started listening.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
from dataclasses import dataclass

SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)  # 33 on Linux
PROC_TABLES = ("/proc/net/udp", "/proc/net/udp6")


@dataclass(frozen=True, kw_only=True)
class ReceiveBuffer:
    """``wanted`` bytes were asked for; the kernel reports ``granted`` (its doubled figure)."""

    wanted: int
    granted: int
    forced: bool  # SO_RCVBUFFORCE worked (the rmem_max cap did not apply)

    @property
    def short(self) -> bool:
        """Less than asked: the kernel's cap applied."""
        return self.granted < self.wanted

    def describe(self) -> str:
        how = "forced past net.core.rmem_max" if self.forced else "capped by net.core.rmem_max"
        text = f"udp receive buffer: asked {self.wanted} bytes, kernel granted {self.granted}"
        if self.short:
            return (
                f"{text} ({how}; run as root or raise net.core.rmem_max to {self.wanted} so "
                "bursts are not dropped by the kernel)"
            )
        return f"{text} ({how})" if self.forced else text


def set_receive_buffer(sock: socket.socket, wanted: int) -> ReceiveBuffer:
    forced = False
    if sys.platform.startswith("linux"):
        try:
            sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, wanted)
            forced = True
        except OSError:  # no CAP_NET_ADMIN
            pass
    if not forced:
        with contextlib.suppress(OSError):  # refused outright: what we have is read below
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, wanted)
    granted = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
    return ReceiveBuffer(wanted=wanted, granted=granted, forced=forced)


def parse_drops(table: str, inode: int) -> int | None:
    """The ``drops`` column of the row of ``/proc/net/udp`` (or ``udp6``) with this inode."""
    lines = table.splitlines()
    if not lines:
        return None
    header = lines[0].split()
    try:
        inode_col = header.index("inode")
        drops_col = header.index("drops")
    except ValueError:
        return None
    # the header names "tx_queue rx_queue" and "tr tm->when" as one column each in the rows
    shift = sum(1 for name in ("tx_queue", "tm->when") if name in header)
    inode_col -= shift
    drops_col -= shift
    for line in lines[1:]:
        fields = line.split()
        if len(fields) > drops_col and fields[inode_col] == str(inode):
            return int(fields[drops_col])
    return None


def udp_drops(sock: socket.socket) -> int | None:
    """Datagrams the kernel dropped for ``sock`` (receive buffer full); None if unknown."""
    inode = os.fstat(sock.fileno()).st_ino
    for path in PROC_TABLES:
        try:
            with open(path) as f:
                table = f.read()
        except OSError:
            continue
        drops = parse_drops(table, inode)
        if drops is not None:
            return drops
    return None


class KernelDrops:
    """The kernel's drop counter for our socket, counted from ``base`` (its reading when we
    started listening; None when it cannot be read here, and then nothing is counted)."""

    def __init__(self, base: int | None) -> None:
        self.base = base
        self.total: int | None = None  # drops since we started listening (None: unknown)

    def update(self, reading: int | None) -> int:
        """A fresh reading of the counter (None: unreadable now); the drops new since the last."""
        if self.base is None or reading is None:
            return 0
        drops = reading - self.base
        new = drops - (self.total or 0)
        self.total = drops
        return new
