"""The ops RPC's one way in: the access check comes before every action, for a call over the
hub and for one from the test process alike (runtime/dispatch.py)."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from socs_like import Agent, OpSession
from socs_like.access import AccessPolicy, hash_password
from socs_like.ops import ResponseCode
from socs_like.runtime.dispatch import MAX_MESSAGE_BYTES, OpsDispatch, reply
from socs_like.runtime.operations import Operations, OpSpec
from socs_like.site_config import PasswordLevel

OBSERVER_REFUSED = (
    'Not allowed: "start" on "delay_task" needs the controller role; this caller is observer '
    "(observers may only call get_api, status and wait)."
)


def test_an_in_process_call_by_a_role_that_lacks_access_is_refused(ops_driver):
    fd = ops_driver("FakeData")
    refused = fd("start", "delay_task", {"delay": 0}, role="observer")
    assert (refused.status, refused.msg, refused.session) == (
        ResponseCode.ERROR,
        OBSERVER_REFUSED,
        {},
    )
    assert fd("status", "delay_task", role="observer").msg == "No session active."  # not run
    assert fd("start_wait", "delay_task", {"delay": 0}, role="observer").msg == (
        OBSERVER_REFUSED.replace('"start"', '"start_wait"')
    )
    done = fd("start_wait", "delay_task", {"delay": 0})  # the driver is a controller
    assert done.status == ResponseCode.OK and done.session["success"] is True


class Guarded:
    """One admin task that counts its runs."""

    def __init__(self, agent: Agent, settings: object) -> None:
        self.runs = 0
        agent.register_task("dangerous", self.dangerous, role="admin")

    async def dangerous(self, session: OpSession, params: dict[str, Any]) -> tuple[bool, str]:
        self.runs += 1
        return True, "done"


def test_an_admin_op_in_process_needs_the_admin_role(ops_driver):
    guarded = ops_driver(Guarded)
    refused = guarded("start", "dangerous")
    assert refused.msg == (
        'Not allowed: "start" on "dangerous" needs the admin role; this caller is controller.'
    )
    assert guarded("start_wait", "dangerous", role="admin").session["success"] is True
    assert guarded.instance.runs == 1


def _dispatch(*specs: OpSpec, passwords: tuple[PasswordLevel, ...] = ()) -> OpsDispatch:
    operations = Operations(on_change=lambda session: None, workers=1)
    for spec in specs:
        operations.register(spec)
    return OpsDispatch(operations, AccessPolicy(passwords))


async def _answer(answer: Any) -> list[Any]:
    return await answer if asyncio.isfuture(answer) or asyncio.iscoroutine(answer) else answer


def test_the_check_comes_before_the_action_and_a_mapped_password_lifts_the_caller():
    ran: list[dict[str, Any]] = []

    async def op(session: OpSession, params: dict[str, Any]) -> tuple[bool, str]:
        ran.append(params)
        return True, "ran"

    spec = OpSpec("op", "task", op, None, False, False, False, role="admin")
    passwords = (PasswordLevel(level="admin", hash=hash_password("open sesame")),)

    async def scenario() -> None:
        ops = _dispatch(spec, passwords=passwords)
        for role, password in (("controller", None), ("observer", "wrong")):
            code, message, _ = ops.handle("start", "op", {}, None, password, role)
            assert code == ResponseCode.ERROR and message.startswith('Not allowed: "start"')
        # what it may not start it may not stop either; reading is open to all
        assert ops.handle("abort", "op", authrole="observer")[1].startswith("Not allowed")
        assert ops.handle("status", "op", authrole="observer")[1] == "No session active."
        assert ops.operations.sessions == {} and ran == []
        started = ops.handle("start_wait", "op", {}, 5, "open sesame", "controller")
        assert (await _answer(started))[2]["success"] is True
        # no role disclosed (a hub without authentication, as OCS's): nothing is refused
        assert (await _answer(ops.handle("start_wait", "op", {}, 5)))[0] == ResponseCode.OK
        assert len(ran) == 2

    asyncio.run(scenario())


async def _slow(session: OpSession, params: dict[str, Any]) -> tuple[bool, str]:
    await session.sleep(30)
    return True, "stopped"


@pytest.mark.parametrize(
    ("action", "op_name", "params", "message"),
    [
        ("start", "nope", None, 'No task or process called "nope".'),
        ("frob", "task", None, 'Unknown action "frob".'),
        ("stop", "task", None, '"task" is a task: use abort, not stop.'),
        ("abort", "process", None, '"process" is a process: use stop, not abort.'),
        ("abort", "stubborn", None, 'Task "stubborn" cannot be aborted.'),
        ("abort", "task", None, 'Operation "task" is not running.'),
        ("start", "task", ["x"], "params must be a dict of parameter names."),
    ],
)
def test_refused_actions_say_why(action, op_name, params, message):
    ops = _dispatch(
        OpSpec("task", "task", _slow, None, True, False, False),
        OpSpec("stubborn", "task", _slow, None, False, False, False),
        OpSpec("process", "process", _slow, None, True, False, False),
    )
    assert ops.handle(action, op_name, params, authrole="controller") == [
        int(ResponseCode.ERROR),
        message,
        {},
    ]


def test_a_reply_too_large_for_one_message_is_an_error_with_the_summary():
    session = OpSession(7, "big")
    session.data["blob"] = "x" * MAX_MESSAGE_BYTES
    code, message, summary = reply(ResponseCode.OK, "fine", session)
    assert code == ResponseCode.ERROR
    assert message.startswith('Session data of "big" is ') and "message limit" in message
    assert summary == session.summary() and "data" not in summary
    small = OpSession(8, "small")
    assert reply(ResponseCode.OK, "fine", small) == [0, "fine", small.encoded()]


def test_a_task_on_the_loop_is_answered_in_the_loop_turn_after_it_returns():
    """start_wait of a task that yields once (as ``delay_task(delay=0)``): its first step in
    the turn after the request, ``sleep(0)`` one turn, and the answer ready for the caller's
    WAMP library (a done-callback, as autobahn's) in the next: 3 turns (it took 6), and the
    same on the thread that asked (no worker thread for a task on the loop)."""
    seen: dict[str, Any] = {}

    async def quick(session: OpSession, params: dict[str, Any]) -> tuple[bool, str]:
        seen["thread"] = threading.get_ident()
        await session.sleep(0)
        seen["returned"] = turns
        return True, "done"

    turns = 0

    async def scenario() -> list[Any]:
        loop = asyncio.get_running_loop()

        def tick() -> None:
            nonlocal turns
            turns += 1
            loop.call_soon(tick)

        ops = _dispatch(OpSpec("quick", "task", quick, None, True, False, False))
        loop.call_soon(tick)
        answer = asyncio.ensure_future(ops.handle("start_wait", "quick", {}, 10, None, None))
        answered = loop.create_future()
        answer.add_done_callback(lambda done: answered.set_result(turns))
        seen["answered"] = await answered
        return answer.result()

    code, message, session = asyncio.run(scenario())
    assert (code, message) == (ResponseCode.OK, 'Operation "quick" is done.')
    assert session["success"] is True
    assert seen["thread"] == threading.get_ident()
    assert (seen["returned"], seen["answered"]) == (2, 3)
