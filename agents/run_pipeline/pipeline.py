"""One pass of each daemon of the original, made safe to run from several processes:
:meth:`Pipeline.transfer_pass`, :meth:`Pipeline.process_pass`, :meth:`Pipeline.archive_pass`,
and :meth:`Pipeline.recover`, which each of them runs first.

Every step follows the same pattern: claim the run with a compare-and-set
(:meth:`.store.RunStore.change`), do the work with no transaction open (rsync, sbatch, tar),
then record the outcome with another compare-and-set. A pipeline killed between the two finds
the claim on its next pass (or another pipeline does) and releases it: claims held by a dead
process on this host at once, any claim after ``max_transfer_time``.

With ``dry_run`` a pass reads the database, prints the commands and job scripts it would use
through ``say``, and changes nothing.

Blocking throughout: the agent runs each pass in a worker thread; the CLI calls it directly.
"""

from __future__ import annotations

import logging
import os
import posixpath
import shlex
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from socs_like.checksum import md5_file
from socs_like.commands import CommandResult, run_command
from socs_like.paths import PathRefused, check_name

from . import folderlock, jobs, states
from .archiving import Archiver
from .backends import BatchBackend, JobInfo, JobState, backend
from .errors import HostUnreachable, PipelineError
from .hosts import SSH_FAILED, Host, ssh_failed
from .settings import PassReport, Settings
from .store import Due, RunStore, RunView, owner_alive

log = logging.getLogger(__name__)

# a job submitted but not yet given its id: how long before the scheduler is asked by name
SUBMIT_GRACE = 120.0


class Pipeline:
    """Transfer, process and archive passes over one runs database."""

    def __init__(
        self,
        store: RunStore,
        settings: Settings,
        *,
        dry_run: bool = False,
        say: Callable[[str], None] = print,
    ) -> None:
        self.store = store
        self.s = settings
        self.dry_run = dry_run
        self.say = say
        self.batch: BatchBackend | None = (
            None
            if settings.backend == "local"
            else backend(settings.backend, settings.cluster_host)
        )
        self._local_pool: ThreadPoolExecutor | None = None
        self._local_jobs: dict[str, Future[None]] = {}
        self._local_seq = 0
        self._lock = threading.Lock()
        self._said: set[tuple[str, str]] = set()  # dry run: (action, run) said already
        self._archiver = Archiver(store, settings, dry_run=dry_run, say=say)

    # --- helpers ------------------------------------------------------------------------

    def _run(self, host: Host, argv: list[str], timeout: float | None = None) -> CommandResult:
        return host.run(argv, timeout=timeout or self.s.command_timeout)

    def _out_of_reach(self) -> bool:
        """Whether a remote host of the transfers does not answer ssh now."""
        return any(
            self._run(host, ["true"]).returncode == SSH_FAILED
            for host in (self.s.daq, self.s.cluster_host)
            if not host.local
        )

    def _checksums(self, host: Host, folder: str) -> dict[str, str]:
        """relative path -> md5 of every file below ``folder`` on ``host``."""
        if host.local:
            out: dict[str, str] = {}
            for top, _dirs, files in os.walk(folder):
                for f in files:
                    path = os.path.join(top, f)
                    out[os.path.relpath(path, folder)] = md5_file(path).md5
            return out
        script = f"cd {shlex.quote(folder)} && find . -type f -print0 | xargs -0 -r md5sum"
        result = self._run(host, ["sh", "-c", script])
        if not host.local and result.returncode == SSH_FAILED:
            raise HostUnreachable(result.describe())
        result.check()
        out = {}
        for line in result.stdout_text.splitlines():
            digest, _, name = line.partition("  ")
            out[name.removeprefix("./")] = digest
        return out

    def idle(
        self,
        only: list[str] | None = None,
        *,
        transfer: bool = True,
        process: bool = True,
        archive: bool = True,
    ) -> bool:
        """Whether the passes asked for have nothing to do: no claim or job to check, no run
        due, no cleaning a killed pass left. One query: a pass from cron that finds nothing to
        do ends there, with no command run here or on a host. (A file a killed pass of an
        older version left in the compressed area waits for the next pass with work.)"""
        due = [
            *([self._transfer_due(only)] if transfer else []),
            *([self._process_due(only)] if process else []),
            *(self._archiver.due(only) if archive else []),
        ]
        return not self.store.anything(due, uncleaned=archive)

    # --- recovery -----------------------------------------------------------------------

    def recover(self, report: PassReport) -> None:
        """Release claims left by dead or stuck pipelines; reset runs whose job is gone."""
        now = time.time()
        claims = self.store.claims()
        scheduler: dict[str, JobInfo] | None = None
        for run in claims:
            fallback = states.CLAIM_FALLBACK.get(run.raw_status)
            if fallback is not None:
                alive = owner_alive(run.owner)
                age = now - run.since
                if alive is False or age > self.s.max_transfer_time:
                    why = (
                        f"claim of {run.owner} released: process gone"
                        if alive is False
                        else f"claim of {run.owner} released after {age:.0f} s "
                        f"(max_transfer_time {self.s.max_transfer_time:g} s)"
                    )
                    if self._release(run, (fallback, run.processed_status), "release", why):
                        report.released += 1
                continue
            if run.processed_status not in (states.QUEUEING, states.PROCESSING):
                continue
            if self.batch is None:
                if not self._local_alive(run) and self._release(
                    run,
                    (run.raw_status, states.NONE),
                    "reset",
                    f"local job {run.job_id or '(not started)'} of {run.owner} is gone",
                ):
                    report.released += 1
                continue
            if scheduler is None:
                scheduler = self.batch.jobs()
            if self._check_batch_job(run, scheduler, now, report):
                report.released += 1

    def _release(self, run: RunView, to: tuple[str, str], action: str, why: str) -> bool:
        if self.dry_run:
            # each pass recovers first: say it once, not once per pass
            if (action, run.name) not in self._said:
                self._said.add((action, run.name))
                self.say(f"# would {action} {run.name}: {why}")
            return False
        done = self.store.change(
            run.name, run.status, to, action, message=why, owner=None, job_id=None
        )
        if done:
            log.info("%s: %s", run.name, why)
        return done

    def _check_batch_job(
        self, run: RunView, scheduler: dict[str, JobInfo], now: float, report: PassReport
    ) -> bool:
        """Reset ``run`` if its job is gone or was cancelled (True when it was reset); fail it
        if its job ended without reporting (counted as a failure of this pass)."""
        spec_name = f"run-{run.name}-{run.attempts}"
        if run.job_id is None:
            info = scheduler.get(spec_name)
            if info is not None:
                # submitted just before a crash: adopt the job rather than submit a second
                if not self.dry_run:
                    self.store.change(
                        run.name,
                        run.status,
                        run.status,
                        "adopt",
                        message=f"job {info.job_id} found by name {spec_name}",
                        at_attempt=run.attempts,
                        job_id=info.job_id,
                    )
                return False
            if owner_alive(run.owner) is not False and now - run.since < SUBMIT_GRACE:
                return False  # its submitter may still be at work
            return self._release(
                run, (run.raw_status, states.NONE), "reset", "job never reached the scheduler"
            )
        info = scheduler.get(run.job_id)
        if info is None:
            why = f"job {run.job_id} vanished from the scheduler"
        elif info.state is JobState.CANCELLED:
            why = f"job {run.job_id} ended {info.detail} in the scheduler"
        elif info.state is JobState.DONE:
            # it ended without its last mark (the mark failed): record what we know
            why = f"job {run.job_id} ended {info.detail} without reporting"
            if not self.dry_run and self.store.change(
                run.name,
                run.status,
                (run.raw_status, states.FAILED),
                "job-ended",
                message=why,
                owner=None,
            ):
                report.fail(run.name, why)
            return False
        else:
            return False
        return self._release(run, (run.raw_status, states.NONE), "reset", why)

    # --- transfer -----------------------------------------------------------------------

    def daq_live(self) -> bool:
        if not self.s.daq_live_process:
            return False
        result = self._run(self.s.daq, ["pgrep", "-x", self.s.daq_live_process], timeout=30)
        if result.returncode not in (0, 1):
            raise PipelineError(f"cannot tell whether the DAQ is live: {result.describe()}")
        return result.returncode == 0

    def _transfer_due(self, only: list[str] | None) -> Due:
        return Due(
            states.ACQUIRED,
            only=only,
            without_tag=states.DO_NOT_TRANSFER,
            max_transfer_attempts=self.s.max_transfer_attempts,
        )

    def transfer_pass(self, only: list[str] | None = None) -> PassReport:
        report = PassReport("transfer")
        self.recover(report)
        due = self.store.due(self._transfer_due(only), limit=self.s.batch)
        # the DAQ is asked only when there is something to take from it
        if due and self.daq_live():
            report.skipped = f"DAQ live ({self.s.daq_live_process} runs on {self.s.daq})"
            report.finished = time.time()
            return report
        if due and not self.dry_run:
            self._run(self.s.cluster_host, ["mkdir", "-p", self.s.raw_area]).check()
        for run in due:
            self._transfer(run, report)
        report.finished = time.time()
        return report

    def rsync_argv(self, source: str, dest: str) -> tuple[Host, list[str]]:
        """(where rsync runs, its argv) for copying run folder ``source`` (on the DAQ) to
        ``dest`` (on the cluster)."""
        # --delete: the destination becomes an exact copy of the source whatever an earlier
        # copy left in it. A copy killed with SIGKILL leaves rsync's temporary file
        # (.NAME.XXXXXX) wherever rsync writes it; --partial-dir only helps on the signals
        # rsync can catch, --temp-dir only moves the litter elsewhere for something else to
        # clean. The folder is the pipeline's own (one per run, written only by copies of
        # this run) and the source is the truth until the copy is verified, so nothing in it
        # is lost; and the checksum comparison can stay exact: any extra file is an error.
        flags = ["rsync", "--archive", "--whole-file", "--compress", "--delete"]
        if self.s.transfer_bwlimit > 0:
            flags.append(f"--bwlimit={self.s.transfer_bwlimit}")
        if self.s.transfer_mode == "push":
            target = posixpath.join(self.s.push_target or self.s.raw_area, posixpath.basename(dest))
            return self.s.daq, [*flags, source + "/", target + "/"]
        runner = self.s.cluster_host
        if not self.s.daq.local:
            # from the cluster's login node, its own ssh setup reaches the DAQ
            flags += ["-e", self.s.daq.rsh() if runner.local else "ssh -o BatchMode=yes"]
        return runner, [*flags, self.s.daq.spec(source) + "/", dest + "/"]

    def _transfer(self, run: RunView, report: PassReport) -> None:
        try:
            name = check_name(run.name, "run name")
            source = self.s.daq_roots.check(run.raw_location, what="raw location")
        except PathRefused as e:
            report.fail(run.name, str(e))
            if not self.dry_run:
                self.store.note(run.name, "refused", str(e))
            return
        dest = posixpath.join(self.s.raw_area, name)
        runner, argv = self.rsync_argv(source, dest)
        if self.dry_run:
            self.say(f"# transfer {name} ({runner}):\n{shlex.join(argv)}")
            return
        if not self.store.change(
            name,
            run.status,
            (states.TRANSFERRING, run.processed_status),
            "claim",
            message=f"rsync to {self.s.cluster}",
            owner=self.store.actor,
            transfer_attempts=run.transfer_attempts + 1,
        ):
            return  # another pipeline took it
        claimed = (states.TRANSFERRING, run.processed_status)
        # the end of the copy on the host where rsync runs: it is locked for the copy
        pull = self.s.transfer_mode == "pull"
        lock, wait = (dest if pull else source), self.s.rsync_timeout
        result: CommandResult | None = None
        try:
            # at most one copy's time waiting for an earlier copy, then one copy's time
            copy = folderlock.locked(argv, lock, wait=wait, create=pull)
            result = self._run(runner, copy, timeout=2 * wait)
            if not result.ok:
                why = folderlock.explain(result, argv, lock, wait)
                # rsync says 255 when its ssh failed, but 12 (or another) when it noticed
                # first that the stream had ended: then its ssh's own words say so, or the
                # hosts do not answer now (a partition healed since answers them again)
                if ssh_failed(result) or self._out_of_reach():
                    raise HostUnreachable(why)
                raise PipelineError(why)
            want = self._checksums(self.s.daq, source)
            got = self._checksums(self.s.cluster_host, dest)
            if want != got:
                differ = sorted(k for k in want.keys() | got.keys() if want.get(k) != got.get(k))
                raise PipelineError(
                    f"checksums differ after rsync for {len(differ)} files: {differ[:5]}"
                )
        except Exception as e:  # any failure returns the run; the pass goes on
            unreachable = isinstance(e, HostUnreachable)
            code = SSH_FAILED if unreachable else None if result is None else result.returncode
            report.fail(name, str(e))
            # a host out of reach is not the run's fault: an outage longer than the
            # attempts allow must not leave every run waiting for `retry`
            uncharged: dict[str, Any] = (
                {"transfer_attempts": run.transfer_attempts} if unreachable else {}
            )
            self.store.change(
                name,
                claimed,
                (states.ACQUIRED, run.processed_status),
                "transfer-failed",
                message=str(e),
                code=code,
                owner=None,
                **uncharged,
            )
            return
        size = self._folder_size(self.s.cluster_host, dest)
        if self.store.change(
            name,
            claimed,
            (states.ONDECK, run.processed_status),
            "transferred",
            message=f"{len(want)} files verified",
            code=0,
            owner=None,
            raw_location=f"{self.s.cluster}:{dest}",
            raw_size=size,
        ):
            report.done += 1
            if self.s.remove_source:
                removed = self._run(self.s.daq, ["rm", "-rf", "--", source])
                self.store.note(
                    name,
                    "source-removed" if removed.ok else "source-kept",
                    source if removed.ok else removed.describe(),
                    code=removed.returncode,
                )
        else:
            report.fail(name, "claim lost during the transfer (released as stuck?)")

    def _folder_size(self, host: Host, folder: str) -> int:
        result = self._run(host, ["du", "-sb", folder])
        return int(result.stdout_text.split()[0]) if result.ok else 0

    # --- processing ---------------------------------------------------------------------

    def _process_due(self, only: list[str] | None) -> Due:
        return Due(states.ONDECK, states.NONE, only=only, without_tag=states.DO_NOT_PROCESS)

    def process_pass(self, only: list[str] | None = None) -> PassReport:
        report = PassReport("process")
        self.recover(report)
        due = self.store.due(self._process_due(only), limit=self.s.batch)
        if due and not self.dry_run and self.batch is not None:
            folders = [self.s.jobs_dir, self.s.processed_area]
            self._run(self.s.cluster_host, ["mkdir", "-p", *folders]).check()
        for run in due:
            try:
                self._submit(run, report)
            except Exception as e:
                report.fail(run.name, f"{type(e).__name__}: {e}")
                log.exception("%s: submission failed", run.name)
        report.finished = time.time()
        return report

    def job_spec(self, run: RunView, attempt: int) -> jobs.JobSpec:
        name = check_name(run.name, "run name")
        seconds = jobs.walltime(run.events, run.source)
        values = {
            "raw": posixpath.join(self.s.raw_area, name),
            "out": posixpath.join(self.s.processed_area, name),
            "run": name,
            "events": str(run.events),
            "source": run.source,
            "python": sys.executable,
        }
        return jobs.JobSpec(
            run=name,
            attempt=attempt,
            queue=self.s.queues.choose(seconds),
            walltime=seconds,
            log_path=posixpath.join(self.s.jobs_dir, f"{name}.{attempt}.log"),
            command=jobs.process_command(self.s.process_command, values),
            mark=[*self.s.mark_argv, name],
        )

    def _submit(self, run: RunView, report: PassReport) -> None:
        attempt = run.attempts + 1
        spec = self.job_spec(run, attempt)
        if self.batch is None:
            if self.dry_run:
                self.say(f"# process {run.name} here (local backend):\n{spec.command}")
                return
            self._submit_local(run, spec, report)
            return
        script = jobs.script(spec, self.batch.flavour)
        script_path = posixpath.join(self.s.jobs_dir, f"{spec.run}.{attempt}.sh")
        if self.dry_run:
            argv = self.batch.submit_argv(script_path)
            self.say(f"# process {run.name}: {shlex.join(argv)}\n# {script_path}:\n{script}")
            return
        queued = (run.raw_status, states.QUEUEING)
        if not self._claim_job(run, spec, None, f"{self.s.backend} job {spec.job_name}"):
            return
        host = self.s.cluster_host
        try:
            host.write_text(script_path, script)
            job_id = self.batch.submit(script_path)
        except Exception as e:
            report.fail(run.name, str(e))
            self.store.change(
                run.name, queued, run.status, "submit-failed", message=str(e), owner=None
            )
            return
        # the job may have marked itself already: set the id whatever the processed status
        self.store.set_job_id(run.name, attempt, job_id)
        report.done += 1

    def _claim_job(self, run: RunView, spec: jobs.JobSpec, job_id: str | None, what: str) -> bool:
        """``none`` -> ``queueing`` at the next attempt; False when another pipeline won."""
        return self.store.change(
            run.name,
            run.status,
            (run.raw_status, states.QUEUEING),
            "claim",
            message=f"{what} to {spec.queue}",
            owner=self.store.actor,
            at_attempt=run.attempts,
            attempts=spec.attempt,
            job_id=job_id,
            job_log=spec.log_path,
            exit_code=None,
        )

    # local backend: a bounded pool of subprocesses in this process

    def _local_alive(self, run: RunView) -> bool:
        """Whether the local job of ``run`` may still be running: ours and not done, or
        another pipeline's whose process lives (or is on another host: not ours to judge)."""
        job_id = run.job_id or ""
        owner = job_id.removeprefix("local:").rpartition(":")[0] or run.owner
        if owner != self.store.actor:
            return owner_alive(owner) is not False
        with self._lock:
            job = self._local_jobs.get(job_id)
        return job is not None and not job.done()

    def _submit_local(self, run: RunView, spec: jobs.JobSpec, report: PassReport) -> None:
        with self._lock:
            self._local_seq += 1
            job_id = f"local:{self.store.actor}:{self._local_seq}"
            if self._local_pool is None:
                self._local_pool = ThreadPoolExecutor(
                    self.s.local_slots, thread_name_prefix="run-job"
                )
        if not self._claim_job(run, spec, job_id, f"local job {job_id}"):
            return
        with self._lock:
            self._local_jobs[job_id] = self._local_pool.submit(
                self._run_local, spec, job_id, run.raw_status
            )
        report.done += 1

    def _run_local(self, spec: jobs.JobSpec, job_id: str, raw_status: str) -> None:
        actor = f"job {job_id}"
        if not self.store.change(
            spec.run,
            (raw_status, states.QUEUEING),
            (raw_status, states.PROCESSING),
            "mark",
            at_attempt=spec.attempt,
            actor=actor,
        ):
            return
        os.makedirs(self.s.jobs_dir, exist_ok=True)
        os.makedirs(self.s.processed_area, exist_ok=True)
        result = run_command(["bash", "-c", spec.command], timeout=spec.walltime)
        with open(spec.log_path, "wb") as f:
            f.write(result.stdout + result.stderr)
        ok = result.ok
        self.store.change(
            spec.run,
            (raw_status, states.PROCESSING),
            (raw_status, states.PROCESSED if ok else states.FAILED),
            "mark",
            at_attempt=spec.attempt,
            actor=actor,
            code=result.returncode,
            message="" if ok else result.describe(),
            owner=None,
            exit_code=result.returncode,
        )

    def wait_local(self) -> None:
        """Wait for local jobs to end (one-pass CLI use)."""
        with self._lock:
            pending = list(self._local_jobs.values())
        for job in pending:
            job.result()

    def close(self) -> None:
        if self._local_pool is not None:
            self._local_pool.shutdown(wait=True)

    # --- compress and archive -----------------------------------------------------------

    def archive_pass(self, only: list[str] | None = None, *, flush: bool = False) -> PassReport:
        """Compress processed runs; bundle and archive compressed ones, ``bundle_runs`` to a
        bundle, once a bundle is full (``bundle_runs`` runs or ``bundle_bytes`` of raw data),
        its oldest run waited ``bundle_max_age``, or ``flush``; a bundle an earlier attempt
        made goes again as it was, full or not (:mod:`.archiving`)."""
        report = PassReport("archive")
        self.recover(report)
        self._archiver.run(report, only, flush)
        report.finished = time.time()
        return report
