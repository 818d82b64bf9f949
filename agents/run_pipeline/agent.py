"""RunPipeline: the WAMP-facing shell around :class:`.pipeline.Pipeline`.

Three processes run a pass each every period (``transfer``, ``process``, ``archive``), a
fourth (``monitor``) publishes the runs database: counts per status on the recorded feed
``run_counts`` and every event of the log (status changes, job marks, failures) on the feed
``transitions``. Tasks act on one run. Every pass and query runs in the agent's worker pool;
the event loop only schedules them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from socs_like import Agent, OpSession, param

from . import actions, options, states
from .errors import BadRequest
from .models import MonitorData, PassesData, RunsListing, TagsData
from .pipeline import Pipeline
from .schema import open_db
from .settings import PassReport
from .store import RunStore

log = logging.getLogger(__name__)


class RunPipeline:
    """Moves DAQ runs to the cluster, gets them processed, compresses and archives them."""

    Options = options.Options

    def __init__(self, agent: Agent, args: options.Options) -> None:
        self.agent = agent
        self.args = args
        self.settings = options.pipeline_settings(args)
        self.pipeline: Pipeline | None = None
        self._opening = asyncio.Lock()
        self.counts_feed = agent.register_feed("run_counts", record=True)
        self.transitions_feed = agent.register_feed("transitions")
        for name in ("transfer", "process", "archive"):
            agent.register_process(name, self._loop(name), startup=True)
        agent.register_process("monitor", self.monitor, startup=True)
        agent.register_task("list_runs", self.list_runs)
        agent.register_task("retry", self.retry)
        agent.register_task("reprocess", self.reprocess)
        agent.register_task("tag", self.tag)

    async def _pipeline(self) -> Pipeline:
        async with self._opening:
            if self.pipeline is None:
                db = await self.agent.to_thread(open_db, self.args.db_path)
                self.pipeline = Pipeline(RunStore(db), self.settings)
        return self.pipeline

    def _loop(self, kind: str):
        period = getattr(self.args.periods, f"{kind}_period")

        async def loop(session: OpSession, params: dict) -> tuple[bool, str]:
            # transfer(), process(), archive(): one pass every --<kind>-period seconds
            session.set_status("running")
            data = PassesData()
            session.data = data.as_dict()
            while True:
                try:
                    pipeline = await self._pipeline()
                    data.activity = "working"
                    session.data = data.as_dict()
                    report: PassReport = await self.agent.to_thread(
                        getattr(pipeline, f"{kind}_pass")
                    )
                    data.last_pass = report.as_dict()
                    data.passes += 1
                    data.activity = report.skipped or "idle"
                except Exception as e:
                    # a database or host outage: say so, try again next period
                    data.errors += 1
                    data.activity = f"error: {type(e).__name__}: {e}"
                    log.exception("%s pass failed", kind)
                    session.add_message(f"{kind} pass failed: {type(e).__name__}: {e}")
                session.data = data.as_dict()
                if await session.sleep(period):
                    return True, "stopped"

        loop.__name__ = kind
        return loop

    async def monitor(self, session: OpSession, params: dict) -> tuple[bool, str]:
        """monitor()

        **Process** - Every ``--monitor-period``: runs per status on the recorded feed
        ``run_counts`` (block ``runs``, fields ``raw_<status>`` and ``processed_<status>``),
        and each new event of the runs' log on ``transitions`` (run, time, actor, action,
        from_status, to_status, exit_code, message). session.data: ``counts``, ``last_event``.
        """
        session.set_status("running")
        pipeline = await self._pipeline()
        store = pipeline.store
        last = await self.agent.to_thread(store.last_event_id)
        session.data = MonitorData(counts={}, last_event=last).as_dict()
        while True:
            try:
                counts = await self.agent.to_thread(store.counts)
                self.counts_feed.publish(
                    {"block_name": "runs", "timestamp": time.time(), "data": counts}
                )
                while True:
                    events = await self.agent.to_thread(store.events_after, last)
                    for event_id, event in events:
                        self.transitions_feed.publish({"id": event_id, **event.as_dict()})
                        last = event_id
                    if len(events) < 500:
                        break
                session.data = MonitorData(counts=counts, last_event=last).as_dict()
            except Exception as e:
                log.exception("monitor failed")
                session.add_message(f"monitor failed: {type(e).__name__}: {e}")
            if await session.sleep(self.args.periods.monitor_period):
                return True, "stopped"

    @param("status", type=str, default=None)
    @param("limit", type=int, default=100, check=lambda n: 0 < n <= 1000)
    @param("after", type=str, default="")
    async def list_runs(self, session: OpSession, params: dict) -> tuple[bool, str]:
        """list_runs(status=None, limit=100, after="")

        **Task** - Runs by name (after ``after``), optionally only those in one raw or
        processed status. session.data: ``runs`` (every column), ``counts``.
        """
        store = (await self._pipeline()).store
        runs = await self.agent.to_thread(
            lambda: store.listing(
                status=params["status"], limit=params["limit"], after=params["after"]
            )
        )
        counts = await self.agent.to_thread(store.counts)
        session.data = RunsListing(runs=[r.as_dict() for r in runs], counts=counts).as_dict()
        return True, f"{len(runs)} runs"

    @param("run", type=str)
    async def retry(self, session: OpSession, params: dict) -> tuple[bool, str]:
        """retry(run)

        **Task** - A failed job is submitted again; a run out of transfer attempts gets a
        fresh count. Refused for any other state.
        """
        store = (await self._pipeline()).store
        text = await self.agent.to_thread(
            lambda: actions.retry(
                store, params["run"], max_transfer_attempts=self.settings.max_transfer_attempts
            )
        )
        return True, text

    @param("run", type=str)
    async def reprocess(self, session: OpSession, params: dict) -> tuple[bool, str]:
        """reprocess(run)

        **Task** - Process a run again whose job ended, while its raw data is on the cluster.
        """
        store = (await self._pipeline()).store
        return True, await self.agent.to_thread(actions.reprocess, store, params["run"])

    @param("run", type=str)
    @param("tags", type=list)
    @param("remove", type=bool, default=False)
    async def tag(self, session: OpSession, params: dict) -> tuple[bool, str]:
        """tag(run, tags, remove=False)

        **Task** - Add (or remove) tags: ``do-not-transfer``, ``do-not-process``.
        session.data: ``tags`` afterwards.
        """
        tags: list[Any] = params["tags"]
        unknown = [t for t in tags if t not in states.KNOWN_TAGS]
        if unknown or not tags:
            raise BadRequest(f"tags must be some of {', '.join(states.KNOWN_TAGS)}; got {tags}")
        store = (await self._pipeline()).store
        add, remove = ((), tags) if params["remove"] else (tags, ())
        now = await self.agent.to_thread(store.set_tags, params["run"], add, remove)
        session.data = TagsData(tags=now.split()).as_dict()
        return True, f"{params['run']}: {now or '(no tags)'}"
