#!/usr/bin/env python
"""Partition benchmark (issue 21): a silent partition between an agent host and the hub host.

    .venv/bin/python bench/bench_partition.py [--quick] [--partition S] [--rounds N]

Needs root: two network namespaces (`socs_like.testing.two_hosts`): the hub, a FileRecorder,
a Registry and a subscriber on the hub host; FakeData acquiring 1 000 samples/s in 1 ms frames
on the DAQ host, whose site config names the hub host's address. Each round drops every
packet between the hosts for S s (60; 20 with --quick) without closing a socket, then heals:

- noticed: from the cut until the agent logs that it lost the hub (target ≤ 10 s; its
  WebSocket pings, default interval and timeout);
- expired: from the cut until the registry on the hub host says the agent expired;
- re-joined: from the heal until the agent logs that it joined the hub again (target ≤ 5 s);
- the acq session: the same one, still running, after every round.

After the last round acquisition stops, and once everything is delivered: records the feed
numbered, records it counted dropped, records silently missing at the subscriber (target 0),
events the subscriber got twice, and samples the recorder wrote twice or not at all (target 0).
"""

from __future__ import annotations

import itertools
import statistics
import sys
import tempfile
import time
from pathlib import Path

from harness import bench_parser

from socs_like.testing.netns import Network, netns_unavailable, remove_stale
from socs_like.testing.two_hosts import DAQ_AGENT, FEED, JOINED, NOTICED, TwoHostSite
from socs_like.testing.util import wait_until
from socs_like_agents.file_recorder.h5file import read_files

RATE = 1000.0


def one_round(site: TwoHostSite, partition_s: float) -> tuple[float, float, float]:
    """(noticed, expired, re-joined) in seconds, for one partition of `partition_s`."""
    cut = time.time()
    site.partition()
    expired_at = wait_until(
        lambda: site.registry_entry()["expired"] and time.time(), 60, 0.1, message="expired"
    )
    wait_until(lambda: site.agent_log_times(NOTICED, cut), 60, 0.1, message="loss noticed")
    time.sleep(max(0.0, cut + partition_s - time.time()))
    healed = time.time()
    site.heal()
    wait_until(lambda: site.agent_log_times(JOINED, healed), 60, 0.05, message="re-joined")
    wait_until(lambda: not site.registry_entry()["expired"], 30, 0.1, message="alive again")
    noticed = site.agent_log_times(NOTICED, cut)[0] - cut
    rejoined = site.agent_log_times(JOINED, healed)[0] - healed
    return noticed, expired_at - cut, rejoined


def main() -> int:
    parser = bench_parser(__doc__, "2 rounds of 20 s")
    parser.add_argument("--partition", type=float, help="seconds each partition lasts (60)")
    parser.add_argument("--rounds", type=int, help="partitions, one after the other (3)")
    args = parser.parse_args()
    partition_s = args.partition or (20.0 if args.quick else 60.0)
    rounds = args.rounds or (2 if args.quick else 3)
    reason = netns_unavailable()
    if reason:
        print(f"bench_partition: skipped: {reason}")
        return 0
    remove_stale()
    with tempfile.TemporaryDirectory(prefix="bench-partition-") as tmp, Network() as network:
        site = TwoHostSite.start(network, Path(tmp), rate=RATE)
        try:
            assert site.request(DAQ_AGENT, "start", "acq").ok
            session_id = site.request(DAQ_AGENT, "status", "acq").session["session_id"]
            site.listener.wait_for(lambda ev: len(ev) >= 5, timeout=20)
            wait_until(lambda: (e := site.registry_entry()) and not e["expired"], 20, 0.2)
            figures = []
            for n in range(rounds):
                time.sleep(3)  # the feed flows again before the next cut
                figures.append(one_round(site, partition_s))
                print(
                    f"round {n + 1}: noticed {figures[-1][0]:.1f} s, expired "
                    f"{figures[-1][1]:.1f} s, re-joined {figures[-1][2]:.2f} s",
                    flush=True,
                )
            acq = site.request(DAQ_AGENT, "status", "acq").session
            same = acq["session_id"] == session_id and acq["status"] == "running"
            time.sleep(2)
            out = site.finish()
            times = read_files(sorted((Path(tmp) / "data").glob("*/*.h5")))[
                (DAQ_AGENT, FEED, "temps")
            ]["timestamps"]
            in_order = all(b > a for a, b in itertools.pairwise(times))
            alive = site.agents[DAQ_AGENT].returncode is None
        finally:
            site.close()
    noticed, expired, rejoined = (list(column) for column in zip(*figures, strict=True))

    def spread(values: list[float]) -> str:
        return f"median {statistics.median(values):.2f} s, max {max(values):.2f} s"

    def verdict(ok: bool) -> str:
        return "PASS" if ok else "MISS"

    rows = [
        ("half-open connection noticed", "≤ 10 s", spread(noticed), verdict(max(noticed) <= 10)),
        ("registry: agent expired", "–", spread(expired), "–"),
        ("re-joined after the heal", "≤ 5 s", spread(rejoined), verdict(max(rejoined) <= 5)),
        ("acq: same session, running", "yes", "yes" if same else "no", verdict(same)),
        ("agent process never exited", "yes", "yes" if alive else "no", verdict(alive)),
        ("records numbered / dropped (counted)", "–", f"{out.records} / {out.dropped}", "–"),
        ("records silently missing", "0", str(out.missing), verdict(out.missing == 0)),
        ("events the subscriber got twice", "–", str(out.repeated), "–"),
        (
            "samples made / written once / written twice",
            "all once",
            f"{out.sent} / {len(set(times))} / {len(times) - len(set(times))}",
            verdict(len(times) == len(set(times)) == out.sent and in_order),
        ),
    ]
    print(
        f"\n{rounds} partitions of {partition_s:.0f} s, FakeData at {RATE:.0f} samples/s "
        f"({out.records / max(out.sent, 1) * RATE:.0f} records/s)"
    )
    print(f"| metric | target | {'value':40s} | verdict |")
    print("|---|---|---|---|")
    for metric, target, value, ok in rows:
        print(f"| {metric} | {target} | {value:40s} | {ok} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
