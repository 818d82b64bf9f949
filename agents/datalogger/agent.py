"""DataGrabber: the GMPS-AI data-logger workflow as an agent.

A thin shell around :class:`.service.Grabber`: tasks grab a window of parameters or timing
events into HDF5, distil statistics into the database and the recorded feed ``stats``, and
rebuild the plot page; the ``scheduler`` process runs the grabs on cron schedules (catching up
runs missed while the agent was down); the ``timeline`` process keeps the timeline logger
running, restarting it when it dies.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar, cast

from socs_like import Agent, OpSession, param
from socs_like.backoff import Backoff
from socs_like.commands import dies_with
from socs_like.db import Database
from socs_like.logs import notice

from .errors import DataLoggerError, RequestError
from .grab import GrabOptions, GrabReport
from .options import add_db_argument, add_request_arguments
from .service import Grabber, GrabberConfig
from .stats import INTERVAL_PREFIX, FileStats
from .store import last_due, plot_dir_beside, record_run
from .window import Schedule, Window, make_window

log = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])


def _window_params(func: F) -> F:
    """The window parameters every grab task takes (None: the configured length)."""
    wrapped: Callable[..., Any] = func
    for key in ("seconds", "minutes", "hours", "days"):
        wrapped = param(key, type=float, default=None, check=lambda v: v is None or v >= 0)(wrapped)
    return cast(F, param("stopat", type=str, default=None)(wrapped))


class DataGrabber:
    """Grabs data-logger windows into HDF5, distils statistics, publishes a plot page.

    Tasks: ``grab_params(stopat, days, hours, minutes, seconds)``, ``grab_events(stopat,
    days, hours, minutes, seconds, max_evt, only_first)``, ``distill(file)``,
    ``export_plots()``. Processes: ``scheduler`` (startup), ``timeline`` (startup when
    ``--timeline-outdir`` is given). Recorded feed ``stats``: one block per device per file.
    """

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        g = parser.add_argument_group("DataGrabber options")
        g.add_argument("--logger-url", required=True, help="the data logger, http://host:port")
        g.add_argument(
            "--device-list",
            type=Path,
            default=None,
            help="file of '<logger-node> <device>' lines (needed for grab_params)",
        )
        g.add_argument(
            "--outdir", type=Path, required=True, help="folder the finished files are moved into"
        )
        g.add_argument(
            "--draftdir",
            type=Path,
            default=None,
            help="folder files grow in (default <outdir>/.draft)",
        )
        g.add_argument(
            "--plot-dir",
            type=Path,
            default=None,
            help="folder of the plot page (default: plots beside the statistics database)",
        )
        g.add_argument(
            "--site-name", default=None, help="title of the plot page (default the instance id)"
        )
        add_db_argument(g)
        g.add_argument(
            "--param-schedule",
            default="0 1 * * *",
            help="cron expression (UTC) of the parameter grab; 'off' for none "
            "(default '0 1 * * *')",
        )
        g.add_argument(
            "--event-schedule",
            default="1 2 * * *",
            help="cron expression (UTC) of the event grab; 'off' for none (default '1 2 * * *')",
        )
        for unit, default in (("days", 1.0), ("hours", 0.0), ("minutes", 0.0), ("seconds", 0.0)):
            g.add_argument(
                f"--{unit}",
                type=float,
                default=default,
                help=f"window length of scheduled grabs, {unit} (default {default:g})",
            )
        g.add_argument(
            "--max-evt",
            type=lambda s: int(s, 0),
            default=0xFF,
            help="highest event code grabbed (default 0xFF)",
        )
        g.add_argument(
            "--max-catchup",
            type=int,
            default=7,
            help="at most this many missed runs per schedule are caught up at start (default 7)",
        )
        add_request_arguments(g)
        g.add_argument(
            "--timeline-outdir",
            type=Path,
            default=None,
            help="run the timeline logger into this folder",
        )
        g.add_argument(
            "--timeline-rotate",
            type=int,
            default=3600,
            help="seconds of events per timeline file (default 3600)",
        )

    def __init__(self, agent: Agent, args: argparse.Namespace) -> None:
        self.agent = agent
        self.args = args
        outdir = args.outdir.resolve()
        options = GrabOptions(
            draftdir=(args.draftdir or outdir / ".draft").resolve(),
            outdir=outdir,
            concurrency=args.concurrency,
            retries=args.retries,
            retry_delay=args.retry_delay,
        )
        config = GrabberConfig(
            logger_url=args.logger_url,
            device_list=args.device_list,
            options=options,
            plot_dir=(args.plot_dir or plot_dir_beside(args.db_path)).resolve(),
            site=args.site_name or agent.instance_id,
            timeout=args.timeout,
        )
        self.grabber = Grabber(config, Database(args.db_path))
        self.grabber.remove_dead_drafts()  # of grabs killed mid-write (theirs runs again)
        self.schedules = {
            name: Schedule(expr)
            for name, expr in (("params", args.param_schedule), ("events", args.event_schedule))
            if expr != "off"
        }
        self.length = {
            "days": args.days,
            "hours": args.hours,
            "minutes": args.minutes,
            "seconds": args.seconds,
        }
        self.feed = agent.register_feed("stats", record=True, buffer_time=1.0)
        agent.register_task("grab_params", self.grab_params, blocking=True, abortable=True)
        agent.register_task("grab_events", self.grab_events, blocking=True, abortable=True)
        agent.register_task("distill", self.distill, blocking=True)
        agent.register_task("export_plots", self.export_plots, blocking=True)
        agent.register_process("scheduler", self.scheduler, startup=bool(self.schedules))
        agent.register_process("timeline", self.timeline, startup=args.timeline_outdir is not None)

    # -- helpers ---------------------------------------------------------------------------

    def _publish(self, stats: FileStats) -> None:
        by_param: dict[str, dict[str, float]] = {}
        for r in stats.rows:
            by_param.setdefault(r.param, {})[r.stat] = r.value
        for name, values in by_param.items():
            if name.startswith(INTERVAL_PREFIX):
                continue
            data = dict(values)
            for stat, v in by_param.get(INTERVAL_PREFIX + name, {}).items():
                data[f"interval_{stat}"] = v
            self.feed.publish(
                {
                    "block_name": re.sub(r"[^A-Za-z0-9_]", "_", name),
                    "timestamp": float(stats.window_start),
                    "data": data,
                }
            )

    def _progress(self, session: OpSession, kind: str):
        def show(done: int, total: int, name: str) -> None:
            session.data = {
                "kind": kind,
                "progress": {"done": done, "total": total, "current": name},
            }

        return show

    def _window(self, params: dict[str, Any]) -> Window:
        given = {k: params[k] for k in ("days", "hours", "minutes", "seconds")}
        length = given if any(v is not None for v in given.values()) else self.length
        return make_window(
            now=time.time(), stopat=params["stopat"], **{k: v or 0.0 for k, v in length.items()}
        )

    def _run_params(self, session: OpSession, window: Window) -> list[GrabReport]:
        session.set_status("running")
        reports = self.grabber.grab_params(
            window,
            progress=self._progress(session, "params"),
            should_stop=lambda: session.stop_requested,
            on_stats=self._publish,
        )
        for report in reports:
            log.info("wrote %s", report.summary())
        page = self.grabber.config.plot_dir / "index.html"
        log.info("plot page at %s", page)
        # rebuilt with this grab's statistics: said in session data too (the dashboard links it)
        session.data["page"] = str(page)
        return reports

    def _run_events(
        self, session: OpSession, window: Window, max_evt: int, only_first: bool
    ) -> GrabReport:
        session.set_status("running")
        return self.grabber.grab_events(
            window,
            max_evt=max_evt,
            only_first=only_first,
            progress=self._progress(session, "events"),
            should_stop=lambda: session.stop_requested,
        )

    @staticmethod
    def _finish(session: OpSession, reports: list[GrabReport]) -> tuple[bool, str]:
        session.data = {**session.data, "reports": [r.to_dict() for r in reports]}
        for r in reports:
            for device, error in r.missing.items():
                session.add_message(f"missing {device}: {error}")
        return (all(not r.missing for r in reports), "; ".join(r.summary() for r in reports))

    # -- tasks -----------------------------------------------------------------------------

    @_window_params
    def grab_params(self, session: OpSession, params: dict[str, Any]) -> tuple[bool, str]:
        """grab_params(stopat=None, days, hours, minutes, seconds): one file per logger node
        for the window (default: the configured length ending at the last midnight); fails
        when a device stayed missing after its retries (the file is still written)."""
        reports = self._run_params(session, self._window(params))
        return self._finish(session, reports)

    @_window_params
    @param("max_evt", type=int, default=None, check=lambda v: v is None or 0 <= v <= 0xFF)
    @param("only_first", type=bool, default=False)
    def grab_events(self, session: OpSession, params: dict[str, Any]) -> tuple[bool, str]:
        """grab_events(stopat, days, hours, minutes, seconds, max_evt=None, only_first=False):
        one file of event codes 0..max_evt (default --max-evt) for the window."""
        max_evt = self.args.max_evt if params["max_evt"] is None else params["max_evt"]
        report = self._run_events(session, self._window(params), max_evt, params["only_first"])
        return self._finish(session, [report])

    @param("file", type=str)
    def distill(self, session: OpSession, params: dict[str, Any]) -> tuple[bool, str]:
        """distill(file): statistics of a file in --outdir into the database (replacing its
        rows) and the feed, then the plot page rebuilt."""
        stats = self.grabber.distill(params["file"], on_stats=self._publish)
        session.data = {
            "file": stats.file_name,
            "window_start": stats.window_start,
            "rows": len(stats.rows),
            "params": len(stats.params),
        }
        return True, f"{stats.file_name}: {len(stats.rows)} statistics stored"

    def export_plots(self, session: OpSession, params: dict[str, Any]) -> tuple[bool, str]:
        """export_plots(): rebuild the plot page from the database."""
        page = self.grabber.export_plots()
        session.data = {"page": str(page)}
        return True, f"plot page at {page}"

    # -- processes -------------------------------------------------------------------------

    async def scheduler(self, session: OpSession, params: dict[str, Any]) -> tuple[bool, str]:
        """scheduler(): run each schedule's grab when due; runs missed while the agent was
        down (after the last one recorded, at most --max-catchup) are run first. A scheduled
        run grabs the configured length ending at the midnight before its due time."""
        session.set_status("running")
        notice(
            "plot page at %s (rebuilt after each file)", self.grabber.config.plot_dir / "index.html"
        )
        await self.agent.to_thread(self.grabber.upgrade)
        db = self.grabber.db
        runs = 0
        state: dict[str, Any] = {"runs": 0, "last": {}, "next": {}}
        now = time.time()
        queue: list[tuple[float, str]] = []
        for name, schedule in self.schedules.items():
            done = await self.agent.to_thread(db.read, lambda s, n=name: last_due(s, n))
            missed = schedule.missed(done, now, self.args.max_catchup)
            if missed:
                session.add_message(f"catching up {len(missed)} missed {name} run(s)")
            queue += [(due, name) for due in missed]
        while True:
            for due, name in sorted(queue):
                if session.stop_requested:
                    break
                ok, message = await self._scheduled(session, name, due)
                runs += 1
                state["runs"] = runs
                state["last"][name] = {"due": due, "ok": ok, "message": message}
                session.data = dict(state)
            now = time.time()
            upcoming = {n: s.next_after(now) for n, s in self.schedules.items()}
            state["next"] = upcoming
            session.data = dict(state)
            first = min(upcoming.values())
            if await session.sleep(max(0.0, first - time.time())):
                break
            queue = [(t, n) for n, t in upcoming.items() if t <= time.time()]
        return True, f"scheduler stopped after {runs} runs"

    async def _scheduled(self, session: OpSession, name: str, due: float) -> tuple[bool, str]:
        # the window the run would have grabbed at its due time
        window = make_window(now=due, **self.length)

        def work() -> tuple[bool, str]:
            try:
                if name == "params":
                    reports = self._run_params(session, window)
                else:
                    reports = [self._run_events(session, window, self.args.max_evt, False)]
                ok = all(not r.missing for r in reports)
                message = "; ".join(r.summary() for r in reports)
            except DataLoggerError as exc:  # a refused list, a stop: recorded, not a crash
                ok, message = False, str(exc)
            except Exception as exc:  # a run that crashed is recorded, the scheduler lives
                log.exception("scheduled %s run crashed", name)
                ok, message = False, f"crashed: {type(exc).__name__}: {exc}"
            self.grabber.db.write(lambda s: record_run(s, name, due, time.time(), ok, message))
            return ok, message

        ok, message = await self.agent.to_thread(work)
        session.add_message(f"{name} run due {due:.0f}: {message}")
        return ok, message

    async def timeline(self, session: OpSession, params: dict[str, Any]) -> tuple[bool, str]:
        """timeline(): keep the timeline logger process running into --timeline-outdir,
        restarting it (with backoff) whenever it exits; restarts counted in session data."""
        outdir = self.args.timeline_outdir
        if outdir is None:
            raise RequestError("no --timeline-outdir configured")
        command = [
            sys.executable,
            "-m",
            "socs_like_agents.datalogger.timeline",
            "--url",
            self.args.logger_url,
            "--outdir",
            str(outdir),
            "--rotate",
            str(self.args.timeline_rotate),
        ]
        session.set_status("running")
        backoff = Backoff(initial=0.5, cap=30.0)
        restarts = 0
        while not session.stop_requested:
            proc = await asyncio.create_subprocess_exec(
                *command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                # killed with the agent: a restarted agent starts its own logger
                preexec_fn=dies_with(os.getpid()),
            )
            session.data = {"pid": proc.pid, "restarts": restarts, "outdir": str(outdir)}
            started = time.monotonic()
            waiter = asyncio.ensure_future(proc.wait())
            while not waiter.done():
                if await session.sleep(0.5):
                    proc.terminate()
                    await waiter
                    return True, f"timeline logger stopped after {restarts} restarts"
            code = waiter.result()
            restarts += 1
            session.add_message(f"timeline logger pid {proc.pid} exited with {code}; restarting")
            if time.monotonic() - started > 60:
                backoff.success()
            if await session.sleep(backoff.failure()):
                break
        return True, f"timeline logger stopped after {restarts} restarts"
