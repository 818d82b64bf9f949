#!/usr/bin/env python
"""Site-scale benchmarks (issue 13): many agents on one hub, fast start, memory, overload.

    .venv/bin/python bench/bench_scale.py [--quick] [--n 10,50,100]
        [--only spawn,ops,overload,scale] [--hosts K] [--together] [--json FILE]

Everything runs on loopback against one crossbar (`socs_like.hub.Hub`, our generated config),
except with ``--hosts K`` (K > 1, as root): then each scale run of ours is made twice, on
loopback and on K+1 hosts that are network namespaces (`socs_like.testing.netns`): the hub,
the registry, the listening clients and the calls on host ``hub``, the N agents in turn on
hosts ``h1`` ... ``hK``, each host's by its own ``socs-like up --site-host``. The table
compares the heartbeat latency p99 of both (target: within 20 %); OCS's run is left out.
With ``--together`` OCS's scale run is made at the same time as ours, on a second hub, and
both are measured in the same window (ours starts its agents once OCS's are callable): this
machine's speed drifts by a third over tens of seconds, which a run made after the other
reads as a difference between the sites. Both sites then load the machine at once, so the
latencies are not today's: read them from a run without it.

1. scale, per N: N FakeData agents (acq at 10 samples/s, published once a second: OCS's
   FakeDataAgent has that reporting interval fixed, ours is given ``--frame-length 1``), a
   registry (ours / OCS's RegistryAgent, both expiring after 5 s), and 5 clients each
   subscribed to every topic under the address root (in a process of their own,
   ``_scale_listeners.py``). Ours are started by ``socs-like up`` (so through the launcher);
   OCS's as plain processes, as OCS has no supervisor of its own. Reported: time until all N
   answer get_api; hub CPU and total agent CPU (% of one core) and PSS (the launcher's share
   included) over a window; the WAMP messages the hub received and sent per second in it
   (by type in the JSON line); heartbeat delivery (ours: receive time minus the send time in
   feed_info; both: the gap between beats) p50/p99; start+wait of ``delay_task(delay=0)`` on
   the agents in turn, while loaded, p50/p99 (our `AsyncClient.run_task`: one ``start_wait``
   call with ours, pipelined start+wait with OCS's); and how many live agents the registry
   calls expired.
2. spawn: spawn -> callable (get_api answers) for agents started one by one through the
   launcher and as plain processes, and PSS per agent of 10 forked agents.
3. ops: a user-level task call (``Client.delay_task(delay=0)``) beside OCS's raw start+wait
   (`ocs.client_t`, its control-script path) in the same run, idle.
4. overload: FakeData on 4 channels asked for 400 000 and 1 000 000 samples/s: samples/s
   received, connection drops, the loop lag and the drop rate the agent reports.

Figures on a shared 2-core machine are noisy; the table says what was measured, not a limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from feed_probe import FeedProbe, samples_stamped_in
from harness import (
    HERE,
    PY,
    REALM,
    ROOT,
    Results,
    Site,
    bench_parser,
    children,
    cpu_total,
    finish_run,
    hub_client,
    hub_messages,
    messages_per_s,
    ms,
    ocs_start_wait_times,
    pct,
    poll_api,
    pss_kib,
    run_async,
    say,
    secs,
    start_run,
    timed_calls,
    tree,
    write_site_file,
)

from socs_like.client import AsyncClient, Client, ClientError
from socs_like.hub import HUB_STATS_ENV
from socs_like.testing.hub import HubInfo, agent_command, start_hub
from socs_like.testing.netns import Host, Network, netns_unavailable
from socs_like.testing.procs import cmdline

CLIENTS = 5
WAIT_TIME = 5.0  # both registries expire an agent after this long without a heartbeat


# --- the listeners: 5 clients, every topic ----------------------------------------------------


def client(site: Site | Spread, instance_id: str, timeout: float = 10.0) -> AsyncClient:
    return site.client(instance_id, timeout=timeout)


async def all_callable(
    site: Site | Spread, ids: list[str], timeout: float
) -> dict[str, dict[str, Any]]:
    """get_api of every agent, retried every 0.1 s until each answers; {id: api}. One
    connection for all: a client per agent would load the hub more than the agents do."""
    apis: dict[str, dict[str, Any]] = {}
    c = client(site, "watcher", timeout=2.0)

    async def one(i: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                apis[i] = await c.call(f"{ROOT}.{i}", "get_api", call_timeout=2.0)
                return
            except ClientError:
                await asyncio.sleep(0.1)

    try:
        await asyncio.gather(*(one(i) for i in ids))
    finally:
        await c.close()
    return apis


async def start_waits(site: Site | Spread, ids: list[str], count: int) -> list[float]:
    """`count` start+waits of delay_task(delay=0) on the agents in turn (one client each)."""
    clients = {i: client(site, i) for i in ids}
    times: list[float] = []
    try:
        for i in ids:  # connect and learn each agent's API first: not timed
            await clients[i].get_api()
        for k in range(count):
            c = clients[ids[k % len(ids)]]
            t0 = time.perf_counter()
            reply = await c.run_task("delay_task", {"delay": 0})
            times.append(time.perf_counter() - t0)
            if not reply.ok or not reply.session.get("success"):
                raise RuntimeError(f"delay_task failed: {reply}")
    finally:
        for c in clients.values():
            await c.close()
    return times


# --- 1. scale -------------------------------------------------------------------------------------


class Spread:
    """The scale run's site on hosts that are network namespaces (see the module doc); the
    same face as `Site` for what `run_scale` uses, and `run` for the clients' coroutines,
    which must run on the hub host."""

    def __init__(self, workdir: Path, k: int) -> None:
        self.network = Network()
        try:
            self.hub_host = self.network.add_host("hub")
            self.hosts = [self.network.add_host(f"h{i}") for i in range(1, k + 1)]
            self.stats_file = workdir / "spread-hub" / "hub-stats.json"
            os.environ[HUB_STATS_ENV] = str(self.stats_file)
            self.info: HubInfo = self.hub_host.call(
                start_hub, workdir / "spread-hub", 8001, self.hub_host.address
            )
        except BaseException:
            self.network.close()
            raise

    @property
    def url(self) -> str:
        return self.info.url

    @property
    def http_url(self) -> str:
        return self.info.http_url

    def client(self, instance_id: str, timeout: float = 5.0) -> AsyncClient:
        return hub_client(self.url, self.http_url, instance_id, timeout)

    def run(self, coro: Any, timeout: float | None = None) -> Any:
        return self.hub_host.run(coro, timeout)

    def close(self) -> None:
        self.info.hub.stop()
        self.network.close()


def scale_site_file(
    site: Site | Spread, path: Path, hosts: dict[str, list[dict[str, Any]]], *, ocs: bool = False
) -> Path:
    """A site file of `hosts` (host name -> its agent instances)."""
    url, http_url = (
        (site.ocs_url, site.ocs_http_url)
        if ocs and isinstance(site, Site)
        else (site.url, site.http_url)
    )
    return write_site_file(path, url, http_url, hosts)


def up_hosts(
    site: Site | Spread, ids: list[str], registry: str
) -> list[tuple[Host | None, str, list[dict[str, Any]]]]:
    """Where our scale run's agents go: ``(namespace host or None, host block, instances)``:
    on loopback all in one block; spread, the registry on the hub host and the agents in
    turn on the others."""
    fake = [
        {
            "agent-class": "FakeData",
            "instance-id": i,
            # 10 samples/s published once a second, as OCS's FakeDataAgent does
            "arguments": ["--mode", "acq", "--frame-length", "1"],
            # and its feed gathered for 1 s before it goes out, as OCS's FakeDataAgent's
            "feeds": {"false_temperatures": {"buffer_time": 1.0}},
        }
        for i in ids
    ]
    reg = {
        "agent-class": "Registry",
        "instance-id": registry,
        "arguments": ["--wait-time", str(WAIT_TIME)],
    }
    if isinstance(site, Site):
        return [(None, "localhost", [*fake, reg])]
    k = len(site.hosts)
    return [(site.hub_host, "hub", [reg])] + [
        (host, host.name, fake[j::k]) for j, host in enumerate(site.hosts)
    ]


def run_scale(
    site: Site | Spread,
    workdir: Path,
    n: int,
    kind: str,
    window: float,
    calls: int,
    listeners: str = "ours",
    together: threading.Barrier | None = None,
) -> dict[str, Any]:
    """One scale run: `kind` "ours" or "ocs" on `site`'s hub (its clients and listeners on
    the hub host when `site` is a `Spread`); `listeners`: whose ("ours", "ocs": see
    ``_scale_listeners.py``); `together`: the run of the other kind, on a hub of its own,
    starts its listeners and its window when this one does (ours starts its agents once
    OCS's are callable)."""
    label = kind if isinstance(site, Site) else f"{kind}-spread"
    if together is not None and kind == "ours":
        # after OCS's site is callable: its 100 processes importing for half a minute
        # would slow our start-up, which the run also measures
        together.wait(600)
    ids = [f"{label}-fd{i:03d}" for i in range(n)]
    registry = f"{label}-registry"
    procs: list[subprocess.Popen[bytes]] = []
    logdir = workdir / f"{label}-{n}"
    logdir.mkdir()
    run = site.run if isinstance(site, Spread) else run_async
    popen = site.hub_host.popen if isinstance(site, Spread) else subprocess.Popen
    if kind == "ours":
        placed = up_hosts(site, ids, registry)
        site_file = scale_site_file(site, logdir / "site.yaml", {h: a for _, h, a in placed})
        t0 = time.perf_counter()
        for host, name, _ in placed:
            argv = [PY, "-m", "socs_like", "up", "--site-config", str(site_file), "--no-table"]
            argv += ["--site-host", name]
            with open(logdir / f"up-{name}.log", "wb") as log:
                start = host.popen if host is not None else subprocess.Popen
                procs.append(start(argv, cwd=logdir, stdout=log, stderr=subprocess.STDOUT))
    else:
        assert isinstance(site, Site), "OCS's scale run is on loopback only"
        site_file = scale_site_file(
            site,
            logdir / "site.yaml",
            {
                "localhost": [
                    {"agent-class": "FakeDataAgent", "instance-id": i, "arguments": []} for i in ids
                ]
                + [{"agent-class": "RegistryAgent", "instance-id": registry, "arguments": []}]
            },
            ocs=True,
        )
        t0 = time.perf_counter()
        fake = ["--mode", "acq", "--sample-rate", "10"]
        started = [(i, "fake_data", fake) for i in ids]
        for i, module, extra in [*started, (registry, "registry", ["--wait-time", str(WAIT_TIME)])]:
            with open(logdir / f"{i}.log", "wb") as log:
                procs.append(
                    subprocess.Popen(
                        [
                            PY,
                            "-m",
                            f"ocs.agents.{module}.agent",
                            "--site-file",
                            str(site_file),
                            "--site-host",
                            "localhost",
                            "--instance-id",
                            i,
                            *extra,
                        ],
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        env=os.environ | {"LOGLEVEL": "warn"},
                    )
                )
    out: dict[str, Any] = {"n": n}
    try:
        apis = run(all_callable(site, [*ids, registry], 120 + n), 200 + n)
        out["all_callable"] = time.perf_counter() - t0
        out["callable"] = len(apis)
        pids = [api["instance_pid"] for api in apis.values()]
        if kind == "ours":
            # the launcher (a child of `socs-like up`) holds the pages its children share
            for up in procs:
                pids += [p for p in children(up.pid) if "socs_like.launcher" in cmdline(p)]
        hub_pids = tree(site.info.hub.process.pid)  # type: ignore[union-attr]
        if together is not None:
            if kind == "ocs":
                together.wait(600)  # ours may start now
            together.wait(600)  # both callable: listeners and window start at once
        settle = 3.0 if window < 10 else 5.0
        if listeners == "ours":
            listen_url = site.url
        else:
            assert isinstance(site, Site), "OCS's listeners are on loopback only"
            listen_url = site.ocs_url
        listening = popen(
            [
                PY,
                str(HERE / "_scale_listeners.py"),
                listen_url,
                REALM,
                ROOT,
                str(CLIENTS),
                str(settle),
                str(window),
                listeners,
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        time.sleep(settle)  # acq started, every listener subscribed
        routed0 = hub_messages(site.stats_file)
        cpu0 = (cpu_total(hub_pids), cpu_total(pids), time.perf_counter())
        # start+waits while the listeners listen (not counted in the CPU: the calls' load
        # is the client's, not the site's; the window is long beside them)
        times = run(start_waits(site, ids, calls), 60 + calls)
        out["op"] = (pct(times, 0.5), pct(times, 0.99))
        time.sleep(max(0.0, window - (time.perf_counter() - cpu0[2])))
        cpu1 = (cpu_total(hub_pids), cpu_total(pids), time.perf_counter())
        routed = messages_per_s(routed0, hub_messages(site.stats_file))
        heard, _ = listening.communicate(timeout=120)
        span = cpu1[2] - cpu0[2]
        out["hub_cpu"] = (cpu1[0] - cpu0[0]) / span
        out["agent_cpu"] = (cpu1[1] - cpu0[1]) / span
        out["hub_messages_per_s"] = routed
        out["hub_in"], out["hub_out"] = (sum(routed[way].values()) for way in ("received", "sent"))
        out["pss_mib"] = sum(pss_kib(p) for p in pids) / 1024
        out["pss_per_agent_mib"] = out["pss_mib"] / (n + 1)
        listened = json.loads(heard.strip().splitlines()[-1])
        out["events_per_client_s"] = listened["events_per_client_s"]
        out["beat_latency"] = (pct(listened["latency"], 0.5), pct(listened["latency"], 0.99))
        out["beat_gap"] = (pct(listened["gaps"], 0.5), pct(listened["gaps"], 0.99))
        out["beats_heard_from"] = listened["heard"]
        out["listeners_connected"] = listened["connected"]
        reg = client(site, registry)
        data = run(reg.request("status", "main"), 20).session.get("data") or {}
        run(reg.close(), 5)
        agents = data.get("agents", data)  # ours nests them under "agents"; OCS does not
        expired = [a for a, s in agents.items() if isinstance(s, dict) and s.get("expired")]
        out["registry_known"] = sum(1 for s in agents.values() if isinstance(s, dict))
        out["registry_expired"] = len([a for a in expired if a.split(".")[-1] in ids])
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:  # OCS agents take seconds to stop; not measured here
                p.wait(30 if kind == "ours" else 3)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
    return out


def per_event(run: dict[str, Any], n: int) -> str:
    """What the CPU bought: each listener hears every event of the site, so it hears what the
    agents sent, and the hub delivered that to every listener. A change that sends fewer
    events for more CPU each shows here, not only in the totals."""
    sent = run["events_per_client_s"]
    if not sent:
        return "no events"
    delivered = sent * CLIENTS
    return (
        f"{sent / (n + 1):.2f}; {run['hub_cpu'] / delivered * 1e6:.0f} µs; "
        f"{run['agent_cpu'] / sent * 1e6:.0f} µs"
    )


def scale_budget(quick: bool) -> tuple[float, int]:
    """A scale run's listening window (seconds) and how many start+waits it makes."""
    return (5.0, 20) if quick else (20.0, 200)


def both_at_once(
    site: Site, workdir: Path, n: int, window: float, calls: int, ocs_listeners: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Our run on `site`'s hub and OCS's on a hub of its own, measured in the same window:
    this machine's speed drifts by a third over tens of seconds, which a run after the
    other takes for a difference between the sites."""
    runs: dict[str, dict[str, Any]] = {}
    failed: list[BaseException] = []
    barrier = threading.Barrier(2)

    def one(kind: str, on: Site, listeners: str) -> None:
        try:
            runs[kind] = run_scale(on, workdir, n, kind, window, calls, listeners, barrier)
        except BaseException as exc:
            failed.append(exc)
            barrier.abort()

    ocs_ids = [f"ocs-fd{i:03d}" for i in range(n)] + ["ocs-registry"]
    with Site(workdir, ocs_ids, name="hub-ocs") as ocs_site:
        threads = [
            threading.Thread(target=one, args=("ours", site, "ours")),
            threading.Thread(target=one, args=("ocs", ocs_site, ocs_listeners)),
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    if failed:
        raise failed[0]
    return runs["ours"], runs["ocs"]


def bench_scale(
    site: Site,
    workdir: Path,
    res: Results,
    ns: list[int],
    quick: bool,
    ocs_listeners: str,
    together: bool = False,
) -> None:
    window, calls = scale_budget(quick)
    for n in ns:
        say(f"\n== 1. scale: {n} agents + a registry + {CLIENTS} listening clients ==")
        if together:
            o, c = both_at_once(site, workdir, n, window, calls, ocs_listeners)
        else:
            o = run_scale(site, workdir, n, "ours", window, calls)
            c = run_scale(site, workdir, n, "ocs", window, calls, ocs_listeners)
        say("ours: " + json.dumps(o, default=str))
        say("ocs:  " + json.dumps(c, default=str))
        res.raw[f"scale{n}"] = {"ours": o, "ocs": c}
        res.add(
            f"N={n}: time until all callable",
            "<=10 s (N=100)" if n == 100 else "-",
            secs(o["all_callable"]),
            secs(c["all_callable"]),
            o["all_callable"] <= 10 if n == 100 else None,
        )
        res.add(
            f"N={n}: hub CPU | agents' CPU (% of a core)",
            "-",
            f"{o['hub_cpu']:.0%} | {o['agent_cpu']:.0%}",
            f"{c['hub_cpu']:.0%} | {c['agent_cpu']:.0%}",
            None,
        )
        res.add(
            f"N={n}: PSS total (per agent)",
            "<=35 MB/agent",
            f"{o['pss_mib']:.0f} MiB ({o['pss_per_agent_mib']:.1f})",
            f"{c['pss_mib']:.0f} MiB ({c['pss_per_agent_mib']:.1f})",
            o["pss_per_agent_mib"] <= 35,
        )
        res.add(
            f"N={n}: heartbeat latency p50 | p99 (ours)",
            "-",
            f"{ms(o['beat_latency'][0])} | {ms(o['beat_latency'][1])}",
            "no send time",
            None,
        )
        res.add(
            f"N={n}: listeners: events/s each; agents heard; connected",
            f"-; {n + 1}; {CLIENTS}",
            f"{o['events_per_client_s']:.0f}; {o['beats_heard_from']}; {o['listeners_connected']}",
            f"{c['events_per_client_s']:.0f}; {c['beats_heard_from']}; {c['listeners_connected']}",
            None,
        )
        res.add(
            f"N={n}: events/s per agent; hub CPU per delivered event; agents' per sent event",
            "-",
            per_event(o, n),
            per_event(c, n),
            None,
        )
        res.add(
            f"N={n}: hub messages/s in | out",
            "-",
            f"{o['hub_in']:.0f} | {o['hub_out']:.0f}",
            f"{c['hub_in']:.0f} | {c['hub_out']:.0f}",
            None,
        )
        res.add(
            f"N={n}: heartbeat gap p50 | p99",
            "~1 s",
            f"{secs(o['beat_gap'][0])} | {secs(o['beat_gap'][1])}",
            f"{secs(c['beat_gap'][0])} | {secs(c['beat_gap'][1])}",
            None,
        )
        res.add(
            f"N={n}: start+wait under load p50 | p99",
            "-",
            f"{ms(o['op'][0])} | {ms(o['op'][1])}",
            f"{ms(c['op'][0])} | {ms(c['op'][1])}",
            None,
        )
        res.add(
            f"N={n}: registry: live agents marked expired",
            "0",
            f"{o['registry_expired']} of {o['registry_known']}",
            f"{c['registry_expired']} of {c['registry_known']}",
            o["registry_expired"] == 0,
        )


def bench_spread(
    site: Site, workdir: Path, res: Results, ns: list[int], quick: bool, k: int
) -> None:
    """Our scale run on loopback and spread over `k` agent hosts, side by side."""
    window, calls = scale_budget(quick)
    for n in ns:
        say(f"\n== 1. scale: {n} agents, on loopback and over {k} hosts + the hub's ==")
        o = run_scale(site, workdir, n, "ours", window, calls)
        say("loopback: " + json.dumps(o, default=str))
        spread = Spread(workdir / f"hosts-{n}", k)
        try:
            h = run_scale(spread, workdir, n, "ours", window, calls)
        finally:
            spread.close()
        say(f"{k} hosts:  " + json.dumps(h, default=str))
        res.raw[f"scale{n}"] = {"loopback": o, f"{k}_hosts": h}
        ratio = h["beat_latency"][1] / o["beat_latency"][1]
        res.add(
            f"N={n}: heartbeat latency p99, loopback | {k} hosts",
            "within 20 %",
            f"{ms(o['beat_latency'][1])} | {ms(h['beat_latency'][1])}",
            f"x{ratio:.2f}",
            abs(ratio - 1) <= 0.2,
        )
        res.add(
            f"N={n}: heartbeat latency p50, loopback | {k} hosts",
            "-",
            f"{ms(o['beat_latency'][0])} | {ms(h['beat_latency'][0])}",
            "-",
            None,
        )
        res.add(
            f"N={n}: start+wait p99; all callable, loopback | {k} hosts",
            "-",
            f"{ms(o['op'][1])}; {secs(o['all_callable'])}",
            f"{ms(h['op'][1])}; {secs(h['all_callable'])}",
            None,
        )
        res.add(
            f"N={n}: live agents expired; heard from, loopback | {k} hosts",
            "0",
            f"{o['registry_expired']}; {o['beats_heard_from']}",
            f"{h['registry_expired']}; {h['beats_heard_from']}",
            o["registry_expired"] == h["registry_expired"] == 0,
        )


# --- 2. spawn -> callable, PSS per forked agent ----------------------------------------------


async def spawn_times(
    site: Site, workdir: Path, n: int, plain: bool
) -> tuple[list[float], list[int]]:
    from socs_like.launcher import spawn

    if plain:
        os.environ["SOCS_LIKE_LAUNCHER"] = "off"
    else:
        os.environ.pop("SOCS_LIKE_LAUNCHER", None)
    label = "plain" if plain else "forked"
    procs = []
    times: list[float] = []
    try:
        # warm-up: the launcher starts (and preloads) on the first spawn; not timed
        with open(workdir / f"{label}-warm.log", "ab") as out:
            warm = await spawn(
                agent_command("FakeData", f"{label}-warm", site.site_file, [])[3:], out
            )
        procs.append(warm)
        await all_callable(site, [f"{label}-warm"], 60)
        for k in range(n):
            iid = f"{label}{k}"
            c = client(site, iid, timeout=2.0)
            with contextlib.suppress(ClientError):  # connected before the clock starts
                await c.call("wamp.session.count")
            t0 = time.perf_counter()
            with open(workdir / f"{iid}.log", "ab") as out:
                proc = await spawn(agent_command("FakeData", iid, site.site_file, [])[3:], out)
            procs.append(proc)
            answered = await poll_api(c, 120)
            if answered is None:
                raise RuntimeError(f"{iid} never answered get_api")
            times.append(answered - t0)
            await c.close()
        await asyncio.sleep(2.0)  # a couple of heartbeats: the memory of a serving agent
        pss = [pss_kib(p.pid) for p in procs]
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            await asyncio.wait_for(p.wait(), 30)
        os.environ.pop("SOCS_LIKE_LAUNCHER", None)
    return times, pss


def bench_spawn(site: Site, workdir: Path, res: Results, n: int) -> None:
    say(f"\n== 2. spawn -> callable, {n} agents one by one; PSS ==")
    fork_t, fork_pss = run_async(spawn_times(site, workdir, n, plain=False), 300)
    plain_t, plain_pss = run_async(spawn_times(site, workdir, n, plain=True), 300)
    say(f"forked: {[round(t, 3) for t in fork_t]}  pss KiB {fork_pss}")
    say(f"plain:  {[round(t, 3) for t in plain_t]}  pss KiB {plain_pss}")
    res.raw["spawn"] = {"forked": fork_t, "plain": plain_t, "pss": [fork_pss, plain_pss]}
    res.add(
        "spawn -> callable p50 | max (launcher vs plain)",
        "<=0.15 s",
        f"{secs(pct(fork_t, 0.5))} | {secs(max(fork_t))}",
        f"plain: {secs(pct(plain_t, 0.5))} | {secs(max(plain_t))}",
        pct(fork_t, 0.5) <= 0.15,
    )
    per_fork = sum(fork_pss) / len(fork_pss) / 1024
    res.add(
        f"PSS per agent, {len(fork_pss)} agents (forked vs plain)",
        "<=35 MB",
        f"{per_fork:.1f} MiB",
        f"plain: {sum(plain_pss) / len(plain_pss) / 1024:.1f} MiB",
        per_fork <= 35,
    )


# --- 3. user-level task call vs OCS's raw start+wait ------------------------------------------


def bench_ops(site: Site, res: Results, n: int) -> None:
    say(f"\n== 3. task call vs OCS raw start+wait, {n} each ==")
    ours = site.ours("ops-ours")
    theirs = site.ocs("ocs-ops")
    run_async(all_callable(site, ["ops-ours", "ocs-ops"], 60), 90)
    c = Client("ops-ours", hub_url=site.url, realm=REALM, address_root=ROOT).connect()
    times, reply = timed_calls(lambda: c.delay_task(delay=0), n, warmup=20)
    assert reply.session["success"], reply
    c.close()
    ocs_times = ocs_start_wait_times(site, "ocs-ops", n, {"delay": 0})
    ours.stop()
    theirs.stop()
    ratio = pct(times, 0.5) / pct(ocs_times, 0.5)
    res.raw["ops"] = {"ours": times, "ocs": ocs_times}
    res.add(
        "task call (Client.delay_task) p50 | p90",
        "<=0.5x OCS raw",
        f"{ms(pct(times, 0.5))} | {ms(pct(times, 0.9))} ({ratio:.2f}x)",
        f"{ms(pct(ocs_times, 0.5))} | {ms(pct(ocs_times, 0.9))}",
        ratio <= 0.5,
    )


# --- 4. overload --------------------------------------------------------------------------------


def run_overload(site: Site, rate: float, duration: float) -> dict[str, Any]:
    iid = f"overload-{int(rate) // 1000}k"
    proc = site.ours(iid, "--num-channels", "4")
    run_async(all_callable(site, [iid], 60), 90)
    probe = FeedProbe()
    c = client(site, iid, timeout=15.0)
    run_async(c.subscribe("false_temperatures", probe), 20)
    assert run_async(c.request("start", "acq", {"sample_rate": float(rate)}), 20).ok
    t0 = time.time()
    warm = 2.0
    lags, api_failures = [], 0
    while time.time() < t0 + warm + duration:
        time.sleep(1.0)
        try:
            api = run_async(c.get_api(), 20)
            lags.append(api["loop"]["lag_ms"])
        except ClientError:
            api_failures += 1
    t1 = time.time()
    run_async(c.request("stop", "acq"), 20)
    final = run_async(c.request("wait", "acq", timeout=20), 40)
    time.sleep(1.0)
    events = probe.snapshot()
    run_async(c.close(), 10)
    proc.stop()
    data = final.session.get("data") or {}
    log = proc.log_path.read_text(errors="replace")
    return {
        "rate": rate,
        "received_per_s": samples_stamped_in(events, t0 + warm, t1 - 1.0) / (t1 - 1.0 - t0 - warm),
        "hub_lost": log.count("lost the hub"),
        "api_failures": api_failures,
        "lag_ms_max": max(lags) if lags else None,
        "lag_ms_p50": pct(lags, 0.5),
        "samples_sent": data.get("samples_sent"),
        "samples_skipped": data.get("samples_skipped"),
        "feed_dropped": data.get("feed_dropped"),
        "feed_drop_rate": data.get("feed_drop_rate"),
    }


def bench_overload(site: Site, res: Results, duration: float) -> None:
    say(f"\n== 4. overload: FakeData on 4 channels, {duration:.0f} s per rate ==")
    runs = [run_overload(site, rate, duration) for rate in (400_000, 1_000_000)]
    for r in runs:
        say(json.dumps(r, default=str))
    low, high = runs
    res.raw["overload"] = runs
    res.add(
        "overload: samples/s received, 1M asked | 400k asked",
        "1M >= 400k",
        f"{high['received_per_s']:,.0f} | {low['received_per_s']:,.0f}",
        "-",
        high["received_per_s"] >= low["received_per_s"] * 0.95,  # noise of a shared machine
    )
    res.add(
        "overload 1M: hub connection lost | get_api failed",
        "0 | 0",
        f"{high['hub_lost']} | {high['api_failures']}",
        "-",
        high["hub_lost"] == 0 and high["api_failures"] == 0,
    )
    res.add(
        "overload 1M: loop lag p50 | max; feed drops/s",
        "-",
        f"{high['lag_ms_p50']:.0f} | {high['lag_ms_max']:.0f} ms; {high['feed_drop_rate']}",
        "-",
        None,
    )


def main() -> int:
    parser = bench_parser(__doc__, "N=3 only and short windows", json=True, keep=True)
    parser.add_argument("--n", default="10,50,100", help="agent counts for the scale runs")
    parser.add_argument("--only", default="spawn,ops,overload,scale", help="sections to run")
    parser.add_argument(
        "--hosts",
        type=int,
        default=1,
        metavar="K",
        help="K > 1: the scale runs of ours on loopback and spread over K namespace hosts "
        "(root only), instead of ours beside OCS's",
    )
    parser.add_argument(
        "--ocs-listeners",
        choices=("ocs", "ours"),
        default="ocs",
        help="who listens in OCS's scale run: subscribers as OCS's are (WebSocket, at the "
        "legacy endpoint), or our clients, as in our run",
    )
    parser.add_argument(
        "--together",
        action="store_true",
        help="run OCS's scale site at the same time as ours, on a hub of its own, and measure "
        "both in the same window (else one after the other, on one hub)",
    )
    args = parser.parse_args()
    if args.hosts > 1 and (why := netns_unavailable()):
        parser.error(f"--hosts {args.hosts}: {why}")
    only = set(args.only.split(","))
    ns = [3] if args.quick else [int(x) for x in args.n.split(",")]
    random.seed(1)
    workdir = start_run("socs-bench-scale-", args.quick)
    res = Results()
    ocs_ids = [f"ocs-fd{i:03d}" for i in range(max(ns))] + ["ocs-registry", "ocs-ops"]
    with Site(workdir, ocs_ids) as site:
        if "spawn" in only:
            bench_spawn(site, workdir, res, 3 if args.quick else 20)
        if "ops" in only:
            bench_ops(site, res, 50 if args.quick else 500)
        if "overload" in only:
            bench_overload(site, res, 3.0 if args.quick else 20.0)
        if "scale" in only and args.hosts > 1:
            bench_spread(site, workdir, res, ns, args.quick, args.hosts)
        elif "scale" in only:
            bench_scale(site, workdir, res, ns, args.quick, args.ocs_listeners, args.together)
    finish_run(res, workdir, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
