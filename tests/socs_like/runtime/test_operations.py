"""The registered operations and their sessions (runtime/operations.py), without a hub."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from socs_like.ops import OpCode, OpFailed, OpSession
from socs_like.runtime.operations import Operations, OpSpec


def _operations() -> tuple[Operations, list[str]]:
    changes: list[str] = []
    ops = Operations(on_change=lambda s: changes.append(s.op_name), workers=2)
    return ops, changes


def _task(name: str, func: Any, **kw: Any) -> OpSpec:
    return OpSpec(
        name,
        "task",
        func,
        None,
        kw.get("abortable", False),
        kw.get("blocking", False),
        False,
        kw.get("role", "controller"),
    )


async def _ok(session: OpSession, params: dict[str, Any]) -> tuple[bool, str]:
    return True, f"got {params}"


def test_registration_refuses_a_bad_role_a_second_name_and_a_sync_function_on_the_loop():
    ops, _ = _operations()
    ops.register(_task("a", _ok))
    with pytest.raises(ValueError, match="'a' is registered twice"):
        ops.register(_task("a", _ok))
    with pytest.raises(ValueError, match="role must be one of"):
        ops.register(_task("b", _ok, role="observer"))
    with pytest.raises(TypeError, match="give an async function, or register it with"):
        ops.register(_task("c", lambda session, params: (True, "")))
    ops.register(_task("d", lambda session, params: (True, ""), blocking=True))
    assert sorted(ops.specs) == ["a", "d"]


def test_every_outcome_ends_the_session_clearly_and_the_agent_lives_on():
    threads: list[str] = []

    def blocking(session: OpSession, params: dict[str, Any]) -> tuple[bool, str]:
        threads.append(threading.current_thread().name)
        return True, "in a thread"

    async def wrong_shape(session: OpSession, params: dict[str, Any]) -> Any:
        return False

    async def foreseen(session: OpSession, params: dict[str, Any]) -> Any:
        raise OpFailed("the peer said no")

    async def crash(session: OpSession, params: dict[str, Any]) -> Any:
        raise KeyError("x")

    async def scenario() -> dict[str, tuple[bool | None, str]]:
        ops, changes = _operations()
        specs = [
            _task("ok", _ok),
            _task("blocking", blocking, blocking=True),
            _task("wrong_shape", wrong_shape),
            _task("foreseen", foreseen),
            _task("crash", crash),
        ]
        for spec in specs:
            ops.register(spec)
        sessions = [ops.launch(spec, {"n": 1}) for spec in specs]
        assert [s.session_id for s in sessions] == [1, 2, 3, 4, 5]
        for session in sessions:
            assert await session.wait_done(10)
        assert "ok" in changes  # each change was told
        assert ops.running() == [] and not ops.blocked_threads
        return {s.op_name: (s.success, s.messages[-2][1]) for s in sessions}

    outcomes = asyncio.run(scenario())
    assert outcomes == {
        "ok": (True, "got {'n': 1}"),
        "blocking": (True, "in a thread"),
        "wrong_shape": (
            False,
            "operation 'wrong_shape' returned False; an operation must return "
            "(ok: bool, message: str)",
        ),
        "foreseen": (False, "the peer said no"),
        "crash": (False, "Crashed: KeyError: 'x'"),
    }
    assert threads[0].startswith("op")


def test_stop_all_asks_the_stoppable_and_cancels_what_stays_past_the_grace():
    stopped: list[dict[str, Any]] = []

    async def polite(session: OpSession, params: dict[str, Any]) -> tuple[bool, str]:
        await session.sleep(30)
        return True, "stopped when asked"

    async def deaf(session: OpSession, params: dict[str, Any]) -> tuple[bool, str]:
        await asyncio.sleep(30)
        return True, "never"

    async def stopper(session: OpSession, params: dict[str, Any]) -> None:
        stopped.append(params)

    async def scenario() -> list[OpSession]:
        ops, _ = _operations()
        ops.register(_task("polite", polite, abortable=True))
        ops.register(_task("deaf", deaf))
        ops.register(OpSpec("proc", "process", polite, stopper, True, False, False))
        sessions = [ops.launch(ops.specs[name], {}) for name in ("polite", "deaf", "proc")]
        await ops.stop_all(grace=0.2)
        assert ops.running() == []  # at once: not left to the loop's end
        return sessions

    polite_s, deaf_s, proc_s = asyncio.run(scenario())
    assert (polite_s.success, polite_s.messages[-2][1]) == (True, "stopped when asked")
    assert "Abort requested." in [m[1] for m in polite_s.messages]
    assert (deaf_s.success, deaf_s.messages[-2][1]) == (
        False,
        "Cancelled: the agent is shutting down.",
    )
    assert proc_s.success is True and stopped == [{}]


def test_listing_and_heartbeat_codes_name_every_op():
    async def scenario() -> tuple[list[list[Any]], dict[str, int]]:
        ops, _ = _operations()
        ops.register(_task("b", _ok))
        ops.register(_task("a", _ok, role="admin"))
        await ops.launch(ops.specs["b"], {}).wait_done(10)
        return ops.listing("task"), ops.op_codes()

    listing, codes = asyncio.run(scenario())
    assert [name for name, _, _ in listing] == ["a", "b"]
    assert listing[0][1] == {"op_name": "a", "status": "no_history"}
    assert listing[0][2]["role"] == "admin" and "role" not in listing[1][2]
    assert listing[1][1]["status"] == "done"
    assert codes == {"b": OpCode.SUCCEEDED, "a": OpCode.NONE}
