"""The DataGrabber's tasks, and the one run a schedule asks for: each maps its session to
:class:`.service.Grabber` and shows what it does as the typed session data of :mod:`.status`.

All of them block (HTTP, HDF5, the database): the agent registers the tasks ``blocking`` and
the scheduler runs :meth:`GrabTasks.scheduled` in a worker thread.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from socs_like import OpSession, param

from .errors import DataLoggerError
from .grab import GrabReport, Progress
from .service import Grabber
from .stats import FileStats
from .status import (
    Distilled,
    GrabProgress,
    GrabReports,
    PlotPage,
    ProgressCounts,
    feed_blocks,
    outcome,
)
from .store import record_run
from .window import Length, Window

log = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])
Result = tuple[bool, str]


def _window_params(func: F) -> F:
    """The window parameters every grab task takes (None: the configured length)."""
    wrapped: Callable[..., Any] = func
    for key in ("seconds", "minutes", "hours", "days"):
        wrapped = param(key, type=float, default=None, check=lambda v: v is None or v >= 0)(wrapped)
    return cast(F, param("stopat", type=str, default=None)(wrapped))


def _progress(session: OpSession, kind: str) -> Progress:
    def show(done: int, total: int, name: str) -> None:
        counts = ProgressCounts(done=done, total=total, current=name)
        session.data = GrabProgress(kind=kind, progress=counts).as_dict()

    return show


def _finish(session: OpSession, reports: list[GrabReport]) -> Result:
    session.data = {**session.data, **GrabReports(reports=reports).as_dict()}
    for r in reports:
        for device, error in r.missing.items():
            session.add_message(f"missing {device}: {error}")
    return outcome(reports)


@dataclass
class GrabTasks:
    grabber: Grabber
    publish: Callable[[dict[str, Any]], None]  # the recorded feed ``stats``
    length: Length  # --days/--hours/--minutes/--seconds
    max_evt: int  # --max-evt

    def _on_stats(self, stats: FileStats) -> None:
        for block in feed_blocks(stats):
            self.publish(block)

    def _window(self, params: dict[str, Any]) -> Window:
        return self.length.or_given(params).window(now=time.time(), stopat=params["stopat"])

    def run_params(self, session: OpSession, window: Window) -> list[GrabReport]:
        session.set_status("running")
        reports = self.grabber.grab_params(
            window,
            progress=_progress(session, "params"),
            should_stop=lambda: session.stop_requested,
            on_stats=self._on_stats,
        )
        for report in reports:
            log.info("wrote %s", report.summary())
        page = self.grabber.config.plot_dir / "index.html"
        log.info("plot page at %s", page)
        # rebuilt with this grab's statistics: said in session data too (the dashboard links it)
        session.data.update(PlotPage(page=str(page)).as_dict())
        return reports

    def run_events(
        self, session: OpSession, window: Window, max_evt: int, only_first: bool
    ) -> GrabReport:
        session.set_status("running")
        return self.grabber.grab_events(
            window,
            max_evt=max_evt,
            only_first=only_first,
            progress=_progress(session, "events"),
            should_stop=lambda: session.stop_requested,
        )

    @_window_params
    def grab_params(self, session: OpSession, params: dict[str, Any]) -> Result:
        """grab_params(stopat=None, days, hours, minutes, seconds): one file per logger node
        for the window (default: the configured length ending at the last midnight); fails
        when a device stayed missing after its retries (the file is still written)."""
        reports = self.run_params(session, self._window(params))
        return _finish(session, reports)

    @_window_params
    @param("max_evt", type=int, default=None, check=lambda v: v is None or 0 <= v <= 0xFF)
    @param("only_first", type=bool, default=False)
    def grab_events(self, session: OpSession, params: dict[str, Any]) -> Result:
        """grab_events(stopat, days, hours, minutes, seconds, max_evt=None, only_first=False):
        one file of event codes 0..max_evt (default --max-evt) for the window."""
        max_evt = self.max_evt if params["max_evt"] is None else params["max_evt"]
        report = self.run_events(session, self._window(params), max_evt, params["only_first"])
        return _finish(session, [report])

    @param("file", type=str)
    def distill(self, session: OpSession, params: dict[str, Any]) -> Result:
        """distill(file): statistics of a file in --outdir into the database (replacing its
        rows) and the feed, then the plot page rebuilt."""
        stats = self.grabber.distill(params["file"], on_stats=self._on_stats)
        session.data = Distilled(
            file=stats.file_name,
            window_start=stats.window_start,
            rows=len(stats.rows),
            params=len(stats.params),
        ).as_dict()
        return True, f"{stats.file_name}: {len(stats.rows)} statistics stored"

    def export_plots(self, session: OpSession, params: dict[str, Any]) -> Result:
        """export_plots(): rebuild the plot page from the database."""
        page = self.grabber.export_plots()
        session.data = PlotPage(page=str(page)).as_dict()
        return True, f"plot page at {page}"

    def scheduled(self, session: OpSession, name: str, due: float) -> Result:
        """The run of schedule ``name`` (``params`` or ``events``) due at ``due``: the
        configured length ending at the midnight before ``due``, shown in the scheduler's
        session. Recorded in the database however it ends; a run that fails or crashes is
        that run's outcome, never the scheduler's end."""
        window = self.length.window(now=due)
        try:
            if name == "params":
                reports = self.run_params(session, window)
            else:
                reports = [self.run_events(session, window, self.max_evt, False)]
            ok, message = outcome(reports)
        except DataLoggerError as exc:  # a refused list, a stop: recorded, not a crash
            ok, message = False, str(exc)
        except Exception as exc:  # a run that crashed is recorded, the scheduler lives
            log.exception("scheduled %s run crashed", name)
            ok, message = False, f"crashed: {type(exc).__name__}: {exc}"
        self.grabber.db.write(lambda s: record_run(s, name, due, time.time(), ok, message))
        return ok, message
