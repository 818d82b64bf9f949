"""The guiServer simulator against the protocol spec (`difx-guiserver-protocol.md`, § below):
handshake, framing, channel mode, relay, file operations and transfers.

Every test talks to the simulator process over a raw socket and checks exact bytes with
`struct` (see `sim_raw`), never through the agent's own protocol code.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

# The raw-socket helpers sit next to this file; pytest's importlib mode puts no test folder
# on sys.path, so this one is added (once).
if str(Path(__file__).parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).parent))
from sim_raw import QUIET, Raw, command, i32, listen, packet, read_all

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def sim(guiserver):
    return guiserver("--no-multicast")


@pytest.fixture
def raw(sim):
    r = Raw(sim.port)
    yield r
    r.close()


def test_connect_sends_nothing(raw):
    """§2: on accept guiServer sends nothing."""
    raw.assert_silent(1.0)


def test_version_burst_order(sim, raw):
    """§2: 8 version, 11 base, 16 user, 10 per rungeneric version, 12 per environment entry,
    empty 18; never 9; any payload on the request."""
    raw.send(8, b"anything")
    got = [raw.recv() for _ in range(2 + 1 + 2 + 5 + 1)]
    assert [p for p, _ in got] == [8, 11, 16, 10, 10, 12, 12, 12, 12, 12, 18]
    assert got[0][1] == b"guiServer-sim 1.0"
    assert got[1][1] == str(sim.sandbox.resolve() / "difx").encode()
    assert got[2][1] == b"difx"
    assert [v for _, v in got[3:5]] == [b"DIFX-2.8.1", b"DIFX_DEVEL"]
    assert got[5][1] == f"DIFX_BASE={sim.sandbox.resolve() / 'difx'}".encode()
    assert got[-1][1] == b""
    raw.assert_silent()


def test_version_burst_without_user_or_versions(guiserver, tmp_path):
    """§2: 16 is left out when there is no login name; no rungeneric.* gives WARNING 5 in
    place of the 10s, at that point of the burst."""
    base = tmp_path / "nodifx"
    sim = guiserver("--no-multicast", "--user", "", "--difx-versions", "", "--difx-base", str(base))
    raw = Raw(sim.port)
    raw.send(8)
    got = [raw.recv() for _ in range(2 + 1 + 5 + 1)]
    assert [p for p, _ in got] == [8, 11, 5, 12, 12, 12, 12, 12, 18]
    assert got[1][1] == str(base).encode()
    assert (
        got[2][1]
        == (
            f'On DiFX Host "{base}/bin/rungeneric.*" returns empty or path does not exist - no '
            "versions of DiFX can be located.\n"
        ).encode()
    )
    raw.close()


def test_unknown_ids_are_read_and_ignored(raw):
    """§1: unknown ids are ignored but their payload is read: a payload that looks like a
    version request is not taken as one."""
    raw.send(77, packet(8))
    raw.send(0, b"")
    raw.assert_silent()
    raw.send(8)
    assert raw.recv()[0] == 8


def test_oversize_command_is_error_6(raw):
    """§3: a packet 3 longer than sizeof(DifxMessageGeneric) = 93,712 B gets ERROR 6."""
    doc = command("DifxFileOperation", {"operation": "mkdir", "path": "/x"})
    big = doc + b" " * (93_713 - len(doc))
    raw.send(3, big)
    assert raw.recv() == (
        6,
        b"Message length (93713) is longer than allowed DiFX maximum (93712) - ignored!\n",
    )
    raw.assert_silent()


def test_unknown_command_type_is_warning_5(raw):
    """§3: a command document of a type guiServer does not run gets WARNING 5 with the type's
    number in DiFX's list (DifxStatusMessage is 6; no type at all is 0)."""
    raw.send(3, command("DifxStatusMessage"))
    assert raw.recv() == (5, b"Received command message type 6 - don't know what this is....\n")
    raw.send(3, b"not xml at all")
    assert raw.recv() == (5, b"Received command message type 0 - don't know what this is....\n")


def test_bad_input_never_kills_the_simulator(raw, sim):
    """Short binary requests, a truncated 24, garbage XML: the connection keeps working."""
    raw.send(1, b"\x00")  # relay needs 4 bytes
    raw.send(24, i32(1) + i32(1000))
    raw.send(23, i32(-5))
    raw.send(22, b"\x00")
    raw.send(3, b"<difxMessage><header><type>DifxStart</type></header><body><port>x")
    raw.send(8)
    pid, _ = raw.recv_skipping({4, 5, 6})
    assert pid == 8
    assert sim.proc.poll() is None


# -------------------------------------------------------------------------- ls (§6.1)


def _ls(raw, path, port, arg="", address="127.0.0.1"):
    fields = {"operation": "ls", "path": path, "arg": arg, "address": address, "port": str(port)}
    raw.send(3, command("DifxFileOperation", fields))


def test_ls_is_raw_records_in_channel_mode(sim, raw):
    """§6.1, §4: 21[P]; each entry is two writes (int32 len, the line with its \\n), each one
    22 packet; the list ends with int32 0; no close notice follows."""
    folder = sim.sandbox / "exp"
    folder.mkdir()
    (folder / "a.input").write_text("x")
    (folder / "b.im").write_text("y")
    raw.send(19)
    _ls(raw, str(folder), 4242)
    writes = raw.channel_writes(4242, count=5)
    assert writes == [i32(8), b"a.input\n", i32(5), b"b.im\n", i32(0)]
    raw.assert_silent()


def test_ls_with_arguments_and_missing_path(sim, raw):
    """§6.1: `ls ARG PATH`; a missing path is just an empty list (stderr dropped)."""
    folder = sim.sandbox / "exp"
    folder.mkdir()
    (folder / "a.input").write_text("x")
    raw.send(19)
    _ls(raw, str(folder / "*.input"), 7, arg="-d")
    assert raw.channel_writes(7, count=3) == [
        i32(len(str(folder)) + 9),
        f"{folder}/a.input\n".encode(),
        i32(0),
    ]
    _ls(raw, str(sim.sandbox / "nothing"), 8)
    assert raw.channel_writes(8, count=1) == [i32(0)]
    _ls(raw, "/etc", 9)  # outside the sandbox: as if it did not exist
    assert raw.channel_writes(9, count=1) == [i32(0)]
    raw.assert_silent()


def test_ls_with_channel_mode_off_connects_to_the_client(sim, raw):
    """§4: channel mode off, the server connects to address:P and writes the same bytes
    without the 22 wrapper, then closes; nothing on the main socket."""
    (sim.sandbox / "f.txt").write_text("x")
    server = listen()
    port = server.getsockname()[1]
    _ls(raw, str(sim.sandbox / "f.txt"), port)
    conn, _ = server.accept()
    name = f"{sim.sandbox}/f.txt\n".encode()
    assert read_all(conn) == i32(len(name)) + name + i32(0)
    raw.assert_silent()
    server.close()


def test_channel_mode_is_switched_by_19_and_20(sim, raw):
    """§3: 19 on, 20 off; each operation reads the flag when it opens its reply path."""
    raw.send(19)
    raw.send(20)
    server = listen()
    _ls(raw, str(sim.sandbox / "none"), server.getsockname()[1])
    conn, _ = server.accept()
    assert read_all(conn) == i32(0)
    raw.assert_silent()
    server.close()


# ----------------------------------------------------- mkdir .. cp: silent (§6.2)


def _op(raw, op, path, arg=""):
    raw.send(
        3, command("DifxFileOperation", {"operation": op, "path": path, "arg": arg, "port": "1"})
    )


@pytest.mark.parametrize("channels", [True, False])
def test_file_operations_are_carried_out_and_silent(sim, raw, channels):
    """§6.2: mkdir (-p), touch, cp, mv, rm, rmdir run in order and send nothing, no channel
    either; the effect is on disk."""
    if channels:
        raw.send(19)
    box = sim.sandbox
    _op(raw, "mkdir", f"{box}/a/b/c")
    _op(raw, "touch", f"{box}/a/f1")
    _op(raw, "cp", f"{box}/a/f1", f"{box}/a/b/f2")
    _op(raw, "mv", f"{box}/a/b/f2", f"{box}/a/f3")
    _op(raw, "rmdir", f"{box}/a/b/c")
    raw.assert_silent(1.0)
    assert sorted(os.listdir(box / "a")) == ["b", "f1", "f3"]
    assert os.listdir(box / "a" / "b") == []
    _op(raw, "rm", f"{box}/a/f*")
    _op(raw, "rm", f"{box}/a/b", "-r")
    _op(raw, "mv", f"{box}/x", "relative/dest")  # refused: the destination must be absolute
    _op(raw, "format", f"{box}/a")  # not an operation: console only
    _op(raw, "mkdir", "/outside/the/sandbox")
    raw.assert_silent(1.0)
    assert os.listdir(box / "a") == []
    assert not os.path.exists("/outside")


# --------------------------------------------------------- get / send (§6.3)


def _transfer(raw, direction, origin, destination, port, address="127.0.0.1"):
    fields = {
        "origin": origin,
        "destination": destination,
        "direction": direction,
        "address": address,
        "port": str(port),
    }
    raw.send(3, command("DifxFileTransfer", fields))


def test_get_is_size_then_bytes_in_1024_writes(sim, raw):
    """§6.3 get: raw int32 size, then the bytes in writes of at most 1024."""
    data = bytes(range(256)) * 10  # 2560 bytes, NULs included
    (sim.sandbox / "out.bin").write_bytes(data)
    raw.send(19)
    _transfer(raw, "from DiFX", str(sim.sandbox / "out.bin"), "/local/out.bin", 31)
    writes = raw.channel_writes(31, count=4)
    assert writes[0] == i32(2560)
    assert [len(w) for w in writes[1:]] == [1024, 1024, 512]
    assert b"".join(writes[1:]) == data
    raw.assert_silent()


@pytest.mark.parametrize(
    ("origin", "status"),
    [("relative/file", -1), ("/missing/file", -2), ("{box}/missing", -2)],
)
def test_get_failures_are_negative_sizes(sim, raw, origin, status):
    """§6.3: -1 not absolute, -2 not found; nothing follows."""
    raw.send(19)
    _transfer(raw, "from DiFX", origin.format(box=sim.sandbox), "/x", 32)
    assert raw.channel_writes(32, count=1) == [i32(status)]
    raw.assert_silent()


def test_empty_file_get_is_a_zero_size(sim, raw):
    (sim.sandbox / "empty").write_bytes(b"")
    raw.send(19)
    _transfer(raw, "from DiFX", str(sim.sandbox / "empty"), "/x", 33)
    assert raw.channel_writes(33, count=1) == [i32(0)]
    raw.assert_silent()


def test_direction_must_match_exactly(sim, raw):
    """§6.3: only `from DiFX` / `to DiFX` do anything."""
    (sim.sandbox / "f").write_text("x")
    raw.send(19)
    for direction in ("from DiFX host", "to DiFX host", "FROM DIFX", ""):
        _transfer(raw, direction, str(sim.sandbox / "f"), str(sim.sandbox / "g"), 34)
    raw.assert_silent(1.0)


def test_send_reads_size_then_data_and_answers_the_size(sim, raw):
    """§6.3 send: the client uploads 22[P][N] then the data (here in 1024-byte packets); the
    server answers raw int32 N and the file is on disk."""
    data = b"".join(f"line {i}\n".encode() for i in range(400))  # text, 3490 bytes
    raw.send(19)
    _transfer(raw, "to DiFX", "/local/v2d", str(sim.sandbox / "up.v2d"), 41)
    assert raw.recv() == (21, i32(41))
    raw.assert_silent(0.3)  # the server waits for the upload, no reply yet
    raw.send(22, i32(41) + i32(len(data)))
    for i in range(0, len(data), 1024):
        raw.send(22, i32(41) + data[i : i + 1024])
    assert raw.channel_writes(41, count=1, opened=True) == [i32(len(data))]
    assert (sim.sandbox / "up.v2d").read_bytes() == data
    raw.assert_silent()


def test_send_keeps_each_block_up_to_its_first_nul(sim, raw):
    """§6.3: blocks are stored as C strings, so bytes after a NUL in a block are lost."""
    data = b"abc\0def" + b"x" * 1017 + b"tail"  # block 1: 1024 bytes, block 2: 'tail'
    raw.send(19)
    _transfer(raw, "to DiFX", "/l", str(sim.sandbox / "nul.txt"), 42)
    raw.send(22, i32(42) + i32(len(data)) + data)
    assert raw.channel_writes(42, count=1) == [i32(len(data))]
    assert (sim.sandbox / "nul.txt").read_bytes() == b"abctail"


@pytest.mark.parametrize(
    ("dest", "status"),
    [("relative.txt", -1), ("{box}/nodir/f.txt", -2), ("{box}/afile/f.txt", -5)],
)
def test_send_failures(sim, raw, dest, status):
    """§6.3: -1 not absolute, -2 directory missing, -5 parent not a directory; the data is
    read first all the same."""
    (sim.sandbox / "afile").write_text("x")
    raw.send(19)
    _transfer(raw, "to DiFX", "/l", dest.format(box=sim.sandbox), 43)
    raw.send(22, i32(43) + i32(3) + b"abc")
    assert raw.channel_writes(43, count=1) == [i32(status)]


def test_send_with_channel_mode_off(sim, raw):
    """§4: the server connects to the client, reads N and the data there, answers N, closes."""
    server = listen()
    _transfer(raw, "to DiFX", "/l", str(sim.sandbox / "off.txt"), server.getsockname()[1])
    conn, _ = server.accept()
    conn.sendall(i32(5) + b"hello")
    assert read_all(conn) == i32(5)
    assert (sim.sandbox / "off.txt").read_bytes() == b"hello"
    raw.assert_silent()
    server.close()


# ------------------------------------------------------------------ relay (§7)


def _relayed_types(raw, seconds):
    types = set()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            pid, payload = raw.recv(deadline - time.monotonic())
        except AssertionError:
            break
        assert pid == 1
        types.add(payload.split(b"<type>")[1].split(b"</type>")[0].decode())
    return types


def _settle(raw):
    """Read and drop what the server sent before it took the last request in: messages
    already in the socket would otherwise count against the next expectation."""
    _relayed_types(raw, 0.3)
    raw.buffer = b""


def test_relay_flag_selection_and_group(guiserver):
    """§3 packet 1 (relay, off at first), 17 (selection: needs SELECTED_MESSAGES, first
    keyword match per line), 7 (group change: the listener moves, so relaying stops)."""
    sim = guiserver(
        "--load-interval",
        "0.1",
        "--demo-every",
        "0.05",
        "--job-steps",
        "3",
        "--step-seconds",
        "0.05",
    )
    everything = {"DifxLoadMessage", "Mark5StatusMessage", "DifxStatusMessage"}
    raw = Raw(sim.port)
    raw.assert_silent(QUIET)
    raw.send(1, i32(1))
    assert _relayed_types(raw, 0.6) == everything
    raw.send(17, b"LOAD_MESSAGES")  # no SELECTED_MESSAGES: relay-all stays on
    assert _relayed_types(raw, 0.6) == everything
    raw.send(17, b"SELECTED_MESSAGES\nMARK5STATUS_MESSAGES")  # not STATUS_MESSAGES as well
    _settle(raw)
    assert _relayed_types(raw, 0.6) == {"Mark5StatusMessage"}
    raw.send(7, f"239.255.77.9\n{sim.multicast_port}".encode())
    _settle(raw)
    raw.assert_silent(QUIET)
    raw.send(7, f"239.255.77.1\n{sim.multicast_port}".encode())
    raw.send(17, b"ALL_MESSAGES")
    _settle(raw)
    assert _relayed_types(raw, 0.6) == everything
    raw.send(1, i32(0))
    _settle(raw)
    raw.assert_silent(QUIET)
    raw.close()


def test_relayed_document_is_sent_unchanged(guiserver):
    """§7: the datagram goes out as packet 1, unchanged (the document shape of DiFX)."""
    sim = guiserver("--load-interval", "0.1")
    raw = Raw(sim.port)
    raw.send(1, i32(1))
    pid, doc = raw.recv()
    assert pid == 1
    assert doc.startswith(b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<difxMessage>')
    assert b"\0" not in doc
    raw.close()


def test_channel_mode_off_with_no_listener(sim, raw):
    """§4 / src: channel mode off and nobody listening on address:P: ls and get fail on the
    server's console only (an alert, §8); DifxStart says ERROR 6 on the main socket."""
    server = listen()
    port = server.getsockname()[1]
    server.close()  # nothing listens there now
    _ls(raw, str(sim.sandbox), port)
    _transfer(raw, "from DiFX", str(sim.sandbox), "/x", port)
    raw.assert_silent(1.0)
    fields = {"input": "/x.input", "address": "127.0.0.1", "port": str(port)}
    raw.send(3, command("DifxStart", fields))
    assert raw.recv() == (
        6,
        b"client socket connection from guiServer to GUI failed - unable to start job",
    )
