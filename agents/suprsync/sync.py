"""One archive's sync work: copy a batch, delete due copies, finalize timecode dirs, stats.

`Syncer` knows nothing of WAMP. Its methods block (database, rsync, ssh, hashing): the agent
calls them through its worker pool. Each step reads what it needs in one short transaction,
does the slow I/O with no transaction open, then writes the outcome in another, so the
monitor and other SupRsync instances on the same database never wait on an rsync.
"""

from __future__ import annotations

import errno
import logging
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import partial
from typing import Any

from sqlalchemy.orm import Session

from socs_like.checksum import md5_file
from socs_like.commands import CommandResult, run_command
from socs_like.db import Database
from socs_like_agents.filedb import queries
from socs_like_agents.filedb.models import timecode_of

from .commands import RsyncOptions, SshTarget, md5sum_argv, nul_list, rsync_argv
from .md5sum_output import Md5Listing, parse_md5sum
from .retention import RetentionPolicy
from .timecodes import finalization, is_completed, subdir_of, timecode_at
from .tree import build_symlink_tree
from .verdicts import Verdict, judge_batch

log = logging.getLogger(__name__)

# rsync exit codes after which every file was at least tried: 0 all went, 23 some files
# failed (unreadable...), 24 some vanished. Anything else broke off the transfer.
RSYNC_FINISHED = (0, 23, 24)
# `xargs md5sum` exits 123 when some file was missing: the listing is still good.
MD5SUM_RAN = (0, 123)
MAX_REPORTED_FAILURES = 20


@dataclass(frozen=True, kw_only=True)
class SyncSettings:
    archive_name: str
    instance_id: str
    remote_basedir: str
    file_root: str
    ssh: SshTarget | None = None
    rsync: RsyncOptions = field(default_factory=RsyncOptions)
    max_copy_attempts: int = 5
    files_per_batch: int | None = None
    copy_timeout: float | None = None
    cmd_timeout: float | None = None
    retention: RetentionPolicy = field(default_factory=RetentionPolicy)
    delete_batch: int = 1000
    recheck_per_iteration: int = 1000


@dataclass
class Counters:
    """The `transfer_stats` feed and session data: totals since the agent started."""

    iterations: int = 0
    copies: int = 0
    failed_copies: int = 0
    errors_timeout: int = 0
    errors_nonzero: int = 0
    errors_db: int = 0
    deleted: int = 0
    already_gone: int = 0
    remote_bad_before_delete: int = 0
    requeued_changed: int = 0
    finalized: int = 0


class Syncer:
    """The sync steps of one archive on one database."""

    def __init__(
        self, db: Database, settings: SyncSettings, clock: Callable[[], float] = time.time
    ) -> None:
        self.db = db
        self.settings = settings
        self.clock = clock
        self.counters = Counters()
        self._tc_seen_id = 0
        self._delete_cursor: tuple[float, int] = (float("-inf"), 0)
        self._recheck_cursor = 0
        self._num_files = 0
        self._counted_id = 0

    # -- running commands ------------------------------------------------------------------

    def _command(
        self, argv: list[str], *, stdin: bytes = b"", timeout: float | None, ok: tuple[int, ...]
    ) -> CommandResult:
        result = run_command(argv, stdin=stdin, timeout=timeout)
        if result.timed_out:
            self.counters.errors_timeout += 1
        elif result.returncode not in ok:
            self.counters.errors_nonzero += 1
        if result.timed_out or result.returncode not in ok:
            log.error("%s", result.describe())
        return result

    def remote_md5(self, remote_paths: list[str]) -> tuple[Md5Listing | None, str]:
        """Digests of files on the archive side, or None and why when md5sum could not run."""
        s = self.settings
        result = self._command(
            md5sum_argv(s.ssh, s.remote_basedir),
            stdin=nul_list(remote_paths),
            timeout=s.cmd_timeout,
            ok=MD5SUM_RAN,
        )
        if result.timed_out or result.returncode not in MD5SUM_RAN:
            return None, result.describe()
        listing = parse_md5sum(result.stdout)
        if listing.bad_lines:
            log.warning(
                "md5sum printed %d unreadable lines, e.g. %r",
                len(listing.bad_lines),
                listing.bad_lines[0],
            )
        return listing, ""

    # -- copy ------------------------------------------------------------------------------

    def copy_batch(self) -> dict[str, Any]:
        """Copy the next batch with one rsync, verify it with one md5sum, record each file."""
        s = self.settings
        start = self.clock()
        batch = self.db.read(
            lambda ses: queries.next_batch(
                ses, s.archive_name, s.max_copy_attempts, s.files_per_batch
            )
        )
        report: dict[str, Any] = {"start_time": start, "num_files": len(batch)}
        if not batch:
            report["stop_time"] = self.clock()
            return report
        errors: list[str] = []
        with tempfile.TemporaryDirectory(prefix=f"suprsync-{s.instance_id}-") as tmp:
            placed = build_symlink_tree(tmp, ((f.id, f.local_path, f.remote_path) for f in batch))
            listing: Md5Listing | None = Md5Listing()
            rsync_finished = True
            if placed.linked:
                if s.ssh is None:
                    # rsync creates only the last folder of its destination
                    os.makedirs(s.remote_basedir, exist_ok=True)
                rsync = self._command(
                    rsync_argv(tmp, s.remote_basedir, s.ssh, s.rsync),
                    timeout=s.copy_timeout,
                    ok=(0,),
                )
                rsync_finished = rsync.returncode in RSYNC_FINISHED
                if rsync.returncode != 0:
                    errors.append(rsync.describe())
                # even after a broken rsync, the files that did arrive are verified now
                listing, why = self.remote_md5(list(placed.linked.values()))
                if listing is None:
                    errors.append(why)
        results = judge_batch(batch, placed, listing, rsync_finished=rsync_finished)
        now = self.clock()
        self.db.write(lambda ses: queries.record_batch(ses, batch, results, now))

        verified = sum(r.verdict is Verdict.VERIFIED for r in results)
        failed = [r for r in results if r.failed_attempt]
        self.counters.copies += verified
        self.counters.failed_copies += len(failed)
        path_of = {f.id: f.local_path for f in batch}
        for r in failed:
            log.warning("copy of %s failed: %s", path_of[r.id], r.reason)
        report.update(
            stop_time=now,
            verified=verified,
            failed=len(failed),
            unchecked=sum(r.verdict is Verdict.UNCHECKED for r in results),
            failures=[
                {"path": path_of[r.id], "reason": r.reason} for r in failed[:MAX_REPORTED_FAILURES]
            ],
        )
        if errors:
            report["error"] = "; ".join(errors)
        return report

    # -- delete ----------------------------------------------------------------------------

    def delete_due(self) -> dict[str, int]:
        """Delete local copies whose retention ran out, counted from the verified copy, after
        checking once more that the remote copy is intact; then remove emptied folders of
        finished timecodes."""
        s = self.settings
        shortest = s.retention.shortest
        if shortest is None:
            return {}
        now = self.clock()
        candidates = self.db.read(
            lambda ses: queries.deletion_candidates(
                ses, s.archive_name, now - shortest, self._delete_cursor, s.delete_batch
            )
        )
        if len(candidates) < s.delete_batch:
            self._delete_cursor = (float("-inf"), 0)
        else:
            self._delete_cursor = (candidates[-1].verified, candidates[-1].id)
        due = [c for c in candidates if s.retention.is_due(c.remote_path, c.verified, now)]
        if not due:
            return {}

        removed: dict[int, float] = {}
        requeue: dict[int, dict[str, Any]] = {}
        present = []
        for c in due:
            if not os.path.lexists(c.local_path):
                removed[c.id] = 0.0
                continue
            changed, values = self._local_change(c.local_path, c.local_md5sum, c.local_mtime)
            if changed and values is not None:
                requeue[c.id] = values
            else:
                present.append(c)
        listing, why = self.remote_md5([c.remote_path for c in present]) if present else (None, "")
        if present and listing is None:
            log.error(
                "not deleting %d files: cannot re-verify the remote copies: %s", len(present), why
            )
            present = []
        for c in present:
            remote = listing.digests.get(c.remote_path) if listing else None
            if remote != c.local_md5sum:
                log.warning(
                    "remote copy of %s is %s before deletion; sending it again",
                    c.local_path,
                    "missing" if remote is None else "different",
                )
                requeue[c.id] = {"remote_md5sum": remote}
                continue
            try:
                os.remove(c.local_path)
            except FileNotFoundError:
                removed[c.id] = 0.0
                continue
            except OSError as e:
                log.error("cannot delete %s: %s", c.local_path, e.strerror)
                continue
            removed[c.id] = self.clock()
            tc = timecode_of(c.remote_path)
            # Writers may still be filling folders of the current timecode: one removed between
            # their mkdir and their open would lose a file. Older ones are finished.
            if tc is not None and tc < timecode_at(now):
                self._remove_empty_parents(c.local_path, c.remote_path)

        def write(ses):  # type: ignore[no-untyped-def]
            queries.mark_removed(ses, removed)
            queries.requeue(ses, requeue)

        self.db.write(write)
        gone = sum(1 for t in removed.values() if t == 0.0)
        n_changed = sum(1 for v in requeue.values() if "local_md5sum" in v)
        self.counters.deleted += len(removed) - gone
        self.counters.already_gone += gone
        self.counters.requeued_changed += n_changed
        self.counters.remote_bad_before_delete += len(requeue) - n_changed
        return {"deleted": len(removed) - gone, "already_gone": gone, "requeued": len(requeue)}

    @staticmethod
    def _remove_empty_parents(local_path: str, remote_path: str) -> None:
        """Remove the folders the file lived in while empty, going up at most as many levels
        as its remote path has folders (those are the ones the data layout created)."""
        folder = os.path.dirname(local_path)
        for _ in range(remote_path.count("/")):
            try:
                os.rmdir(folder)
            except OSError as e:
                if e.errno not in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOENT):
                    log.warning("cannot remove empty folder %s: %s", folder, e.strerror)
                return
            folder = os.path.dirname(folder)

    @staticmethod
    def _local_change(
        path: str, md5: str, mtime: float | None
    ) -> tuple[bool, dict[str, Any] | None]:
        """(content changed, new checksum columns) for a local file; (False, None) when it
        is as registered or cannot be read (the copy or deletion step counts that).

        Only a file whose mtime moved (or was never recorded) is re-hashed.
        """
        try:
            if mtime is not None and os.stat(path).st_mtime == mtime:
                return False, None
            new_md5, size, new_mtime = md5_file(path)
        except OSError:
            return False, None
        values = {"local_size": size, "local_mtime": new_mtime}
        if new_md5 == md5:
            return False, values
        return True, {**values, "local_md5sum": new_md5, "remote_md5sum": None}

    # -- recheck ---------------------------------------------------------------------------

    def recheck(
        self, after_id: int, limit: int, only_failed: bool = False
    ) -> tuple[dict[str, int], int]:
        """Compare up to `limit` local files after id `after_id` with what was registered.

        Only files whose mtime moved are re-hashed; changed ones get the new checksum, a fresh
        attempt count and are sent again. Returns the counts and the last id looked at (0 when
        the end was reached).
        """
        s = self.settings
        rows = self.db.read(
            lambda ses: queries.recheck_candidates(
                ses, s.archive_name, after_id, limit, only_failed
            )
        )
        changes: dict[int, dict[str, Any]] = {}
        touched: dict[int, dict[str, Any]] = {}
        missing = 0
        for r in rows:
            if not os.path.exists(r.local_path):
                missing += 1
                continue
            changed, values = self._local_change(r.local_path, r.local_md5sum, r.local_mtime)
            if values is None:
                continue
            if changed:
                changes[r.id] = values
            else:
                touched[r.id] = values

        def write(ses):  # type: ignore[no-untyped-def]
            queries.requeue(ses, changes)
            queries.set_local_stat(ses, touched)

        if changes or touched:
            self.db.write(write)
        self.counters.requeued_changed += len(changes)
        report = {"checked": len(rows), "changed": len(changes), "missing": missing}
        return report, (rows[-1].id if len(rows) == limit else 0)

    def recheck_slice(self) -> dict[str, int]:
        """The loop's share of re-checking: the next `recheck_per_iteration` files, round robin."""
        if self.settings.recheck_per_iteration <= 0:
            return {}
        report, self._recheck_cursor = self.recheck(
            self._recheck_cursor, self.settings.recheck_per_iteration
        )
        return report

    # -- timecode dirs ---------------------------------------------------------------------

    def update_timecodes(self) -> list[str]:
        """Mark this archive's timecode dirs completed and synced; finalize synced ones.
        Returns the remote paths of the finalization files registered."""
        s = self.settings
        timecodes, seen = self.db.read(
            lambda ses: queries.new_timecodes(ses, s.archive_name, self._tc_seen_id)
        )
        if timecodes:
            self.db.write(lambda ses: queries.add_timecode_dirs(ses, s.archive_name, timecodes))
        self._tc_seen_id = seen
        now = self.clock()
        dirs, newest = self.db.read(lambda ses: queries.open_timecode_dirs(ses, s.archive_name))
        done = []
        for d in dirs:
            completed = d.completed or is_completed(d.timecode, newest, now)
            synced = d.synced or (
                completed
                and not self.db.read(
                    partial(queries.timecode_unsynced, archive=s.archive_name, timecode=d.timecode)
                )
            )
            if (completed, synced) != (d.completed, d.synced):
                self.db.write(
                    partial(
                        queries.set_timecode_state,
                        tcdir_id=d.id,
                        completed=completed,
                        synced=synced,
                    )
                )
            if synced:
                done.append(self._finalize(d.id, d.timecode))
        return done

    def _finalize(self, tcdir_id: int, timecode: int) -> str:
        s = self.settings
        now = self.clock()

        def summary(ses):  # type: ignore[no-untyped-def]
            paths = queries.timecode_remote_paths(ses, s.archive_name, timecode)
            return paths, queries.finalized_until(ses, s.archive_name, now)

        paths, until = self.db.read(summary)
        fin = finalization(
            timecode=timecode,
            archive_name=s.archive_name,
            instance_id=s.instance_id,
            num_files=len(paths),
            subdirs=sorted({d for p in paths if (d := subdir_of(p))}),
            finalized_until=until,
            now=now,
            file_root=s.file_root,
        )
        os.makedirs(os.path.dirname(fin.local_path), exist_ok=True)
        with open(fin.local_path, "w") as f:
            f.write(fin.text)
        md5, size, mtime = md5_file(fin.local_path)
        new = queries.NewFile(
            local_path=fin.local_path,
            archive_name=s.archive_name,
            remote_path=fin.remote_path,
            timestamp=now,
            local_md5sum=md5,
            local_size=size,
            local_mtime=mtime,
        )

        def register(ses):  # type: ignore[no-untyped-def]
            rows = queries.register(ses, [new])
            queries.set_timecode_state(
                ses, tcdir_id, finalized=True, finalize_file_id=rows[0].id if rows else None
            )

        self.db.write(register)
        self.counters.finalized += 1
        log.info("timecode %d of %s finalized: %s", timecode, s.archive_name, fin.remote_path)
        return fin.remote_path

    # -- statistics ------------------------------------------------------------------------

    def archive_stats(self) -> dict[str, Any]:
        archive = self.settings.archive_name
        now = self.clock()

        def work(ses: Session) -> tuple[dict[str, Any], int, int]:
            new, last_id = queries.count_files(ses, archive, self._counted_id)
            total = self._num_files + new
            return queries.archive_stats(ses, archive, now, total), total, last_id

        stats, self._num_files, self._counted_id = self.db.read(work)
        return stats

    def transfer_stats(self) -> dict[str, int]:
        return asdict(self.counters)
