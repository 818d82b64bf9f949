"""The DataGrabber's parts behind its shell, without a hub: the arguments and what they build
(`options`, `config`), the window length (`window.Length`), session data and feed samples
(`status`), the tasks and scheduled runs (`tasks`) on a real Grabber against the simulator,
the scheduler (`scheduler`) on a real SQLite database, and the timeline keeper (`keeper`)."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import sqlite3
import sys
import time
from pathlib import Path

import h5py
import pytest

from socs_like import OpSession, settings
from socs_like.db import Database
from socs_like.testing import run_in_new_loop
from socs_like.testing.util import wait_until_async
from socs_like_agents.datalogger import config, options
from socs_like_agents.datalogger.agent import DataGrabber
from socs_like_agents.datalogger.errors import RequestError
from socs_like_agents.datalogger.keeper import TimelineKeeper, timeline_command
from socs_like_agents.datalogger.scheduler import Scheduler, in_order
from socs_like_agents.datalogger.service import Grabber
from socs_like_agents.datalogger.stats import FileStats, StatRow, file_stats
from socs_like_agents.datalogger.status import SchedulerStatus, feed_blocks
from socs_like_agents.datalogger.store import MIGRATIONS, record_run
from socs_like_agents.datalogger.tasks import GrabTasks
from socs_like_agents.datalogger.window import Length, Schedule, Window, parse_stopat

from .conftest import ERROR_DEVICE, write_list

NO_LIST = "no --device-list configured: cannot grab parameters"
STOP = "2027-01-15 00:00:00"
NO_SCHEDULE = "no schedule is on: --param-schedule and --event-schedule are both 'off'"


def parse(tmp_path: Path, *argv: str) -> options.Options:
    required = ["--logger-url", "http://127.0.0.1:9", "--outdir", str(tmp_path / "out")]
    argv = (*required, "--db-path", str(tmp_path / "stats.db"), *argv)
    return settings.parse(options.Options, argv, env={})


def tasks_for(args: options.Options, published: list[dict]) -> GrabTasks:
    grabber = Grabber(config.grabber_config(args, "grabber-7"), Database(args.db_path))
    return GrabTasks(grabber, published.append, config.length(args), args.max_evt)


def messages(session: OpSession) -> list[str]:
    return [m for _, m in session.messages if not m.startswith("Status is now")]


def test_the_arguments_build_the_grabber_config_schedules_and_length(tmp_path):
    args = parse(tmp_path)
    c = config.grabber_config(args, "grabber-7")
    out = (tmp_path / "out").resolve()
    assert (c.options.outdir, c.options.draftdir) == (out, out / ".draft")
    assert (c.plot_dir, c.site, c.logger_url) == (
        (tmp_path / "plots").resolve(),
        "grabber-7",
        "http://127.0.0.1:9",
    )
    assert (c.options.concurrency, c.options.retries, c.options.retry_delay, c.timeout) == (
        8,
        2,
        1.0,
        60.0,
    )
    assert {n: s.expression for n, s in config.schedules(args).items()} == {
        "params": "0 1 * * *",
        "events": "1 2 * * *",
    }
    assert config.length(args) == Length(days=1.0)
    assert (args.max_evt, args.max_catchup, args.timeline_outdir) == (0xFF, 7, None)

    args = parse(
        tmp_path,
        *("--param-schedule", "off", "--site-name", "site", "--draftdir", str(tmp_path / "d")),
        *("--plot-dir", str(tmp_path / "p"), "--max-evt", "0x10", "--days", "0", "--hours", "2"),
    )
    c = config.grabber_config(args, "grabber-7")
    assert (c.options.draftdir, c.plot_dir, c.site) == (
        (tmp_path / "d").resolve(),
        (tmp_path / "p").resolve(),
        "site",
    )
    assert list(config.schedules(args)) == ["events"]
    assert (config.length(args), args.max_evt) == (Length(hours=2.0), 0x10)
    with pytest.raises(RequestError, match=r"schedule '61 \* \* \* \*' is not a 5-field cron"):
        config.schedules(parse(tmp_path, "--event-schedule", "61 * * * *"))


def test_a_task_grabs_its_own_length_when_given_any_else_the_configured_one():
    configured = Length(days=1.0)
    none = {"days": None, "hours": None, "minutes": None, "seconds": None}
    assert configured.or_given(none) is configured
    assert configured.or_given({**none, "hours": 2.0}) == Length(hours=2.0)
    assert configured.or_given({**none, "seconds": 0.0}) == Length()  # 0 given: 1 s, as before
    stop = parse_stopat(STOP)
    assert Length().window(now=stop + 5, stopat=STOP) == Window(start=stop - 1, stop=stop)
    assert configured.window(now=stop + 3600) == Window(start=stop - 86400, stop=stop)


def test_feed_blocks_are_one_per_device_with_its_interval_statistics():
    rows = [
        StatRow(epoch=100, param="B:VIMIN", stat="mean", value=1.5),
        StatRow(epoch=100, param="B:VIMIN", stat="max", value=2.0),
        StatRow(epoch=100, param="Interval_B:VIMIN", stat="mean", value=60.0),
        StatRow(epoch=100, param="I-IB.x", stat="mean", value=7.0),  # one sample: no interval
    ]
    assert feed_blocks(FileStats(file_name="f.h5", window_start=100, rows=rows)) == [
        {
            "block_name": "B_VIMIN",
            "timestamp": 100.0,
            "data": {"mean": 1.5, "max": 2.0, "interval_mean": 60.0},
        },
        {"block_name": "I_IB_x", "timestamp": 100.0, "data": {"mean": 7.0}},
    ]


def test_scheduler_status_counts_runs_and_keeps_each_schedules_last():
    status = SchedulerStatus()
    status.ran("params", 10.0, True, "a")
    status.ran("events", 20.0, False, "b")
    status.ran("params", 30.0, False, "c")
    status.next = {"params": 40.0, "events": 50.0}
    assert status.as_dict() == {
        "runs": 3,
        "last": {
            "params": {"due": 30.0, "ok": False, "message": "c"},
            "events": {"due": 20.0, "ok": False, "message": "b"},
        },
        "next": {"params": 40.0, "events": 50.0},
    }
    assert in_order({"params": [30.0, 10.0], "events": [20.0]}) == [
        (10.0, "params"),
        (20.0, "events"),
        (30.0, "params"),
    ]


def test_tasks_session_data_feed_and_messages(logger_sim, tmp_path):
    devices = write_list(tmp_path / "list.txt", "B:VIMIN", ERROR_DEVICE)
    args = parse(tmp_path, "--device-list", str(devices), "--retry-delay", "0.05")
    args = dataclasses.replace(args, logger_url=logger_sim.url)
    published: list[dict] = []
    tasks = tasks_for(args, published)
    window = {"days": None, "hours": None, "minutes": 10.0, "seconds": None, "stopat": STOP}
    page = str((tmp_path / "plots" / "index.html").resolve())

    s = OpSession(1, "grab_params")
    ok, message = tasks.grab_params(s, dict(window))
    assert ok is False and message.endswith(
        f"1 missing ({ERROR_DEVICE}: {s.data['reports'][0]['missing'][ERROR_DEVICE]})"
    )
    assert list(s.data) == ["kind", "progress", "page", "reports"]
    assert (s.data["kind"], s.data["progress"], s.data["page"]) == (
        "params",
        {"done": 2, "total": 2, "current": ERROR_DEVICE},
        page,
    )
    [report] = s.data["reports"]
    assert report["window"] == [parse_stopat(STOP) - 600, parse_stopat(STOP)]
    assert messages(s) == [f"missing {ERROR_DEVICE}: {report['missing'][ERROR_DEVICE]}"]
    path = Path(report["file"])
    assert published == feed_blocks(file_stats(path)) and published[0]["block_name"] == "B_VIMIN"

    s = OpSession(2, "grab_events")
    ok, message = tasks.grab_events(s, {**window, "max_evt": 0x10, "only_first": False})
    assert ok is True and list(s.data) == ["kind", "progress", "reports"]
    assert (s.data["kind"], s.data["progress"]["done"], s.data["progress"]["total"]) == (
        "events",
        17,
        17,
    )
    with h5py.File(s.data["reports"][0]["file"]) as h5:
        assert h5.attrs["max_evt"] == 0x10

    published.clear()
    s = OpSession(3, "distill")
    assert tasks.distill(s, {"file": path.name}) == (True, f"{path.name}: 10 statistics stored")
    assert s.data == {
        "file": path.name,
        "window_start": int(parse_stopat(STOP) - 600),
        "rows": 10,
        "params": 2,
    }
    assert [b["block_name"] for b in published] == ["B_VIMIN"]
    s = OpSession(4, "export_plots")
    assert tasks.export_plots(s, {}) == (True, f"plot page at {page}")
    assert s.data == {"page": page}


def test_a_scheduled_run_that_fails_or_crashes_is_recorded(logger_sim, tmp_path):
    def runs(db_path):
        with sqlite3.connect(db_path) as c:
            return c.execute("SELECT schedule, due, ok, message FROM datalogger_runs").fetchall()

    tasks = tasks_for(parse(tmp_path), [])
    tasks.grabber.upgrade()
    s = OpSession(1, "scheduler")
    assert tasks.scheduled(s, "params", 86400.0) == (False, NO_LIST)
    assert runs(tmp_path / "stats.db") == [("params", 86400.0, 0, NO_LIST)]

    # a crash after the grab (the page cannot be written): that run's outcome, recorded
    (tmp_path / "plots").write_text("a file where the page's folder goes")
    args = parse(tmp_path, "--device-list", str(write_list(tmp_path / "list.txt", "B:VIMIN")))
    args = dataclasses.replace(args, logger_url=logger_sim.url, minutes=10.0, days=0.0)
    tasks = tasks_for(args, [])
    ok, message = tasks.scheduled(s, "params", parse_stopat(STOP) + 3600)
    assert (ok, message.split(":")[:2]) == (False, ["crashed", " FileExistsError"])
    assert runs(tmp_path / "stats.db")[1] == ("params", parse_stopat(STOP) + 3600, 0, message)
    assert s.data["progress"] == {"done": 1, "total": 1, "current": "B:VIMIN"}


def test_the_scheduler_catches_up_missed_runs_then_waits_for_the_next(tmp_path):
    args = parse(tmp_path, "--event-schedule", "off")  # no device list: each run fails fast
    tasks = tasks_for(args, [])
    schedule = Schedule("0 1 * * *")
    last = schedule.last_due(time.time())
    db = Database(args.db_path)
    MIGRATIONS.upgrade(db)
    db.write(lambda s: record_run(s, "params", last - 3 * 86400, last, True, "ok"))
    scheduler = Scheduler(tasks, config.schedules(args), 2, asyncio.to_thread)
    session = OpSession(1, "scheduler")

    async def main():
        run = asyncio.ensure_future(scheduler.run(session, {}))
        # (`next` is there, empty, from the first run on; it is filled once the runs are done)
        await wait_until_async(lambda: session.data.get("next"), 20, message="the next due time")
        session.request_stop()
        return await run

    assert run_in_new_loop(main()) == (True, "scheduler stopped after 2 runs")
    assert session.data == {
        "runs": 2,
        "last": {"params": {"due": last, "ok": False, "message": NO_LIST}},
        "next": {"params": schedule.next_after(last)},
    }
    assert messages(session) == [
        "catching up 2 missed params run(s)",  # the newest 2 of 3 (--max-catchup 2)
        f"params run due {last - 86400:.0f}: {NO_LIST}",
        f"params run due {last:.0f}: {NO_LIST}",
    ]


def test_the_timeline_keeper_runs_the_logger_module_and_needs_its_folder(tmp_path):
    assert timeline_command("http://h:1", tmp_path, 60) == [
        sys.executable,
        *("-m", "socs_like_agents.datalogger.timeline"),
        *("--url", "http://h:1", "--outdir", str(tmp_path), "--rotate", "60"),
    ]
    keeper = TimelineKeeper("http://h:1", None, 60)
    with pytest.raises(RequestError, match="no --timeline-outdir configured"):
        run_in_new_loop(keeper.run(OpSession(1, "timeline"), {}))


def test_the_agent_wires_each_op_to_its_part(logger_sim, ops_driver, tmp_path):
    """DataGrabber in-process with no hub, called as the ops RPC is: the tasks are
    GrabTasks', the processes the scheduler's and the keeper's, and the grab's file reaches
    the stats feed."""
    driver = ops_driver(
        DataGrabber,
        *("--logger-url", logger_sim.url, "--outdir", str(tmp_path / "out")),
        *("--db-path", str(tmp_path / "stats.db"), "--param-schedule", "off"),
        *("--event-schedule", "off"),
        *("--device-list", str(write_list(tmp_path / "list.txt", "B:VIMIN"))),
    )
    assert driver.instance.tasks.grabber.config.site == "under-test"
    specs = driver.agent.operations.specs
    assert {n: (s.kind, s.blocking, s.abortable, s.startup) for n, s in specs.items()} == {
        "grab_params": ("task", True, True, False),
        "grab_events": ("task", True, True, False),
        "distill": ("task", True, False, False),
        "export_plots": ("task", True, False, False),
        "scheduler": ("process", False, True, False),  # both schedules off
        "timeline": ("process", False, True, False),  # no --timeline-outdir
    }
    r = driver.run_task("grab_params", stopat=STOP, minutes=10)
    assert r.session["success"] is True
    assert list(r.session["data"]) == ["kind", "progress", "page", "reports"]
    assert driver.call(lambda: driver.agent.feeds["stats"].published) == 1  # B_VIMIN
    r = driver.run_task("grab_events", stopat=STOP, minutes=10, max_evt=300)
    assert r.status != 0  # refused by its @param check, before any session
    r = driver.run_task("distill", file="/etc/passwd")
    assert "outside the allowed roots" in r.session["messages"][-2][1]
    assert driver.run_task("export_plots").session["data"] == {
        "page": str((tmp_path / "plots" / "index.html").resolve())
    }
    assert driver("status", "scheduler").session == {}  # not started: both schedules off
    r = driver.run_task("scheduler")  # started by hand: a clear refusal, not a crash
    assert (r.session["success"], r.session["messages"][-2][1]) == (False, NO_SCHEDULE)
    r = driver.run_task("timeline")
    assert (r.session["success"], r.session["messages"][-2][1]) == (
        False,
        "no --timeline-outdir configured",
    )


class EverySecond:
    """A schedule due every second (a cron one is due once a minute at most): what the
    scheduler asks of `Schedule`, with the same meaning."""

    def next_after(self, epoch: float) -> float:
        return float(int(epoch) + 1)

    def missed(self, last_done: float | None, now: float, limit: int) -> list[float]:
        if limit < 1:
            return []
        if last_done is None:
            return [float(int(now))]
        return [float(t) for t in range(int(last_done) + 1, int(now) + 1)][-limit:]


def test_a_window_that_comes_due_while_a_run_runs_is_run_next_not_skipped(tmp_path):
    # The soak's ledger found a data logger window with no run: the first run after start
    # took past the next due time, and the scheduler went on from the due time after that.
    args = parse(tmp_path, "--event-schedule", "off")
    tasks = tasks_for(args, [])
    dues: list[float] = []

    def slow_run(session: OpSession, name: str, due: float) -> tuple[bool, str]:
        dues.append(due)
        time.sleep(1.3)  # longer than the schedule's period
        return True, "ok"

    tasks.scheduled = slow_run  # type: ignore[method-assign]
    scheduler = Scheduler(tasks, {"params": EverySecond()}, 2, asyncio.to_thread)  # type: ignore[dict-item]
    session = OpSession(1, "scheduler")

    async def main():
        run = asyncio.ensure_future(scheduler.run(session, {}))
        await wait_until_async(lambda: len(dues) >= 4, 20, message="four runs")
        session.request_stop()
        return await run

    run_in_new_loop(main())
    assert [b - a for a, b in itertools.pairwise(dues)] == [1.0] * (len(dues) - 1)
