"""Machines definition (§6.6), vex2difx (§6.7), getDirectory (§6.8), Mk5Control (§6.9),
Mark5Copy (§6.10), file list (§6.12) and the setup path (§3, packet 13) of the guiServer
simulator, checked as bytes on a raw socket (spec = `difx-guiserver-protocol.md`)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

# The raw-socket helpers sit next to this file; pytest's importlib mode puts no test folder
# on sys.path, so this one is added (once).
if str(Path(__file__).parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).parent))
from sim_raw import QUIET, Raw, command, i32, ids, inner_packets, listen, lp, read_all

pytestmark = pytest.mark.timeout(90)


@pytest.fixture
def sim(guiserver):
    return guiserver("--load-interval", "60")


@pytest.fixture
def raw(sim):
    r = Raw(sim.port)
    r.send(19)
    yield r
    r.close()


def _collect(raw, port, until):
    diags = []
    got = inner_packets(raw.channel_writes(port, until_ids=until, diagnostics=diags))
    return got, diags


# --------------------------------------------------------------- machines (§6.6)


def _machines(raw, port, fields, nodes):
    fields = {"address": "127.0.0.1", "port": str(port), **fields}
    raw.send(3, command("DifxMachinesDefinition", fields, nodes))


NODES = (
    '<manager node="difxhead"/><datastream nodes="ds1,ds2"/>'
    '<process threads="4" nodes="difxhead"/><process threads="7" nodes="cn01 cn02"/>'
)


def test_machines_definition_writes_both_files(sim, raw):
    """§6.6: 102, 103, (108) 111 path, (109) 110 path, 104, 115, 116, 101; the head node's
    threads count one less; 'NUMBER OF CORES' counts the processing nodes."""
    job = sim.sandbox / "exp" / "j.input"
    job.parent.mkdir()
    _machines(raw, 80, {"input": str(job)}, NODES)
    got, diags = _collect(raw, 80, {100, 101})
    machines, threads = str(job)[:-6] + ".machines", str(job)[:-6] + ".threads"
    assert got == [
        (102, b""),
        (103, b""),
        (108, b""),
        (111, machines.encode()),
        (109, b""),
        (110, threads.encode()),
        (104, b""),
        (115, b""),
        (116, b""),
        (101, b""),
    ]
    assert (5, b"No machines file specified - generating path from input file.") in diags
    assert Path(machines).read_text() == "difxhead\nds1\nds2\ndifxhead\ncn01\ncn02\n"
    assert Path(threads).read_text() == "NUMBER OF CORES:    3\n3\n7\n7\n"
    raw.assert_silent()


def test_machines_failures_and_low_thread_count(sim, raw):
    """§6.6: no head node 105+100 with ERROR 6; zero threads adds 121 before 116."""
    _machines(raw, 81, {"input": "/x.input"}, '<datastream nodes="ds1"/><process nodes="a"/>')
    got, diags = _collect(raw, 81, {100, 101})
    assert ids(got) == [102, 103, 105, 100]
    assert diags == [(6, b"Machines specification failed - no headnode specified.")]
    folder = sim.sandbox / "m"
    folder.mkdir()
    files = {"machinesFile": str(folder / "a.machines"), "threadsFile": str(folder / "a.threads")}
    lone = '<manager node="h"/><datastream nodes="ds1"/><process threads="1" nodes="h"/>'
    _machines(raw, 82, files, lone)
    got, _ = _collect(raw, 82, {100, 101})
    assert ids(got) == [102, 103, 111, 110, 104, 115, 121, 116, 101]


def test_machines_processor_test(sim, raw):
    """§6.6: testProcessors exactly 'true': 122, then 120 (passed) or 119 (failed, dropped)
    per node, about 1 s each."""
    folder = sim.sandbox / "m"
    folder.mkdir()
    files = {
        "machinesFile": str(folder / "a.machines"),
        "threadsFile": str(folder / "a.threads"),
        "testProcessors": "true",
    }
    nodes = '<manager node="difxhead"/><datastream nodes="ds1"/><process nodes="cn01 nosuch"/>'
    _machines(raw, 83, files, nodes)
    got, _ = _collect(raw, 83, {100, 101})
    assert got[5:8] == [(122, b""), (120, b"cn01"), (119, b"nosuch")]
    assert (folder / "a.machines").read_text() == "difxhead\nds1\ncn01\n"


# -------------------------------------------------------------- vex2difx (§6.7)


def _vex2difx(raw, port, pass_path, file, calc_only=0, address="127.0.0.1"):
    fields = {
        "passPath": str(pass_path),
        "file": file,
        "calcCommand": "calcif2",
        "calcOnly": str(calc_only),
        "address": address,
        "port": str(port),
    }
    raw.send(3, command("DifxVex2DifxRun", fields))


def test_vex2difx_raw_paths_then_zero(sim, raw):
    """§6.7: raw records (int32 len, full path, no newline) of each new .input then each new
    non-empty .im, then int32 0; errors only as 6; the setup path (13) prefixes the command."""
    folder = sim.sandbox / "pass"
    folder.mkdir()
    (folder / "exp.v2d").write_text("vex = exp.vex\n# sim-jobs: 2\n")
    raw.send(13, b"source /difx/setup.bash;")
    _vex2difx(raw, 90, folder, "exp.v2d")
    diags = []
    writes = raw.channel_writes(90, count=9, diagnostics=diags)
    names = [f"{folder}/exp_{n}" for n in ("1.input", "2.input", "1.im", "2.im")]
    expected = []
    for name in names:
        expected += [i32(len(name)), name.encode()]
    assert writes == [*expected, i32(0)]
    assert diags[0] == (
        5,
        f"Executing: cd {folder}; source /difx/setup.bash; vex2difx -f exp.v2d".encode(),
    )
    assert (5, b"vex2difx complete") in diags
    raw.assert_silent()


def test_vex2difx_errors_are_only_error_6(sim, raw):
    """§6.7: a failing vex2difx sends no code on the channel: ERROR 6 on the main socket,
    and the list is empty (int32 0)."""
    _vex2difx(raw, 91, sim.sandbox, "missing.v2d")
    diags = []
    assert raw.channel_writes(91, count=1, diagnostics=diags) == [i32(0)]
    assert (6, b"vex2difx... Error: cannot open missing.v2d") in diags
    assert (6, b"vex2difx RETURNED ERRORS") in diags


def test_vex2difx_closes_two_seconds_after_the_zero(sim, raw):
    """§6.7: channel mode off, the server closes its connection 2 s after the int32 0."""
    raw.send(20)
    folder = sim.sandbox / "pass"
    folder.mkdir()
    (folder / "job_1.calc").write_text("x")
    server = listen()
    _vex2difx(raw, server.getsockname()[1], folder, "job_1", calc_only=1)
    conn, _ = server.accept()
    data = b""
    conn.settimeout(10)
    while not data.endswith(i32(0)):
        data += conn.recv(4096)
    t0 = time.monotonic()
    rest = read_all(conn)
    waited = time.monotonic() - t0
    im = f"{folder}/job_1.im".encode()
    assert data == i32(len(im)) + im + i32(0)
    assert rest == b""
    assert 1.5 < waited < 5
    server.close()


# --------------------------------------------------------- getDirectory (§6.8)


def _get_directory(raw, port, mark5, vsn, generate):
    fields = {"mark5": mark5, "vsn": vsn, "generateNew": str(generate), "address": "127.0.0.1"}
    raw.send(3, command("DifxGetDirectory", {**fields, "port": str(port)}))


def test_get_directory_generate_and_read(sim, raw):
    """§6.8: 301, 303 path, 311, 312 per line, 313, 307 date, 309, 310 per file line, 302."""
    _get_directory(raw, 100, "mark5fx01", "NRAO+123", 1)
    got, _ = _collect(raw, 100, {302, 304})
    assert ids(got) == [301, 303, 311, 312, 312, 313, 307, 309, 310, 310, 310, 310, 302]
    assert got[1][1] == f"{sim.sandbox}/mark5dir/NRAO+123.dir".encode()
    assert len(got[6][1]) == 12
    assert got[8][1] == b"NRAO+123 3 A"


def test_get_directory_failures(sim, raw):
    """§6.8: unknown unit: 305 stderr text, 306, 304; no directory file: 305, 308, 304."""
    _get_directory(raw, 101, "nosuch", "V", 0)
    got, diags = _collect(raw, 101, {302, 304})
    assert ids(got) == [301, 305, 306, 304]
    assert (6, got[1][1]) in diags
    _get_directory(raw, 102, "mark5fx01", "NONE", 0)
    got, _ = _collect(raw, 102, {302, 304})
    assert ids(got) == [301, 303, 305, 308, 304]


# ---------------------------------------------------------- Mk5 (§6.9, §6.10)


def test_mk5control_multicasts_the_command(sim, raw):
    """§6.9: 102 then 101 (mk5control prints nothing); the DifxCommand it multicasts is
    relayed to us like any DiFX message (§7)."""
    raw.send(1, i32(1))
    fields = {"command": "getvsn", "targetNode": "mark5fx01", "address": "127.0.0.1"}
    raw.send(3, command("DifxMk5Control", {**fields, "port": "110"}))
    seen = []
    while not (seen and seen[-1] == (22, i32(110) + i32(0))) or len(seen) < 5:
        seen.append(raw.recv_skipping(set()))
    relayed = [d for p, d in seen if p == 1]
    assert any(
        b"<type>DifxCommand</type>" in d and b"<command>getvsn</command>" in d for d in relayed
    )
    writes = [d[4:] for p, d in seen if p == 22]
    assert ids(inner_packets(writes)) == [102, 101]


def test_mark5_copy(sim, raw):
    """§6.10: 301, 312 per stdout line, 305 per stderr line, 314 if errors, 302 always."""
    dest = sim.sandbox / "copy"
    dest.mkdir()
    fields = {"mark5": "mark5fx01", "vsn": "V1", "scans": "1,2", "address": "127.0.0.1"}
    raw.send(3, command("DifxMark5Copy", {**fields, "destination": str(dest), "port": "120"}))
    got, _ = _collect(raw, 120, {302})
    assert ids(got) == [301, 312, 312, 302]
    assert sorted(p.name for p in dest.iterdir()) == ["V1_0001.m5a", "V1_0002.m5a"]
    raw.send(3, command("DifxMark5Copy", {**fields, "destination": "/nowhere", "port": "121"}))
    got, _ = _collect(raw, 121, {302})
    assert ids(got) == [301, 305, 314, 302]


# ------------------------------------------------------------ file list (§6.12)


def _file_list(raw, port, files, dest, fmt="VDIF", ref_mjd=57028):
    body = i32(len(files)) + b"".join(lp(f) for f in files)
    raw.send(23, body + lp(dest) + lp(fmt) + i32(ref_mjd) + lp("127.0.0.1") + i32(port))


def test_file_list(sim, raw):
    """§6.12: 102, 104 name, 111 per file, 110 count as binary int32, 112 if errors, 101."""
    data = sim.sandbox / "data"
    data.mkdir()
    for n in (1, 2):
        (data / f"s{n}.vdif").write_bytes(b"x")
    files = [str(data / "s1.vdif"), str(data / "s2.vdif"), str(data / "gone.vdif")]
    dest = str(sim.sandbox / "list.txt")
    _file_list(raw, 130, files, dest)
    got, _ = _collect(raw, 130, {100, 101})
    assert ids(got) == [102, 104, 111, 111, 110, 112, 101]
    assert got[4][1] == i32(2)
    assert got[2][1].startswith(files[0].encode() + b" ")
    assert len(Path(dest).read_text().splitlines()) == 2


def test_file_list_existing_destination_reads_the_answer(sim, raw):
    """§6.12: destination exists: 103, then the server reads an int32 from the client; 107
    cancels (100), anything else overwrites. Bad format: 109 then 100."""
    dest = sim.sandbox / "list.txt"
    dest.write_text("old\n")
    _file_list(raw, 131, [], str(dest))
    got, _ = _collect(raw, 131, {103})
    assert got == [(102, b""), (103, str(dest).encode())]
    raw.assert_silent(QUIET)  # waiting for our answer
    raw.send(22, i32(131) + i32(107))
    got, _ = _collect_opened(raw, 131, {100, 101})
    assert ids(got) == [100]
    assert dest.read_text() == "old\n"
    _file_list(raw, 132, [], str(dest))
    _collect(raw, 132, {103})
    raw.send(22, i32(132) + i32(106))
    got, _ = _collect_opened(raw, 132, {100, 101})
    assert ids(got) == [104, 110, 101]
    assert dest.read_text() == ""
    _file_list(raw, 133, [], str(dest), fmt="MP3")
    got, _ = _collect(raw, 133, {100})
    assert got == [(102, b""), (109, b"MP3"), (100, b"")]


def _collect_opened(raw, port, until):
    diags = []
    writes = raw.channel_writes(port, until_ids=until, diagnostics=diags, opened=True)
    return inner_packets(writes), diags
