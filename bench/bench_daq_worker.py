"""Benchmark the DAQ worker agent's SSH layer against the targets of issue 4.

    .venv/bin/python bench/bench_daq_worker.py [--quick]

- organize a run of 10 000 GRAW files over loopback SSH (target <= 10 s);
- a status sweep of 20 worker hosts, 20 real sshd instances, in parallel (target <= 1 s);
  shown cold (connecting) and warm (kept connections, as the monitor runs);
- the event loop never blocked > 50 ms meanwhile (a probe measures how late it wakes).

Runs a real sshd per host and the simulator's dataRouter/getEccSoapServer on this machine.
Remote commands run without the login user's ~/.bashrc (the sshd fixture's default), so the
figures are this code's, not the rc file's.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness import bench_parser

from socs_like.commands import SshPool, SshSettings
from socs_like.testing import free_port, wait_until
from socs_like.testing.sshd_server import SshServer
from socs_like_agents.daq_worker.interface import WorkerInterface, sweep_status


class LagProbe:
    """Wakes every 5 ms and records how late it woke.

    ``worst`` is wall-clock lateness, which on a busy machine includes time the OS gave to
    other processes; ``worst_cpu`` is the loop thread's CPU time between two wakes, an upper
    bound on how long our own code held the loop without yielding."""

    def __init__(self, period: float = 0.005) -> None:
        self.period = period
        self.worst = 0.0
        self.worst_cpu = 0.0
        self._task: asyncio.Task | None = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            before, cpu = loop.time(), time.thread_time()
            await asyncio.sleep(self.period)
            self.worst = max(self.worst, loop.time() - before - self.period)
            self.worst_cpu = max(self.worst_cpu, time.thread_time() - cpu)

    def __enter__(self) -> LagProbe:
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    def __exit__(self, *exc: object) -> None:
        if self._task:
            self._task.cancel()


async def sweep(workers: list[WorkerInterface], sweeps: int, concurrency: int) -> dict[str, float]:
    """Seconds of the first (connecting) sweep and the worst later one, and how long our code
    held the loop in each phase."""
    loop = asyncio.get_running_loop()
    with LagProbe() as probe:
        started = loop.time()
        first = await sweep_status(workers, concurrency=concurrency)
        cold = loop.time() - started
    cold_cpu = probe.worst_cpu
    bad = [s for s in first if s.state != "ok" or not s.data_router_up]
    if bad:
        raise RuntimeError(f"sweep failed: {bad[0]}")
    warm = []
    with LagProbe() as probe:
        for _ in range(sweeps):
            started = loop.time()
            statuses = await sweep_status(workers, concurrency=concurrency)
            warm.append(loop.time() - started)
            if any(s.state != "ok" for s in statuses):
                raise RuntimeError(f"sweep failed: {statuses}")
    return {
        "cold": cold,
        "warm": max(warm),
        "cold_cpu": cold_cpu,
        "warm_cpu": probe.worst_cpu,
        "warm_wall": probe.worst,
    }


async def bench(
    files: int, hosts: int, sweeps: int, concurrency: int, root: Path
) -> list[tuple[str, float, str]]:
    servers = [SshServer(root / f"sshd{i}", alias=f"worker{i:02d}") for i in range(hosts)]
    for server in servers:
        server.start()
    config = root / "ssh_config"
    config.write_text("".join(s.ssh_config_entry() for s in servers))
    stage = root / "stage"
    stage.mkdir()
    sim = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "socs_like",
            "simulate",
            "daq-worker",
            "--workdir",
            str(stage),
            "--files",
            "0",
        ],
        stdout=subprocess.DEVNULL,
    )
    rows = []
    try:
        await asyncio.to_thread(
            wait_until,
            lambda: (
                subprocess.run(["pgrep", "-x", "dataRouter"], capture_output=True).returncode == 0
            ),
            20,
        )
        pool = SshPool(SshSettings(config_path=str(config)))
        workers = [WorkerInterface(s.alias, pool=pool) for s in servers]
        plain = await sweep(workers, sweeps, concurrency)

        names = [f"CoBo_AsAd0_bench_{i:06d}.graw" for i in range(files)]
        for name in names:
            (stage / name).write_bytes(b"g")
        loop = asyncio.get_running_loop()
        with LagProbe() as organize_probe:
            started = loop.time()
            report = await workers[0].organize_files("bench", 1)
            organize = loop.time() - started
        moved = len(list((stage / "bench" / "run_0001").glob("*.graw")))
        if not (report.complete and len(report.done) == files == moved):
            raise RuntimeError(f"organize incomplete: {report.summary()}")
        timeouts = await timeout_and_backoff(pool, workers[0])
        await pool.close()
    finally:
        sim.terminate()
        sim.wait()
        for server in servers:
            server.stop()

    rows.append((f"organize {files} GRAW files", organize, "<= 10 s"))
    rows.append((f"status sweep, {hosts} hosts, warm (worst of {sweeps})", plain["warm"], "<= 1 s"))
    rows.append((f"status sweep, {hosts} hosts, cold (connecting)", plain["cold"], "(info)"))
    rows.append(("loop held by our code (CPU), warm sweeps", plain["warm_cpu"], "<= 0.05 s"))
    rows.append(("loop held by our code (CPU), organize", organize_probe.worst_cpu, "<= 0.05 s"))
    rows.append((f"loop held by our code (CPU), {hosts} connecting", plain["cold_cpu"], "(info)"))
    rows.append(("loop wake-up lateness (wall), warm sweeps", plain["warm_wall"], "(info)"))
    rows.append(("loop wake-up lateness (wall), organize", organize_probe.worst, "(info)"))
    rows.append(("command past a 0.3 s timeout: back after", timeouts["timeout"], "<= 1 s"))
    rows.append(("status of a host in back-off: answered in", timeouts["backoff"], "<= 0.05 s"))
    return rows


async def timeout_and_backoff(pool: SshPool, worker: WorkerInterface) -> dict[str, float]:
    """How soon a command past its timeout comes back (the remote one is killed), and how soon
    the status of a dead host backing off is answered (no new attempt): the timings that the
    tests only bound generously."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    late = await pool.run(worker.target, "sleep 30", timeout=0.3)
    timed = loop.time() - started
    if not late.timed_out:
        raise RuntimeError(f"sleep 30 did not time out: {late.describe()}")
    dead = WorkerInterface(
        "127.0.0.1",
        port=free_port(),
        settings=SshSettings(backoff_initial=30, connect_timeout=2),
    )
    try:
        first = await dead.status()
        started = loop.time()
        second = await dead.status()
        backoff = loop.time() - started
    finally:
        await dead.close()
    if first.state != "unreachable" or "next attempt in" not in (second.error or ""):
        raise RuntimeError(f"back-off not seen: {first.error} / {second.error}")
    return {"timeout": timed, "backoff": backoff}


def main() -> int:
    parser = bench_parser(__doc__, "2 000 files, 5 hosts, 3 sweeps")
    parser.add_argument("--files", type=int, help="GRAW files to organize (default 10 000)")
    parser.add_argument("--hosts", type=int, help="sshd instances to sweep (default 20)")
    parser.add_argument("--sweeps", type=int, help="warm sweeps (default 10)")
    parser.add_argument(
        "--concurrency",
        type=int,
        default=16,
        help="hosts checked at once, as the monitor does (default 16)",
    )
    args = parser.parse_args()
    files, hosts, sweeps = (2000, 5, 3) if args.quick else (10_000, 20, 10)
    files, hosts, sweeps = args.files or files, args.hosts or hosts, args.sweeps or sweeps
    with tempfile.TemporaryDirectory(prefix="bench-daq-worker-") as tmp:
        rows = asyncio.run(bench(files, hosts, sweeps, args.concurrency, Path(tmp)))
    print(f"{'measure':<48} {'seconds':>9}  target")
    for name, value, target in rows:
        print(f"{name:<48} {value:>9.3f}  {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
