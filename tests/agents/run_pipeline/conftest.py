"""Shared pieces of the run pipeline tests: run folders on a "DAQ", the runs database, and
the command line that points a pipeline at them."""

from __future__ import annotations

import contextlib
import io
import json
import os
import select
import signal
import sqlite3
import subprocess
import sys
import tarfile
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from socs_like.db import Database
from socs_like.settings import from_namespace
from socs_like.testing import descendants, md5_hex
from socs_like.testing.slurm import slurm  # noqa: F401  (the session-scoped fixture)
from socs_like_agents.run_pipeline import cli, options, states
from socs_like_agents.run_pipeline.schema import open_db
from socs_like_agents.run_pipeline.settings import Settings
from socs_like_agents.run_pipeline.store import NewRun, RunStore

CLI = [sys.executable, "-m", "socs_like_agents.run_pipeline.cli"]
KILLER = """
import importlib, os, signal, sys
from socs_like_agents.run_pipeline import cli
module, cls, method = sys.argv[1].split(".")
owner = getattr(importlib.import_module("socs_like_agents.run_pipeline." + module), cls)
setattr(owner, method, lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL))
sys.exit(cli.main(sys.argv[2:]))
"""
# Passes that kill themselves with SIGKILL just before their Nth step: a command they run or a
# database write they make. Each is forked from a server that imported the pipeline once (the
# imports took 0.45 s of each short pass, and the crash-point tests kill some 35 of them). A
# request is one line, {"at": N, "argv": [...], "out": path, "err": path}; the answer, the
# pass's exit code. The child leaves the server's loop and ends as a plain `cli.main` would.
STEP_KILLER = """
import json, os, shlex, signal, sys
from socs_like.db import Database
from socs_like_agents.run_pipeline import cli, hosts
request = None
while line := sys.stdin.readline():
    pid = os.fork()
    if pid == 0:
        request = json.loads(line)
        break
    print(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]), flush=True)
if request is None:
    sys.exit(0)
os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
for fd, path in ((1, request["out"]), (2, request["err"])):
    os.dup2(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), fd)
at, steps = request["at"], 0
def counted(owner, method):
    real = getattr(owner, method)
    def step(*args, **kwargs):
        global steps
        steps += 1
        if steps == at:
            what = shlex.join(args[1]) if method == "run" else "a database write"
            print(f"killed before step {at}: {what}", file=sys.stderr, flush=True)
            os.kill(os.getpid(), signal.SIGKILL)
        return real(*args, **kwargs)
    setattr(owner, method, step)
counted(Database, "write")
counted(hosts.Host, "run")
sys.exit(cli.main(request["argv"]))
"""


def pipeline_settings(argv: list[str]) -> Settings:
    """The pipeline's settings as ``socs-like runs ARGV`` reads them."""
    args = cli._parser().parse_args(argv)
    return options.pipeline_settings(from_namespace(options.PipelineOptions, args))


class StepKiller:
    """The `STEP_KILLER` server, started with environment `env`; `run` is one pass."""

    def __init__(self, env: dict[str, str] | None = None) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", STEP_KILLER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
            start_new_session=True,  # its passes and what they run, all stopped by `close`
        )

    def __enter__(self) -> StepKiller:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def run(
        self, site: Site, at: int, *extra: str, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """``socs-like runs`` on `site` killed with SIGKILL just before its `at`-th command or
        database write (counted together, from 1); it ends on its own when it has fewer."""
        out, err = site.root / "killed.out", site.root / "killed.err"
        argv = site.args(*extra)
        request = {"at": at, "argv": argv, "out": str(out), "err": str(err)}
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        if not select.select([self.process.stdout], [], [], timeout)[0]:
            raise subprocess.TimeoutExpired(argv, timeout)
        code = int(self.process.stdout.readline())
        return subprocess.CompletedProcess(argv, code, out.read_text(), err.read_text())

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


@dataclass
class Site:
    """A DAQ folder, a cluster work folder and a runs database under one tmp_path."""

    root: Path
    daq: Path = field(init=False)
    work: Path = field(init=False)
    db_path: Path = field(init=False)
    store: RunStore = field(init=False)

    def __post_init__(self) -> None:
        self.daq = self.root / "daq"
        self.work = self.root / "work"
        self.db_path = self.root / "runs.db"
        self.daq.mkdir()
        self.store = RunStore(open_db(str(self.db_path)), actor="test")

    def acquire(
        self,
        name: str,
        *,
        files: int = 3,
        size: int = 20_000,
        events: int = 1000,
        source: str = "physics",
        tags: frozenset[str] = frozenset(),
    ) -> dict[str, str]:
        """Write a run folder and insert its row; returns relative path -> md5."""
        folder = self.daq / name
        digests = write_run(folder, files, size)
        self.store.add(
            [NewRun(name=name, raw_location=str(folder), events=events, source=source, tags=tags)]
        )
        return digests

    def ondeck(
        self, name: str, *, processed: str = states.PROCESSED, files: int = 2, size: int = 20_000
    ) -> dict[str, str]:
        """A run already transferred: its folder in the raw area, its row ``ondeck`` and
        ``processed`` (by default what the archive pass takes). Returns relative path -> md5."""
        folder = self.work / "raw" / name
        digests = write_run(folder, files, size)
        self.store.add(
            [
                NewRun(
                    name=name,
                    raw_location=f"localhost:{folder}",
                    raw_size=files * size,
                    raw_status=states.ONDECK,
                    processed_status=processed,
                )
            ]
        )
        return digests

    def args(self, *extra: str) -> list[str]:
        return [
            "--db-path",
            str(self.db_path),
            "--daq-root",
            str(self.daq),
            "--work-dir",
            str(self.work),
            *extra,
        ]

    def cli(
        self, *extra: str, env: dict[str, str] | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*CLI, *self.args(*extra)],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
        )

    def cli_killed_at(
        self, target: str, *extra: str, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """``socs-like runs`` that kills itself with SIGKILL when it calls ``target``
        (``module.Class.method`` inside the run_pipeline package): a crash at a chosen point."""
        return subprocess.run(
            [sys.executable, "-c", KILLER, target, *self.args(*extra)],
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
        )

    def status(self, name: str) -> tuple[str, str]:
        return self.store.get(name).status

    def dump(self) -> list[tuple[object, ...]]:
        """Every row of both tables, to compare before and after."""
        con = sqlite3.connect(self.db_path)
        try:
            return [
                *con.execute("SELECT * FROM pipeline_runs ORDER BY name"),
                *con.execute("SELECT * FROM pipeline_run_events ORDER BY id"),
            ]
        finally:
            con.close()


def write_run(folder: Path, files: int, size: int) -> dict[str, str]:
    folder.mkdir(parents=True)
    digests = {}
    for i in range(files):
        data = os.urandom(size)
        (folder / f"f{i}.dat").write_bytes(data)
        digests[f"f{i}.dat"] = md5_hex(data)
    return digests


def kill_tree(proc: subprocess.Popen[str]) -> None:
    """SIGKILL ``proc`` and every process below it, all frozen first so that none of them
    gets to clean up after another's death; then reap ``proc``."""
    victims = [proc.pid, *descendants(proc.pid)]
    for sig in (signal.SIGSTOP, signal.SIGKILL):
        for pid in victims:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
    proc.communicate()


def rsyncs_into(folder: Path) -> set[int]:
    """Process groups of the rsyncs whose command line names ``folder``: one per copy.

    Each process found is looked at again once the scan is over and counts only if it is
    unchanged: every copy counted then ran at the same time as the others. (A scan is not
    atomic: a copy ending while the next one, waiting for its lock, becomes rsync would
    otherwise count twice.)"""

    def look(pid: str) -> tuple[list[bytes], int] | None:
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return None
        return argv, int(stat.rsplit(")", 1)[1].split()[2])

    found = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        seen = look(pid)
        if seen is None or os.path.basename(seen[0][0]) != b"rsync":
            continue
        if any(str(folder).encode() in a for a in seen[0]):
            found[pid] = seen
    return {seen[1] for pid, seen in found.items() if look(pid) == seen}


@contextlib.contextmanager
def copies_into(folder: Path) -> Iterator[Counter[int]]:
    """Counts, while the block runs, how many copies write into ``folder`` at once, at each
    look (:func:`rsyncs_into`): ``{copies: looks}``."""
    seen: Counter[int] = Counter()
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            seen[len(rsyncs_into(folder))] += 1

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        yield seen
    finally:
        done.set()
        watcher.join()


def unbundle(archive: Path) -> dict[str, dict[str, str]]:
    """run -> {file: md5} from every bundle in the archive folder; a run found twice fails."""
    out: dict[str, dict[str, str]] = {}
    for bundle in sorted(archive.glob("bundle-*.tar")):
        with tarfile.open(bundle) as outer:
            for member in outer.getmembers():
                packed = outer.extractfile(member)
                assert packed is not None
                raw = subprocess.run(
                    ["zstd", "-dc"], input=packed.read(), capture_output=True, check=True
                ).stdout
                run = member.name.removesuffix(".tar.zst")
                assert run not in out, f"{run} archived twice (again in {bundle.name})"
                out[run] = {}
                with tarfile.open(fileobj=io.BytesIO(raw)) as inner:
                    for f in inner.getmembers():
                        if f.isfile():
                            data = inner.extractfile(f)
                            assert data is not None
                            out[run][f.name.split("/", 1)[1]] = md5_hex(data.read())
    return out


def assert_archived_once(site: Site, want: dict[str, dict[str, str]]) -> None:
    """Every run of ``want`` archived, recorded once, in one complete bundle of the archive
    target byte-equal to its sources; the target holds those bundles and nothing else; the
    pipeline's own folders hold nothing more (no packed run, bundle or partial file)."""
    archive = site.work / "archive"
    runs = {name: site.store.get(name) for name in want}
    for name, run in runs.items():
        assert run.status == (states.ARCHIVED, states.PROCESSED), name
        assert run.raw_location == f"{archive}/{run.bundle}#{name}.tar.zst"
        assert site.store.count_events("archived", name) == 1, name
    assert sorted(os.listdir(archive)) == sorted({str(r.bundle) for r in runs.values()})
    assert unbundle(archive) == want
    assert tree(site.work / "compressed") == {}
    assert tree(site.work / "raw") == {}


def tree(root: Path) -> dict[str, str]:
    """Every file below ``root``: relative path -> md5."""
    return {
        str(p.relative_to(root)): md5_hex(p.read_bytes())
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def site(tmp_path: Path) -> Site:
    return Site(tmp_path)


@pytest.fixture
def make_db(tmp_path: Path) -> Callable[[str], Database]:
    def make(name: str = "runs.db") -> Database:
        return open_db(str(tmp_path / name))

    return make
