import asyncio
import math

import pytest

from socs_like.ops import (
    MAX_MESSAGES,
    OpCode,
    OpSession,
    ParamError,
    check_params,
    json_safe,
    param,
)


def test_status_moves_forward_and_each_change_adds_a_message():
    s = OpSession(1, "acq", clock=iter(range(100)).__next__)
    s.set_status("running")
    with pytest.raises(ValueError, match="cannot go back"):
        s.set_status("starting")
    s.finish(True, "all good")
    texts = [m[1] for m in s.messages]
    assert texts == [
        'Status is now "starting".',
        'Status is now "running".',
        "all good",
        'Status is now "done".',
    ]
    assert s.encoded()["status"] == "done" and s.success is True and s.end_time is not None


def test_an_op_that_says_it_runs_after_a_stop_was_asked_stays_stopping():
    # A stop asked between an op's start and its set_status("running") (a scheduler stopped
    # as a run began) crashed the op with "status cannot go back from 'stopping'".
    s = OpSession(1, "acq")
    s.request_stop()
    s.set_status("running")
    assert s.status == "stopping" and s.stop_requested
    with pytest.raises(ValueError, match="cannot go back"):
        s.set_status("starting")


def test_a_long_running_session_keeps_its_newest_messages_only():
    """The Registry adds one each time an agent expires or comes back, for months."""
    session = OpSession(1, "main")
    for n in range(5 * MAX_MESSAGES):
        session.add_message(f"message {n}")
    assert MAX_MESSAGES <= len(session.messages) <= MAX_MESSAGES * 1.1
    assert session.messages[-1][1] == f"message {5 * MAX_MESSAGES - 1}"
    assert len(session.encoded()["messages"]) == len(session.messages)


@pytest.mark.parametrize(
    "status, success, degraded, code",
    [
        ("starting", None, False, OpCode.STARTING),
        ("running", None, False, OpCode.RUNNING),
        ("running", None, True, OpCode.DEGRADED),
        ("stopping", None, False, OpCode.STOPPING),
        ("done", True, False, OpCode.SUCCEEDED),
        ("done", False, False, OpCode.FAILED),
    ],
)
def test_op_codes_have_ocs_numbers(status, success, degraded, code):
    s = OpSession(1, "x")
    if status in ("running", "stopping"):
        s.set_status(status)
    if status == "done":
        s.finish(success, "end")
    s.degraded = degraded
    assert s.op_code == code
    assert s.encoded()["op_code"] == int(code)


def test_encoded_session_has_ocs_keys_and_no_nan():
    s = OpSession(7, "acq")
    s.data = {"t": math.nan, "inf": math.inf, "nested": [1.0, math.nan], 3: "k"}
    e = s.encoded()
    assert set(e) == {
        "session_id",
        "op_name",
        "op_code",
        "status",
        "success",
        "degraded",
        "start_time",
        "end_time",
        "data",
        "messages",
        "cred_level",
    }
    assert e["data"] == {"t": None, "inf": None, "nested": [1.0, None], "3": "k"}


def test_sleep_wakes_on_stop_request():
    async def scenario():
        s = OpSession(1, "acq")
        s.set_status("running")
        sleeper = asyncio.ensure_future(s.sleep(30))
        await asyncio.sleep(0.01)
        s.request_stop()
        assert await asyncio.wait_for(sleeper, 1) is True
        assert s.status == "stopping"
        assert await s.sleep(30) is True  # already asked: no wait at all
        assert await s.wait_done(0) is False
        s.finish(True, "stopped")
        assert await s.wait_done(None) is True

    asyncio.run(scenario())


def test_sleep_returns_false_when_time_passes():
    async def scenario():
        return await OpSession(1, "x").sleep(0.01)

    assert asyncio.run(scenario()) is False


@param("delay", type=float, default=5.0, check=lambda d: d >= 0)
@param("mode", choices=["a", "b"], default="a")
@param("count", type=int)
def _op(session, params):
    return True, ""


def test_params_defaults_and_int_to_float():
    assert check_params(_op, {"count": 3, "delay": 2}) == {"delay": 2.0, "mode": "a", "count": 3}


@pytest.mark.parametrize(
    "params, message",
    [
        ({"count": 1, "dleay": 1}, "unknown parameter 'dleay'"),
        ({}, "parameter 'count' is required"),
        ({"count": "3"}, "parameter 'count' must be int, not '3' (str)"),
        ({"count": True}, "parameter 'count' must be int"),
        ({"count": 1, "delay": -1.0}, "parameter 'delay' failed its check: -1.0"),
        ({"count": 1, "mode": "c"}, "parameter 'mode' must be one of ['a', 'b'], not 'c'"),
    ],
)
def test_bad_params_are_named(params, message):
    with pytest.raises(ParamError) as info:
        check_params(_op, params)
    assert message in str(info.value)


def test_undecorated_op_takes_any_params():
    async def op(session, params):
        return True, ""

    assert check_params(op, {"anything": 1}) == {"anything": 1}


def test_json_safe_handles_tuples_and_keys():
    assert json_safe({"a": (1, float("nan"))}) == {"a": [1, None]}
