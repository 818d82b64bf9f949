"""Time windows, the original's file names, and cron schedules with catch-up (sans-I/O).

All times are UTC. The original grabbers took the window's end from ``--stopat`` (default:
the most recent midnight) and its length from ``--days/--hours/--minutes/--seconds`` (1 s
when all are zero); the same rules hold here, and a scheduled run takes its end from the
midnight before its due time, so a run caught up late grabs the day it would have grabbed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import asdict, dataclass

from croniter import croniter

from .errors import RequestError

UTC = dt.UTC
STOPAT_FORMAT = "%Y-%m-%d %H:%M:%S"
# the original's file names carry the window as 2019-07-01+00:00:00
NAME_FORMAT = "%Y-%m-%d+%H:%M:%S"
PARAM_PREFIX = "MLParamData"
EVENT_PREFIX = "MLEventData"
TIMELINE_PREFIX = "TimelineEventData"
# the original's event files name this pseudo logger node
EVENT_NODE = "EventC"


@dataclass(frozen=True, kw_only=True)
class Window:
    """``[start, stop)`` in whole UTC epoch seconds (the logger takes no finer times)."""

    start: float
    stop: float

    def __post_init__(self) -> None:
        if not self.stop > self.start:
            raise RequestError(f"a window must end after it starts: {self.start} .. {self.stop}")
        if self.start != int(self.start) or self.stop != int(self.stop):
            raise RequestError(f"a window is whole seconds, not {self.start} .. {self.stop}")

    @property
    def seconds(self) -> float:
        return self.stop - self.start

    def label(self) -> str:
        return f"{stamp(self.start)}_to_{stamp(self.stop)}"


def stamp(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, UTC).strftime(NAME_FORMAT)


def last_midnight(now: float) -> float:
    """The most recent UTC midnight at or before ``now``."""
    day = dt.datetime.fromtimestamp(now, UTC).date()
    return dt.datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()


def parse_stopat(text: str) -> float:
    try:
        return dt.datetime.strptime(text, STOPAT_FORMAT).replace(tzinfo=UTC).timestamp()
    except ValueError:
        raise RequestError(f"--stopat {text!r} is not 'YYYY-MM-DD hh:mm:ss' (UTC)") from None


def make_window(
    *,
    now: float,
    stopat: str | None = None,
    days: float = 0,
    hours: float = 0,
    minutes: float = 0,
    seconds: float = 0,
) -> Window:
    """The original's window rules: end at ``stopat`` or the last midnight, length from the
    four options (each >= 0; 1 s when all are zero), a whole number of seconds."""
    for name, value in (
        ("days", days),
        ("hours", hours),
        ("minutes", minutes),
        ("seconds", seconds),
    ):
        if value < 0:
            raise RequestError(f"--{name} must be >= 0, not {value}")
    length = ((days * 24 + hours) * 60 + minutes) * 60 + seconds
    whole = round(length)
    if abs(length - whole) > 1e-6:  # --hours 0.1 is 360.00000000000006 s: whole
        raise RequestError(f"a window of {length:g} s: the logger takes whole seconds")
    stop = parse_stopat(stopat) if stopat else last_midnight(now)
    return Window(start=stop - (whole or 1), stop=stop)


@dataclass(frozen=True, kw_only=True)
class Length:
    """A window's length in the original's four units (``--days/--hours/--minutes/--seconds``)."""

    days: float = 0.0
    hours: float = 0.0
    minutes: float = 0.0
    seconds: float = 0.0

    def window(self, *, now: float, stopat: str | None = None) -> Window:
        return make_window(now=now, stopat=stopat, **asdict(self))

    def or_given(self, given: Mapping[str, float | None]) -> Length:
        """A task's length: the units it was given (one or more, the rest 0) when it was
        given any, else this one (the configured length)."""
        units = {unit: given[unit] for unit in ("days", "hours", "minutes", "seconds")}
        if all(v is None for v in units.values()):
            return self
        return Length(**{unit: v or 0.0 for unit, v in units.items()})


def param_file_name(created: float, node: str, window: Window) -> str:
    return f"{PARAM_PREFIX}_{created!r}_From_{node}_{window.label()}.h5"


def event_file_name(created: float, window: Window) -> str:
    return f"{EVENT_PREFIX}_{created!r}_From_{EVENT_NODE}_{window.label()}.h5"


def timeline_file_name(created: float, window: Window) -> str:
    return f"{TIMELINE_PREFIX}_{created!r}_{window.label()}.h5"


class Schedule:
    """A cron expression (``0 1 * * *``: minute hour day month weekday, UTC)."""

    def __init__(self, expression: str) -> None:
        if not croniter.is_valid(expression) or len(expression.split()) != 5:
            raise RequestError(
                f"schedule {expression!r} is not a 5-field cron expression like '0 1 * * *'"
            )
        self.expression = expression

    def next_after(self, epoch: float) -> float:
        return float(croniter(self.expression, epoch).get_next(float))

    def last_due(self, now: float) -> float:
        """The most recent due time at or before ``now``."""
        return float(croniter(self.expression, now + 1e-3).get_prev(float))

    def missed(self, last_done: float | None, now: float, limit: int) -> list[float]:
        """Due times after ``last_done`` and at or before ``now``, oldest first, at most the
        ``limit`` newest. Never run before (``last_done`` None): only the latest one."""
        latest = self.last_due(now)
        if last_done is None:
            return [latest] if limit > 0 else []
        due: list[float] = []
        t = latest
        while t > last_done and len(due) < limit:
            due.append(t)
            t = float(croniter(self.expression, t).get_prev(float))
        return sorted(due)
