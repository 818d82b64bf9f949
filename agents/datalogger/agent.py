"""DataGrabber: the GMPS-AI data-logger workflow as an agent.

Wiring only, around :class:`.service.Grabber`: tasks (:mod:`.tasks`) grab a window of
parameters or timing events into HDF5, distil statistics into the database and the recorded
feed ``stats``, and rebuild the plot page; the ``scheduler`` process (:mod:`.scheduler`) runs
the grabs on cron schedules (catching up runs missed while the agent was down); the
``timeline`` process (:mod:`.keeper`) keeps the timeline logger running, restarting it when it
dies. Settings are declared in :mod:`.options`, the parts built from them in :mod:`.config`, session
data and feed samples in :mod:`.status`.
"""

from __future__ import annotations

from socs_like import Agent
from socs_like.db import Database

from . import config, options
from .keeper import TimelineKeeper
from .scheduler import Scheduler
from .service import Grabber
from .tasks import GrabTasks


class DataGrabber:
    """Grabs data-logger windows into HDF5, distils statistics, publishes a plot page.

    Tasks: ``grab_params(stopat, days, hours, minutes, seconds)``, ``grab_events(stopat,
    days, hours, minutes, seconds, max_evt, only_first)``, ``distill(file)``,
    ``export_plots()``. Processes: ``scheduler`` (startup), ``timeline`` (startup when
    ``--timeline-outdir`` is given). Recorded feed ``stats``: one block per device per file.
    """

    Options = options.Options

    def __init__(self, agent: Agent, args: options.Options) -> None:
        grabber = Grabber(config.grabber_config(args, agent.instance_id), Database(args.db_path))
        grabber.remove_dead_drafts()  # of grabs killed mid-write (theirs runs again)
        schedules = config.schedules(args)
        feed = agent.register_feed("stats", record=True, buffer_time=1.0)
        self.tasks = GrabTasks(grabber, feed.publish, config.length(args), args.max_evt)
        scheduler = Scheduler(self.tasks, schedules, args.max_catchup, agent.to_thread)
        timeline = TimelineKeeper(args.logger_url, args.timeline_outdir, args.timeline_rotate)
        for name in ("grab_params", "grab_events"):
            agent.register_task(name, getattr(self.tasks, name), blocking=True, abortable=True)
        for name in ("distill", "export_plots"):
            agent.register_task(name, getattr(self.tasks, name), blocking=True)
        agent.register_process("scheduler", scheduler.run, startup=bool(schedules))
        agent.register_process("timeline", timeline.run, startup=args.timeline_outdir is not None)
