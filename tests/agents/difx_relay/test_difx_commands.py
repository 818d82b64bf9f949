"""Every command document round-trips through the parser the simulator uses; binary requests
have the byte layout guiServer reads."""

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from socs_like_agents.difx_relay import commands as C
from socs_like_agents.difx_relay.errors import LocalProtocolError, RemoteProtocolError

PROCS = [C.Process("cn01", 7), C.Process("cn02", 5)]

CASES = [
    (
        C.difx_start(
            input_file="/d/j_1.input",
            channel=4,
            manager="head",
            datastreams=["ds1", "ds2"],
            processes=PROCS,
            difx_version="DIFX-2.8",
            function="CONFIG_ONLY",
        ),
        "DifxStart",
        {
            "input": "/d/j_1.input",
            "port": "4",
            "function": "CONFIG_ONLY",
            "difxVersion": "DIFX-2.8",
            "force": "1",
            "restartSeconds": "0",
        },
    ),
    (C.difx_stop(input_file="/d/j_1.input"), "DifxStop", {"input": "/d/j_1.input"}),
    (
        C.file_operation(operation="rm", path="/d/a b&c", arg="-f", channel=9),
        "DifxFileOperation",
        {"operation": "rm", "path": "/d/a b&c", "arg": "-f", "port": "9"},
    ),
    (
        C.file_transfer(direction="to DiFX", origin="/l/x", destination="/d/x", channel=2),
        "DifxFileTransfer",
        {"direction": "to DiFX", "origin": "/l/x", "destination": "/d/x"},
    ),
    (
        C.vex2difx_run(
            pass_path="/d/exp",
            v2d_file="exp.v2d",
            channel=1,
            calc_only=True,
            calc_command="difxcalc",
        ),
        "DifxVex2DifxRun",
        {"passPath": "/d/exp", "file": "exp.v2d", "calcOnly": "1", "calcCommand": "difxcalc"},
    ),
    (
        C.machines_definition(
            input_file="/d/j.input",
            machines_file="/d/j.machines",
            threads_file="/d/j.threads",
            manager="head",
            datastreams=["ds1"],
            processes=PROCS,
            channel=3,
        ),
        "DifxMachinesDefinition",
        {"machinesFile": "/d/j.machines", "threadsFile": "/d/j.threads", "testProcessors": "false"},
    ),
    (
        C.get_directory(mark5="mark5fx01", vsn="NRAO+123", channel=5),
        "DifxGetDirectory",
        {"mark5": "mark5fx01", "vsn": "NRAO+123", "generateNew": "0"},
    ),
    (
        C.mk5_control(command_text="getvsn", target_node="mark5fx01", channel=6),
        "DifxMk5Control",
        {"command": "getvsn", "targetNode": "mark5fx01"},
    ),
    (
        C.mark5_copy(mark5="m", vsn="V", scans="1-3", destination="/d/x", channel=7),
        "DifxMark5Copy",
        {"scans": "1-3"},
    ),
    (C.difx_command(text="getvsn <A>"), "DifxCommand", {"command": "getvsn <A>"}),
]


@pytest.mark.parametrize(("doc", "ctype", "values"), CASES, ids=[c[1] for c in CASES])
def test_command_round_trip(doc, ctype, values):
    parsed = C.parse_command(doc)
    assert parsed.command_type == ctype
    assert {k: parsed.values[k] for k in values} == values


def test_start_attributes_survive():
    parsed = C.parse_command(CASES[0][0])
    assert [dict(a) for a in parsed.attrs("process")] == [
        {"nodes": "cn01", "threads": "7"},
        {"nodes": "cn02", "threads": "5"},
    ]
    assert dict(parsed.attrs("manager")[0]) == {"node": "head"}
    assert parsed.attrs("datastream")[0]["nodes"] == "ds1 ds2"
    assert parsed.get_int("port") == 4


def test_refusals():
    with pytest.raises(LocalProtocolError, match="unknown command type"):
        C.command_document("DifxBogus", "")
    with pytest.raises(LocalProtocolError, match="file operation 'chmod'"):
        C.file_operation(operation="chmod", path="/x", channel=1)
    with pytest.raises(LocalProtocolError, match="direction 'from DiFX host'"):
        C.file_transfer(direction="from DiFX host", origin="/x", destination="", channel=1)
    with pytest.raises(LocalProtocolError, match="unknown message type 'Status'"):
        C.message_selection(["Status"])
    with pytest.raises(RemoteProtocolError, match="malformed command document"):
        C.parse_command(b"<difxMessage><header>")
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]>'
        b"<difxMessage><header><type>&a;</type></header></difxMessage>"
    )
    with pytest.raises(RemoteProtocolError, match="malformed command document"):
        C.parse_command(bomb)
    with pytest.raises(RemoteProtocolError, match="missing <port>"):
        C.parse_command(C.difx_stop(input_file="/x")).get_int("port")


def test_selection_takes_the_guides_type_names():
    p = C.message_selection(["DifxStatusMessage", "DifxAlertMessage", "ALERT_MESSAGES"])
    assert p.payload == b"SELECTED_MESSAGES\nSTATUS_MESSAGES\nALERT_MESSAGES"
    assert C.message_selection(None).payload == b"ALL_MESSAGES"


def _lp(b):
    return struct.pack(">i", len(b)) + b


def test_generate_filelist_layout():
    p = C.generate_filelist(
        files=["/d/a.vdif", "/d/bb.vdif"],
        destination="/d/list.txt",
        data_format="VDIF_8000-64-1-2",
        ref_mjd=60000,
        channel=7,
    )
    assert p.packet_id == 23
    assert p.payload == (
        struct.pack(">i", 2)
        + _lp(b"/d/a.vdif")
        + _lp(b"/d/bb.vdif")
        + _lp(b"/d/list.txt")
        + _lp(b"VDIF_8000-64-1-2")
        + struct.pack(">i", 60000)
        + _lp(b"")
        + struct.pack(">i", 7)
    )
    with pytest.raises(LocalProtocolError, match="does not start with one of MKIV, VLBA"):
        C.generate_filelist(files=[], destination="/d/l", data_format="K5", ref_mjd=0, channel=1)


def test_job_status_layout():
    p = C.get_job_status("/d/*.input", 9, short=True)
    assert p.packet_id == 24
    assert p.payload == struct.pack(">i", 1) + _lp(b"/d/*.input") + _lp(b"") + struct.pack(">i", 9)


_GOOD_STATUS = C.get_job_status("/d/*.input", 9).payload


@settings(max_examples=150, deadline=None)
@given(
    st.sampled_from(["short", "pattern_len", "address_len", "trailing", "utf8"]),
    st.integers(1, 1000),
)
def test_one_broken_field_of_a_job_status_request(field, n):
    """A valid GET_JOB_STATUS with exactly one field broken: the exact reason."""
    cases = {
        "short": (
            _GOOD_STATUS[: n % 4],
            f"GET_JOB_STATUS short flag: expected a 4-byte integer, got {n % 4} bytes",
        ),
        "pattern_len": (
            _GOOD_STATUS[:4] + struct.pack(">i", 100 + n) + _GOOD_STATUS[8:],
            f"GET_JOB_STATUS pattern: length {100 + n} does not fit the packet",
        ),
        "address_len": (
            _GOOD_STATUS[:18] + struct.pack(">i", 4 + n) + _GOOD_STATUS[22:],
            f"GET_JOB_STATUS address: length {4 + n} does not fit the packet",
        ),
        "trailing": (
            _GOOD_STATUS + b"x" * n,
            f"GET_JOB_STATUS: {4 + n} trailing bytes, expected 4",
        ),
        "utf8": (
            _GOOD_STATUS[:8] + b"/d/\xff.input" + _GOOD_STATUS[18:],
            "GET_JOB_STATUS pattern is not UTF-8",
        ),
    }
    data, reason = cases[field]
    with pytest.raises(RemoteProtocolError) as e:
        C.parse_get_job_status(data)
    assert str(e.value) == reason


_START = CASES[0][0]


@settings(max_examples=150, deadline=None)
@given(
    st.sampled_from(["root", "type", "port", "cut", "dtd"]),
    st.text("abc<&", min_size=1, max_size=5),
)
def test_one_broken_part_of_a_start_document(part, junk):
    """A valid DifxStart with one part broken: the exact reason."""
    if part == "root":
        doc, reason = _START.replace(b"difxMessage>", b"difxMsg>"), "command document without"
    elif part == "type":
        doc, reason = (
            _START.replace(b"<type>DifxStart</type>", b"<type></type>"),
            "command document without",
        )
    elif part == "port":
        doc = _START.replace(
            b"<port>4</port>", f"<port>x{junk.replace('<', '').replace('&', '')}</port>".encode()
        )
        reason = "is not a number"
    elif part == "cut":
        doc, reason = _START[: len(_START) - len(junk)], "malformed command document"
    else:
        doc = _START.replace(b"<difxMessage>", b'<!DOCTYPE d [<!ENTITY a "x">]><difxMessage>', 1)
        reason = "malformed command document"
    with pytest.raises(RemoteProtocolError, match=reason):
        C.parse_command(doc).get_int("port")
