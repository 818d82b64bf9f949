"""Command documents carry guiServer's element names (read back here with the standard XML
parser, independently of the simulator); binary requests have the byte layout guiServer
reads; values guiServer would misread are refused with the exact reason."""

import struct
from xml.etree import ElementTree

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from socs_like_agents.difx_relay import commands as C
from socs_like_agents.difx_relay.errors import LocalProtocolError


def _read(doc):
    """(type, {tag: text}, [(tag, attrs)]) of a command document."""
    root = ElementTree.fromstring(doc)
    assert root.tag == "difxMessage"
    body = root.find("body")
    values = {el.tag: (el.text or "") for el in body}
    elements = [(el.tag, dict(el.attrib)) for el in body if el.attrib]
    return root.findtext("header/type"), values, elements


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
]


@pytest.mark.parametrize(("doc", "ctype", "values"), CASES, ids=[c[1] for c in CASES])
def test_command_documents(doc, ctype, values):
    got_type, got, _ = _read(doc)
    assert got_type == ctype
    assert {k: got[k] for k in values} == values


def test_start_attributes_and_escaping():
    _, values, elements = _read(CASES[0][0])
    assert [a for t, a in elements if t == "process"] == [
        {"nodes": "cn01", "threads": "7"},
        {"nodes": "cn02", "threads": "5"},
    ]
    assert [a for t, a in elements if t == "manager"] == [{"node": "head"}]
    assert [a for t, a in elements if t == "datastream"] == [{"nodes": "ds1 ds2"}]
    assert values["port"] == "4" and "function" in values
    _, values, _ = _read(C.file_operation(operation="rm", path="/d/a<b>&c", channel=1))
    assert values["path"] == "/d/a<b>&c"


def test_refusals():
    with pytest.raises(LocalProtocolError, match="unknown command type"):
        C.command_document("DifxBogus", "")
    with pytest.raises(LocalProtocolError, match="file operation 'chmod'"):
        C.file_operation(operation="chmod", path="/x", channel=1)
    with pytest.raises(LocalProtocolError, match="direction 'from DiFX host'"):
        C.file_transfer(direction="from DiFX host", origin="/x", destination="", channel=1)
    with pytest.raises(LocalProtocolError, match="unknown message type 'Status'"):
        C.message_selection(["Status"])


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


_GOOD_START = {
    "input_file": "/d/j_1.input",
    "channel": 4,
    "manager": "head",
    "datastreams": ["ds1"],
    "processes": PROCS,
    "function": "default",
}


@settings(max_examples=150, deadline=None)
@given(
    st.sampled_from(["function", "channel", "operation", "direction", "format", "selection"]),
    st.text("abcXYZ_ ", min_size=1, max_size=8),
    st.integers(2**31, 2**40),
)
def test_one_broken_field_is_refused_with_its_reason(field, word, big):
    """Valid requests with exactly one field broken: nothing is built, the reason is exact."""
    if field == "function":
        call, reason = (
            lambda: C.difx_start(**(_GOOD_START | {"function": word})),
            f"function {word!r} is not one of default, NRAO, USNO, RUN_MONITOR, CONFIG_ONLY, "
            "BAIL_ON_CONFIG_FAIL",
        )
    elif field == "channel":
        call, reason = (
            lambda: C.get_job_status("/d/*.input", big),
            f"{big} does not fit in an int32",
        )
    elif field == "operation":
        call, reason = (
            lambda: C.file_operation(operation=word, path="/d/x", channel=1),
            f"file operation {word!r} is not one of {C.FILE_OPERATIONS}",
        )
    elif field == "direction":
        call, reason = (
            lambda: C.file_transfer(direction=word, origin="/d/x", destination="", channel=1),
            f"file transfer direction {word!r} is not understood",
        )
    elif field == "format":
        call, reason = (
            lambda: C.generate_filelist(
                files=["/d/a"], destination="/d/l", data_format=word, ref_mjd=1, channel=1
            ),
            f"data format {word!r} does not start with one of MKIV, VLBA, MARK5B, VDIF",
        )
    else:
        call, reason = (
            lambda: C.message_selection(["DifxStatusMessage", word]),
            f"unknown message type {word!r}; known: {', '.join(C.SELECTION_KEYWORDS)}",
        )
    with pytest.raises(LocalProtocolError) as e:
        call()
    assert str(e.value) == reason
