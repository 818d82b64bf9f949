"""Operation sessions, their codes, and parameter checking — no I/O, no WAMP.

An operation (a task that finishes, or a process that runs until stopped) is run as a
sequence of sessions. A session's status only moves forward:
``starting -> running -> stopping -> done``; every change adds a message. The numbers of
`OpCode` and `ResponseCode` are those of OCS, so OCS clients read our sessions unchanged.

Sessions are touched from the event loop and, for ``blocking=True`` operations, from a
worker thread; a lock guards them, and `on_change` is how the owning agent learns about a
change (it decides on which thread to act on it).
"""

from __future__ import annotations

import asyncio
import enum
import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

STATUSES = ("starting", "running", "stopping", "done")
# A process runs for months and every push carries its messages: it keeps the newest this many
# (trimmed a tenth at a time, so that adding one is not a copy of them all).
MAX_MESSAGES = 1000


class OpCode(enum.IntEnum):
    NONE = 1
    STARTING = 2
    RUNNING = 3
    STOPPING = 4
    SUCCEEDED = 5
    FAILED = 6
    EXPIRED = 7
    DEGRADED = 8


class ResponseCode(enum.IntEnum):
    OK = 0
    ERROR = -1
    TIMEOUT = 1


def json_safe(value: Any) -> Any:
    """A copy of `value` that any JSON encoder accepts: NaN and infinities become None,
    tuples become lists, and keys become strings."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class OpSession:
    """One run of an operation: its status, outcome, data and messages."""

    def __init__(
        self,
        session_id: int,
        op_name: str,
        *,
        on_change: Callable[[OpSession], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.session_id = session_id
        self.op_name = op_name
        self.status = "starting"
        self.success: bool | None = None
        self.degraded = False
        self.data: dict[str, Any] = {}
        self.messages: list[list[Any]] = []
        self._clock = clock
        self.start_time = clock()
        self.end_time: float | None = None
        self._lock = threading.RLock()
        self._on_change = on_change or (lambda session: None)
        self._stop = threading.Event()
        self._stop_waiters: set[asyncio.Future[None]] = set()
        self._on_done: list[Callable[[], None]] = []
        self.add_message('Status is now "starting".')

    # --- what the operation's code calls -------------------------------------------------

    def add_message(self, text: str) -> None:
        with self._lock:
            self.messages.append([self._clock(), str(text)])
            if len(self.messages) > MAX_MESSAGES + MAX_MESSAGES // 10:
                del self.messages[:-MAX_MESSAGES]
        self._on_change(self)

    def set_status(self, status: str) -> None:
        """Move the status forward; moving it back is a programming error. An op that says
        it runs after a stop was asked of it (a race no op can avoid) stays "stopping"."""
        if status not in STATUSES or status == "done":
            raise ValueError(f"status must be one of {STATUSES[:3]}, not {status!r}")
        with self._lock:
            if status == "running" and self.status == "stopping" and self._stop.is_set():
                return
            if STATUSES.index(status) < STATUSES.index(self.status):
                raise ValueError(f"status cannot go back from {self.status!r} to {status!r}")
            if status == self.status:
                return
            self.status = status
        self.add_message(f'Status is now "{status}".')

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    async def sleep(self, seconds: float) -> bool:
        """Sleep, waking early when a stop or abort is asked for; True if one was. A sleep
        of 0 or less lets the loop run once."""
        if self._stop.is_set():
            return True
        if seconds <= 0:  # a timer of 0 takes two turns of the loop
            await asyncio.sleep(0)
            return self._stop.is_set()
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        self._stop_waiters.add(waiter)
        # A timer of its own, not wait_for: an op sleeping once a second (an acquisition)
        # would pay each time for a time-out's cancelled future, extra trips round the loop
        # and an exception.
        timer = loop.call_later(seconds, _wake, waiter)
        try:
            await waiter
        finally:
            timer.cancel()
            self._stop_waiters.discard(waiter)
        return self._stop.is_set()

    def wait_stop(self, seconds: float) -> bool:
        """`sleep` for operations running in a worker thread."""
        return self._stop.wait(seconds)

    # --- what the agent calls -------------------------------------------------------------

    def request_stop(self) -> None:
        """Ask the operation to wind down (called on the event loop)."""
        self._stop.set()
        for waiter in self._stop_waiters:
            if not waiter.done():
                waiter.set_result(None)
        with self._lock:
            pending = self.status in ("starting", "running")
        if pending:
            self.set_status("stopping")

    def finish(self, success: bool, message: str) -> None:
        """Close the session (called on the event loop)."""
        with self._lock:
            if self.status == "done":
                return
            self.add_message(message)
            self.success = bool(success)
            self.status = "done"
            self.end_time = self._clock()
        self.add_message('Status is now "done".')
        done, self._on_done = self._on_done, []
        for callback in done:
            callback()

    def when_done(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call `callback()` in `finish` (on the loop, the session done); returns what
        forgets it. A waiting caller so hears of the end in the loop turn it happens."""
        self._on_done.append(callback)

        def forget() -> None:
            if callback in self._on_done:  # not called yet
                self._on_done.remove(callback)

        return forget

    async def wait_done(self, timeout: float | None) -> bool:
        """Wait until the session is done; False if `timeout` passed first."""
        if self.status == "done":
            return True
        if timeout is not None and timeout <= 0:
            return False
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def done() -> None:
            if not waiter.done():
                waiter.set_result(None)

        forget = self.when_done(done)
        try:
            await asyncio.wait_for(waiter, timeout)
            return True
        except TimeoutError:
            return False
        finally:
            forget()

    @property
    def op_code(self) -> OpCode:
        if self.status == "done":
            return OpCode.SUCCEEDED if self.success else OpCode.FAILED
        if self.degraded and self.status == "running":
            return OpCode.DEGRADED
        return {"starting": OpCode.STARTING, "running": OpCode.RUNNING}.get(
            self.status, OpCode.STOPPING
        )

    def _header(self) -> dict[str, Any]:
        return {
            "session_id": self.session_id,
            "op_name": self.op_name,
            "op_code": int(self.op_code),
            "status": self.status,
            "success": self.success,
            "degraded": self.degraded,
            "start_time": self.start_time,
            "end_time": self.end_time,
        }

    def encoded(self) -> dict[str, Any]:
        """The OCS session dict (JSON-safe)."""
        with self._lock:
            return self._header() | {
                "data": json_safe(self.data),
                "messages": [list(m) for m in self.messages],
                "cred_level": 0,
            }

    def summary(self) -> dict[str, Any]:
        """The session without its data and with its last two messages (an ended op's outcome,
        then "Status is now done"), for listings."""
        with self._lock:
            return self._header() | {"messages": [list(m) for m in self.messages[-2:]]}


class OpFailed(Exception):
    """Raised by an operation for a failure it foresaw (a refused path, a peer that said no):
    the session ends failed with this message, and no traceback is logged. Agents derive
    their error roots from it so one ``raise`` both explains and ends the operation."""


# --- parameters ---------------------------------------------------------------------------

REQUIRED: Any = object()


class ParamError(ValueError):
    """The parameters of a start request were refused; the text says which and why."""


@dataclass(frozen=True, kw_only=True)
class ParamSpec:
    key: str
    type: type | None = None
    default: Any = REQUIRED
    check: Callable[[Any], bool] | None = None
    choices: tuple[Any, ...] | None = None

    def described(self) -> dict[str, Any]:
        """What get_api says of it, for forms built from it (the check cannot be said)."""
        required = self.default is REQUIRED
        return {
            "key": self.key,
            "type": self.type.__name__ if self.type is not None else None,
            "required": required,
            "default": None if required else self.default,
            "choices": list(self.choices) if self.choices is not None else None,
        }


def param(
    key: str,
    *,
    type: type | None = None,
    default: Any = REQUIRED,
    check: Callable[[Any], bool] | None = None,
    choices: Iterable[Any] | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Declare a parameter of an operation, checked before any session exists.

    An operation with at least one ``@param`` refuses keys it did not declare.
    """
    spec = ParamSpec(
        key=key,
        type=type,
        default=default,
        check=check,
        choices=tuple(choices) if choices is not None else None,
    )

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        # decorators apply bottom-up: put this one first to keep the order they are written in
        specs = {key: spec, **getattr(func, "_socs_params", {})}
        func._socs_params = specs  # type: ignore[attr-defined]
        return func

    return decorate


def _type_ok(value: Any, wanted: type) -> bool:
    if wanted is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if wanted is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, wanted)


def check_params(func: Callable[..., Any], params: Mapping[str, Any] | None) -> dict[str, Any]:
    """Apply the ``@param`` declarations of `func` to `params`, or raise `ParamError`."""
    given = dict(params or {})
    specs: dict[str, ParamSpec] = getattr(func, "_socs_params", {})
    if not specs:
        return given
    unknown = sorted(set(given) - set(specs))
    if unknown:
        raise ParamError(f"unknown parameter {unknown[0]!r}; this operation takes {sorted(specs)}")
    out: dict[str, Any] = {}
    for key, spec in specs.items():
        if key not in given:
            if spec.default is REQUIRED:
                raise ParamError(f"parameter {key!r} is required")
            out[key] = spec.default
            continue
        value = given[key]
        if spec.type is not None and value is not None and not _type_ok(value, spec.type):
            raise ParamError(
                f"parameter {key!r} must be {spec.type.__name__}, "
                f"not {value!r} ({type(value).__name__})"
            )
        if spec.type is float and isinstance(value, int):
            value = float(value)
        if spec.choices is not None and value not in spec.choices:
            raise ParamError(
                f"parameter {key!r} must be one of {list(spec.choices)}, not {value!r}"
            )
        if spec.check is not None and not spec.check(value):
            raise ParamError(f"parameter {key!r} failed its check: {value!r}")
        out[key] = value
    return out
