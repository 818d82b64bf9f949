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


# --- one field broken: the deep checks are reached and the exact reason is named ---------

ENVELOPE = {
    "host": "smurf-srv",
    "id": "crate1slot2",
    "script": "undeclared",
    "time": 1722716193.5,
    "seq_no": 7,
}
VALID_PAYLOADS = {
    "data_file": DATA_FILE,
    "g3_file": {"path": "/data/so/timestreams/17320/ufm_mv27/1732022318_000.g3"},
    "metadata": {"path": "AMCc.FpgaTopLevel.Enable", "value": 1, "type": "int"},
}
# what a field must be, the values that break that, and the reason and detail expected
not_text = (
    st.integers() | st.floats(allow_nan=False) | st.booleans() | st.lists(st.integers(), max_size=2)
)
not_number = (
    st.text(max_size=5) | st.booleans() | st.lists(st.integers(), max_size=2) | st.just(1e400)
)
not_integer = st.text(max_size=5) | st.booleans() | st.floats(allow_nan=False)
ENVELOPE_BREAKS = {
    "id": (not_text, Reason.WRONG_TYPE, "envelope 'id' must be a string"),
    "host": (not_text, Reason.WRONG_TYPE, "envelope 'host' must be a string"),
    "script": (not_text, Reason.WRONG_TYPE, "envelope 'script' must be a string"),
    "time": (not_number, Reason.WRONG_TYPE, "envelope 'time' must be a finite number"),
    "seq_no": (not_integer, Reason.WRONG_TYPE, "envelope 'seq_no' must be an integer"),
}
PAYLOAD_BREAKS = {
    ("data_file", "path"): (
        not_text,
        Reason.WRONG_TYPE,
        "data_file payload 'path' must be a string",
    ),
    ("data_file", "format"): (
        not_text,
        Reason.WRONG_TYPE,
        "data_file payload 'format' must be a string",
    ),
    ("data_file", "action"): (
        not_text,
        Reason.WRONG_TYPE,
        "data_file payload 'action' must be a string",
    ),
    ("data_file", "type"): (
        not_text,
        Reason.WRONG_TYPE,
        "data_file payload 'type' must be a string",
    ),
    ("data_file", "archive_name"): (
        not_text,
        Reason.WRONG_TYPE,
        "data_file payload 'archive_name' must be a string",
    ),
    ("data_file", "timestamp"): (
        not_number,
        Reason.WRONG_TYPE,
        "data_file payload 'timestamp' must be a finite number",
    ),
    ("data_file", "action_ts"): (
        st.floats(allow_nan=False) | st.booleans() | st.lists(st.integers(), max_size=2),
        Reason.WRONG_TYPE,
        "data_file payload 'action_ts' must be a string",
    ),
    ("data_file", "plot"): (
        st.integers() | st.text(max_size=5) | st.lists(st.booleans(), max_size=2),
        Reason.WRONG_TYPE,
        "data_file payload 'plot' must be true or false",
    ),
    ("g3_file", "path"): (not_text, Reason.WRONG_TYPE, "g3_file payload 'path' must be a string"),
    ("g3_file", "archive_name"): (
        not_text,
        Reason.WRONG_TYPE,
        "g3_file payload 'archive_name' must be a string",
    ),
    ("metadata", "path"): (not_text, Reason.WRONG_TYPE, "metadata payload 'path' must be a string"),
    ("metadata", "type"): (not_text, Reason.WRONG_TYPE, "metadata payload 'type' must be a string"),
    ("metadata", "value"): (
        st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
        Reason.WRONG_TYPE,
        "metadata payload 'value' must be a scalar or a list",
    ),
}
REQUIRED = {
    ("envelope", "id"): (Reason.MISSING_FIELD, "envelope has no 'id'"),
    ("envelope", "type"): (Reason.MISSING_FIELD, "envelope has no 'type'"),
    ("envelope", "payload"): (Reason.MISSING_FIELD, "envelope has no 'payload'"),
    ("data_file", "path"): (Reason.MISSING_FIELD, "data_file payload has no 'path'"),
    ("g3_file", "path"): (Reason.MISSING_FIELD, "g3_file payload has no 'path'"),
    ("metadata", "path"): (Reason.MISSING_FIELD, "metadata payload has no 'path'"),
    ("metadata", "value"): (Reason.MISSING_FIELD, "metadata payload has no 'value'"),
}
FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def valid(kind: str) -> dict:
    return {**ENVELOPE, "type": kind, "payload": dict(VALID_PAYLOADS[kind])}


@FUZZ
@given(st.data())
def test_one_broken_envelope_field_is_named(data) -> None:
    kind = data.draw(st.sampled_from(sorted(VALID_PAYLOADS)))
    key = data.draw(st.sampled_from(sorted(ENVELOPE_BREAKS)))
    bad_values, reason, detail = ENVELOPE_BREAKS[key]
    obj = valid(kind)
    obj[key] = data.draw(bad_values)
    result = parse(json.dumps(obj).encode())
    assert isinstance(result, Rejected)
    assert (result.reason, result.detail) == (reason, detail)


@FUZZ
@given(st.data())
def test_one_broken_payload_field_is_named_and_the_envelope_kept(data) -> None:
    kind, key = data.draw(st.sampled_from(sorted(PAYLOAD_BREAKS)))
    bad_values, reason, detail = PAYLOAD_BREAKS[(kind, key)]
    obj = valid(kind)
    obj["payload"][key] = data.draw(bad_values)
    seq_no = data.draw(st.integers(min_value=0, max_value=2**40))
    obj["seq_no"] = seq_no
    result = parse(json.dumps(obj).encode())
    assert isinstance(result, Rejected)
    assert (result.reason, result.detail) == (reason, detail)
    assert result.envelope is not None and result.envelope.seq_no == seq_no


@FUZZ
@given(st.sampled_from(sorted(REQUIRED)), st.booleans())
def test_a_missing_or_null_required_field_is_named(where_key, as_null) -> None:
    where, key = where_key
    kind = "g3_file" if where == "envelope" else where
    obj = valid(kind)
    target = obj if where == "envelope" else obj["payload"]
    if as_null and key != "payload" and (where, key) != ("metadata", "value"):
        target[key] = None
    else:
        del target[key]
    result = parse(json.dumps(obj).encode())
    assert isinstance(result, Rejected)
    assert (result.reason, result.detail) == REQUIRED[where_key]


@FUZZ
@given(
    st.text(min_size=1, max_size=20).filter(
        lambda t: (
            t not in {"data_file", "g3_file", "metadata", "session_data", "session_log"}
            and t not in {"log", "start", "stop", "backend_error", "general"}
        )
    )
)
def test_an_unknown_type_is_named(kind) -> None:
    obj = {**ENVELOPE, "type": kind, "payload": {}}
    result = parse(json.dumps(obj).encode())
    assert isinstance(result, Rejected)
    assert (result.reason, result.detail) == (
        Reason.UNKNOWN_TYPE,
        f"unknown message type {kind[:64]!r}",
    )


@FUZZ
@given(st.sampled_from(sorted(VALID_PAYLOADS)), not_text | st.text(max_size=5))
def test_a_payload_that_is_not_an_object_is_named(kind, payload) -> None:
    obj = {**ENVELOPE, "type": kind, "payload": payload}
    result = parse(json.dumps(obj).encode())
    assert isinstance(result, Rejected)
    assert (result.reason, result.detail) == (
        Reason.WRONG_TYPE,
        f"{kind} payload must be an object",
    )


@settings(max_examples=150, deadline=None)
@given(st.integers(min_value=1, max_value=10_000))
def test_a_datagram_cut_short_is_bad_json_and_one_too_long_is_oversize(cut) -> None:
    data = dgram("data_file", DATA_FILE)
    truncated = parse(data[: 1 + cut % (len(data) - 1)])
    assert isinstance(truncated, Rejected) and truncated.reason == Reason.BAD_JSON
    padded = json.loads(data)
    version = padded["payload"]["pysmurf_version"]
    padded["payload"]["pysmurf_version"] = "x" * (MAX_DATAGRAM - len(data) + len(version) + cut)
    big = json.dumps(padded).encode()
    oversize = parse(big)
    assert isinstance(oversize, Rejected)
    assert (oversize.reason, oversize.detail) == (
        Reason.OVERSIZE,
        f"{len(big)} bytes > {MAX_DATAGRAM}",
    )


@settings(max_examples=150, deadline=None)
@given(st.binary(min_size=1, max_size=40).filter(lambda b: b[:1] != b"{"), st.integers(0, 400))
def test_invalid_utf8_is_named_before_json(junk, at) -> None:
    data = dgram("g3_file", VALID_PAYLOADS["g3_file"])
    at %= len(data)
    broken = data[:at] + b"\xff" + junk + data[at:]
    result = parse(broken)
    assert isinstance(result, Rejected)
    assert result.reason == Reason.NOT_UTF8
    assert "can't decode byte 0xff" in result.detail
