"""SupRsync: copy one archive's registered files to the archive host, verify, then clean up.

The WAMP-facing shell around `sync.Syncer`: it runs the loop as a process, the operator
actions as tasks, and publishes the two feeds. Every step runs in the agent's worker pool
(database, rsync, ssh, hashing); the event loop only schedules them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import replace
from typing import Any

from sqlalchemy.engine import make_url

from socs_like import Agent, OpSession, param
from socs_like.db import Database, database_url
from socs_like_agents.filedb import queries
from socs_like_agents.filedb.schema import upgrade

from . import config, options
from .errors import BadRequest
from .models import (
    ArchiveStats,
    CopyReport,
    DbStats,
    DeleteReport,
    ListMismatchedData,
    MismatchedFile,
    RecheckLocalData,
    RecheckReport,
    ResetFailedData,
    RunSessionData,
    SetIgnoreData,
    StatsFeed,
    TransferStats,
)
from .sync import Syncer

log = logging.getLogger(__name__)

TRANSFER_STATS_EVERY = 60.0
RECHECK_CHUNK = 1000


class SupRsync:
    """Copies the files of one archive with rsync over SSH, verifies them with md5sum,
    deletes verified local copies when their time is up, and finalizes timecode dirs.

    One instance per archive; several may share one database.
    """

    Options = options.Options

    def __init__(self, agent: Agent, args: options.Options) -> None:
        self.agent = agent
        self.settings = config.sync_settings(args, agent.instance_id)
        self.db_url = args.db_path
        # what logs and messages show: the URL without its password
        self.db_shown = make_url(database_url(args.db_path)).render_as_string(hide_password=True)
        self.echo_sql = args.echo_sql
        self.sleep_time = args.sleep_time
        self.syncer: Syncer | None = None
        self._opening = asyncio.Lock()
        self.transfer_feed = agent.register_feed(
            "transfer_stats", record=True, agg_params={"exclude_aggregator": True}
        )
        self.archive_feed = agent.register_feed("archive_stats", record=True)
        agent.register_process("run", self.run, startup=True)
        agent.register_task("reset_failed", self.reset_failed)
        agent.register_task("list_mismatched", self.list_mismatched)
        agent.register_task("set_ignore", self.set_ignore)
        agent.register_task("recheck_local", self.recheck_local, abortable=True)

    async def _syncer(self) -> Syncer:
        async with self._opening:
            if self.syncer is None:
                db = await self.agent.to_thread(lambda: Database(self.db_url, echo=self.echo_sql))
                await self.agent.to_thread(upgrade, db)
                self.syncer = Syncer(db, self.settings)
        return self.syncer

    async def run(self, session: OpSession, params: dict) -> tuple[bool, str]:
        """run()

        **Process** - The sync loop, every ``--sleep-time``: copy a batch, verify it, delete
        local copies that are due, re-check a slice of local files, update timecode dirs,
        publish ``archive_stats`` (and ``transfer_stats`` every minute).

        session.data: :class:`~.models.RunSessionData` (``activity``, ``timestamp``,
        ``last_copy`` with counts, error and up to 20 failures with their reason,
        ``last_delete``, ``last_recheck``, ``finalized``, ``archive_stats``, ``counters``,
        ``db``); feeds: :class:`~.models.StatsFeed`.
        """
        session.set_status("running")
        while True:
            try:
                syncer = await self._syncer()
                break
            except Exception as e:
                log.exception("cannot open the database")
                session.add_message(
                    f"cannot open {self.db_shown}: {type(e).__name__}: {e}; "
                    f"retrying in {self.sleep_time:g} s"
                )
                if await session.sleep(self.sleep_time):
                    return True, "stopped before the database could be opened"
        counters = syncer.counters
        state = RunSessionData(activity="idle")
        session.data = state.as_dict()
        next_transfer_stats = 0.0
        while True:
            counters.iterations += 1
            for activity, step in (
                ("copying", syncer.copy_batch),
                ("deleting", syncer.delete_due),
                ("rechecking", syncer.recheck_slice),
                ("finalizing", syncer.update_timecodes),
                ("counting", syncer.archive_stats),
            ):
                session.data["activity"] = activity
                try:
                    result = await self.agent.to_thread(step)
                except Exception as e:
                    counters.errors_db += 1
                    log.exception("%s failed", activity)
                    session.add_message(f"{activity} failed: {type(e).__name__}: {e}")
                    continue
                state = _with_result(state, activity, result)
            now = time.time()
            transfer = TransferStats(**syncer.transfer_stats())
            state = replace(
                state,
                activity="idle",
                timestamp=now,
                counters=transfer,
                db=DbStats(**vars(syncer.db.stats)),
            )
            session.data = state.as_dict()
            if state.archive_stats is not None:
                self.archive_feed.publish(
                    StatsFeed(
                        block_name=self.settings.archive_name,
                        timestamp=now,
                        data=state.archive_stats,
                    ).as_dict()
                )
            if now >= next_transfer_stats:
                self.transfer_feed.publish(
                    StatsFeed(block_name="transfer_stats", timestamp=now, data=transfer).as_dict()
                )
                next_transfer_stats = now + TRANSFER_STATS_EVERY
            if await session.sleep(self.sleep_time):
                return True, "stopped"

    @param("max_attempts", type=int, default=None)
    async def reset_failed(self, session: OpSession, params: dict) -> tuple[bool, str]:
        """reset_failed(max_attempts=None)

        **Task** - Give files that reached the attempt limit (or ``max_attempts``) a fresh
        count of zero, so the loop tries them again. ``session.data['reset']`` is how many.
        """
        syncer = await self._syncer()
        limit = params["max_attempts"] or self.settings.max_copy_attempts
        n = await self.agent.to_thread(
            syncer.db.write, lambda s: queries.reset_failed(s, self.settings.archive_name, limit)
        )
        session.data = ResetFailedData(reset=n).as_dict()
        return True, f"{n} files of {self.settings.archive_name} will be tried again"

    @param("limit", type=int, default=100, check=lambda n: 0 < n <= 1000)
    async def list_mismatched(self, session: OpSession, params: dict) -> tuple[bool, str]:
        """list_mismatched(limit=100)  (at most 1000)

        **Task** - Files not yet verified that failed at least once: ``session.data['files']``
        lists id, local and remote path, both md5s, failed attempts, last copy and ignore.
        """
        syncer = await self._syncer()
        rows: list[dict[str, Any]] = await self.agent.to_thread(
            syncer.db.read,
            lambda s: queries.mismatched(s, self.settings.archive_name, params["limit"]),
        )
        session.data = ListMismatchedData(files=[MismatchedFile(**r) for r in rows]).as_dict()
        return True, f"{len(rows)} mismatched files"

    @param("ids", type=list, default=[])
    @param("paths", type=list, default=[])
    @param("ignore", type=bool, default=True)
    async def set_ignore(self, session: OpSession, params: dict) -> tuple[bool, str]:
        """set_ignore(ids=[], paths=[], ignore=True)

        **Task** - Mark files of this archive (by id or local path) as ignored: never copied,
        not counted as uncopied, not holding back ``finalized_until``. ``ignore=False`` undoes.
        """
        ids, paths = params["ids"], params["paths"]
        if not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
            raise BadRequest("ids must be a list of whole numbers")
        if not all(isinstance(p, str) for p in paths):
            raise BadRequest("paths must be a list of strings")
        syncer = await self._syncer()
        n = await self.agent.to_thread(
            syncer.db.write,
            lambda s: queries.set_ignore(
                s, self.settings.archive_name, ids, paths, params["ignore"]
            ),
        )
        session.data = SetIgnoreData(changed=n).as_dict()
        return True, f"{n} files {'ignored' if params['ignore'] else 'no longer ignored'}"

    @param("only_failed", type=bool, default=False)
    async def recheck_local(self, session: OpSession, params: dict) -> tuple[bool, str]:
        """recheck_local(only_failed=False)

        **Task** - Compare every local file of this archive not yet deleted with what was
        registered; a file that changed is re-hashed, gets a fresh attempt count and is sent
        again. ``only_failed`` limits this to files that failed to copy. Progress and result
        in ``session.data``: checked, changed, missing. Abortable.
        """
        syncer = await self._syncer()
        totals = RecheckLocalData()
        after = 0
        while True:
            report, after = await self.agent.to_thread(
                syncer.recheck, after, RECHECK_CHUNK, params["only_failed"]
            )
            totals = RecheckLocalData(
                checked=totals.checked + report["checked"],
                changed=totals.changed + report["changed"],
                missing=totals.missing + report["missing"],
            )
            session.data = totals.as_dict()
            if after == 0:
                break
            if session.stop_requested:
                return False, f"aborted after {totals.checked} files"
        return True, f"{totals.changed} of {totals.checked} local files changed"


def _with_result(state: RunSessionData, activity: str, result: Any) -> RunSessionData:
    """``state`` with one loop step's outcome; a step with nothing to do keeps the last one."""
    if activity == "copying":
        return replace(state, last_copy=CopyReport.from_report(result))
    if activity == "deleting":
        return replace(state, last_delete=DeleteReport(**result)) if result else state
    if activity == "rechecking":
        return replace(state, last_recheck=RecheckReport(**result)) if result else state
    if activity == "finalizing":
        return replace(state, finalized=(state.finalized + result)[-20:]) if result else state
    return replace(state, archive_stats=ArchiveStats(**result))
