"""DifxStart (§6.4), DifxStop (§6.5) and job status (§6.11) of the guiServer simulator, checked
as bytes on a raw socket (spec = `difx-guiserver-protocol.md`)."""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

import pytest

# The raw-socket helpers sit next to this file; pytest's importlib mode puts no test folder
# on sys.path, so this one is added (once).
if str(Path(__file__).parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).parent))
from sim_raw import QUIET, Raw, command, i32, ids, inner_packets, lp

pytestmark = pytest.mark.timeout(90)

START_END = {100, 101, 119, 120, 128}


@pytest.fixture
def sim(guiserver):
    return guiserver("--no-multicast", "--job-steps", "3", "--step-seconds", "0.05")


@pytest.fixture
def raw(sim):
    r = Raw(sim.port)
    r.send(19)
    yield r
    r.close()


def _job(sim, name="job1", behaviour=None, folder="exp"):
    d = sim.sandbox / folder
    d.mkdir(exist_ok=True)
    path = d / f"{name}.input"
    text = "DATASTREAM ENTRIES: 2\n"
    for word in behaviour or ():
        text += f"SIM BEHAVIOUR: {word}\n"
    path.write_text(text)
    return path


def _start(raw, input_file, port, *, function="", force="0", nodes=True, extra=None):
    fields = {"input": str(input_file), "force": force, "address": "127.0.0.1", "port": str(port)}
    if function:
        fields["function"] = function
    fields.update(extra or {})
    node_xml = (
        '<manager node="difxhead"/><datastream nodes="ds1 ds2"/>'
        '<process threads="7" nodes="cn01 cn02"/>'
        if nodes
        else ""
    )
    raw.send(3, command("DifxStart", fields, node_xml))


def _run(raw, port, diagnostics=None, timeout=30.0):
    diagnostics = [] if diagnostics is None else diagnostics
    writes = raw.channel_writes(port, until_ids=START_END, diagnostics=diagnostics, timeout=timeout)
    return inner_packets(writes)


def test_start_goes_on_after_config_command_not_found(sim, raw):
    """§6.4: 102, 103, 127; checkmpifxcorr's 'command not found' on stderr is 115 then 126,
    a warning only: 125 (config passed), 104, 113, the run's stdout as 114, then 117, 101.
    Then nothing more: no close notice (§4)."""
    path = _job(sim)
    _start(raw, path, 50)
    diags = []
    got = _run(raw, 50, diags)
    assert got[:6] == [
        (102, b""),
        (103, b""),
        (127, b""),
        (115, b"sh: checkmpifxcorr: command not found"),
        (126, b""),
        (125, b""),
    ]
    rest = ids(got[6:])
    assert rest[:2] == [104, 113]
    assert rest[-2:] == [117, 101]
    assert set(rest[2:-2]) == {114}
    assert (sim.sandbox / "exp" / "job1.difx").is_dir()
    # Main-socket diagnostics (src/diagnostic.cpp), in the order the server calls them.
    assert diags[0] == (5, b"checkmpifxcorr... sh: checkmpifxcorr: command not found")
    assert diags[1][0] == 5 and diags[1][1].startswith(b"executing: mpirun -np 0 --bynode")
    assert diags[1][1].endswith(f" mpifxcorr  {path} \n".encode())
    assert diags[-1] == (5, b"mpifxcorr complete")
    raw.assert_silent()


def _start_and_collect(raw, path, port, **kw):
    _start(raw, path, port, **kw)
    return _run(raw, port)


def test_start_config_only(sim, raw):
    """§6.4: CONFIG_ONLY stops after the check with 128."""
    got = _start_and_collect(raw, _job(sim, behaviour=["configok"]), 51, function="CONFIG_ONLY")
    assert ids(got) == [102, 103, 127, 114, 125, 128]
    assert got[3][1] == f"No errors with input file {sim.sandbox}/exp/job1.input".encode()


def test_config_error_bails_only_with_bail_on_config_fail(sim, raw):
    """§6.4: a config error is 115 + 124; BAIL_ON_CONFIG_FAIL then sends 116 with the 17
    bytes 'Execution stopped' and 128; without it the job runs even after 124."""
    path = _job(sim, behaviour=["badconfig"])
    got = _start_and_collect(raw, path, 52, function="BAIL_ON_CONFIG_FAIL")
    assert ids(got) == [102, 103, 127, 115, 124, 116, 128]
    assert got[5][1] == b"Execution stopped"
    got = _start_and_collect(raw, path, 53)
    assert ids(got)[:7] == [102, 103, 127, 115, 124, 104, 113]
    assert ids(got)[-2:] == [117, 101]


@pytest.mark.parametrize(
    ("setup", "codes", "error"),
    [
        ("missing", [102, 103, 109, 100], "DiFX start failed - input file {path} not found."),
        (
            "nonodes",
            [102, 103, 127, 115, 126, 125, 105, 100],
            "DiFX start failed - no headnode specified.",
        ),
        (
            "exists",
            [102, 103, 127, 115, 126, 125, 104, 111, 100],
            "Output file {out} exists.  Aborting correlation.",
        ),
    ],
)
def test_start_failures(sim, raw, setup, codes, error):
    """§6.4: input missing 109+100 (before the check); no head node 105+100 after it; output
    present without force 111+100; each with its ERROR 6 on the main socket."""
    path = _job(sim) if setup != "missing" else sim.sandbox / "exp" / "none.input"
    out = str(path)[: -len(".input")] + ".difx"
    if setup == "exists":
        (sim.sandbox / "exp" / "job1.difx").mkdir()
    _start(raw, path, 54, nodes=setup != "nonodes")
    diags = []
    got = inner_packets(raw.channel_writes(54, until_ids={100}, diagnostics=diags))
    assert ids(got) == codes
    assert (6, error.format(path=path, out=out).encode()) in diags


@pytest.mark.parametrize("force", ["1", "true", ""])
def test_force_deletes_previous_output(sim, raw, force):
    """§6.4: with force, 112 (deleting old output) then 113. DiFX's parser takes a present
    <force> as on unless it starts with 0/n/f, so an empty one is on."""
    path = _job(sim)
    (sim.sandbox / "exp" / "job1.difx").mkdir()
    (sim.sandbox / "exp" / "job1.difx" / "DIFX_old").write_text("x")
    got = _start_and_collect(raw, path, 55, force=force)
    assert ids(got)[6:9] == [104, 112, 113]
    assert ids(got)[-1] == 101
    assert not (sim.sandbox / "exp" / "job1.difx" / "DIFX_old").exists()


def test_failing_job(sim, raw):
    """§6.4: an error on stderr is 116 (counted); the end is 116 'mpifxcorr FAILED', 119."""
    got = _start_and_collect(raw, _job(sim, behaviour=["fail"]), 56)
    assert (116, b"Datastream 1: cannot open /data/missing.vdif") in got
    assert got[-2:] == [(116, b"mpifxcorr FAILED"), (119, b"")]


def test_errors_then_output_is_ended_with_errors(sim, raw):
    """§6.4: errors but stdout after the last one: 117 then 120; 'warning' lines are 115."""
    got = _start_and_collect(raw, _job(sim, behaviour=["errors", "warn"]), 57)
    assert (115, b"WARNING: datastream 1 is running slowly") in got
    assert ids(got)[-2:] == [117, 120]


def test_start_with_channel_mode_off_uses_a_packet_exchange(sim, raw):
    """§4: channel mode off, the same inner packets arrive as a plain byte stream on the
    connection the server opens to the client; it closes at the end."""
    from sim_raw import listen, read_all

    raw.send(20)
    server = listen()
    _start(raw, _job(sim), server.getsockname()[1])
    conn, _ = server.accept()
    data = read_all(conn, 30)
    assert data.startswith(i32(102) + i32(0) + i32(103) + i32(0) + i32(127) + i32(0) + i32(115))
    assert data.endswith(i32(117) + i32(0) + i32(101) + i32(0))
    server.close()


# ------------------------------------------------------------------- stop (§6.5)


@pytest.fixture
def slow(guiserver):
    # a job of 4 s: still running when the stop comes, and, not killed, some 70 lines after it
    sim = guiserver("--job-steps", "80", "--step-seconds", "0.05", "--load-interval", "60")
    raw = Raw(sim.port)
    raw.send(19)
    yield sim, raw
    raw.close()


def _stop(raw, path):
    raw.send(3, command("DifxStop", {"input": str(path)}))


def test_stop_kills_the_job_and_its_channel_ends_with_100(slow):
    """§6.5: no channel of its own; WARNING 5 'executing: ...' per ps, 'killing PID ...' per
    kill; the start channel ends with 100; no Terminating/Terminated multicast (§8)."""
    sim, raw = slow
    path = _job(sim)
    (sim.sandbox / "exp" / "job1.machines").write_text("difxhead\nds1\ncn01\n")
    raw.send(1, i32(1))
    _start(raw, path, 60)
    writes = raw.channel_writes(60, until_ids={113}, timeout=10, diagnostics=[])
    time.sleep(0.3)
    _stop(raw, path)
    seen = []
    while True:
        pid, payload = raw.recv()
        seen.append((pid, payload))
        if pid == 22 and payload == i32(60) + i32(100):
            assert raw.recv() == (22, i32(60) + i32(0))  # its length write; no payload
            break
    diags = [(p, d) for p, d in seen if p in (4, 5, 6)]
    grep = f"/bin/grep mpifxcorr | /bin/grep {path} | /bin/grep -v /bin/grep"
    stop_diags = [
        d for d in diags if (b"executing: " in d[1] and b"/bin/ps" in d[1]) or b"killing" in d[1]
    ]
    assert [p for p, _ in stop_diags] == [5, 5, 5, 5]
    assert stop_diags[0][1] == f"executing: mpirun -host difxhead /bin/ps -ef | {grep}\n".encode()
    assert stop_diags[1][1].startswith(b"killing PID ") and stop_diags[1][1].endswith(
        b" on difxhead"
    )
    assert stop_diags[2][1] == f"executing: /bin/ps -ef | {grep}\n".encode()
    assert (5, b"mpifxcorr terminated by user") in diags
    relayed = b"".join(d for p, d in seen if p == 1)
    assert b"<state>Running</state>" in relayed  # the correlator's own messages, relayed
    assert b"Terminat" not in relayed
    assert len(writes) > 0
    raw.assert_silent(QUIET)


def test_stop_that_finds_nothing_to_kill(slow):
    """§6.5 / the guide's warning: a stop may do nothing. Here ps finds no process, so no
    'killing'; the job runs on (114 lines keep coming) and its channel still ends with 100
    because the job left the running list."""
    sim, raw = slow
    path = _job(sim, behaviour=["wedge"])
    _start(raw, path, 61)
    raw.channel_writes(61, until_ids={113}, timeout=10, diagnostics=[])
    _stop(raw, path)
    seen = []
    while True:
        pid, payload = raw.recv(30)
        seen.append((pid, payload))
        if pid == 22 and payload == i32(61) + i32(100):
            assert raw.recv() == (22, i32(61) + i32(0))  # its length write; no payload
            break
    assert not any(b"killing" in d for p, d in seen if p == 5)
    after_stop = [d for p, d in seen if p == 22 and d.startswith(i32(61) + i32(114))]
    assert len(after_stop) > 10  # still running after the stop


# ------------------------------------------------------------- job status (§6.11)


def _job_status(raw, pattern, port, short=1):
    raw.send(24, i32(short) + lp(pattern) + lp("127.0.0.1") + i32(port))


def test_job_status_reads_the_difxlog(sim, raw):
    """§6.11: 102, 110 time, per .input 104 path then 106 (24-char timestamp directly followed
    by 'State  message', at most 99 chars), 105 (no .difxlog) or 108 (no status); 101."""
    path = _job(sim)
    _job(sim, "nolog")
    _start_and_collect(raw, path, 70)
    _job_status(raw, str(sim.sandbox / "exp" / "*.input"), 71)
    got = inner_packets(raw.channel_writes(71, until_ids={101}))
    assert ids(got) == [102, 110, 104, 106, 104, 105, 101]
    assert re.fullmatch(rb"\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}", got[1][1])
    assert got[2][1] == str(path).encode()
    assert re.fullmatch(rb"\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}Done  ", got[3][1])
    assert got[4][1] == str(sim.sandbox / "exp" / "nolog.input").encode()
    _job_status(raw, str(path), 72, short=0)
    assert ids(inner_packets(raw.channel_writes(72, until_ids={101}))) == [102, 110, 104, 108, 101]
    raw.assert_silent()
