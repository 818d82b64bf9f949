"""What the benchmarks share: a run's work folder and options, a hub with our agents and OCS's
on it, process figures from /proc, and the closing table ``metric | target | socs_like | ocs
| verdict``, so that each ``bench_*.py`` says only what it measures.

A run::

    parser = bench_parser(__doc__, json=True, keep=True)  # --quick, --json, --keep
    args = parser.parse_args()
    workdir = start_run("socs-bench-x-", args.quick)
    res = Results()
    with Site(workdir, ocs_ids=["ocs-a"]) as site:  # a hub; its agents stopped whatever happens
        ours = site.ours("a")
        wait_callable(site, ours, "a")
        ...
        res.add("metric", "target", ours_figure, ocs_figure, ok)
    finish_run(res, workdir, args)          # the table, --json, the folder gone unless --keep
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import yaml

from socs_like.client import AsyncClient, ClientError, run_sync
from socs_like.hub import HUB_STATS_ENV
from socs_like.testing.hub import HubInfo, agent_command, free_port, start_hub
from socs_like.testing.influxdb import InfluxServer
from socs_like.testing.procs import children_by_parent, descendants

HERE = Path(__file__).resolve().parent
PY = sys.executable
ROOT = "observatory"
REALM = "test_realm"
T = TypeVar("T")

# --- figures and the closing table --------------------------------------------------------------


def pct(values: Sequence[float], q: float) -> float:
    """The `q` quantile (0..1) of `values`, linearly interpolated; nan when there are none."""
    if not values:
        return math.nan
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = math.floor(k), math.ceil(k)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def ms(seconds: float | None) -> str:
    return "n/a" if seconds is None or math.isnan(seconds) else f"{seconds * 1e3:.2f} ms"


def secs(seconds: float | None) -> str:
    return "n/a" if seconds is None or math.isnan(seconds) else f"{seconds:.2f} s"


def say(text: str) -> None:
    print(text, flush=True)


def run_async(coro: Any, timeout: float | None = None) -> Any:
    """Run a coroutine on the client loop (the thread that every `Client` shares)."""
    return run_sync(coro, timeout)


@dataclass
class Row:
    metric: str
    target: str
    ours: str
    ocs: str
    verdict: str


@dataclass
class Results:
    """The table's rows, and the raw figures that --json writes."""

    rows: list[Row] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)

    def add(self, metric: str, target: str, ours: str, ocs: str, ok: bool | None) -> None:
        verdict = "-" if ok is None else ("PASS" if ok else "MISS")
        self.rows.append(Row(metric, target, ours, ocs, verdict))


def print_table(rows: list[Row]) -> None:
    headers = ("metric", "target", "socs_like", "ocs", "verdict")
    table = [headers] + [(r.metric, r.target, r.ours, r.ocs, r.verdict) for r in rows]
    widths = [max(len(str(row[i])) for row in table) for i in range(5)]
    line = " | ".join(f"{{:{w}}}" for w in widths)
    say("")
    say(line.format(*headers))
    say("-+-".join("-" * w for w in widths))
    for row in table[1:]:
        say(line.format(*row))


# --- a run: options, work folder, the end -------------------------------------------------------


def bench_parser(
    doc: str | None,
    quick_help: str = "short runs, for development",
    *,
    json: bool = False,
    keep: bool = False,
) -> argparse.ArgumentParser:
    """A benchmark's options: its docstring's first paragraph as the description, --quick,
    and with `json`/`keep` --json (the raw figures, see `finish_run`) and --keep (the work
    folder, see `work_folder`)."""
    parser = argparse.ArgumentParser(description=(doc or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help=quick_help)
    if json:
        parser.add_argument("--json", help="also write the raw figures to this file")
    if keep:
        parser.add_argument("--keep", action="store_true", help="keep the work folder (logs)")
    return parser


@contextlib.contextmanager
def work_folder(prefix: str, keep: bool) -> Iterator[Path]:
    """A new work folder, removed at the end whatever happened, or kept (and named) with
    --keep."""
    work = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield work
    finally:
        if keep:
            print(f"work folder kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def start_run(prefix: str, quick: bool) -> Path:
    """A new work folder for one run, named on the console (its logs are kept with --keep)."""
    workdir = Path(tempfile.mkdtemp(prefix=prefix))
    say(f"work folder: {workdir}  ({'quick' if quick else 'full'} run)")
    return workdir


def finish_run(res: Results, workdir: Path, args: argparse.Namespace) -> None:
    """The end of a run that got this far: the table, the raw figures to --json, and the
    work folder removed unless --keep."""
    print_table(res.rows)
    if args.json:
        Path(args.json).write_text(json.dumps(res.raw, indent=2, default=str))
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)


# --- processes ----------------------------------------------------------------------------------


class Proc:
    """An agent process with its output in a log file; `t_spawn` is when it was started."""

    def __init__(
        self, name: str, argv: list[str], logdir: Path, env: Mapping[str, str] | None = None
    ) -> None:
        self.name = name
        self.log_path = logdir / f"{name}.log"
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.t_spawn = time.perf_counter()
        self.cpu_at_callable = math.nan
        self.p = subprocess.Popen(
            argv,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=os.environ | {"PYTHONUNBUFFERED": "1"} | dict(env or {}),
        )

    def alive(self) -> bool:
        return self.p.poll() is None

    def stop(self, timeout: float = 20.0) -> float | None:
        """SIGTERM and wait; seconds from the signal until the process was gone."""
        elapsed = None
        if self.p.poll() is None:
            t0 = time.perf_counter()
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(timeout)
                elapsed = time.perf_counter() - t0
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self._log.close()
        return elapsed

    def kill(self) -> None:
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()
        if not self._log.closed:
            self._log.close()

    def tail(self, n: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""


class ExitWatch:
    """Seconds from now until each process exits, watched by one thread for at most `limit`
    seconds, so an exit is timed while the benchmark does something else meanwhile."""

    def __init__(self, procs: Mapping[str, Proc], limit: float = 60.0) -> None:
        self.t0 = time.perf_counter()
        self.exits: dict[str, float] = {}
        self._thread = threading.Thread(target=self._watch, args=(dict(procs), limit), daemon=True)
        self._thread.start()

    def _watch(self, left: dict[str, Proc], limit: float) -> None:
        while left:
            for name, proc in list(left.items()):
                if not proc.alive():
                    self.exits[name] = time.perf_counter() - self.t0
                    del left[name]
            if time.perf_counter() - self.t0 >= limit:
                return
            time.sleep(0.05)

    def wait(self, name: str, limit: float) -> None:
        """Return once `name` has exited, or `limit` seconds after the watch began."""
        while name not in self.exits and time.perf_counter() - self.t0 < limit:
            time.sleep(0.1)

    def join(self, timeout: float = 1.0) -> None:
        self._thread.join(timeout)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a live process has used so far (Linux); nan when gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return math.nan


def cpu_total(pids: list[int]) -> float:
    """CPU seconds of the processes still alive among `pids`."""
    return sum(c for c in (cpu_seconds(p) for p in pids) if not math.isnan(c))


def pss_kib(pid: int) -> int:
    """Proportional set size of a live process (KiB): its private pages plus its share of
    the pages it shares (with the launcher and its siblings); 0 when gone."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def children(pid: int) -> list[int]:
    """The direct children of `pid`."""
    return children_by_parent().get(pid, [])


def hub_messages(stats_file: Path) -> dict[str, Any]:
    """What the hub has routed so far: ``{"time": t, "received": {type: n}, "sent": {...}}``
    (`socs_like.hub_auth.write_stats`, each second, when ``$SOCS_LIKE_HUB_STATS`` names the
    file as the hub starts)."""
    return dict(json.loads(stats_file.read_text()))


def messages_per_s(before: dict[str, Any], after: dict[str, Any]) -> dict[str, dict[str, float]]:
    """The hub's messages per second between two `hub_messages`, by direction and type."""
    span = after["time"] - before["time"]
    return {
        way: {
            kind: (count - before[way].get(kind, 0)) / span
            for kind, count in sorted(after[way].items())
            if count != before[way].get(kind, 0)
        }
        for way in ("received", "sent")
    }


def tree(pid: int) -> list[int]:
    """`pid` and all its descendants."""
    return [pid, *descendants(pid)]


# --- a hub, our agents and OCS's ----------------------------------------------------------------


@contextlib.contextmanager
def running_hub(folder: Path) -> Iterator[HubInfo]:
    """Our hub and its site file in `folder`, stopped at the end whatever happened."""
    info = start_hub(folder)
    try:
        yield info
    finally:
        info.hub.stop()


@contextlib.contextmanager
def influx_server(work: Path) -> Iterator[InfluxServer]:
    """A real InfluxDB in ``work/influx`` on free ports, stopped at the end whatever happened."""
    influx = InfluxServer(root=work / "influx", http_port=free_port(), rpc_port=free_port())
    influx.root.mkdir()
    influx.start()
    try:
        yield influx
    finally:
        influx.stop()


@contextlib.contextmanager
def influx_site(prefix: str, keep: bool) -> Iterator[tuple[Path, HubInfo, InfluxServer]]:
    """A work folder (`work_folder`) with our hub and a real InfluxDB in it, all three gone
    at the end whatever happened."""
    with (
        work_folder(prefix, keep) as work,
        running_hub(work / "hub") as hub,
        influx_server(work) as influx,
    ):
        yield work, hub, influx


def hub_client(url: str, http_url: str, instance_id: str, timeout: float = 5.0) -> AsyncClient:
    """A client of `instance_id` on the hub at `url` (the benchmarks' realm and root)."""
    return AsyncClient(
        instance_id,
        hub_url=url,
        http_url=http_url,
        realm=REALM,
        address_root=ROOT,
        timeout=timeout,
    )


def write_site_file(
    path: Path,
    url: str,
    http_url: str,
    hosts: Mapping[str, list[dict[str, Any]]],
    hub_extra: Mapping[str, Any] | None = None,
) -> Path:
    """A site file in OCS's format, which both kinds of agent read: `hosts` maps a host name
    to its agent instances (OCS agents must be listed in one); `hub_extra`, more of ours."""
    hub = {"wamp_server": url, "wamp_http": http_url, "wamp_realm": REALM, "address_root": ROOT}
    hub |= hub_extra or {}
    body = {"hub": hub, "hosts": {name: {"agent-instances": a} for name, a in hosts.items()}}
    path.write_text(yaml.safe_dump(body))
    return path


class Site:
    """A hub (`socs_like.hub.Hub`, our generated config) and site files for both kinds of
    agent; the agents started through it are killed and the hub stopped by `close` (or at
    the end of a ``with`` block), whatever happened."""

    def __init__(
        self, workdir: Path, ocs_ids: list[str], name: str = "hub", port: int | None = None
    ) -> None:
        self.workdir = workdir
        self.folder = workdir / name
        self.ocs_ids = ocs_ids
        self.port = port or free_port()
        self.legacy_port: int | None = None
        self.info: HubInfo | None = None
        self.procs: list[Proc] = []
        self.site_file = self.folder / "site-config.yaml"
        self.ocs_site_file = self.folder / "ocs-site-config.yaml"
        self.legacy_site_file = self.folder / "site-config-legacy.yaml"
        self.stats_file = self.folder / "hub-stats.json"
        self.start()

    def start(self) -> None:
        """Start the hub (again, after `kill_hub`, on the same ports)."""
        # OCS agents and clients cannot log in: they use the hub's legacy endpoint, where
        # only the OCS instance ids listed may register (see docs/security.md).
        if self.legacy_port is None:
            self.legacy_port = free_port()
        legacy = {"port": self.legacy_port, "agents": self.ocs_ids}
        os.environ[HUB_STATS_ENV] = str(self.stats_file)  # see `hub_messages`
        self.info = start_hub(self.folder, port=self.port, legacy=legacy)
        ocs = [
            {"agent-class": "FakeDataAgent", "instance-id": i, "arguments": []}
            for i in self.ocs_ids
        ]
        write_site_file(self.site_file, self.url, self.http_url, {"localhost": ocs})
        # The same site as its hub sees it: with the legacy endpoint, where OCS's clients
        # may subscribe, so our recorded feeds publish OCS's lists beside the packed blocks.
        write_site_file(
            self.legacy_site_file,
            self.url,
            self.http_url,
            {"localhost": ocs},
            {"legacy": legacy},
        )
        write_site_file(self.ocs_site_file, self.ocs_url, self.ocs_http_url, {"localhost": ocs})

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/call"

    @property
    def ocs_url(self) -> str:
        return f"ws://127.0.0.1:{self.legacy_port}/ws"

    @property
    def ocs_http_url(self) -> str:
        return f"http://127.0.0.1:{self.legacy_port}/call"

    def ours(self, instance_id: str, *args: str, legacy: bool = False) -> Proc:
        """Our FakeData agent; `legacy`: reading the site file that has the legacy endpoint."""
        site_file = self.legacy_site_file if legacy else self.site_file
        return self._start(
            instance_id, agent_command("FakeData", instance_id, site_file, list(args))
        )

    def ocs(self, instance_id: str, *args: str) -> Proc:
        """OCS's FakeDataAgent (its id must be one of `ocs_ids`)."""
        assert instance_id in self.ocs_ids, instance_id
        argv = [PY, "-m", "ocs.agents.fake_data.agent", "--instance-id", instance_id]
        return self._start(instance_id, [*argv, "--site-file", str(self.ocs_site_file), *args])

    def _start(self, instance_id: str, argv: list[str]) -> Proc:
        proc = Proc(instance_id, argv, self.workdir)
        self.procs.append(proc)
        return proc

    def client(self, instance_id: str, timeout: float = 5.0) -> AsyncClient:
        return hub_client(self.url, self.http_url, instance_id, timeout)

    def kill_hub(self) -> None:
        assert self.info is not None
        self.info.hub.kill()

    def close(self) -> None:
        for proc in self.procs:
            proc.kill()
        if self.info is not None:
            self.info.hub.stop()

    def __enter__(self) -> Site:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


async def poll_api(
    client: AsyncClient,
    timeout: float,
    interval: float = 0.005,
    alive: Callable[[], bool] = lambda: True,
) -> float | None:
    """perf_counter time of the first get_api answer, or None."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline and alive():
        try:
            await client.call(client.address, "get_api", call_timeout=1.0)
            return time.perf_counter()
        except ClientError:
            await asyncio.sleep(interval)
    return None


def wait_callable(site: Site, proc: Proc, instance_id: str, timeout: float = 30.0) -> float:
    """Seconds from spawn until get_api answers; raises with the agent's output if it never does."""
    client = site.client(instance_id)

    async def go() -> float | None:
        with contextlib.suppress(ClientError):  # connect now, so that is not timed
            await client.call("wamp.session.count")
        t = await poll_api(client, timeout, alive=proc.alive)
        await client.close()
        return t

    t = run_async(go(), timeout + 10)
    if t is None:
        raise RuntimeError(f"{instance_id} never answered get_api:\n{proc.tail()}")
    proc.cpu_at_callable = cpu_seconds(proc.p.pid)
    return t - proc.t_spawn


def ocs_start_wait_times(
    site: Site, instance_id: str, n: int, params: dict[str, Any]
) -> list[float]:
    """Seconds each of n raw start+wait of OCS's delay_task took over WAMP, through OCS's
    control-script client in a child process (it owns a reactor); RuntimeError with the
    child's output when it reports no times."""
    address = f"{ROOT}.{instance_id}"
    argv = [PY, str(HERE / "_ocs_wamp_client.py"), site.ocs_url, REALM, address, "delay_task"]
    out = subprocess.run(
        [*argv, str(n), json.dumps(params)], capture_output=True, text=True, timeout=300
    )
    try:
        line = next(x for x in out.stdout.splitlines() if '{"times"' in x)
        times: list[float] = json.loads(line[line.index('{"times"') :])["times"]
    except (StopIteration, ValueError, KeyError):
        raise RuntimeError(
            f"OCS WAMP client failed:\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}"
        ) from None
    return times


def timed_calls(call: Callable[[], T], n: int, warmup: int = 0) -> tuple[list[float], T]:
    """Seconds each of `n` calls took, after `warmup` untimed ones; and the last reply."""
    for _ in range(warmup):
        call()
    times: list[float] = []
    reply: T
    for _ in range(n):
        t0 = time.perf_counter()
        reply = call()
        times.append(time.perf_counter() - t0)
    return times, reply
