"""The sans-I/O parts: list files, windows and names, schedules, the protocol codec."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from socs_like_agents.datalogger.errors import ListFileError, ProtocolError, RequestError
from socs_like_agents.datalogger.listfile import parse_device_list
from socs_like_agents.datalogger.protocol import PARSE_CHUNK, decode_columns, encode_columns
from socs_like_agents.datalogger.window import (
    Schedule,
    Window,
    make_window,
    param_file_name,
)


def epoch(text: str) -> float:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC).timestamp()


def test_list_file_in_order_with_comments_and_blank_lines():
    devices = parse_device_list("# list\n\nMLrn B:VIMIN\n  MLrn   I:IB  \nOther B_VIPHAS\n")
    assert [(d.node, d.device, d.line) for d in devices] == [
        ("MLrn", "B:VIMIN", 3),
        ("MLrn", "I:IB", 4),
        ("Other", "B_VIPHAS", 5),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        # the old one-column format: the change is an error naming the line
        (
            "MLrn B:VIMIN\nB:IMINER\n",
            "devices.txt line 2: 1 field(s); expected '<logger-node> <device>': 'B:IMINER'",
        ),
        ("MLrn B:VIMIN\nMLrn B:IMINER extra\n", "devices.txt line 2: 3 field(s)"),
        ("B:VIMIN MLrn\n", "devices.txt line 1: 'B:VIMIN' is not a logger node name"),
        ("MLrn VIMIN\n", "devices.txt line 1: 'VIMIN' is not a device name like B:VIMIN"),
        ("MLrn B:VIMIN\n\nMLrn B:VIMIN\n", "devices.txt line 3: duplicate of line 1"),
        ("# nothing\n", "devices.txt line 0: no devices listed"),
    ],
)
def test_bad_list_file_is_refused_naming_the_line(text, message):
    with pytest.raises(ListFileError) as caught:
        parse_device_list(text, "devices.txt")
    assert str(caught.value).startswith(message)


def test_window_defaults_to_the_day_before_the_last_midnight():
    now = epoch("2024-03-10T17:45:12")
    assert make_window(now=now, days=1) == Window(
        start=epoch("2024-03-09T00:00:00"), stop=epoch("2024-03-10T00:00:00")
    )
    # all lengths zero: one second, as the original
    assert make_window(now=now).seconds == 1.0
    w = make_window(now=now, stopat="2024-01-02 03:00:00", hours=2, minutes=30)
    assert (w.start, w.stop) == (epoch("2024-01-02T00:30:00"), epoch("2024-01-02T03:00:00"))
    with pytest.raises(RequestError, match="is not 'YYYY-MM-DD hh:mm:ss'"):
        make_window(now=now, stopat="2024-01-02")
    with pytest.raises(RequestError, match="--hours must be >= 0"):
        make_window(now=now, hours=-1)


def test_file_names_as_the_original():
    w = Window(start=epoch("2019-07-01T00:00:00"), stop=epoch("2019-07-02T00:00:00"))
    assert param_file_name(1562043667.8512678, "MLrn", w) == (
        "MLParamData_1562043667.8512678_From_MLrn_2019-07-01+00:00:00_to_2019-07-02+00:00:00.h5"
    )


def test_schedule_catch_up():
    s = Schedule("0 1 * * *")
    now = epoch("2024-03-10T05:00:00")
    due = epoch("2024-03-10T01:00:00")
    assert s.missed(None, now, 7) == [due]
    assert s.missed(due, now, 7) == []
    assert s.missed(due - 3 * 86400, now, 7) == [due - 2 * 86400, due - 86400, due]
    assert s.missed(due - 30 * 86400, now, 2) == [due - 86400, due]
    assert s.next_after(now) == due + 86400
    with pytest.raises(RequestError, match="not a 5-field cron expression"):
        Schedule("every day")


def test_protocol_round_trip_and_malformed_bodies():
    t = np.array([1.5, 2.5, 3.5])
    v = np.array([10.0, -1.25, 3e5])
    body = encode_columns(t, v, formats=("%.3f", "%.6g"))
    assert np.array_equal(decode_columns(body, 2, "d"), np.column_stack([t, v]))
    assert decode_columns(b"", 2, "d").shape == (0, 2)
    with pytest.raises(ProtocolError, match="d: line 2 does not hold 2 numbers"):
        decode_columns(b"1 2\n3\n", 2, "d")
    # ragged lines whose numbers add up are still refused
    with pytest.raises(ProtocolError, match="d: line 1 does not hold 2 numbers"):
        decode_columns(b"1 2 3\n4\n", 2, "d")
    with pytest.raises(ProtocolError, match="an empty line or column"):
        decode_columns(b"1 2\n3 \n", 2, "d")
    with pytest.raises(ProtocolError, match="could not convert"):
        decode_columns(b"1 2\n3 x\n", 2, "d")


def test_a_body_of_many_pieces_decodes_whole_and_errors_name_the_body_line():
    # a day of 1 Hz samples is decoded in pieces (PARSE_CHUNK bytes; the GIL is free between
    # them): the rows and an error's line number are those of the whole body
    t = 1.7e9 + np.arange(86_400.0)
    v = np.sin(t)
    body = encode_columns(t, v, formats=("%.3f", "%.17g"))
    assert len(body) > 20 * PARSE_CHUNK
    assert np.array_equal(decode_columns(body, 2, "d"), np.column_stack([t, v]))
    lines = body.splitlines()
    lines[60_000] = b"1 2 3"
    with pytest.raises(ProtocolError, match="d: line 60001 does not hold 2 numbers"):
        decode_columns(b"\n".join(lines), 2, "d")
    long_line = b"1 " + b"0" * (2 * PARSE_CHUNK) + b"\n"  # one line longer than a piece
    assert decode_columns(b"3 4\n" + long_line, 2, "d").tolist() == [[3.0, 4.0], [1.0, 0.0]]


@given(
    st.binary(max_size=200)
    | st.lists(st.sampled_from([b"1", b" ", b"\n", b"x", b"-2.5"]), max_size=40).map(b"".join)
)
def test_decoding_any_body_gives_rows_or_the_protocol_error(body):
    try:
        rows = decode_columns(body, 2, "d")
    except ProtocolError:
        return
    assert rows.ndim == 2 and rows.shape[1] == 2
