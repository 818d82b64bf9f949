"""The simulated guiServer's bus: what its simulated DiFX processes multicast (spec §8, §9),
shared by the connection (which relays what it hears) and the operations (jobs, mk5control)."""

from __future__ import annotations

import contextlib
import itertools
import socket
from typing import Protocol
from xml.sax.saxutils import escape

from .messages import (
    WRAPPER_DECLARATION,
    XML_DECLARATION,
    AlertMessage,
    DifxMessage,
    Header,
    LoadMessage,
    StatusMessage,
    encode_message,
)


class Listener(Protocol):
    """A connection that hears the bus (and relays what it hears when `relay` is on)."""

    relay: bool

    def heard(self, doc: bytes, group: tuple[str, int]) -> None: ...


class Bus:
    """Everything the simulated DiFX processes multicast: to UDP and to relaying connections.

    Sequence numbers count per sending process, across types and identifiers (spec §9)."""

    def __init__(self, group: str | None, port: int, interface: str, head: str) -> None:
        self.head = head
        self.connections: set[Listener] = set()
        self._seq: dict[tuple[str, int], itertools.count[int]] = {}
        self._udp: socket.socket | None = None
        self.group = group or ""
        self.port = port
        if group:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(interface))
            s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 1)
            s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
            s.setblocking(False)
            self._udp = s

    def new_process(self, host: str, mpi: int) -> None:
        """A process (re)starts: its counter starts again at 0."""
        self._seq.pop((host, mpi), None)

    def header(self, mtype: str, host: str, identifier: str, mpi: int) -> Header:
        seq = next(self._seq.setdefault((host, mpi), itertools.count()))
        return Header(
            from_host=host,
            message_type=mtype,
            identifier=identifier,
            mpi_process_id=mpi,
            seq_number=seq,
        )

    def emit(self, msg: DifxMessage, *, wrapper: bool = False) -> None:
        doc = (
            encode_message(msg, declaration=WRAPPER_DECLARATION) if wrapper else encode_message(msg)
        )
        self.emit_raw(doc)

    def emit_raw(self, doc: bytes, group: tuple[str, int] | None = None) -> None:
        """A datagram on (group, port), by default the simulator's own; guiServer relays what
        arrives on the group each connection listens to."""
        dest = group or (self.group, self.port)
        if self._udp is not None and dest[0]:
            with contextlib.suppress(OSError):  # UDP may drop, as real multicast does
                self._udp.sendto(doc, dest)
        for conn in list(self.connections):
            conn.heard(doc, dest)

    def emit_load(self, host: str, *, cpu: float, used: int, rx: int, tx: int) -> None:
        self.emit(
            LoadMessage(
                header=self.header("DifxLoadMessage", host, "", -1),
                cpu_load=cpu,
                total_memory=64_000_000,
                used_memory=used,
                net_rx_rate=rx,
                net_tx_rate=tx,
                n_core=16,
            )
        )

    def emit_difx_command(self, command: str, to: str) -> None:
        """The `DifxCommand` mk5control multicasts for mk5daemon on unit `to`."""
        seq = next(self._seq.setdefault(("mk5control", -1), itertools.count()))
        doc = (
            f"{XML_DECLARATION}\n<difxMessage><header><from>{escape(self.head)}</from>"
            f"<to>{escape(to)}</to><mpiProcessId>-1</mpiProcessId>"
            "<identifier>mk5control</identifier><type>DifxCommand</type></header>"
            f"<body><seqNumber>{seq}</seqNumber><difxCommand><command>{escape(command)}"
            "</command></difxCommand></body></difxMessage>"
        )
        self.emit_raw(doc.encode())

    def status(
        self,
        job: str,
        state: str,
        *,
        host: str,
        mpi: int = 0,
        vis: float | None = None,
        start: float | None = None,
        stop: float | None = None,
        weights: tuple[tuple[int, float], ...] = (),
        message: str = "",
        input_file: str = "",
    ) -> None:
        wrapper = mpi == -1
        self.emit(
            StatusMessage(
                header=self.header("DifxStatusMessage", host, job, mpi),
                state=state,
                input_file=input_file,
                message=message,
                visibility_mjd=0.0 if wrapper else vis,
                job_start_mjd=start,
                job_stop_mjd=stop,
                weights=weights,
            ),
            wrapper=wrapper,
        )

    def alert(
        self,
        text: str,
        severity: int,
        *,
        host: str,
        job: str = "",
        mpi: int = -1,
        input_file: str | None = None,
    ) -> None:
        self.emit(
            AlertMessage(
                header=self.header("DifxAlertMessage", host, job, mpi),
                message=text,
                severity=severity,
                input_file=input_file,
            )
        )
