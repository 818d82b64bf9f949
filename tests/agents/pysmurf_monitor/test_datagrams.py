"""The publisher's datagrams: every valid shape parsed, every bad one rejected with a reason."""

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from socs_like_agents.pysmurf_monitor.datagrams import (
    MAX_DATAGRAM,
    DataFile,
    G3File,
    Ignored,
    Metadata,
    Reason,
    Rejected,
    SessionMessage,
    encode,
    parse,
)

# WAMP clients left connected by earlier tests in this process mask their WebSocket frames
# with the global `random` module from another thread; Hypothesis takes that for a strategy
# using `random` and warns. Our strategies don't.
pytestmark = pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning")


def dgram(type_: str, payload, **env) -> bytes:
    base = {
        "host": "smurf-srv",
        "id": "crate1slot2",
        "script": "undeclared",
        "time": 1722716193.5,
        "seq_no": 7,
        "type": type_,
        "payload": payload,
    }
    base.update(env)
    return json.dumps(base).encode()


DATA_FILE = {
    "path": "/data/smurf_data/20240803/ufm_mv19/1722715985/plots/1722716193_asd.png",
    "type": "plot",
    "format": "png",
    "timestamp": 1722716193.0,
    "action": "uxm_relock",
    "action_ts": "1722715985",
    "plot": True,
    "pysmurf_version": "8.0.0",
}


def test_data_file_with_every_field() -> None:
    msg = parse(dgram("data_file", DATA_FILE))
    assert isinstance(msg, DataFile)
    assert (msg.path, msg.action, msg.action_ts, msg.plot, msg.archive_name) == (
        DATA_FILE["path"],
        "uxm_relock",
        "1722715985",
        True,
        "smurf",
    )
    assert (msg.envelope.id, msg.envelope.seq_no, msg.envelope.time) == (
        "crate1slot2",
        7,
        1722716193.5,
    )


def test_data_file_without_action_is_kept_not_crashed_on() -> None:
    payload = {k: v for k, v in DATA_FILE.items() if k not in ("action", "action_ts")}
    msg = parse(dgram("data_file", payload))
    assert isinstance(msg, DataFile) and msg.action is None and msg.action_ts is None


def test_npy_format_appends_the_extension_numpy_adds() -> None:
    msg = parse(dgram("data_file", {**DATA_FILE, "path": "/data/x/1_tune", "format": "npy"}))
    assert msg.path == "/data/x/1_tune.npy"
    msg = parse(dgram("data_file", {**DATA_FILE, "path": "/data/x/1_tune.npy", "format": "npy"}))
    assert msg.path == "/data/x/1_tune.npy"


def test_integer_action_ts_and_archive_name() -> None:
    msg = parse(dgram("data_file", {**DATA_FILE, "action_ts": 1722715985, "archive_name": "other"}))
    assert (msg.action_ts, msg.archive_name) == ("1722715985", "other")


def test_g3_file_session_metadata_and_ignored_types() -> None:
    g3 = parse(
        dgram(
            "g3_file",
            {
                "path": "/data/so/timestreams/17320/ufm_mv27/1732022318_000.g3",
                "archive_name": "timestreams",
            },
            id="STREAMER:ufm_mv27",
        )
    )
    assert isinstance(g3, G3File) and g3.archive_name == "timestreams"
    sd = parse(dgram("session_data", {"tunefile": "x"}))
    assert isinstance(sd, SessionMessage) and sd.message["payload"] == {"tunefile": "x"}
    log = parse(dgram("session_log", "a line of log"))
    assert isinstance(log, SessionMessage) and log.message["type"] == "session_log"
    meta = parse(dgram("metadata", {"path": "AMCc.FpgaTopLevel.Enable", "value": 1, "type": "int"}))
    assert isinstance(meta, Metadata) and (meta.path, meta.value) == ("AMCc.FpgaTopLevel.Enable", 1)
    for kind in ("log", "start", "stop", "backend_error", "general"):
        assert isinstance(parse(dgram(kind, "x")), Ignored)


@pytest.mark.parametrize(
    "data,reason,detail",
    [
        (b"x" * (MAX_DATAGRAM + 1), Reason.OVERSIZE, "64001 bytes > 64000"),
        (b"\xff\xfe", Reason.NOT_UTF8, "can't decode byte 0xff"),
        (b"{not json", Reason.BAD_JSON, "Expecting property name"),
        (b"[1, 2]", Reason.NOT_AN_OBJECT, "top level is list"),
        (
            json.dumps({"id": "a", "type": "g3_file"}).encode(),
            Reason.MISSING_FIELD,
            "envelope has no 'payload'",
        ),
        (
            dgram("g3_file", {"archive_name": "timestreams"}),
            Reason.MISSING_FIELD,
            "g3_file payload has no 'path'",
        ),
        (dgram("g3_file", {"path": ""}), Reason.MISSING_FIELD, "g3_file payload 'path' is empty"),
        (
            dgram("g3_file", {"path": 5}),
            Reason.WRONG_TYPE,
            "g3_file payload 'path' must be a string",
        ),
        (dgram("data_file", "a string"), Reason.WRONG_TYPE, "data_file payload must be an object"),
        (
            dgram("data_file", {**DATA_FILE, "plot": "yes"}),
            Reason.WRONG_TYPE,
            "data_file payload 'plot' must be true or false",
        ),
        (
            dgram("g3_file", {"path": "/a"}, seq_no=True),
            Reason.WRONG_TYPE,
            "envelope 'seq_no' must be an integer",
        ),
        (
            dgram("g3_file", {"path": "/a"}, time="now"),
            Reason.WRONG_TYPE,
            "envelope 'time' must be a finite number",
        ),
        (
            dgram("g3_file", {"path": "/a"}, time=1e400),
            Reason.WRONG_TYPE,
            "envelope 'time' must be a finite number",
        ),
        (dgram("metadata", {"path": "a"}), Reason.MISSING_FIELD, "metadata payload has no 'value'"),
        (dgram("telemetry", {}), Reason.UNKNOWN_TYPE, "unknown message type 'telemetry'"),
    ],
)
def test_bad_datagrams_are_rejected_with_reason_and_detail(data, reason, detail) -> None:
    result = parse(data)
    assert isinstance(result, Rejected)
    assert result.reason == reason
    assert detail in result.detail


def test_a_rejected_payload_keeps_its_envelope_for_sequence_counting() -> None:
    result = parse(dgram("g3_file", {"path": 5}, seq_no=41))
    assert isinstance(result, Rejected) and result.envelope.seq_no == 41


def test_encode_round_trips() -> None:
    data = encode(
        id="STREAMER:s1",
        type="g3_file",
        payload={"path": "/d/1/s1/1.g3"},
        seq_no=3,
        time=1732022318.0,
    )
    msg = parse(data)
    assert isinstance(msg, G3File) and msg.envelope.id == "STREAMER:s1" and msg.envelope.seq_no == 3


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
envelopes = st.fixed_dictionaries(
    {},
    optional={
        "id": json_values,
        "type": st.sampled_from(
            ["data_file", "g3_file", "metadata", "session_data", "session_log", "log", "x"]
        )
        | json_values,
        "payload": json_values
        | st.fixed_dictionaries(
            {},
            optional={
                "path": json_values,
                "value": json_values,
                "format": json_values,
                "action": json_values,
                "action_ts": json_values,
                "plot": json_values,
                "timestamp": json_values,
                "archive_name": json_values,
            },
        ),
        "seq_no": json_values,
        "time": json_values,
        "host": json_values,
        "script": json_values,
    },
)


# generating nested JSON is slow on a loaded machine; that is not a failure of the parser
@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(envelopes)
def test_any_json_object_parses_or_is_rejected_never_raises(obj) -> None:
    result = parse(json.dumps(obj).encode())
    assert isinstance(result, (DataFile, G3File, Metadata, SessionMessage, Ignored, Rejected))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_any_bytes_parse_or_are_rejected(data) -> None:
    result = parse(data)
    assert isinstance(result, (DataFile, G3File, Metadata, SessionMessage, Ignored, Rejected))


@settings(max_examples=100, deadline=None)
@given(st.binary(min_size=1, max_size=60), st.integers(min_value=0))
def test_truncated_valid_datagrams_are_rejected(tail, cut) -> None:
    data = dgram("data_file", DATA_FILE)
    truncated = data[: cut % len(data)]
    assert isinstance(parse(truncated), Rejected)
    assert isinstance(parse(data + tail), (Rejected, DataFile))
