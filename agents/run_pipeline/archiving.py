"""The archive pass after recovery: pack processed runs, bundle packed ones, copy each bundle
to the archive target, and remove what archived runs no longer need.

A pass may be killed at any point (with the commands it started, or, on a cluster reached
over ssh, leaving them running), and the next pass must finish the job with nothing lost,
nothing twice, and nothing left on disk:

- every file is written under its partial name in the folder where it ends and renamed once
  complete (and, in the archive, once its md5 matches), so a half-written file is never
  taken for a packed run or a bundle, here or by a reader of the archive; the partial name
  is removed before writing again, so a writer a killed pass left running writes to a file
  nobody will see (:mod:`.bundling`);
- a bundle is a fixed set of runs named from that set; its runs are claimed, and recorded
  archived, all together in one transaction each; they keep the bundle's name when an
  attempt fails or dies, and the next attempt makes that same bundle under that same name
  (full or not), so its copy and partial files replace those of the earlier attempt rather
  than add a second bundle holding the same runs;
- the copy to the archive goes into the partial name with ``rsync --inplace`` (a killed rsync
  leaves no temporary file of a random name behind: the retry overwrites the same partial
  file; ``--delete`` does not apply to one file), under a lock on the bundles folder of the
  cluster (:mod:`.folderlock`), so a copy a killed pass left running is waited for, never
  joined;
- what archived runs no longer need (their raw folders, the local bundle, their packed runs:
  last, as the mark of unfinished cleaning) is removed once they are recorded archived; a
  pipeline sweeps the compressed area on its first pass for what a killed one did not get
  to remove, and again after a cleaning that failed.

Blocking, like the rest of :mod:`.pipeline`.
"""

from __future__ import annotations

import logging
import posixpath
import shlex
import time
from collections import defaultdict
from collections.abc import Callable, Sequence

from socs_like.checksum import md5_file
from socs_like.commands import CommandResult
from socs_like.paths import check_name

from . import bundling, folderlock, states
from .errors import PipelineError
from .hosts import Host
from .settings import PassReport, Settings
from .store import Due, RunStore, RunView

log = logging.getLogger(__name__)

# lists the compressed area and its bundles folder (nothing when the area is not there yet)
_LIST = '[ ! -d "$1" ] || exec find "$1" -mindepth 1 -maxdepth 2 -type f -printf "%P\\n"'


class Archiver:
    """Packing, bundling and archiving on behalf of one pipeline."""

    def __init__(
        self, store: RunStore, settings: Settings, *, dry_run: bool, say: Callable[[str], None]
    ) -> None:
        self.store = store
        self.s = settings
        self.dry_run = dry_run
        self.say = say
        self.host = settings.cluster_host
        self.bundles = posixpath.join(settings.compressed_area, bundling.BUNDLES)
        self._swept = False  # False: the next pass sweeps (the first, or after a failed cleaning)

    def due(self, only: list[str] | None) -> tuple[Due, Due]:
        """The runs to pack, and the packed runs waiting for a bundle."""
        return Due(states.ONDECK, states.PROCESSED, only=only), Due(states.COMPRESSED, only=only)

    def run(self, report: PassReport, only: list[str] | None, flush: bool) -> None:
        """Everything after recovery; the docstring of :meth:`.Pipeline.archive_pass`."""
        if not self._swept:
            try:
                self._sweep()
            except Exception as e:
                report.fail("(cleaning)", f"{type(e).__name__}: {e}")
        to_pack, packed = self.due(only)
        due = self.store.due(to_pack, limit=self.s.batch)
        if due and not self.dry_run:
            self._cmd(["mkdir", "-p", self.bundles]).check()
        for run in due:
            try:
                self._compress(run, report)
            except Exception as e:
                report.fail(run.name, f"{type(e).__name__}: {e}")
        waiting = self.store.due(packed, limit=self.s.batch)
        fresh = [r for r in waiting if not r.bundle]
        for bundle in sorted({r.bundle for r in waiting if r.bundle}):
            members = self.store.in_bundles([bundle])
            if any(m.raw_status == states.ARCHIVED for m in members):
                # archived in part by an older version, which recorded runs one at a time:
                # made again, the bundle would lose those; the rest go into a new one
                fresh += [m for m in members if m.raw_status == states.COMPRESSED]
            else:
                self._guarded(bundle, members, report)
        fresh.sort(key=lambda r: r.name)
        now = time.time()
        while fresh:
            runs, fresh = fresh[: self.s.bundle_runs], fresh[self.s.bundle_runs :]
            if not (
                flush
                or len(runs) >= self.s.bundle_runs
                or sum(r.raw_size for r in runs) >= self.s.bundle_bytes
                or now - min(r.since for r in runs) >= self.s.bundle_max_age
            ):
                break  # the rest waits for more runs
            self._guarded(bundling.bundle_name(r.name for r in runs), runs, report)

    # --- helpers ------------------------------------------------------------------------

    def _cmd(self, argv: list[str], host: Host | None = None) -> CommandResult:
        return (host or self.host).run(argv, timeout=self.s.command_timeout)

    def _md5(self, host: Host, path: str) -> str:
        if host.local:
            return md5_file(path).md5
        return self._cmd(["md5sum", path], host).check().stdout_text.split()[0]

    def _write_whole(self, argv: list[str], part: str, whole: str) -> None:
        """Run ``argv``, which writes ``part``, then rename ``part`` to ``whole``."""
        self._cmd(["rm", "-f", "--", part]).check()
        self._cmd(argv).check()
        self._cmd(["mv", "-f", "--", part, whole]).check()

    # --- packing ------------------------------------------------------------------------

    def _compress(self, run: RunView, report: PassReport) -> None:
        name = check_name(run.name, "run name")
        raw = posixpath.join(self.s.raw_area, name)
        packed = posixpath.join(self.s.compressed_area, bundling.packed(name))
        part = posixpath.join(self.s.compressed_area, bundling.partial(bundling.packed(name)))
        argv = ["tar", "--zstd", "-C", self.s.raw_area, "-cf", part, name]
        if self.dry_run:
            self.say(f"# compress {name} ({self.host}):\n{shlex.join(argv)}")
            return
        claimed = (states.COMPRESSING, run.processed_status)
        if not self.store.change(
            name, run.status, claimed, "claim", message="compress", owner=self.store.actor
        ):
            return
        try:
            self._write_whole(argv, part, packed)
            digest = self._md5(self.host, packed)
        except Exception as e:
            report.fail(name, str(e))
            self.store.change(
                name, claimed, run.status, "compress-failed", message=str(e), owner=None
            )
            return
        if self.store.change(
            name,
            claimed,
            (states.COMPRESSED, run.processed_status),
            "compressed",
            message=f"md5 {digest}",
            owner=None,
            archive_md5=digest,
            raw_location=f"{self.s.cluster}:{packed}",
        ):
            report.done += 1
            self._cmd(["rm", "-rf", "--", raw])

    # --- bundling and the copy to the archive -------------------------------------------

    def _guarded(self, bundle: str, runs: list[RunView], report: PassReport) -> None:
        try:
            self._archive(bundle, runs, report)
        except Exception as e:
            report.fail("(bundle)", f"{type(e).__name__}: {e}")
            log.exception("archiving %s failed", bundle)

    def _copy_argv(self, source: str, bundle: str) -> list[str]:
        """rsync's argv (run on the cluster) copying ``source`` to ``bundle``'s partial name
        in the archive target."""
        argv = ["rsync", "--archive", "--inplace"]
        if self.s.archive_bwlimit > 0:
            argv.append(f"--bwlimit={self.s.archive_bwlimit}")
        target_host, _ = _split_target(self.s.archive_target, self.host)
        if self.host.local and not target_host.local:
            argv += ["-e", target_host.rsh()]  # a host:folder target, with our ssh settings
        target = self.s.archive_target.rstrip("/")
        return [*argv, source, f"{target}/{bundling.partial(bundle)}"]

    def _archive(self, bundle: str, runs: list[RunView], report: PassReport) -> None:
        local = posixpath.join(self.bundles, bundle)
        part = posixpath.join(self.bundles, bundling.partial(bundle))
        target_host, target_dir = _split_target(self.s.archive_target, self.host)
        members = [bundling.packed(r.name) for r in runs]
        tar_argv = ["tar", "-C", self.s.compressed_area, "-cf", part, *members]
        copy_argv = self._copy_argv(local, bundle)
        if self.dry_run:
            self.say(f"# archive {len(runs)} runs as {bundle} ({self.host}):")
            self.say(f"{shlex.join(tar_argv)}\n{shlex.join(copy_argv)}")
            return
        waiting = {r.name: (states.COMPRESSED, r.processed_status) for r in runs}
        held = {r.name: (states.ARCHIVING, r.processed_status) for r in runs}
        if not self.store.change_all(
            [(r.name, waiting[r.name], held[r.name]) for r in runs],
            "claim",
            message=f"bundle {bundle}",
            owner=self.store.actor,
            bundle=bundle,
        ):
            return  # one of them is not waiting (another pipeline took it)
        wait = self.s.rsync_timeout
        try:
            # each member's checksum first: a packed run that changed since is not archived
            for run in runs:
                got = self._md5(
                    self.host, posixpath.join(self.s.compressed_area, bundling.packed(run.name))
                )
                if got != run.archive_md5:
                    raise PipelineError(
                        f"{bundling.packed(run.name)} changed: md5 {got} != {run.archive_md5}"
                    )
            self._cmd(["mkdir", "-p", self.bundles]).check()
            self._write_whole(tar_argv, part, local)
            digest = self._md5(self.host, local)
            self._cmd(["mkdir", "-p", target_dir], target_host).check()
            # at most one copy's time waiting for an earlier copy, then one copy's time
            copy = folderlock.locked(copy_argv, self.bundles, wait=wait, create=False)
            result = self.host.run(copy, timeout=2 * wait)
            if not result.ok:
                raise PipelineError(folderlock.explain(result, copy_argv, self.bundles, wait))
            arrived = posixpath.join(target_dir, bundling.partial(bundle))
            got = self._md5(target_host, arrived)
            if got != digest:
                raise PipelineError(f"archived bundle md5 {got} != {digest}")
            final = posixpath.join(target_dir, bundle)
            self._cmd(["mv", "-f", "--", arrived, final], target_host).check()
        except Exception as e:
            for run in runs:  # back to waiting, still in this bundle
                report.fail(run.name, str(e))
                self.store.change(
                    run.name,
                    held[run.name],
                    waiting[run.name],
                    "archive-failed",
                    message=str(e),
                    owner=None,
                )
            return
        target = self.s.archive_target.rstrip("/")
        if not self.store.change_all(
            [(r.name, held[r.name], (states.ARCHIVED, r.processed_status)) for r in runs],
            "archived",
            message=f"bundle md5 {digest}",
            each={
                r.name: {"raw_location": f"{target}/{bundle}#{bundling.packed(r.name)}"}
                for r in runs
            },
            owner=self.store.actor,  # until _clean is done: see states
        ):
            for run in runs:
                report.fail(run.name, "claim lost during archiving (released as stuck?)")
            return
        report.done += len(runs)
        self._clean(bundle, [r.name for r in runs])

    # --- cleaning -----------------------------------------------------------------------

    def _clean(self, bundle: str, runs: Sequence[str]) -> None:
        """Remove what the archived ``runs`` of ``bundle`` no longer need, their packed runs
        last (one left tells the sweep that this cleaning did not finish)."""
        area = self.s.compressed_area
        paths = [
            # left by a pass that died between packing a run and removing its raw folder
            *(posixpath.join(self.s.raw_area, r) for r in runs),
            posixpath.join(self.bundles, bundle),
            posixpath.join(self.bundles, bundling.partial(bundle)),
            *(posixpath.join(area, bundling.packed(r)) for r in runs),
        ]
        if self.dry_run:
            self.say(f"# clean up after {bundle}: rm -rf -- {shlex.join(paths)}")
            return
        result = self._cmd(["rm", "-rf", "--", *paths])
        if not result.ok:
            self._swept = False
            log.warning("cleaning after %s failed: %s", bundle, result.describe())
            return
        self.store.cleaned(runs, f"files of {bundle} removed")

    def _sweep(self) -> None:
        """Clean after bundles whose runs are archived but not known cleaned (a pass died
        between recording and cleaning) or whose files remain, and remove bundles no run
        belongs to (left by a killed pass of an older version, which named each attempt
        anew)."""
        listing = self._cmd(["sh", "-c", _LIST, "sweep", self.s.compressed_area]).check()
        self._swept = not self.dry_run  # until a cleaning fails
        runs, bundles = bundling.found(listing.stdout_text.splitlines())
        done = {
            r.bundle
            for r in [*self.store.named(sorted(runs)), *self.store.uncleaned()]
            if r.raw_status == states.ARCHIVED and r.bundle
        }
        suspects = sorted(bundles | done)
        members: dict[str, list[str]] = defaultdict(list)
        archived: dict[str, bool] = defaultdict(lambda: True)
        for run in self.store.in_bundles(suspects):
            bundle = str(run.bundle)
            members[bundle].append(run.name)
            archived[bundle] &= run.raw_status == states.ARCHIVED
        for bundle in suspects:
            if archived[bundle]:
                self._clean(bundle, members[bundle])


def _split_target(target: str, cluster: Host) -> tuple[Host, str]:
    """The archive target as (host, folder); ``host:folder`` is a host reached over SSH."""
    head, sep, rest = target.partition(":")
    if sep and "/" not in head:
        return Host(head, cluster.ssh), rest
    return cluster, target
