"""Grabbing a window from a logger into one HDF5 file, written as a draft and moved whole.

One file per logger node (parameters) or one for the timing events, named as the original
(``MLParamData_<created>_From_<node>_<start>_to_<stop>.h5``). Inside, one dataset per device
(named as the device, ``B:VIMIN``) or per event code (lowercase hex: ``0x02``, ``0x0a``),
``(n, 2)`` float64 with the column names as JSON text in its ``columns`` attribute; the file's
attributes hold the window, the source, what was asked (``requested``), the devices that had no
samples (``empty``) and those that failed after their retries (``missing``, a JSON object
device -> error), so nothing is silently skipped.

The file grows as a hidden draft and reaches the output folder only complete (``drafts``).
A grab whose complete file is already in the output folder (same window, source, node or
codes, devices) is not done again: that file is its result, marked ``reused``. So a run
interrupted after some of its files (a kill, a crash) and run again ends with one file each.
"""

from __future__ import annotations

import glob
import json
import time
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import h5py

from socs_like.backoff import Backoff

from .client import LoggerSource
from .drafts import publish, writing
from .errors import DataLoggerError, DeviceError, RequestError, SourceError
from .listfile import DeviceRef
from .protocol import MAX_EVENT, Floats
from .window import Window, event_file_name, param_file_name

# progress(done, total, name just finished)
Progress = Callable[[int, int, str], None]
PARAM_COLUMNS = ["utc_seconds", "value"]
EVENT_COLUMNS = ["utc_seconds", "offset_us"]


class GrabAborted(DataLoggerError):
    """A stop was asked for; the draft was removed and nothing reached the output folder."""


@dataclass(frozen=True, kw_only=True)
class GrabOptions:
    draftdir: Path
    outdir: Path
    concurrency: int = 8
    retries: int = 2
    retry_delay: float = 1.0

    def __post_init__(self) -> None:
        if self.concurrency < 1 or self.retries < 0 or self.retry_delay < 0:
            raise RequestError("concurrency must be >= 1, retries and retry delay >= 0")


@dataclass(kw_only=True)
class GrabReport:
    """What one grab wrote: ``path`` in the output folder (None: aborted before it)."""

    kind: str
    window: Window
    path: Path | None = None
    samples: dict[str, int] = field(default_factory=dict)
    empty: list[str] = field(default_factory=list)
    missing: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    reused: bool = False  # the complete file of an earlier grab of the same window

    @property
    def total_samples(self) -> int:
        return sum(self.samples.values())

    def summary(self) -> str:
        name = self.path.name if self.path else "no file"
        text = (
            f"{name}: {len(self.samples)} datasets, {self.total_samples} samples, "
            f"{len(self.empty)} empty, {len(self.missing)} missing"
        )
        if self.missing:
            device, error = next(iter(self.missing.items()))
            text += f" ({device}: {error})"
        return text + (" (grabbed before)" if self.reused else "")

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "file": str(self.path) if self.path else None,
            "window": [self.window.start, self.window.stop],
            "datasets": len(self.samples),
            "samples": self.total_samples,
            "empty": list(self.empty),
            "missing": dict(self.missing),
            "seconds": round(self.seconds, 3),
            "reused": self.reused,
        }


def fetch_with_retries(
    fetch: Callable[[], Floats], options: GrabOptions, should_stop: Callable[[], bool]
) -> Floats:
    """``fetch()``, retried on a logger failure; a 4xx answer (our request) is not retried."""
    backoff = Backoff(initial=options.retry_delay, cap=max(options.retry_delay, 30.0))
    while True:
        try:
            return fetch()
        except SourceError as exc:
            refused = isinstance(exc, DeviceError) and 400 <= exc.status < 500
            if refused or backoff.failures >= options.retries or should_stop():
                raise
            time.sleep(backoff.failure())


def grab_params(
    source: LoggerSource,
    devices: list[DeviceRef],
    window: Window,
    options: GrabOptions,
    *,
    progress: Progress | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    now: Callable[[], float] = time.time,
) -> list[GrabReport]:
    """One file per logger node of the list, in list order."""
    nodes = list(dict.fromkeys(d.node for d in devices))
    total = len(devices)
    done = 0
    reports = []
    for node in nodes:
        names = [d.device for d in devices if d.node == node]

        def step(name: str) -> None:
            nonlocal done
            done += 1
            if progress:
                progress(done, total, name)

        def fetcher(device: str, node: str = node) -> Callable[[], Floats]:
            return lambda: source.param(node, device, window.start, window.stop)

        reports.append(
            _grab_file(
                kind="param",
                file_name=param_file_name(now(), node, window),
                jobs=[(name, fetcher(name)) for name in names],
                columns=PARAM_COLUMNS,
                attrs={"node": node, "source": source.name},
                window=window,
                options=options,
                step=step,
                should_stop=should_stop,
                stop_at_first_data=False,
            )
        )
    return reports


def grab_events(
    source: LoggerSource,
    window: Window,
    options: GrabOptions,
    *,
    max_evt: int = MAX_EVENT,
    only_first: bool = False,
    progress: Progress | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    now: Callable[[], float] = time.time,
) -> GrabReport:
    """Event codes 0 .. ``max_evt``; ``only_first``: stop after the first code with data
    (asked in code order, one at a time; ``requested`` lists the codes asked until then)."""
    if not 0 <= max_evt <= MAX_EVENT:
        raise RequestError(f"--maxEvt must be 0..{MAX_EVENT:#x}, not {max_evt:#x}")
    codes = list(range(max_evt + 1))
    done = 0

    def step(name: str) -> None:
        nonlocal done
        done += 1
        if progress:
            progress(done, len(codes), name)

    def fetcher(code: int) -> Callable[[], Floats]:
        return lambda: source.event(code, window.start, window.stop)

    return _grab_file(
        kind="event",
        file_name=event_file_name(now(), window),
        jobs=[(f"{code:#04x}", fetcher(code)) for code in codes],
        columns=EVENT_COLUMNS,
        attrs={"source": source.name, "max_evt": max_evt, "only_first": only_first},
        window=window,
        options=replace(options, concurrency=1) if only_first else options,
        step=step,
        should_stop=should_stop,
        stop_at_first_data=only_first,
    )


def _grab_file(
    *,
    kind: str,
    file_name: str,
    jobs: list[tuple[str, Callable[[], Floats]]],
    columns: list[str],
    attrs: dict[str, Any],
    window: Window,
    options: GrabOptions,
    step: Callable[[str], None],
    should_stop: Callable[[], bool],
    stop_at_first_data: bool,
) -> GrabReport:
    started = time.monotonic()
    attrs = {"kind": kind, "window_start": window.start, "window_stop": window.stop, **attrs}
    order = {name: i for i, (name, _) in enumerate(jobs)}
    if not stop_at_first_data:
        # every job is asked: an earlier file matches only if it asked the same
        attrs["requested"] = json.dumps(list(order))
    options.draftdir.mkdir(parents=True, exist_ok=True)
    options.outdir.mkdir(parents=True, exist_ok=True)
    before = grabbed_before(options.outdir, file_name, attrs, window)
    if before is not None:
        for name, _ in jobs:
            step(name)
        return before
    report = GrabReport(kind=kind, window=window)
    with writing(options.draftdir, file_name) as draft:
        with h5py.File(draft, "w", locking=False) as h5:  # the draft holds our own lock
            h5.attrs.update(attrs)
            requested = []
            for name, result in _run(jobs, options, should_stop, stop_at_first_data):
                requested.append(name)
                if isinstance(result, SourceError):
                    report.missing[name] = str(result)
                elif len(result) == 0:
                    report.empty.append(name)
                else:
                    dataset = h5.create_dataset(name, data=result)
                    dataset.attrs["columns"] = json.dumps(columns)
                    report.samples[name] = len(result)
                step(name)
            if should_stop():
                raise GrabAborted(f"{kind} grab stopped; no file written")
            # in the list's order, not the order the answers came in; stopping at the first
            # code with data, the codes asked until then
            requested.sort(key=order.__getitem__)
            report.empty.sort(key=order.__getitem__)
            h5.attrs["requested"] = json.dumps(requested)
            h5.attrs["empty"] = json.dumps(report.empty)
            h5.attrs["missing"] = json.dumps(report.missing)
            h5.attrs["complete"] = not report.missing
        report.path = publish(draft, options.outdir / file_name)
    report.seconds = time.monotonic() - started
    return report


def grabbed_before(
    outdir: Path, file_name: str, attrs: dict[str, Any], window: Window
) -> GrabReport | None:
    """The complete file in ``outdir`` that a grab writing ``file_name`` with ``attrs`` made
    before (its name differs only in when it was created), as its report; None: there is
    none. An incomplete one is grabbed again: a device missing then may answer now."""
    prefix, _created, rest = file_name.split("_", 2)
    for path in sorted(outdir.glob(f"{glob.escape(prefix)}_*_{glob.escape(rest)}")):
        try:
            with h5py.File(path, "r") as h5:
                if not h5.attrs.get("complete") or any(
                    k not in h5.attrs or h5.attrs[k] != v for k, v in attrs.items()
                ):
                    continue
                return GrabReport(
                    kind=str(attrs["kind"]),
                    window=window,
                    path=path,
                    samples={
                        name: len(h5[name])
                        for name in json.loads(h5.attrs["requested"])
                        if name in h5
                    },
                    empty=json.loads(h5.attrs["empty"]),
                    reused=True,
                )
        except (OSError, KeyError, ValueError):  # not a file of ours: grab anew beside it
            continue
    return None


def _run(
    jobs: list[tuple[str, Callable[[], Floats]]],
    options: GrabOptions,
    should_stop: Callable[[], bool],
    stop_at_first_data: bool,
) -> Iterable[tuple[str, Floats | SourceError]]:
    """Each job's samples or its failure, as they finish, at most ``concurrency`` at once."""

    def one(fetch: Callable[[], Floats]) -> Floats | SourceError:
        try:
            return fetch_with_retries(fetch, options, should_stop)
        except SourceError as exc:
            return exc

    pending = iter(jobs)
    with ThreadPoolExecutor(max_workers=options.concurrency) as pool:
        running: dict[Future[Floats | SourceError], str] = {}
        while True:
            while len(running) < options.concurrency and not should_stop():
                job = next(pending, None)
                if job is None:
                    break
                running[pool.submit(one, job[1])] = job[0]
            if not running:
                return
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in sorted(finished, key=lambda f: running[f]):
                result = future.result()
                yield running.pop(future), result
                if stop_at_first_data and not isinstance(result, SourceError) and len(result):
                    return
