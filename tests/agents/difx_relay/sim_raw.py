"""Raw-socket helpers for the simulator tests: bytes built and checked with `struct` only.

Deliberately independent of the agent's protocol code (framing, guiclient, operations,
jobcontrol, commands): the simulator must match the protocol spec, not our client's reading of
it. Spec = `difx-guiserver-protocol.md`.
"""

from __future__ import annotations

import socket
import struct
import time
from xml.sax.saxutils import escape

HEADER = struct.Struct(">ii")
INT = struct.Struct(">i")
QUIET = 0.5  # how long "nothing was sent" is watched for


def i32(value: int) -> bytes:
    return INT.pack(value)


def packet(pid: int, payload: bytes = b"") -> bytes:
    return HEADER.pack(pid, len(payload)) + payload


def lp(text: str) -> bytes:
    data = text.encode()
    return i32(len(data)) + data


def command(type_name: str, fields: dict[str, str] | None = None, extra: str = "") -> bytes:
    """A `<difxMessage>` command document as DiFX clients write it."""
    body = "".join(f"<{k}>{escape(v)}</{k}>" for k, v in (fields or {}).items())
    inner_name = type_name[0].lower() + type_name[1:]
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<difxMessage><header><from>gui</from>'
        "<to>difxhead</to><mpiProcessId>-1</mpiProcessId><identifier>gui</identifier>"
        f"<type>{type_name}</type></header><body><seqNumber>0</seqNumber>"
        f"<{inner_name}>{body}{extra}</{inner_name}></body></difxMessage>"
    ).encode()


class Raw:
    """One client connection to the simulator, read packet by packet."""

    def __init__(self, port: int, host: str = "127.0.0.1") -> None:
        self.sock = socket.create_connection((host, port), timeout=10)
        self.buffer = b""

    def close(self) -> None:
        self.sock.close()

    def send(self, pid: int, payload: bytes = b"") -> None:
        self.sock.sendall(packet(pid, payload))

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self, n: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while len(self.buffer) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except TimeoutError:
                return False
            if not chunk:
                raise ConnectionError("simulator closed the connection")
            self.buffer += chunk
        return True

    def recv(self, timeout: float = 10.0) -> tuple[int, bytes]:
        if not self._fill(8, timeout):
            raise AssertionError(f"no packet within {timeout} s")
        pid, n = HEADER.unpack_from(self.buffer)
        if not self._fill(8 + n, timeout):
            raise AssertionError(f"packet {pid} incomplete within {timeout} s")
        payload = self.buffer[8 : 8 + n]
        self.buffer = self.buffer[8 + n :]
        return pid, payload

    def recv_skipping(self, skip: set[int], timeout: float = 10.0) -> tuple[int, bytes]:
        """The next packet whose id is not in `skip` (e.g. relayed multicasts, diagnostics)."""
        while True:
            pid, payload = self.recv(timeout)
            if pid not in skip:
                return pid, payload

    def assert_silent(self, seconds: float = QUIET) -> None:
        if self._fill(1, seconds):
            raise AssertionError(f"expected silence, got {self.buffer[:64]!r}")

    def channel_writes(
        self,
        port: int,
        *,
        until_ids: set[int] | None = None,
        count: int | None = None,
        timeout: float = 15.0,
        diagnostics: list[tuple[int, bytes]] | None = None,
        opened: bool = False,
    ) -> list[bytes]:
        """The 22 packets for `port` (their bytes after the port), after its 21.

        Stops after `count` writes, or after the inner packet whose id is in `until_ids`
        (including its length and payload writes). Packets 4/5/6 are collected into
        `diagnostics` when given; anything else is an error. `opened`: its 21 was read."""
        writes: list[bytes] = []
        deadline = time.monotonic() + timeout
        while True:
            pid, payload = self.recv(max(0.1, deadline - time.monotonic()))
            if pid in (4, 5, 6) and diagnostics is not None:
                diagnostics.append((pid, payload))
                continue
            if pid == 21:
                assert payload == i32(port), f"21 for {payload!r}, expected port {port}"
                assert not opened, "a second 21 for the same operation"
                opened = True
                continue
            assert pid == 22, f"unexpected packet {pid} {payload[:80]!r}"
            assert opened, "22 before 21"
            assert payload[:4] == i32(port), f"22 for another port: {payload[:4]!r}"
            writes.append(payload[4:])
            if count is not None and len(writes) >= count:
                return writes
            if until_ids is not None:
                packets = inner_packets(writes, strict=False)
                if packets and packets[-1][0] in until_ids and _inner_complete(writes):
                    return writes


def _inner_complete(writes: list[bytes]) -> bool:
    i = 0
    while i < len(writes):
        if i + 1 >= len(writes):
            return False
        n = INT.unpack(writes[i + 1])[0]
        i += 2 if n == 0 else 3
        if i > len(writes):
            return False
    return True


def inner_packets(writes: list[bytes], strict: bool = True) -> list[tuple[int, bytes]]:
    """Inner packets from channel writes, checking the three-write shape (§4): a 4-byte id
    write, a 4-byte length write, then the payload as one write (absent when length is 0)."""
    out: list[tuple[int, bytes]] = []
    i = 0
    while i < len(writes):
        if i + 1 >= len(writes):
            if strict:
                raise AssertionError(f"inner packet cut after its id: {writes[i:]!r}")
            break
        assert len(writes[i]) == 4 and len(writes[i + 1]) == 4, writes[i : i + 2]
        pid, n = INT.unpack(writes[i])[0], INT.unpack(writes[i + 1])[0]
        if n == 0:
            out.append((pid, b""))
            i += 2
            continue
        if i + 2 >= len(writes):
            if strict:
                raise AssertionError("inner packet missing its payload write")
            break
        assert len(writes[i + 2]) == n, (pid, n, writes[i + 2][:40])
        out.append((pid, writes[i + 2]))
        i += 3
    return out


def ids(packets: list[tuple[int, bytes]]) -> list[int]:
    return [p for p, _ in packets]


def listen() -> socket.socket:
    """A listening socket on loopback, for channel-mode-off replies (the server connects)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(4)
    s.settimeout(10)
    return s


def read_all(conn: socket.socket, timeout: float = 10.0) -> bytes:
    """Everything the server writes on an accepted reply connection, until it closes."""
    conn.settimeout(timeout)
    data = b""
    while chunk := conn.recv(65536):
        data += chunk
    return data
