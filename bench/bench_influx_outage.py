#!/usr/bin/env python
"""InfluxPublisher through an InfluxDB outage (issue 20): does it stay joined to the hub, lose
nothing at its intake, keep its memory within its bound, and drain when the server returns?

    .venv/bin/python bench/bench_influx_outage.py [--minutes 10] [--scale 1] [--quick]
                                                   [--publisher-arg=--max-queue-mb=64]
                                                   [--keep]

Everything on loopback: one crossbar, one real InfluxDB 1.x (Debian's influxd), and the feeds
of the demo site (`site-config.yaml`) at its rates, times ``--scale``: a FakeData (4 channels at
20 samples/s) and the pysmurf simulator sending 150 register values/s on 3 streams to a
PysmurfMonitor, whose ``<stream>_meta`` feeds carry them as many small blocks (one per
register), the shape of most of the demo's points. The InfluxPublisher runs with its defaults
(plus any ``--publisher-arg``). InfluxDB is stopped once the publisher has written, kept away
``--minutes`` (``--quick``: 2), then started again; the feeds stop once the queue has drained.

Measured: the publisher's loop lag (``loop_lag_ms`` of each heartbeat: the worst of each
second) p50/p99/max during the outage, its hub losses (``lost the hub`` in its log), its
intake's lost records (sequence gaps), its RSS at the start, end and peak of the outage, its
queue (points and bytes) and ``dropped``; then, once the queue has drained, the feeds have
stopped and ``record`` with them, whether every point published on a recorded feed (counted
by a listener of every feed, each event once; of the publisher's own ``influx_stats``, which
goes on until ``record`` stops, what InfluxDB holds plus what was dropped) was taken by the
intake, and whether every point taken is written, dropped, rejected or empty, exactly.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
import time
from typing import Any

from harness import bench_parser, influx_site

from socs_like.client import Client, ClientError
from socs_like.testing.hub import AgentProcess, spawn_agent
from socs_like.testing.procs import rss_kib
from socs_like.testing.util import free_port, wait_until

PUBLISHER = "influx-outage"
ROOT = "observatory"
# What the publisher's memory may grow by besides its queue: the writes in flight (two
# batches, each joined into one body) and what the allocator keeps of them.
WORK_MIB = 16


class PublishedPoints:
    """Counts the points of every recorded-feed event the publisher should write, each event
    once (by feed and sequence number), from a subscription of its own."""

    def __init__(self) -> None:
        self.by_feed: dict[str, int] = {}
        self._seen: set[tuple[str, int]] = set()
        self._lock = threading.Lock()

    def __call__(self, payload: Any, info: dict[str, Any]) -> None:
        if not info.get("record") or (info.get("agg_params") or {}).get("exclude_influx"):
            return
        key = (str(info.get("address")), int(info.get("seq_no", -1)))
        n = sum(len(b.get("timestamps", ())) for b in payload.values())
        with self._lock:
            if key not in self._seen:
                self._seen.add(key)
                self.by_feed[key[0]] = self.by_feed.get(key[0], 0) + n


class Beats:
    """The publisher's heartbeats: (time received, loop_lag_ms)."""

    def __init__(self) -> None:
        self.lags: list[tuple[float, float]] = []

    def __call__(self, payload: Any, info: dict[str, Any]) -> None:
        if "loop_lag_ms" in info:
            self.lags.append((time.time(), float(info["loop_lag_ms"])))


def rss_mb(pid: int) -> float:
    kib = rss_kib(pid)
    return float("nan") if kib is None else kib / 1024


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> int:
    parser = bench_parser(__doc__, "a 2-minute outage", keep=True)
    parser.add_argument("--minutes", type=float, help="outage length (10; 2 with --quick)")
    parser.add_argument("--scale", type=float, default=1.0, help="times the demo's rates (1)")
    parser.add_argument(
        "--publisher-arg",
        action="append",
        default=[],
        help="an argument for the publisher, e.g. --publisher-arg=--max-queue-bytes=64M",
    )
    args = parser.parse_args()
    minutes = args.minutes or (2.0 if args.quick else 10.0)
    with influx_site("bench-influx-outage-", args.keep) as (work, hub, influx):
        agents: list[AgentProcess] = []
        simulator: subprocess.Popen[bytes] | None = None
        clients: list[Client] = []

        def client(instance_id: str) -> Client:
            clients.append(Client(instance_id, site_config=str(hub.site_file), timeout=30.0))
            return clients[-1]

        def agent(agent_class: str, instance_id: str, argv: list[str]) -> AgentProcess:
            agents.append(
                spawn_agent(hub, agent_class, instance_id, work / f"{instance_id}.log", argv)
            )
            return agents[-1]

        udp = free_port("udp")
        try:
            publisher_proc = agent(
                "InfluxPublisher",
                PUBLISHER,
                [
                    *("--host", "127.0.0.1", "--port", str(influx.http_port)),
                    *("--database", "bench", *args.publisher_arg),
                ],
            )
            publisher = client(PUBLISHER)
            beats, published = Beats(), PublishedPoints()
            client(PUBLISHER).subscribe("heartbeat", beats)
            client("bench-listener").subscribe(f"{ROOT}..feeds.", published, match="wildcard")
            wait_until(lambda: publisher.record.status().session.get("status") == "running", 30)
            agent(
                "PysmurfMonitor",
                "pysmurf-monitor",
                [
                    *("--udp-port", str(udp), "--udp-host", "127.0.0.1"),
                    *(
                        "--db-path",
                        str(work / "suprsync.db"),
                        "--local-root",
                        str(work / "readout"),
                    ),
                ],
            )
            agent(
                "FakeData",
                "fake-data1",
                ["--mode", "acq", "--num-channels", "4", "--sample-rate", str(20 * args.scale)],
            )
            simulator = subprocess.Popen(
                [
                    *(sys.executable, "-m", "socs_like", "simulate", "pysmurf", "--port", str(udp)),
                    *("--data-dir", str(work / "readout"), "--streams", "3", "--g3-size", "1024"),
                    *("--metadata-rate", str(150 * args.scale), "--seed", "1"),
                ],
                stdout=subprocess.DEVNULL,
                stderr=open(work / "simulator.log", "ab"),  # noqa: SIM115 - the child holds it
            )
            wait_until(
                lambda: publisher.record.status().session["data"].get("written", 0) > 0,
                60,
                message="the publisher wrote",
            )
            pid = int(publisher.get_api()["instance_pid"])
            influx.stop()
            start, rss_start = time.time(), rss_mb(pid)
            print(
                f"InfluxDB stopped; outage of {minutes:g} min at {args.scale:g}x the demo's rates"
            )
            peak = rss_start
            while time.time() - start < minutes * 60:
                time.sleep(5.0)
                peak = max(peak, rss_mb(pid))
                d = publisher.record.status().session["data"]
                print(
                    f"  {time.time() - start:6.0f} s  pending {d['pending']:>9,}"
                    f"  dropped {d['dropped']:>9,}  lost {d['intake']['records']['lost']:>6,}"
                    f"  rss {rss_mb(pid):6.0f} MB",
                    flush=True,
                )
            outage_end, rss_end = time.time(), rss_mb(pid)
            during = publisher.record.status().session["data"]
            influx.start()
            back = time.monotonic()
            wait_until(
                lambda: publisher.record.status().session["data"]["pending"] == 0,
                600,
                interval=1.0,
                message="the queue drained",
            )
            drain = time.monotonic() - back
            client("fake-data1").acq.stop()
            simulator.terminate()
            simulator.wait(15)
            time.sleep(2.0)  # the feeds' last events reach the publisher and the listener
            publisher.record.stop()
            final = publisher.record.wait(timeout=60).session["data"]
            # The publisher's own stats feed goes on until `record` stops: count what of it the
            # intake took from where it went (InfluxDB, or dropped)
            stats = influx.query(f'SELECT COUNT("written") FROM "{ROOT}.{PUBLISHER}"', "bench")
            own = f"{ROOT}.{PUBLISHER}.feeds.influx_stats"
            own_taken = sum(int(s["values"][0][1]) for s in stats)
            own_taken += final.get("dropped_by_feed", {}).get(own, 0)
            others = sum(n for feed, n in published.by_feed.items() if feed != own)
            hub_losses = publisher_proc.output().count("lost the hub")
        except (ClientError, AssertionError) as exc:
            print(f"\nbench_influx_outage: the run broke off: {exc}")
            for log in sorted(work.glob("*.log")):
                tail = log.read_text(errors="replace").splitlines()[-8:]
                print(f"--- last lines of {log.name}:", *tail, sep="\n  ")
            return 1
        finally:
            if simulator is not None and simulator.poll() is None:
                simulator.kill()
            for c in clients:
                with contextlib.suppress(ClientError):
                    c.close()
            for a in agents:
                a.stop()

    lags = [lag for t, lag in beats.lags if start <= t <= outage_end]
    lost = int(final["intake"]["records"]["lost"])
    taken = int(final["intake"]["samples"])
    accounted = final["written"] + final["dropped"] + final["rejected"] + final["empty"]
    drained = final["pending"] == 0 and taken == others + own_taken == accounted
    bound = during.get("max_queue_bytes")
    within = bound is not None and (peak - rss_start - WORK_MIB) * 2**20 <= bound
    p50, p99, worst = (percentile(lags, q) for q in (0.5, 0.99, 1.0))
    mib = 2**20
    rows = [
        ("loop lag p50 | p99 | max (ms)", f"{p50:.0f} | {p99:.0f} | {worst:.0f}", "p99 < 250"),
        ("heartbeats heard | seconds", f"{len(lags)} | {outage_end - start:.0f}", "equal"),
        ("hub losses", f"{hub_losses}", "0"),
        ("intake lost records", f"{lost:,}", "0"),
        ("queue at the end: points | MiB", f"{during['pending']:,} | "
         f"{during.get('pending_bytes', 0) / mib:.1f}", ""),
        ("queue bound (MiB)", "-" if bound is None else f"{bound / mib:g}", ""),
        ("dropped (oldest first)", f"{final['dropped']:,}", ""),
        ("RSS start | end | peak (MiB)", f"{rss_start:.0f} | {rss_end:.0f} | {peak:.0f}",
         f"+ < bound+{WORK_MIB}"),
        ("drain after InfluxDB returned (s)", f"{drain:.1f}", ""),
        ("published (+ its own stats taken) | taken", f"{others:,} + {own_taken:,} | "
         f"{taken:,}", "equal"),
        ("written + dropped + rejected + empty", f"{accounted:,}", "= taken"),
        ("drained", "yes" if drained else "no", "yes"),
    ]  # fmt: skip
    print(f"\nInfluxPublisher, InfluxDB away {minutes:g} min, load {os.getloadavg()}")
    print(f"{'metric':40s} {'measured':>26s} {'target':>14s}")
    for metric, value, target in rows:
        print(f"{metric:40s} {value:>26s} {target:>14s}")
    verdict = hub_losses == 0 and lost == 0 and drained and within and p99 < 250
    print(f"\nverdict: {'PASS' if verdict else 'MISS'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
