"""FileRecorder: every recorded feed of the site, in HDF5 files rotated on a period.

The WAMP-facing shell: one wildcard subscription (``<root>..feeds.``, `Listener`) brings
every feed of every agent, including agents that start later; `FeedIntake` keeps the
recorded ones (and drops duplicates, counts gaps), the `Backlog` queues their blocks
(bounded in bytes), and the ``record`` process hands them to the `Recorder` in the worker
pool every ``--flush-interval``, which appends them and flushes the file.

Each event's blocks are also appended to a `Spool` in ``<data-dir>/.spool`` as they arrive,
and after each round the number below which all are written (or dropped, counted) is
committed: a recorder killed -9 writes, when it starts again, what it had received and not
written, less what its files already hold (`replay`).

What was published while it was not running, or away from the hub, it asks the publishing
agents for when it starts and each time it re-joins (`recording.catchup`).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from socs_like import Agent, OpSession
from socs_like_agents.recording.backlog import Backlog
from socs_like_agents.recording.intake import Block, FeedIntake
from socs_like_agents.recording.listener import Listener
from socs_like_agents.recording.options import max_queue_bytes
from socs_like_agents.recording.spool import Entry, Spool, reopen, segment_bytes, settle

from . import options, replay
from .errors import DataDirError
from .models import RecorderStats
from .recorder import Recorder

log = logging.getLogger(__name__)


class FileRecorder:
    """Writes every recorded feed to HDF5 files (as OCS's aggregator writes .g3 files): one
    group per agent, feed and block, a new file every ``--time-per-file`` s.

    Operations: process ``record`` (runs at start-up unless ``--initial-state idle``).
    """

    Options = options.Options

    def __init__(self, agent: Agent, settings: options.Options) -> None:
        self.agent = agent
        self.data_dir = Path(settings.data_dir)
        self.flush_interval = settings.flush_interval
        self.intake = FeedIntake(agent.address_root, exclude_flag="exclude_aggregator")
        self.backlog: Backlog[Entry[Block]] = Backlog(max_queue_bytes(settings.max_queue_mb))
        self.spool = Spool(self.data_dir / ".spool", segment_bytes(self.backlog.max_bytes))
        self.spool_opened = False
        self.recorder = Recorder(self.data_dir, settings.time_per_file)
        self.listener = Listener(agent, self.intake, self._keep)
        agent.register_process("record", self.record, startup=settings.initial_state == "record")

    def _keep(self, blocks: list[Block], received: float) -> None:
        last = self.intake.last_of(blocks[0].feed)
        number = self.spool.append(replay.encode(blocks, last))
        for block in blocks:
            self.backlog.add(Entry(number, block))

    def _resume(self) -> dict[str, int]:
        """Queue what the spool holds from an earlier run, less what the files hold; the last
        record number seen of each feed (blocking)."""
        events, seen = reopen(self.spool, replay.decode, replay.UNREADABLE)
        self.spool_opened = True
        held = replay.held_in_files(self.data_dir, [b for _, bs in events for b in bs])
        for number, blocks in events:
            for block in replay.unwritten(blocks, held):
                self.backlog.add(Entry(number, block))
        if events:
            log.info("%d samples from the spool of an earlier run queued", self.backlog.pending)
        return seen

    def _commit(self) -> None:
        """Settle, in the spool, what is written or dropped."""
        settle(self.spool, self.backlog, [], self.intake.last_seen())

    async def record(self, session: OpSession, params: dict) -> tuple[bool, str]:
        """record()

        **Process** - Write the samples of every recorded feed to ``--data-dir`` every
        ``--flush-interval`` s, in files of ``--time-per-file`` s; each round ends in a
        flush, so a reader (h5py, ``swmr=True``) sees every sample written so far. On stop,
        what is queued is written and the file closed.

        session.data: :class:`~.models.RecorderStats` (file, files_opened, written, pending,
        pending_bytes, max_queue_bytes, dropped, dropped_by_feed, write_errors, last_error,
        intake).
        """
        try:
            await self.agent.to_thread(lambda: self.data_dir.mkdir(parents=True, exist_ok=True))
            if not self.spool_opened:
                self.intake.resume(await self.agent.to_thread(self._resume))
        except OSError as exc:
            raise DataDirError(f"cannot use the data folder {self.data_dir}: {exc}") from exc
        session.set_status("running")
        self.listener.start()
        write_errors = 0
        last_error: str | None = None
        try:
            while True:
                stopping = await session.sleep(self.flush_interval)
                batch = self.backlog.take(self.backlog.pending)
                try:
                    blocks = [e.chunk for e in batch.chunks]
                    await self.agent.to_thread(self.recorder.write, blocks, time.time())
                except Exception as exc:  # disk full, permissions: keep the data, new file
                    self.backlog.put_back(batch)
                    write_errors += 1
                    last_error = f"{type(exc).__name__}: {exc}"
                    log.exception("writing to %s failed", self.recorder.file)
                    await self.agent.to_thread(self.recorder.close)
                self._commit()
                current = self.recorder.file
                session.data = RecorderStats(
                    file=str(current.path) if current else None,
                    files_opened=self.recorder.files_opened,
                    written=self.recorder.written,
                    pending=self.backlog.pending,
                    pending_bytes=self.backlog.pending_bytes,
                    max_queue_bytes=self.backlog.max_bytes,
                    dropped=self.backlog.dropped,
                    dropped_by_feed=dict(self.backlog.dropped_by_feed),
                    write_errors=write_errors,
                    last_error=last_error,
                    intake=self.intake.stats(),
                    spool_errors=self.spool.errors,
                    spool_last_error=self.spool.last_error,
                ).as_dict()
                if stopping:
                    break
        finally:
            self.listener.stop()
            await self.agent.to_thread(self.recorder.close)
        return True, (
            f"stopped: {self.recorder.written} samples in {self.recorder.files_opened} files"
            + (f", {self.backlog.pending} not written" if self.backlog.pending else "")
        )
