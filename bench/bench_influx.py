#!/usr/bin/env python
"""InfluxPublisher throughput (issue 11): does it keep up with 100 000 samples/s from one
FakeData for 60 s with no loss, and with what lag?

    .venv/bin/python bench/bench_influx.py [--quick] [--rate 100000] [--seconds 60]
                                           [--batch-size 10000] [--spool] [--keep]

Everything on loopback: one crossbar (`socs_like.testing.hub.start_hub`), one real InfluxDB
1.x (`socs_like.testing.influxdb.InfluxServer`, Debian's influxd), a FakeData process
(``acq`` at ``--rate`` samples/s on 2 channels: a sample is one timestamp with its 2 values,
one InfluxDB point) and an InfluxPublisher process with its defaults (batches of 10 000,
flush every 1 s). ``--quick``: 10 s. ``--spool``: the publisher keeps its queue on disk too
(``--spool-dir`` in the work folder), to measure what the spool costs.

Measured: points written per second while acquiring (from the publisher's ``written``
counter, sampled each second), its ``lag`` (age of the oldest queued point) and
``data_lag`` (now − newest sample written: end to end, FakeData's 0.1 s feed buffer
included), the time to drain after ``acq`` stops, and loss three ways: the publisher's
dropped/rejected counters and sequence gaps, FakeData's own ``samples_sent`` against the
points InfluxDB holds (``SELECT COUNT``), and FakeData's feed ``dropped`` counter.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from harness import bench_parser, influx_site

from socs_like.client import Client, ClientError
from socs_like.testing.hub import agent_command
from socs_like.testing.util import wait_until

DB = "bench"
MEASUREMENT = "observatory.fd-bench"


def spawn(name: str, argv: list[str], logdir: Path) -> subprocess.Popen[bytes]:
    log = open(logdir / f"{name}.log", "ab")  # noqa: SIM115 - the child holds it
    with log:
        return subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)


def callable_client(instance_id: str, site_file: Path) -> Client:
    client = Client(instance_id, site_config=str(site_file), timeout=10.0)

    def up() -> bool:
        try:
            client.get_api()
        except ClientError:
            return False
        return True

    wait_until(up, 60, interval=0.1, message=f"{instance_id} callable")
    return client


def main() -> int:
    parser = bench_parser(__doc__, "10 s instead of 60 s", keep=True)
    parser.add_argument("--rate", type=float, default=100_000, help="samples/s (100000)")
    parser.add_argument("--seconds", type=float, help="acquisition time (60; 10 with --quick)")
    parser.add_argument("--batch-size", default="10000", help="the publisher's (10000)")
    parser.add_argument("--spool", action="store_true", help="the publisher's --spool-dir on")
    args = parser.parse_args()
    seconds = args.seconds or (10.0 if args.quick else 60.0)
    with influx_site("bench-influx-", args.keep) as (work, hub, influx):
        procs: list[subprocess.Popen[bytes]] = []
        try:
            procs.append(
                spawn(
                    "fd-bench",
                    agent_command("FakeData", "fd-bench", hub.site_file, ["--frame-length", "0.1"]),
                    work,
                )
            )
            publisher_args = ["--host", "127.0.0.1", "--port", str(influx.http_port)]
            if args.spool:
                publisher_args += ["--spool-dir", str(work / "spool")]
            procs.append(
                spawn(
                    "influx-bench",
                    agent_command(
                        "InfluxPublisher",
                        "influx-bench",
                        hub.site_file,
                        [*publisher_args, "--database", DB, "--batch-size", args.batch_size],
                    ),
                    work,
                )
            )
            fake = callable_client("fd-bench", hub.site_file)
            publisher = callable_client("influx-bench", hub.site_file)
            wait_until(lambda: publisher.record.status().session.get("status") == "running", 30)
            print(
                f"acq at {args.rate:.0f} samples/s (2 channels) for {seconds:.0f} s ...", flush=True
            )
            fake.acq.start(sample_rate=args.rate)
            samples: list[dict[str, Any]] = []
            t0 = time.monotonic()
            while time.monotonic() - t0 < seconds:
                time.sleep(1.0)
                samples.append(publisher.record.status().session["data"] | {"t": time.monotonic()})
            fake.acq.stop()
            done = fake.acq.wait(timeout=30).session["data"]
            stopped = time.monotonic()
            sent = int(done["samples_sent"])
            feed = dict(fake.get_api()["feeds"])["false_temperatures"]

            def drained() -> dict[str, Any] | None:
                d = publisher.record.status().session["data"]
                ok = d["pending"] == 0 and d["intake"]["samples"] >= sent
                return d if ok else None

            final = wait_until(drained, 120, interval=0.1, message="the publisher drained")
            drain = time.monotonic() - stopped
            [series] = influx.query(f'SELECT COUNT(channel_00) FROM "{MEASUREMENT}"', DB)
            stored = int(series["values"][0][1])
        except (ClientError, AssertionError) as exc:
            print(f"\nbench_influx: the run broke off: {exc}")
            for name in ("fd-bench", "influx-bench"):
                tail = (work / f"{name}.log").read_text(errors="replace").splitlines()[-8:]
                print(f"--- last lines of {name}:", *tail, sep="\n  ")
            return 1
        finally:
            for p in procs:
                p.terminate()
            for p in procs:
                try:
                    p.wait(15)
                except subprocess.TimeoutExpired:
                    p.kill()

    steady = samples[2:] or samples  # the first seconds include start-up
    rate = (steady[-1]["written"] - steady[0]["written"]) / max(
        steady[-1]["t"] - steady[0]["t"], 1e-9
    )
    lags = [s["lag"] for s in steady]
    data_lags = [s["data_lag"] for s in steady if s["data_lag"] is not None]
    records = final["intake"]["records"]
    skipped = int(done.get("samples_skipped", 0))
    lost = sent - stored
    rows = [
        ("samples made by FakeData (samples_sent)", f"{sent:,}", ""),
        ("samples FakeData skipped (could not make in time)", f"{skipped:,}", "0"),
        ("FakeData feed dropped (records)", f"{feed['dropped']}", "0"),
        ("points in InfluxDB (COUNT)", f"{stored:,}", f"= {sent:,}"),
        ("publisher dropped | rejected", f"{final['dropped']} | {final['rejected']}", "0 | 0"),
        ("publisher sequence gaps (records lost)", f"{records['lost']}", "0"),
        ("points written/s while acquiring", f"{rate:,.0f}", f"≥ {args.rate:,.0f}"),
        ("queue lag median | max (s)", f"{statistics.median(lags):.2f} | {max(lags):.2f}", ""),
        (
            "data lag median | max (s)",
            f"{statistics.median(data_lags):.2f} | {max(data_lags):.2f}" if data_lags else "-",
            "",
        ),
        ("drain after acq stopped (s)", f"{drain:.2f}", ""),
    ]
    print(
        f"\nInfluxPublisher, {seconds:.0f} s at {args.rate:,.0f} samples/s, load {os.getloadavg()}"
    )
    print(f"{'metric':52s} {'measured':>22s} {'target':>12s}")
    for metric, value, target in rows:
        print(f"{metric:52s} {value:>22s} {target:>12s}")
    verdict = lost == 0 and skipped == 0 and feed["dropped"] == 0 and rate >= 0.98 * args.rate
    print(f"\nverdict: {'PASS' if verdict else 'MISS'} (no loss and keeping up with the rate)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
