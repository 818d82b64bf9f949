"""Benchmark: pysmurf monitor ingest and checksum throughput (issue 3 targets).

Runs a real hub and a real PysmurfMonitor process on loopback, sends publisher datagrams
from this process, and reads the results from the monitor's SQLite database and session data:

- ingest: announcements of real files sent at --ingest-rate; rows/s into the database
  (target >= 5000/s sustained), datagrams lost;
- steady: announcements at 2000/s for --steady-seconds (target: 0 lost);
- the event loop's worst lag in its session data (the agent's loop health; target < 50 ms);
- burst: the largest burst of announcements sent back to back (no pacing) that is registered
  whole from its datagrams (loss-recovery rescans held off), with the default receive buffer
  and with the one a stock host grants (``--udp-rcvbuf 212992``, what ``net.core.rmem_max``
  caps an unprivileged agent to);
- checksum throughput of the monitor's hashing code vs ``md5sum`` on the same warm files
  (target >= 80 %).

With ``--socs-python`` (a venv where ``pip install socs`` was run; /tmp/socs-venv is picked up
when present) the real socs PysmurfMonitor gets the same workload on the same hub, and its
figures are printed beside ours.

    .venv/bin/python bench/bench_pysmurf_ingest.py [--quick]
"""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SOCS_PYTHON = "/tmp/socs-venv/bin/python"
sys.path.insert(0, str(ROOT))

from harness import bench_parser, work_folder  # noqa: E402

from socs_like.checksum import DEFAULT_READ_SIZE  # noqa: E402
from socs_like.client import Client  # noqa: E402
from socs_like.testing import free_port  # noqa: E402
from socs_like.testing.hub import agent_command, start_hub  # noqa: E402
from socs_like_agents.filedb.queries import Registered  # noqa: E402
from socs_like_agents.pysmurf_monitor.hashing import checksum_rows  # noqa: E402
from socs_like_agents.pysmurf_monitor.simulator import Publisher  # noqa: E402


def make_files(folder: Path, n: int) -> list[str]:
    folder.mkdir(parents=True)
    paths = []
    for i in range(n):
        p = folder / f"1732022318_{i:07d}.g3"
        p.write_bytes(os.urandom(256))
        paths.append(str(p))
    return paths


def send_paced(pub: Publisher, paths: list[str], rate: float) -> float:
    """Announce ``paths`` at ``rate`` per second; returns the start time."""
    start = time.monotonic()
    for i, path in enumerate(paths):
        delay = start + i / rate - time.monotonic()
        if delay > 0.0005:
            time.sleep(delay)
        pub.send("g3_file", {"path": path, "archive_name": "timestreams"})
    return start


class Monitor:
    """A monitor process under test: ours, or the real socs one (``socs_python``)."""

    def __init__(
        self, work: Path, hub_info, name: str, socs_python: str | None, extra: tuple = ()
    ) -> None:
        self.name = name
        self.port = free_port("udp")
        self.db_path = work / f"{name}.db"
        self.data = work / f"{name}-data"
        self.log = open(work / f"{name}.log", "wb")  # noqa: SIM115 - closed in stop()
        self.client: Client | None = None
        if socs_python is None:
            argv = agent_command(
                "PysmurfMonitor",
                name,
                hub_info.site_file,
                [
                    "--udp-port",
                    str(self.port),
                    "--udp-host",
                    "127.0.0.1",
                    "--db-path",
                    str(self.db_path),
                    "--local-root",
                    str(self.data),
                    "--stats-interval",
                    "5",
                    *extra,
                ],
            )
        else:
            site = yaml.safe_load(hub_info.site_file.read_text())
            site["hosts"]["localhost"]["agent-instances"] = [
                {"agent-class": "PysmurfMonitor", "instance-id": name, "arguments": []}
            ]
            ocs_site = work / "ocs-site.yaml"
            ocs_site.write_text(yaml.safe_dump(site))
            argv = [
                socs_python,
                "-m",
                "socs.agents.pysmurf_monitor.agent",
                "--site-file",
                str(ocs_site),
                "--site-host",
                "localhost",
                "--instance-id",
                name,
                "--udp-port",
                str(self.port),
                "--db-path",
                str(self.db_path),
            ]
        self.socs = socs_python is not None
        self.table = "supersync_v0" if self.socs else "registered_files"
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT, cwd=ROOT)
        if not self.socs:
            self.client = wait_for_client(name, hub_info.site_file)
        deadline = time.monotonic() + 60
        while self.rows() is None:
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError(f"{name} did not start; see {work / (name + '.log')}")
            time.sleep(0.1)

    def rows(self) -> int | None:
        try:
            with sqlite3.connect(self.db_path, timeout=30) as conn:
                return conn.execute(f"SELECT count(*) FROM {self.table}").fetchone()[0]
        except sqlite3.OperationalError:
            return None

    def wait_rows(self, target: int, idle_timeout: float = 5.0) -> tuple[int, float]:
        """Poll until ``target`` rows exist or the count stops moving; (count, time reached)."""
        last, last_change = -1, time.monotonic()
        while True:
            n = self.rows() or 0
            now = time.monotonic()
            if n != last:
                last, last_change = n, now
            if n >= target or now - last_change > idle_timeout:
                return n, last_change
            time.sleep(0.01)

    def session_data(self) -> dict:
        if self.client is None:
            return {}
        return self.client.run.status().session.get("data", {})

    def loop(self) -> dict:
        return self.session_data().get("loop", {})

    def stop(self) -> None:
        if self.client is not None:
            self.client.close()
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def bench_monitor(mon: Monitor, quick: bool, ingest_rate: float, steady_seconds: float) -> dict:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 * 1024 * 1024)
    target = ("127.0.0.1", mon.port)
    out: dict = {}
    n = 5_000 if quick else 30_000
    paths = make_files(mon.data / "timestreams" / "17320" / "ingest", n)
    before = mon.rows()
    start = send_paced(Publisher("STREAMER:ingest", sock, target), paths, ingest_rate)
    out["sent_rate"] = n / (time.monotonic() - start)
    got, reached = mon.wait_rows(before + n, idle_timeout=10)
    out["ingest_rate"] = (got - before) / (reached - start)
    out["ingest_lost"] = n - (got - before)
    out["ingest_n"] = n

    steady_n = int(2000 * steady_seconds)
    paths = make_files(mon.data / "timestreams" / "17320" / "steady", steady_n)
    before = mon.rows()
    send_paced(Publisher("STREAMER:steady", sock, target), paths, 2000.0)
    got, _ = mon.wait_rows(before + steady_n, idle_timeout=10)
    out["steady_lost"] = steady_n - (got - before)
    out["loop"] = mon.loop()
    sock.close()
    return out


def bench_ingest(
    work: Path, quick: bool, ingest_rate: float, steady_seconds: float, socs_python: str | None
) -> list:
    hub_info = start_hub(work / "hub")
    figures = {}
    try:
        for name, python in (("ours", None), ("socs", socs_python)):
            if name == "socs" and python is None:
                continue
            mon = Monitor(work, hub_info, f"{name}-monitor", python)
            try:
                figures[name] = bench_monitor(mon, quick, ingest_rate, steady_seconds)
            finally:
                mon.stop()
    finally:
        hub_info.hub.stop()
    ours, socs = figures["ours"], figures.get("socs")

    def both(key: str, fmt: str) -> tuple[str, str]:
        return fmt.format(ours[key]), (fmt.format(socs[key]) if socs else "not run")

    loop = ours["loop"]
    return [
        ("ingest: rows/s into the database", *both("ingest_rate", "{:,.0f}"), ">= 5,000"),
        (
            f"ingest: lost of {ours['ingest_n']:,} sent at {ours['sent_rate']:,.0f}/s",
            *both("ingest_lost", "{:,}"),
            "0",
        ),
        (f"steady: lost at 2,000/s for {steady_seconds:.0f} s", *both("steady_lost", "{:,}"), "0"),
        ("event loop: worst wake-up delay (ms)", f"{loop.get('max_lag_ms')}", "n/a", "< 50"),
        (
            f"event loop: stalls over {loop.get('threshold_ms')} ms",
            f"{loop.get('stalls')}",
            "n/a",
            "0",
        ),
    ]


def bench_burst(work: Path, hub_info, quick: bool, rcvbuf: int | None) -> tuple[int, int, int]:
    """(largest burst registered whole, smallest that lost some (0: none), buffer granted)."""
    extra = ("--loss-rescan-delay", "3600") + (("--udp-rcvbuf", str(rcvbuf)) if rcvbuf else ())
    mon = Monitor(work, hub_info, f"burst-{rcvbuf or 'default'}", None, extra)
    sizes = [100, 200, 300, 500, 1000, 2000, 4000, 8000, 16000]
    sizes += [] if quick else [32000, 64000]
    best, failed = 0, 0
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 * 1024 * 1024)
    try:
        for n in sizes:
            paths = make_files(mon.data / "timestreams" / "17320" / f"b{n}", n)
            before = mon.rows()
            pub = Publisher(f"STREAMER:b{n}", sock, ("127.0.0.1", mon.port))
            for path in paths:
                pub.send("g3_file", {"path": path, "archive_name": "timestreams"})
            got, _ = mon.wait_rows(before + n, idle_timeout=3)
            if got - before < n:
                failed = n
                break
            best = n
        granted = mon.session_data().get("udp", {}).get("receive_buffer") or 0
    finally:
        sock.close()
        mon.stop()
    return best, failed, granted


def bench_bursts(work: Path, quick: bool) -> list:
    hub_info = start_hub(work / "burst-hub")
    rows_ = []
    try:
        for label, rcvbuf in (("default 8 MiB asked", None), ("stock host, 212992", 212992)):
            best, failed, granted = bench_burst(work, hub_info, quick, rcvbuf)
            lost_at = f"; lost some at {failed:,}" if failed else ""
            rows_.append(
                (
                    f"burst: largest back to back, none lost ({label}; granted {granted:,} B"
                    f"{lost_at})",
                    f"{best:,}",
                    "",
                    ">= 2,000",
                )
            )
    finally:
        hub_info.hub.stop()
    return rows_


def wait_for_client(instance_id: str, site_file: Path, timeout: float = 30.0) -> Client:
    deadline = time.monotonic() + timeout
    while True:
        try:
            client = Client(instance_id, site_config=str(site_file)).connect()
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
            continue
        return client


def bench_checksum(work: Path, quick: bool, socs_python: str | None) -> list:
    size = (16 if quick else 64) * 1024 * 1024
    files = []
    for i in range(4):
        p = work / f"blob{i}.bin"
        with open(p, "wb") as f:
            for _ in range(size // (1024 * 1024)):
                f.write(os.urandom(1024 * 1024))
        files.append(str(p))
    total_mb = 4 * size / 1e6
    subprocess.run(["md5sum", *files], check=True, capture_output=True)  # warm the page cache

    def best_of(fn, runs: int = 3) -> float:
        times = []
        for _ in range(runs):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
        return min(times)

    md5sum = best_of(lambda: subprocess.run(["md5sum", *files], check=True, capture_output=True))
    rows_ = [Registered(id=i, local_path=p) for i, p in enumerate(files)]
    one = best_of(lambda: checksum_rows(rows_, DEFAULT_READ_SIZE))

    def pooled() -> None:
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(lambda r: checksum_rows([r], DEFAULT_READ_SIZE), rows_))

    two = best_of(pooled)
    socs = "not run"
    if socs_python is not None:
        # socs.util.get_md5sum, timed in its own interpreter on the same warm files
        script = (
            "import sys, time; from socs.util import get_md5sum; t = time.perf_counter(); "
            "[get_md5sum(f) for f in sys.argv[1:]]; print(time.perf_counter() - t)"
        )
        socs_s = min(
            float(
                subprocess.run(
                    [socs_python, "-c", script, *files], check=True, capture_output=True, text=True
                ).stdout
            )
            for _ in range(3)
        )
        socs = f"{total_mb / socs_s:,.0f}"
    return [
        ("checksum: md5sum MB/s (one process)", f"{total_mb / md5sum:,.0f}", "", ""),
        (
            "checksum: MB/s, 1 thread",
            f"{total_mb / one:,.0f}",
            socs,
            f">= 80 % of md5sum (ours {md5sum / one:.0%})",
        ),
        (
            "checksum: MB/s, 2 threads (agent default)",
            f"{total_mb / two:,.0f}",
            "",
            f"ours {md5sum / two:.0%} of md5sum",
        ),
    ]


def main() -> int:
    parser = bench_parser(__doc__, "a short run (about a minute)")
    parser.add_argument(
        "--burst-only", action="store_true", help="only the back-to-back burst figures"
    )
    parser.add_argument(
        "--ingest-rate",
        type=float,
        default=8000.0,
        help="announcements per second in the ingest phase (default 8000)",
    )
    parser.add_argument(
        "--socs-python",
        default=None,
        help="python of a venv with `pip install socs`, to run the real socs "
        "PysmurfMonitor on the same workload (default: /tmp/socs-venv if "
        "it has socs)",
    )
    args = parser.parse_args()
    socs_python = args.socs_python
    if socs_python is None and Path(DEFAULT_SOCS_PYTHON).exists():
        probe = subprocess.run([DEFAULT_SOCS_PYTHON, "-c", "import socs"], capture_output=True)
        socs_python = DEFAULT_SOCS_PYTHON if probe.returncode == 0 else None
    steady = 10.0 if args.quick else 60.0
    with work_folder("bench-pysmurf-", keep=False) as work:
        results = bench_bursts(work, args.quick)
        if not args.burst_only:
            results += bench_ingest(work, args.quick, args.ingest_rate, steady, socs_python)
            results += bench_checksum(work, args.quick, socs_python)
    width = max(len(r[0]) for r in results)
    print(f"{'measure':<{width}}  {'ours':>10}  {'socs':>10}  target")
    for name, ours, socs, target in results:
        print(f"{name:<{width}}  {ours:>10}  {socs:>10}  {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
