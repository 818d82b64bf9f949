"""DiFX relay benchmark: parse rate, simulator → agent → feed throughput and latency, reconnect.

    .venv/bin/python bench/bench_difx.py            # 60 s flood, as issue 5 asks
    .venv/bin/python bench/bench_difx.py --quick    # ~10 s flood

Targets (issue 5): parse ≥ 50 000 docs/s on one core; 1 000 docs/s for 60 s with none lost and
p99 latency ≤ 10 ms from the simulator's send to the feed subscriber; reconnect ≤ 2 s after the
server returns. The simulator stamps each flood document with its send time (wall clock, same
host), so latency covers TCP, parsing, the feed, crossbar and the subscriber.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import contextlib

from socs_like.client import AsyncClient  # noqa: E402
from socs_like.testing.hub import free_port, start_hub  # noqa: E402
from socs_like_agents.difx_relay.messages import (  # noqa: E402
    AlertMessage,
    Header,
    LoadMessage,
    StatusMessage,
    encode_message,
    parse_message,
)


def bench_parse(seconds: float) -> float:
    h = Header(
        from_host="difxhead",
        message_type="DifxStatusMessage",
        identifier="bm452a_1",
        mpi_process_id=0,
        seq_number=142,
    )
    docs = [
        encode_message(
            StatusMessage(
                header=h,
                state="Running",
                input_file="/data/corr/bm452a/bm452a_1.input",
                visibility_mjd=57028.3456019,
                job_start_mjd=57028.3333333,
                job_stop_mjd=57028.4166667,
                weights=((0, 0.998), (1, 0.972)),
            )
        ),
        encode_message(
            LoadMessage(
                header=Header(from_host="cn01", message_type="DifxLoadMessage", seq_number=7),
                cpu_load=3.5,
                total_memory=64_000_000,
                used_memory=9_000_000,
                net_rx_rate=123456,
                net_tx_rate=789,
                n_core=16,
            )
        ),
        encode_message(
            AlertMessage(
                header=Header(
                    from_host="cn01",
                    message_type="DifxAlertMessage",
                    identifier="bm452a_1",
                    mpi_process_id=3,
                    seq_number=9,
                ),
                message="Weight low on antenna 3",
                severity=3,
            )
        ),
    ]
    # CPU time, not wall time, and the best of several rounds (as timeit does): "on one core"
    # is what the parser costs, not what else the shared machine is running.
    best = 0.0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        t0 = time.process_time()
        for _ in range(1000):
            for d in docs:
                parse_message(d)
        elapsed = time.process_time() - t0
        if elapsed > 0:
            best = max(best, 3000 / elapsed)
    return best


class Sim:
    """The simulator process, with its log lines time-stamped as they arrive."""

    def __init__(self, sandbox: Path, port: int, *extra: str) -> None:
        self.lines: list[tuple[float, str]] = []
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "socs_like_agents.difx_relay.simulator",
                "--sandbox",
                str(sandbox),
                "--port",
                str(port),
                "--no-multicast",
                "--load-interval",
                "3600",
                *extra,
            ],
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append((time.time(), line.strip()))

    def wait_line(self, text: str, after: int = 0, timeout: float = 20.0) -> float:
        deadline = time.time() + timeout
        while time.time() < deadline:
            for t, line in self.lines[after:]:
                if text in line:
                    return t
            time.sleep(0.005)
        raise RuntimeError(f"simulator never printed {text!r}: {self.lines}")

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()


async def flood_and_reconnect(rate: float, seconds: float, trials: int) -> dict[str, float]:
    work = Path(tempfile.mkdtemp(prefix="bench_difx_"))
    (work / "sandbox").mkdir()
    hub = start_hub(work / "hub")
    port = free_port()
    sim = Sim(
        work / "sandbox",
        port,
        "--flood-rate",
        str(rate),
        "--flood-seconds",
        str(seconds),
        "--flood-delay",
        "4",
    )
    sim.wait_line("listening")
    agent = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "socs_like",
            "agent",
            "DiFXRelay",
            "--instance-id",
            "difxbench",
            "--site-file",
            str(hub.site_file),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--allowed-root",
            str(work / "sandbox"),
        ],
        stdout=open(work / "agent.log", "wb"),
        stderr=subprocess.STDOUT,
        cwd=ROOT,
        env=os.environ | {"PYTHONUNBUFFERED": "1"},
    )
    client = AsyncClient("difxbench", hub_url=hub.url)
    latencies: list[float] = []
    to_agent: list[float] = []
    received = 0
    done = asyncio.Event()
    expected = int(rate * seconds)

    def on_status(payload: dict, feed_info: dict | None = None) -> None:
        nonlocal received
        message = payload.get("message", "")
        if message.startswith("t="):
            sent = float(message[2:])
            latencies.append(time.time() - sent)
            to_agent.append(payload["timestamp"] - sent)
            received += 1
            if received >= expected:
                done.set()

    results: dict[str, float] = {}
    try:
        for _ in range(200):
            try:
                await client.get_api()
                break
            except Exception:
                await asyncio.sleep(0.1)
        await client.subscribe("difx_status", on_status)
        sim.wait_line("relay on")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done.wait(), seconds + 30)
        await asyncio.sleep(1.0)
        latencies.sort()
        results["flood_sent"] = expected
        results["flood_received"] = received
        results["latency_p50_ms"] = (
            1000 * latencies[len(latencies) // 2] if latencies else float("nan")
        )
        results["latency_p99_ms"] = (
            1000 * latencies[int(len(latencies) * 0.99)] if latencies else float("nan")
        )
        to_agent.sort()
        results["to_agent_p99_ms"] = (
            1000 * to_agent[int(len(to_agent) * 0.99)] if to_agent else float("nan")
        )
        results["latency_max_ms"] = 1000 * latencies[-1] if latencies else float("nan")

        worst = 0.0
        for _ in range(trials):
            sim.kill()
            await asyncio.sleep(3.0)  # long enough for the backoff to reach its cap
            sim = Sim(work / "sandbox", port)
            t_listen = sim.wait_line("listening")
            t_relay = sim.wait_line("relay on")
            worst = max(worst, t_relay - t_listen)
        results["reconnect_worst_s"] = worst
    finally:
        await client.close()
        agent.terminate()
        agent.wait(10)
        sim.kill()
        hub.hub.stop()
    return results


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="10 s flood, 1 reconnect trial")
    p.add_argument("--rate", type=float, default=1000.0, help="flood rate, documents/s")
    args = p.parse_args()
    seconds, trials = (10.0, 1) if args.quick else (60.0, 3)
    parse_rate = bench_parse(1.0 if args.quick else 3.0)
    r = asyncio.run(flood_and_reconnect(args.rate, seconds, trials))
    rows = [
        (
            "parse rate (docs per CPU-second, best round)",
            f"{parse_rate:,.0f}",
            "≥ 50,000",
            parse_rate >= 50_000,
        ),
        (
            f"flood {seconds:.0f} s @ {args.rate:.0f}/s: received/sent",
            f"{r['flood_received']:.0f}/{r['flood_sent']:.0f}",
            "none lost",
            r["flood_received"] == r["flood_sent"],
        ),
        ("latency p50 (ms)", f"{r['latency_p50_ms']:.2f}", "", True),
        ("latency p99 (ms)", f"{r['latency_p99_ms']:.2f}", "≤ 10", r["latency_p99_ms"] <= 10),
        ("  of which simulator → agent, p99 (ms)", f"{r['to_agent_p99_ms']:.2f}", "", True),
        ("latency max (ms)", f"{r['latency_max_ms']:.2f}", "", True),
        (
            f"reconnect after server returns (worst of {trials}, s)",
            f"{r['reconnect_worst_s']:.2f}",
            "≤ 2",
            r["reconnect_worst_s"] <= 2,
        ),
    ]
    width = max(len(name) for name, *_ in rows)
    load = os.getloadavg()[0]
    print(f"{'measure':<{width}}  {'value':>12}  {'target':>10}  met   (load average {load:.1f})")
    for name, value, target, met in rows:
        print(f"{name:<{width}}  {value:>12}  {target:>10}  {'yes' if met else 'NO'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
