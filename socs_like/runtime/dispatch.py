"""The ops RPC: one request ``(action, op_name, params, timeout)`` from a caller, answered
``[code, message, session]`` — the one way into an agent's operations.

Every request, over the hub or from a test in the same process, passes the same access check
(`access.AccessPolicy`) before its action runs, so no caller reaches an op its role may not
touch. The actions are OCS's (``start``, ``wait``, ``status``, ``stop``, ``abort``) and
``start_wait`` (start, then wait, in one call). Only a ``wait`` on a running op answers later:
a future, given its answer by the session's `finish` in the loop turn the op ends (no task of
its own, no ``wait_for``); every other request is answered at once.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable
from typing import Any

from ..access import AccessPolicy
from ..ops import OpSession, ParamError, ResponseCode, check_params
from .operations import Operations, OpSpec

# Crossbar's default limit for one WebSocket message; our events and replies stay below it.
MAX_MESSAGE_BYTES = 1024 * 1024
# The ops RPC actions this agent offers beyond OCS's; get_api lists them as "extensions".
EXTENSIONS = ("start_wait",)

Answer = list[Any] | Awaitable[list[Any]]


def _error(message: str, session: dict[str, Any] | None = None) -> list[Any]:
    return [int(ResponseCode.ERROR), message, session or {}]


def reply(code: ResponseCode, message: str, session: OpSession) -> list[Any]:
    """``[code, message, session]``, or a clear error (with the session's summary) when the
    session's data would not fit in one message: a caller gets an answer, never a hang."""
    encoded = session.encoded()
    size = len(json.dumps(encoded))
    if size > MAX_MESSAGE_BYTES - 4096:
        return _error(
            f'Session data of "{session.op_name}" is {size} bytes, over the '
            f"{MAX_MESSAGE_BYTES}-byte message limit; the agent must keep less in "
            "session.data (this reply leaves the data out).",
            session.summary(),
        )
    return [int(code), message, encoded]


class OpsDispatch:
    def __init__(self, operations: Operations, access: AccessPolicy) -> None:
        self.operations = operations
        self.access = access

    def handle(
        self,
        action: str,
        op_name: str,
        params: dict[str, Any] | None = None,
        timeout: float | None = None,
        password: str | None = None,
        authrole: str | None = None,
    ) -> Answer:
        """Serve one request of a caller with role `authrole` (None: the hub disclosed none,
        as a hub without authentication, which refuses nothing)."""
        spec = self.operations.specs.get(op_name)
        if spec is None:
            return _error(f'No task or process called "{op_name}".')
        refusal = self.access.refusal(action, op_name, spec.role, authrole, password)
        if refusal is not None:
            return _error(refusal)
        session = self.operations.sessions.get(op_name)
        if action == "start":
            return self.start(spec, params)
        if action == "start_wait":
            begun = self._begin(spec, params)
            return begun if isinstance(begun, list) else self._wait(begun, timeout)
        if action == "status":
            if session is None:
                return [int(ResponseCode.OK), "No session active.", {}]
            return reply(ResponseCode.OK, "Session active.", session)
        if action == "wait":
            if session is None:
                return [int(ResponseCode.OK), "Idle.", {}]
            return self._wait(session, timeout)
        if action in ("stop", "abort"):
            return self._stop(spec, action, session, params)
        return _error(f'Unknown action "{action}".')

    def start(self, spec: OpSpec, params: dict[str, Any] | None) -> list[Any]:
        """Start `spec` unless it runs already or its params are refused."""
        begun = self._begin(spec, params)
        if isinstance(begun, list):
            return begun
        return reply(ResponseCode.OK, f'Started {spec.kind} "{spec.name}".', begun)

    def _begin(self, spec: OpSpec, params: dict[str, Any] | None) -> OpSession | list[Any]:
        """The new session of `spec`, its op launched; or the answer that refuses it."""
        current = self.operations.sessions.get(spec.name)
        if current is not None and current.status != "done":
            message = f'Operation "{spec.name}" already in progress.'
            return reply(ResponseCode.ERROR, message, current)
        if params is not None and not isinstance(params, dict):
            return _error("params must be a dict of parameter names.")
        try:
            checked = check_params(spec.func, params)
        except ParamError as exc:
            return _error(f'Bad parameters for "{spec.name}": {exc}')
        return self.operations.launch(spec, checked)

    def _stop(
        self,
        spec: OpSpec,
        action: str,
        session: OpSession | None,
        params: dict[str, Any] | None,
    ) -> list[Any]:
        wanted = "stop" if spec.kind == "process" else "abort"
        if action != wanted:
            return _error(f'"{spec.name}" is a {spec.kind}: use {wanted}, not {action}.')
        if not spec.abortable:
            return _error(f'Task "{spec.name}" cannot be aborted.')
        if session is None or session.status == "done":
            return _error(
                f'Operation "{spec.name}" is not running.', session.summary() if session else {}
            )
        self.operations.request_stop(spec, session, params or {})
        return reply(ResponseCode.OK, f'Requested {action} on {spec.kind} "{spec.name}".', session)

    def _wait(self, session: OpSession, timeout: float | None) -> Answer:
        """The answer to a wait on `session`: at once when it is done or `timeout` is not
        positive, else a future resolved when it ends or `timeout` passes."""
        done = f'Operation "{session.op_name}" is done.'
        if session.status == "done":
            return reply(ResponseCode.OK, done, session)
        late = f'Operation "{session.op_name}" still running; wait timed out.'
        if timeout is not None and timeout <= 0:
            return reply(ResponseCode.TIMEOUT, late, session)
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[list[Any]] = loop.create_future()

        def give(code: ResponseCode, message: str) -> None:
            if not answer.done():  # not cancelled by the caller's WAMP library
                answer.set_result(reply(code, message, session))

        forget = session.when_done(lambda: give(ResponseCode.OK, done))
        if timeout is not None:
            timer = loop.call_later(timeout, give, ResponseCode.TIMEOUT, late)
            answer.add_done_callback(lambda _: timer.cancel())
        answer.add_done_callback(lambda _: forget())
        return answer
