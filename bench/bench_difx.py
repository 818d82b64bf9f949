"""DiFX relay benchmark: parse rate, simulator → agent → feed throughput and latency, reconnect.

    .venv/bin/python bench/bench_difx.py            # 60 s flood, as issue 5 asks
    .venv/bin/python bench/bench_difx.py --quick    # ~10 s flood

Targets (issue 5): parse ≥ 50 000 docs/s on one core; 1 000 docs/s for 60 s with none lost and
p99 latency ≤ 10 ms from the simulator's send to the feed subscriber; reconnect ≤ 2 s after the
server returns. The simulator stamps each flood document with its send time (wall clock, same
host), so latency covers TCP, parsing, the feed, crossbar and the subscriber.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness import bench_parser  # noqa: E402

from socs_like.client import AsyncClient  # noqa: E402
from socs_like.testing.hub import free_port, start_hub  # noqa: E402
from socs_like_agents.difx_relay.feeds import DOCUMENT_FEEDS  # noqa: E402
from socs_like_agents.difx_relay.messages import (  # noqa: E402
    Header,
    StatusMessage,
    encode_message,
    parse_message,
)
from socs_like_agents.difx_relay.options import Options  # noqa: E402
from socs_like_agents.difx_relay.relay import Relay  # noqa: E402


def _status_documents(n: int) -> list[bytes]:
    """`n` status documents of one running job, as mpifxcorr's manager sends them (one
    sender, consecutive sequence numbers, progress moving)."""
    return [
        encode_message(
            StatusMessage(
                header=Header(
                    from_host="difxhead",
                    message_type="DifxStatusMessage",
                    identifier="bm452a_1",
                    mpi_process_id=0,
                    seq_number=i,
                ),
                state="Running",
                input_file="/data/corr/bm452a/bm452a_1.input",
                visibility_mjd=57028.3333333 + i * 1e-6,
                job_start_mjd=57028.3333333,
                job_stop_mjd=57028.4166667,
                weights=((0, 0.998), (1, 0.972), (2, 0.991), (3, 0.985)),
            )
        )
        for i in range(n)
    ]


def _best_rate(seconds: float, docs: list[bytes], handle: Callable[[bytes], object]) -> float:
    # CPU time, not wall time, and the best of several rounds (as timeit does): "on one core"
    # is what the parser costs, not what else the shared machine is running.
    best = 0.0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        t0 = time.process_time()
        for d in docs:
            handle(d)
        elapsed = time.process_time() - t0
        if elapsed > 0:
            best = max(best, len(docs) / elapsed)
    return best


class _NullFeed:
    def publish(self, payload: object) -> None:
        pass


def bench_parse(seconds: float) -> tuple[float, float]:
    """Status documents per CPU-second through `messages.parse_message` (the parse the relay
    runs on every document), and through `Relay.on_document` (parse, sequence accounting per
    sending process, job table, feed payload; the feed itself a no-op)."""
    docs = _status_documents(2000)
    parse = _best_rate(seconds, docs, parse_message)
    feeds = {name: _NullFeed() for name in DOCUMENT_FEEDS}
    relay = Relay(Options(host="h", port=1), feeds, _NullFeed())  # type: ignore[arg-type]
    pipeline = _best_rate(seconds, docs, relay.on_document)
    assert relay.bad_documents == 0
    return parse, pipeline


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
    # the child keeps its own copy of the log's descriptor
    with open(work / "agent.log", "wb") as agent_log:
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
            stdout=agent_log,
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

        async def relay_data() -> dict:
            return (await client.request("status", "relay")).session.get("data", {})

        # The relay's session data is refreshed every 0.5 s: the figure is accurate to that.
        worst = 0.0
        for _ in range(trials):
            before = (await relay_data()).get("reconnects", 0)
            sim.kill()
            await asyncio.sleep(3.0)  # long enough for the backoff to reach its cap
            sim = Sim(work / "sandbox", port)
            t_listen = sim.wait_line("listening")
            while not ((d := await relay_data()).get("connected") and d["reconnects"] > before):
                await asyncio.sleep(0.05)
            worst = max(worst, time.time() - t_listen)
        results["reconnect_worst_s"] = worst
    finally:
        await client.close()
        agent.terminate()
        agent.wait(10)
        sim.kill()
        hub.hub.stop()
    return results


def main() -> int:
    p = bench_parser(__doc__, "10 s flood, 1 reconnect trial")
    p.add_argument("--rate", type=float, default=1000.0, help="flood rate, documents/s")
    args = p.parse_args()
    seconds, trials = (10.0, 1) if args.quick else (60.0, 3)
    parse_rate, pipeline_rate = bench_parse(1.0 if args.quick else 3.0)
    r = asyncio.run(flood_and_reconnect(args.rate, seconds, trials))
    rows = [
        (
            "status docs parsed per CPU-second (parse_message)",
            f"{parse_rate:,.0f}",
            "≥ 50,000",
            parse_rate >= 50_000,
        ),
        (
            "  through the relay path (Relay.on_document)",
            f"{pipeline_rate:,.0f}",
            "",
            True,
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
