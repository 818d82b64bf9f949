"""The pysmurf publisher's UDP datagrams, parsed without I/O.

One datagram is one UTF-8 JSON object (the envelope)::

    {"host": str, "id": str, "script": str, "time": float, "seq_no": int,
     "type": str, "payload": dict | str}

:func:`parse` turns bytes into exactly one of the message classes below, or a
:class:`Rejected` naming why the datagram cannot be used. It never raises: the agent counts
the reason, drops the datagram and carries on. :func:`encode` builds the same bytes a
publisher sends, so the simulator and the tests speak exactly this format.

Rules:

- ``id``, ``type`` and ``payload`` are required; ``host`` and ``script`` default to ``""``;
  ``time`` (a number) and ``seq_no`` (an integer, not a bool) may be absent.
- Datagrams over :data:`MAX_DATAGRAM` bytes are refused: the publisher never sends them.
- ``data_file`` and ``g3_file`` need an object payload with a non-empty string ``path``;
  every other field has a type it must have when present.
- ``data_file``: when ``format == "npy"`` and the path does not end in ``.npy``, the real file
  has ``.npy`` appended. ``action`` and ``action_ts`` may be missing (None).
- ``metadata`` needs ``path`` (string) and ``value`` (a JSON scalar or list).
- ``log``, ``start``, ``stop``, ``backend_error``, ``general`` are :class:`Ignored`.
"""

from __future__ import annotations

import enum
import json
import math
from dataclasses import dataclass
from typing import Any

MAX_DATAGRAM = 64_000

IGNORED_TYPES = frozenset({"log", "start", "stop", "backend_error", "general"})


class Reason(enum.StrEnum):
    """Why a datagram was dropped: the keys of the ``rejected`` counters."""

    OVERSIZE = "oversize"
    NOT_UTF8 = "not_utf8"
    BAD_JSON = "bad_json"
    NOT_AN_OBJECT = "not_an_object"
    MISSING_FIELD = "missing_field"
    WRONG_TYPE = "wrong_type"
    UNKNOWN_TYPE = "unknown_type"
    # set by the registration rules, not by the parser
    UNSAFE_PATH = "unsafe_path"
    OUTSIDE_ROOTS = "outside_roots"
    BAD_TIMESTAMP = "bad_timestamp"
    BAD_FIELD_NAME = "bad_field_name"


@dataclass(frozen=True, kw_only=True)
class Envelope:
    host: str
    id: str
    script: str
    time: float | None
    seq_no: int | None
    type: str


@dataclass(frozen=True, kw_only=True)
class DataFile:
    """A pysmurf output file was written."""

    envelope: Envelope
    path: str
    file_type: str | None
    format: str | None
    timestamp: float | None
    action: str | None
    action_ts: str | None
    plot: bool
    archive_name: str


@dataclass(frozen=True, kw_only=True)
class G3File:
    """The streamer closed a timestream file."""

    envelope: Envelope
    path: str
    archive_name: str


@dataclass(frozen=True, kw_only=True)
class SessionMessage:
    """``session_data`` or ``session_log``: forwarded whole."""

    envelope: Envelope
    message: dict[str, Any]


@dataclass(frozen=True, kw_only=True)
class Metadata:
    """A readout register value from the streamer."""

    envelope: Envelope
    path: str
    value: Any
    value_type: str | None


@dataclass(frozen=True, kw_only=True)
class Ignored:
    envelope: Envelope


@dataclass(frozen=True, kw_only=True)
class Rejected:
    reason: Reason
    detail: str
    # the sender's envelope when it parsed, so sequence numbers still count
    envelope: Envelope | None = None


Message = DataFile | G3File | SessionMessage | Metadata | Ignored
Parsed = Message | Rejected


class _Invalid(Exception):
    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def parse(data: bytes) -> Parsed:
    """One datagram in, one message or one rejection out. Never raises."""
    if len(data) > MAX_DATAGRAM:
        return Rejected(reason=Reason.OVERSIZE, detail=f"{len(data)} bytes > {MAX_DATAGRAM}")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return Rejected(reason=Reason.NOT_UTF8, detail=str(exc))
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError) as exc:
        return Rejected(reason=Reason.BAD_JSON, detail=str(exc)[:200])
    if not isinstance(obj, dict):
        return Rejected(reason=Reason.NOT_AN_OBJECT, detail=f"top level is {type(obj).__name__}")
    try:
        envelope = _envelope(obj)
    except _Invalid as exc:
        return Rejected(reason=exc.reason, detail=exc.detail)
    try:
        return _message(envelope, obj)
    except _Invalid as exc:
        return Rejected(reason=exc.reason, detail=exc.detail, envelope=envelope)


def _envelope(obj: dict[str, Any]) -> Envelope:
    for key in ("id", "type", "payload"):
        if key not in obj:
            raise _Invalid(Reason.MISSING_FIELD, f"envelope has no {key!r}")
    return Envelope(
        id=_required_text(obj, "id", where="envelope"),
        type=_required_text(obj, "type", where="envelope"),
        host=_text(obj, "host", where="envelope") or "",
        script=_text(obj, "script", where="envelope") or "",
        time=_number(obj, "time", where="envelope"),
        seq_no=_integer(obj, "seq_no", where="envelope"),
    )


def _message(env: Envelope, obj: dict[str, Any]) -> Message:
    payload = obj["payload"]
    kind = env.type
    if kind in ("session_data", "session_log"):
        return SessionMessage(envelope=env, message=obj)
    if kind in IGNORED_TYPES:
        return Ignored(envelope=env)
    if kind not in ("data_file", "g3_file", "metadata"):
        raise _Invalid(Reason.UNKNOWN_TYPE, f"unknown message type {kind[:64]!r}")
    if not isinstance(payload, dict):
        raise _Invalid(Reason.WRONG_TYPE, f"{kind} payload must be an object")
    where = f"{kind} payload"
    if kind == "metadata":
        if "value" not in payload:
            raise _Invalid(Reason.MISSING_FIELD, f"{where} has no 'value'")
        value = payload["value"]
        if isinstance(value, dict):
            raise _Invalid(Reason.WRONG_TYPE, f"{where} 'value' must be a scalar or a list")
        return Metadata(
            envelope=env,
            path=_required_text(payload, "path", where=where),
            value=value,
            value_type=_text(payload, "type", where=where),
        )
    path = _required_text(payload, "path", where=where)
    if kind == "g3_file":
        return G3File(
            envelope=env,
            path=path,
            archive_name=_text(payload, "archive_name", where=where) or "timestreams",
        )
    file_format = _text(payload, "format", where=where)
    if file_format == "npy" and not path.endswith(".npy"):
        path += ".npy"
    action_ts = payload.get("action_ts")
    if isinstance(action_ts, bool) or not isinstance(action_ts, (str, int, type(None))):
        raise _Invalid(Reason.WRONG_TYPE, f"{where} 'action_ts' must be a string")
    plot = payload.get("plot", False)
    if not isinstance(plot, bool) and plot is not None:
        raise _Invalid(Reason.WRONG_TYPE, f"{where} 'plot' must be true or false")
    return DataFile(
        envelope=env,
        path=path,
        file_type=_text(payload, "type", where=where),
        format=file_format,
        timestamp=_number(payload, "timestamp", where=where),
        action=_text(payload, "action", where=where) or None,
        action_ts=None if action_ts in (None, "") else str(action_ts),
        plot=bool(plot),
        archive_name=_text(payload, "archive_name", where=where) or "smurf",
    )


def _text(obj: dict[str, Any], key: str, *, where: str) -> str | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _Invalid(Reason.WRONG_TYPE, f"{where} {key!r} must be a string")
    return value


def _required_text(obj: dict[str, Any], key: str, *, where: str) -> str:
    value = _text(obj, key, where=where)
    if value is None:
        raise _Invalid(Reason.MISSING_FIELD, f"{where} has no {key!r}")
    if not value:
        raise _Invalid(Reason.MISSING_FIELD, f"{where} {key!r} is empty")
    return value


def _number(obj: dict[str, Any], key: str, *, where: str) -> float | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, bool) and isinstance(value, (int, float)):
        try:
            number = float(value)
        except OverflowError:
            number = math.inf
        if math.isfinite(number):
            return number
    raise _Invalid(Reason.WRONG_TYPE, f"{where} {key!r} must be a finite number")


def _integer(obj: dict[str, Any], key: str, *, where: str) -> int | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Invalid(Reason.WRONG_TYPE, f"{where} {key!r} must be an integer")
    return value


def encode(
    *,
    id: str,
    type: str,
    payload: Any,
    seq_no: int | None,
    time: float,
    host: str = "smurf-srv",
    script: str = "undeclared",
) -> bytes:
    """The datagram a pysmurf publisher sends."""
    envelope = {
        "host": host,
        "id": id,
        "script": script,
        "time": time,
        "seq_no": seq_no,
        "type": type,
        "payload": payload,
    }
    return json.dumps(envelope).encode("utf-8")
