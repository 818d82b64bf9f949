"""Every command document round-trips through the parser the simulator uses."""

import contextlib

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
            "restartSeconds": "0.0",
        },
    ),
    (C.difx_stop(input_file="/d/j_1.input"), "DifxStop", {"input": "/d/j_1.input"}),
    (
        C.file_operation(operation="rm", path="/d/a b&c", arg="-f", channel=9),
        "DifxFileOperation",
        {"operation": "rm", "path": "/d/a b&c", "arg": "-f", "port": "9"},
    ),
    (
        C.file_transfer(direction="to DiFX host", origin="/l/x", destination="/d/x", channel=2),
        "DifxFileTransfer",
        {"direction": "to DiFX host", "origin": "/l/x", "destination": "/d/x"},
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
        {"passPath": "/d/exp", "v2dFile": "exp.v2d", "calcOnly": "1", "calcCommand": "difxcalc"},
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
        {"machinesFile": "/d/j.machines", "threadsFile": "/d/j.threads"},
    ),
    (
        C.get_directory(mark5="mark5fx01", vsn="NRAO+123", channel=5),
        "DifxGetDirectory",
        {"mark5": "mark5fx01", "vsn": "NRAO+123", "generateNew": "0"},
    ),
    (
        C.mk5_control(operation="getvsn", target_node="mark5fx01", channel=6),
        "DifxMk5Control",
        {"operation": "getvsn", "targetNode": "mark5fx01"},
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
    with pytest.raises(LocalProtocolError, match="file operation 'cp'"):
        C.file_operation(operation="cp", path="/x", channel=1)
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


@settings(max_examples=150)
@given(st.binary(max_size=300))
def test_garbage_commands_are_a_command_or_a_protocol_error(data):
    for parse in (C.parse_command, C.parse_get_job_status):
        with contextlib.suppress(RemoteProtocolError):
            parse(data)


@settings(max_examples=100)
@given(st.integers(0, len(CASES[0][0])), st.binary(max_size=6))
def test_mangled_start_document(cut, junk):
    doc = CASES[0][0]
    try:
        parsed = C.parse_command(doc[:cut] + junk + doc[cut + len(junk) :])
        parsed.get_int("port", 0)
    except RemoteProtocolError:
        pass
