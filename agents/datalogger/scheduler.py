"""The ``scheduler`` process: runs each schedule's grab when it is due, after catching up the
runs missed while the agent was down (:meth:`.window.Schedule.missed`). Each run is
:meth:`.tasks.GrabTasks.scheduled` in a worker thread; the session data is
:class:`.status.SchedulerStatus`."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from socs_like import OpSession
from socs_like.logs import notice

from .errors import RequestError
from .status import SchedulerStatus
from .store import last_due
from .tasks import GrabTasks, Result
from .window import Schedule


def in_order(due: Mapping[str, Iterable[float]]) -> list[tuple[float, str]]:
    """The runs ``(due time, schedule)`` of every schedule, oldest first."""
    return sorted((t, name) for name, times in due.items() for t in times)


@dataclass
class Scheduler:
    tasks: GrabTasks
    schedules: dict[str, Schedule]  # the ones that are on
    max_catchup: int  # --max-catchup
    to_thread: Callable[..., Awaitable[Any]]  # the agent's worker threads

    async def run(self, session: OpSession, params: dict[str, Any]) -> Result:
        """scheduler(): run each schedule's grab when due; runs missed while the agent was
        down (after the last one recorded, at most --max-catchup) are run first. A scheduled
        run grabs the configured length ending at the midnight before its due time."""
        if not self.schedules:
            raise RequestError(
                "no schedule is on: --param-schedule and --event-schedule are both 'off'"
            )
        grabber = self.tasks.grabber
        session.set_status("running")
        notice("plot page at %s (rebuilt after each file)", grabber.config.plot_dir / "index.html")
        await self.to_thread(grabber.upgrade)
        status = SchedulerStatus()
        now = time.time()
        missed: dict[str, list[float]] = {}
        # what is due up to now is settled here (caught up, or left by --max-catchup); later
        # due times are each schedule's after its newest run
        last = dict.fromkeys(self.schedules, now)
        for name, schedule in self.schedules.items():
            done = await self.to_thread(grabber.db.read, lambda s, n=name: last_due(s, n))
            missed[name] = schedule.missed(done, now, self.max_catchup)
            if missed[name]:
                session.add_message(f"catching up {len(missed[name])} missed {name} run(s)")
        queue = in_order(missed)
        while True:
            for due, name in queue:
                if session.stop_requested:
                    break
                ok, message = await self.to_thread(self.tasks.scheduled, session, name, due)
                session.add_message(f"{name} run due {due:.0f}: {message}")
                status.ran(name, due, ok, message)
                last[name] = max(last[name], due)
                session.data = status.as_dict()
            if session.stop_requested:
                break
            # Due times that came while those runs ran are run now, not skipped: a first run
            # that took past the next due time left that window without a run.
            now = time.time()
            limit = max(1, self.max_catchup)
            queue = in_order({n: s.missed(last[n], now, limit) for n, s in self.schedules.items()})
            if queue:
                continue
            status.next = {n: s.next_after(now) for n, s in self.schedules.items()}
            session.data = status.as_dict()
            if await session.sleep(max(0.0, min(status.next.values()) - time.time())):
                break
            queue = in_order({n: [t] for n, t in status.next.items() if t <= time.time()})
        return True, f"scheduler stopped after {status.runs} runs"
