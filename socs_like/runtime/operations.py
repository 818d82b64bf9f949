"""An agent's operations: what is registered, their sessions, and running them — no WAMP.

Each operation has at most one session at a time (the latest one, kept once done). An op runs
as an asyncio task on the loop, or (``blocking=True``) in the bounded worker pool; whatever it
returns or raises ends its session with a clear outcome, and never takes the agent down.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from ..access import OP_ROLES
from ..ops import OpCode, OpFailed, OpSession, ParamSpec

log = logging.getLogger(__name__)
T = TypeVar("T")

OpFunc = Callable[[OpSession, dict[str, Any]], Any]


@dataclass(frozen=True)
class OpSpec:
    name: str
    kind: str  # "task" or "process"
    func: OpFunc
    stopper: OpFunc | None  # a process's stop function
    abortable: bool  # a task that watches session.stop_requested
    blocking: bool
    startup: bool | dict[str, Any]
    role: str = "controller"  # the role a caller needs to start or stop it

    def info(self) -> dict[str, Any]:
        """What get_api says of the op."""
        info: dict[str, Any] = {
            "blocking": self.blocking,
            "docstring": inspect.getdoc(self.func),
            "op_type": self.kind,
        }
        if self.kind == "task":
            info["abortable"] = self.abortable
        if self.role != "controller":  # an extra key, as params: only for admin ops
            info["role"] = self.role
        specs: dict[str, ParamSpec] = getattr(self.func, "_socs_params", {})
        if specs:  # an extra key: OCS clients read only the ones they know
            info["params"] = [spec.described() for spec in specs.values()]
        return info


def outcome(op_name: str, result: Any) -> tuple[bool, str]:
    """Read an op's ``(ok, message)``; anything else is a clear failure, not a crash."""
    if isinstance(result, tuple) and len(result) == 2 and isinstance(result[0], bool):
        return result[0], str(result[1])
    return False, (
        f"operation {op_name!r} returned {result!r}; an operation must return "
        "(ok: bool, message: str)"
    )


class Operations:
    """The registered ops of one agent and their sessions; `on_change` hears of every session
    change (from the loop or a worker thread)."""

    def __init__(self, *, on_change: Callable[[OpSession], None], workers: int) -> None:
        self.specs: dict[str, OpSpec] = {}
        self.sessions: dict[str, OpSession] = {}
        self._on_change = on_change
        self._runners: dict[str, asyncio.Task[None]] = {}
        self._stoppers: set[asyncio.Future[None]] = set()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="op")
        self._next_session_id = 0

    def register(self, spec: OpSpec) -> None:
        if spec.role not in OP_ROLES:
            raise ValueError(f"operation {spec.name!r}: role must be one of {OP_ROLES}")
        if spec.name in self.specs:
            raise ValueError(f"operation {spec.name!r} is registered twice")
        if not spec.blocking and not inspect.iscoroutinefunction(spec.func):
            raise TypeError(
                f"operation {spec.name!r}: give an async function, or register it with "
                "blocking=True"
            )
        self.specs[spec.name] = spec

    async def to_thread(self, func: Callable[..., T], *args: Any) -> T:
        """Run `func(*args)` in the bounded worker pool."""
        return await asyncio.get_running_loop().run_in_executor(self._pool, func, *args)

    def running(self) -> list[OpSession]:
        return [s for s in self.sessions.values() if s.status != "done"]

    def op_codes(self) -> dict[str, int]:
        """Each op's current OpCode, as the heartbeat carries them."""
        return {
            name: int(self.sessions[name].op_code) if name in self.sessions else int(OpCode.NONE)
            for name in self.specs
        }

    def listing(self, kind: str) -> list[list[Any]]:
        """get_api's ``tasks`` or ``processes``: ``[name, session summary, op info]`` each."""
        out = []
        for name, spec in sorted(self.specs.items()):
            if spec.kind != kind:
                continue
            session = self.sessions.get(name)
            summary = session.summary() if session else {"op_name": name, "status": "no_history"}
            out.append([name, summary, spec.info()])
        return out

    def launch(self, spec: OpSpec, params: dict[str, Any]) -> OpSession:
        """A new session of `spec` (checked params; none running), its op started on the loop."""
        self._next_session_id += 1
        session = OpSession(self._next_session_id, spec.name, on_change=self._on_change)
        self.sessions[spec.name] = session
        self._runners[spec.name] = asyncio.ensure_future(self._run(spec, session, params))
        return session

    async def _run(self, spec: OpSpec, session: OpSession, params: dict[str, Any]) -> None:
        try:
            if spec.blocking:
                result = await self.to_thread(spec.func, session, params)
            else:
                result = await spec.func(session, params)
            ok, message = outcome(spec.name, result)
        except asyncio.CancelledError:
            ok, message = False, "Cancelled: the agent is shutting down."
        except OpFailed as exc:  # an expected failure: its message says it all
            ok, message = False, str(exc)
            log.warning("operation %s failed: %s", spec.name, message)
        except Exception as exc:  # an op's failure must never take the agent down
            log.exception("operation %s failed", spec.name)
            ok, message = False, f"Crashed: {type(exc).__name__}: {exc}"
        session.finish(ok, message)

    def request_stop(self, spec: OpSpec, session: OpSession, params: dict[str, Any]) -> None:
        session.request_stop()
        if spec.kind == "task":
            session.add_message("Abort requested.")
        elif spec.stopper is not None:
            stopping = asyncio.ensure_future(
                self._call_stopper(spec.name, spec.stopper, session, params)
            )
            self._stoppers.add(stopping)  # a task nobody references may be collected mid-run
            stopping.add_done_callback(self._stoppers.discard)

    async def _call_stopper(
        self, op_name: str, stopper: OpFunc, session: OpSession, params: dict[str, Any]
    ) -> None:
        try:
            if inspect.iscoroutinefunction(stopper):
                await stopper(session, params)
            else:
                await self.to_thread(stopper, session, params)
        except Exception as exc:
            log.exception("stopper of %s failed", op_name)
            session.add_message(f"Stop request failed: {type(exc).__name__}: {exc}")

    async def stop_all(self, grace: float) -> None:
        """Stop every running op: ask the stoppable ones, cancel what is still running after
        `grace` seconds, and leave the threads of blocking ops behind."""
        running = [(self.specs[n], s) for n, s in self.sessions.items() if s.status != "done"]
        for spec, session in running:
            if spec.abortable:
                self.request_stop(spec, session, {})
        tasks = [self._runners[spec.name] for spec, _ in running]
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=grace)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=grace)
        # Threads of blocking ops cannot be interrupted; don't wait for them at exit.
        self._pool.shutdown(wait=False, cancel_futures=True)

    @property
    def blocked_threads(self) -> bool:
        """True when a blocking op is still running in a worker thread."""
        return any(not t.done() for t in self._runners.values())
