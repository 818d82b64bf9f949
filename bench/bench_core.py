#!/usr/bin/env python
"""Framework core benchmarks (issue 2): socs_like beside real OCS, measured in the same run.

    .venv/bin/python bench/bench_core.py [--quick] [--only op,feed,spawn,hub] [--json FILE]

Everything runs on loopback: one crossbar from `socs_like.hub.Hub` (our generated config) on a
free port, real agent processes (our `FakeData` and OCS 0.12's `FakeDataAgent`), and clients in
this process. OCS talks to the same crossbar, so the hub is not a variable.

1. op start+wait of ``delay_task(delay=0)``: median and p90, over WAMP and over HTTP.
   Ours: `AsyncClient.run_task` and the sync `Client` (``c.delay_task(delay=0)``).
   OCS: its WAMP control-script path (`ocs.client_t`, in a child process, see
   ``_ocs_wamp_client.py``) and its `OCSClient` over the HTTP bridge.
2. feed: one agent -> crossbar -> one subscriber. FakeData ``acq`` at a high sample rate on
   several channels, for 60 s (10 s with --quick). Loss is proven with ``feed_info``'s
   ``seq_no``/``seq_count`` (records contiguous from 0) and by comparing samples received with
   the agent's own ``samples_sent``. "Added latency" is receive time minus the newest sample's
   timestamp in each event (that sample was made just before the publish call). OCS's
   FakeDataAgent runs at a rate just under the one where its 1-second message passes crossbar's
   1 MiB limit (its feed dies for good there); it has no sequence numbers, so its loss is
   judged from the continuity of its sample timestamps.
3. spawn -> callable: from `Popen` until ``get_api`` answers (polled every 5 ms).
4. SIGTERM -> exit: from the signal until the process has exited.
5. hub killed and restarted after 10 s (3 s with --quick) on the same port, with ``acq``
   running in our agent and in OCS's: time from "hub back" (port open) until each agent answers
   ``get_api``; whether the acq session is the same and still running; whether the feed
   resumed; what the sequence numbers show.

A table ``metric | target | socs_like | ocs | verdict`` closes the output.
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
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from socs_like.client import AsyncClient, Client, ClientError, run_sync
from socs_like.testing.hub import HubInfo, agent_command, free_port, start_hub

HERE = Path(__file__).resolve().parent
PY = sys.executable
ROOT = "observatory"
REALM = "test_realm"
OCS_FEED_RATE_2CH = 12_000  # OCS's recorded feed dies near 13 000 samples/s with 2 channels

# --- small helpers ------------------------------------------------------------------------------


def pct(values: list[float], q: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = math.floor(k), math.ceil(k)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def ms(seconds: float) -> str:
    return "n/a" if seconds is None or math.isnan(seconds) else f"{seconds * 1e3:.2f} ms"


def secs(seconds: float | None) -> str:
    return "n/a" if seconds is None or math.isnan(seconds) else f"{seconds:.2f} s"


def run_async(coro: Any, timeout: float | None = None) -> Any:
    """Run a coroutine on the client loop (the thread that every `Client` shares)."""
    return run_sync(coro, timeout)


def say(text: str) -> None:
    print(text, flush=True)


@dataclass
class Row:
    metric: str
    target: str
    ours: str
    ocs: str
    verdict: str


@dataclass
class Results:
    rows: list[Row] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)

    def add(self, metric: str, target: str, ours: str, ocs: str, ok: bool | None) -> None:
        verdict = "-" if ok is None else ("PASS" if ok else "MISS")
        self.rows.append(Row(metric, target, ours, ocs, verdict))


class Proc:
    """An agent process with its output in a log file."""

    def __init__(self, name: str, argv: list[str], logdir: Path, env: dict[str, str] | None = None):
        self.name = name
        self.log_path = logdir / f"{name}.log"
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.t_spawn = time.perf_counter()
        self.cpu_at_callable = math.nan
        self.p = subprocess.Popen(
            argv,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=os.environ | {"PYTHONUNBUFFERED": "1"} | (env or {}),
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


class Site:
    """A hub and a site file in OCS's format that both kinds of agent read."""

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
        self.start()

    def start(self) -> None:
        # OCS agents and clients cannot log in: they use the hub's legacy endpoint, where
        # only the OCS instance ids listed may register (see docs/security.md).
        if self.legacy_port is None:
            self.legacy_port = free_port()
        legacy = {"port": self.legacy_port, "agents": self.ocs_ids}
        self.info = start_hub(self.folder, port=self.port, legacy=legacy)
        self.site_file = self.folder / "site-config.yaml"
        self.ocs_site_file = self.folder / "ocs-site-config.yaml"
        for path, url, http_url in (
            (self.site_file, self.url, self.http_url),
            (self.ocs_site_file, self.ocs_url, self.ocs_http_url),
        ):
            # OCS agents must be listed in a host's agent-instances.
            path.write_text(
                yaml.safe_dump(
                    {
                        "hub": {
                            "wamp_server": url,
                            "wamp_http": http_url,
                            "wamp_realm": REALM,
                            "address_root": ROOT,
                        },
                        "hosts": {
                            "localhost": {
                                "agent-instances": [
                                    {
                                        "agent-class": "FakeDataAgent",
                                        "instance-id": i,
                                        "arguments": [],
                                    }
                                    for i in self.ocs_ids
                                ]
                            }
                        },
                    }
                )
            )

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

    def ours(self, instance_id: str, *args: str) -> Proc:
        return self._start(
            instance_id, agent_command("FakeData", instance_id, self.site_file, list(args))
        )

    def ocs(self, instance_id: str, *args: str) -> Proc:
        assert instance_id in self.ocs_ids, instance_id
        return self._start(
            instance_id,
            [
                PY,
                "-m",
                "ocs.agents.fake_data.agent",
                "--instance-id",
                instance_id,
                "--site-file",
                str(self.ocs_site_file),
                *args,
            ],
        )

    def _start(self, instance_id: str, argv: list[str]) -> Proc:
        proc = Proc(instance_id, argv, self.workdir)
        self.procs.append(proc)
        return proc

    def client(self, instance_id: str, timeout: float = 5.0) -> AsyncClient:
        return AsyncClient(
            instance_id,
            hub_url=self.url,
            http_url=self.http_url,
            realm=REALM,
            address_root=ROOT,
            timeout=timeout,
        )

    def kill_hub(self) -> None:
        assert self.info is not None
        self.info.hub.kill()

    def close(self) -> None:
        for proc in self.procs:
            proc.kill()
        if self.info is not None:
            self.info.hub.stop()


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


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a live process has used so far (Linux)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return math.nan


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


# --- 1. op start+wait -----------------------------------------------------------------------------


def ocs_start_wait_times(
    site: Site, instance_id: str, n: int, params: dict[str, Any]
) -> list[float]:
    """Seconds each of n raw start+wait of OCS's delay_task took over WAMP, through OCS's
    control-script client in a child process (it owns a reactor); RuntimeError with the
    child's output when it reports no times."""
    out = subprocess.run(
        [
            PY,
            str(HERE / "_ocs_wamp_client.py"),
            site.ocs_url,
            REALM,
            f"{ROOT}.{instance_id}",
            "delay_task",
            str(n),
            json.dumps(params),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    try:
        line = next(x for x in out.stdout.splitlines() if '{"times"' in x)
        times: list[float] = json.loads(line[line.index('{"times"') :])["times"]
    except (StopIteration, ValueError, KeyError):
        raise RuntimeError(
            f"OCS WAMP client failed:\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}"
        ) from None
    return times


def bench_ops(site: Site, res: Results, n: int) -> None:
    say(f"\n== 1. op start+wait of delay_task(delay=0), {n} times each ==")
    ours = site.ours("bench-ops")
    theirs = site.ocs("ocs-ops")
    wait_callable(site, ours, "bench-ops")
    wait_callable(site, theirs, "ocs-ops")
    params = {"delay": 0}

    # ours, AsyncClient over WAMP
    ac = site.client("bench-ops")

    async def async_loop() -> list[float]:
        for _ in range(50):
            await ac.run_task("delay_task", params)
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            reply = await ac.run_task("delay_task", params)
            times.append(time.perf_counter() - t0)
        assert reply.ok and reply.session["success"], reply
        await ac.close()
        return times

    ours_async = run_async(async_loop())
    say(
        f"ours  AsyncClient WAMP   median {ms(pct(ours_async, 0.5))}  "
        f"p90 {ms(pct(ours_async, 0.9))}"
    )

    def sync_loop(client: Any) -> list[float]:
        for _ in range(50):
            client.delay_task(delay=0)
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            reply = client.delay_task(delay=0)
            times.append(time.perf_counter() - t0)
        assert reply[0] == 0 and reply[2]["success"], reply
        return times

    c = Client("bench-ops", site_config=str(site.site_file))
    ours_sync = sync_loop(c)
    c.close()
    say(f"ours  Client WAMP        median {ms(pct(ours_sync, 0.5))}  p90 {ms(pct(ours_sync, 0.9))}")
    ch = Client("bench-ops", site_config=str(site.site_file), transport="http")
    ours_http = sync_loop(ch)
    say(f"ours  Client HTTP        median {ms(pct(ours_http, 0.5))}  p90 {ms(pct(ours_http, 0.9))}")

    try:
        ocs_wamp = ocs_start_wait_times(site, "ocs-ops", n, params)
    except RuntimeError as e:
        say(str(e))
        ocs_wamp = []
    say(f"ocs   client_t WAMP      median {ms(pct(ocs_wamp, 0.5))}  p90 {ms(pct(ocs_wamp, 0.9))}")

    from ocs.ocs_client import OCSClient

    oc = OCSClient("ocs-ops", args=["--site-file", str(site.ocs_site_file)])
    ocs_http = sync_loop(oc)
    say(f"ocs   OCSClient HTTP     median {ms(pct(ocs_http, 0.5))}  p90 {ms(pct(ocs_http, 0.9))}")
    ours.stop()
    theirs.stop()

    o50, c50 = pct(ours_async, 0.5), pct(ocs_wamp, 0.5)
    res.raw["ops"] = {
        k: {"median": pct(v, 0.5), "p90": pct(v, 0.9), "n": len(v)}
        for k, v in {
            "ours_async_wamp": ours_async,
            "ours_client_wamp": ours_sync,
            "ours_client_http": ours_http,
            "ocs_client_t_wamp": ocs_wamp,
            "ocs_ocsclient_http": ocs_http,
        }.items()
    }
    res.add(
        "op start+wait WAMP median (AsyncClient | client_t)",
        "<=1.0 ms, <=1/2 OCS",
        ms(o50),
        ms(c50),
        o50 <= 1e-3 and (math.isnan(c50) or o50 <= c50 / 2),
    )
    res.add(
        "op start+wait WAMP p90 (AsyncClient | client_t)",
        "-",
        ms(pct(ours_async, 0.9)),
        ms(pct(ocs_wamp, 0.9)),
        None,
    )
    s50 = pct(ours_sync, 0.5)
    res.add(
        "op start+wait WAMP median (sync Client | client_t)",
        "<=1.0 ms, <=1/2 OCS",
        ms(s50),
        ms(c50),
        s50 <= 1e-3 and (math.isnan(c50) or s50 <= c50 / 2),
    )
    res.add(
        "op start+wait WAMP p90 (sync Client | client_t)",
        "-",
        ms(pct(ours_sync, 0.9)),
        ms(pct(ocs_wamp, 0.9)),
        None,
    )
    h50, oh50 = pct(ours_http, 0.5), pct(ocs_http, 0.5)
    res.add(
        "op start+wait HTTP median (Client | OCSClient)", "<= OCS", ms(h50), ms(oh50), h50 <= oh50
    )
    res.add(
        "op start+wait HTTP p90 (Client | OCSClient)",
        "-",
        ms(pct(ours_http, 0.9)),
        ms(pct(ocs_http, 0.9)),
        None,
    )


# --- 2. feed throughput ---------------------------------------------------------------------------


class FeedProbe:
    """Subscriber side of the feed benchmark: counts samples, checks sequence numbers."""

    def __init__(self) -> None:
        self.events: list[tuple[float, int | None, int | None, int, float, float]] = []
        self.lock = threading.Lock()

    def __call__(self, payload: Any, feed_info: dict[str, Any] | None = None) -> None:
        now = time.time()
        if feed_info is None and isinstance(payload, (list, tuple)) and len(payload) == 2:
            payload, feed_info = payload  # OCS publishes one argument: [payload, feed_info]
        info = feed_info or {}
        samples, newest, oldest = 0, -math.inf, math.inf
        if isinstance(payload, dict):
            for block in payload.values():
                if isinstance(block, dict) and "timestamps" in block:
                    stamps = block["timestamps"]
                    if stamps:
                        samples += len(stamps)
                        newest = max(newest, stamps[-1])
                        oldest = min(oldest, stamps[0])
        with self.lock:
            self.events.append(
                (now, info.get("seq_no"), info.get("seq_count"), samples, newest, oldest)
            )

    def snapshot(self) -> list[tuple[float, int | None, int | None, int, float, float]]:
        with self.lock:
            return list(self.events)


def seq_report(events: list[tuple[Any, ...]]) -> tuple[int, int, int, list[tuple[int, int]]]:
    """(first seq, next seq after the last, records missing, gaps as (from, to_excl))."""
    ranges = sorted((e[1], e[1] + e[2]) for e in events if e[1] is not None)
    if not ranges:
        return -1, -1, 0, []
    gaps, missing, expect = [], 0, ranges[0][0]
    for lo, hi in ranges:
        if lo > expect:
            gaps.append((expect, lo))
            missing += lo - expect
        expect = max(expect, hi)
    return ranges[0][0], expect, missing, gaps


def samples_stamped_in(events: list[tuple[Any, ...]], t_from: float, t_to: float) -> int:
    """How many received samples carry a timestamp in [t_from, t_to] (evenly spaced per event)."""
    total = 0
    for _, _, _, count, newest, oldest in events:
        if count <= 0 or newest < t_from or oldest > t_to:
            continue
        if count == 1:
            total += 1
            continue
        step = (newest - oldest) / (count - 1)
        if step <= 0:
            total += count
            continue
        first = max(0, math.ceil((t_from - oldest) / step - 1e-9))
        last = min(count - 1, math.floor((t_to - oldest) / step + 1e-9))
        total += max(0, last - first + 1)
    return total


def feed_stats(events: list[tuple[Any, ...]], t_from: float, t_to: float) -> dict[str, Any]:
    window = [e for e in events if t_from <= e[0] <= t_to and e[3] > 0]
    samples = sum(e[3] for e in window)
    lat_newest = [e[0] - e[4] for e in window]
    lat_oldest = [e[0] - e[5] for e in window]
    # Median over samples of (receive - sample timestamp); samples are evenly spaced in an
    # event, so its samples' latencies run from recv-newest to recv-oldest.
    weighted = sorted((e[0] - (e[4] + e[5]) / 2, e[3]) for e in window)
    half, acc, lat_sample = samples / 2, 0, math.nan
    for value, weight in weighted:
        acc += weight
        if acc >= half:
            lat_sample = value
            break
    span = (window[-1][0] - window[0][0]) if len(window) > 1 else math.nan
    return {
        "events": len(window),
        "samples": samples,
        # samples made in the window (by their timestamps) and received, per second: with no
        # loss and bounded latency, the rate the pipeline sustained
        "rate": samples_stamped_in(events, t_from, t_to) / (t_to - t_from)
        if t_to > t_from
        else math.nan,
        # samples that arrived in the window, per second (moves with the latency at its edges)
        "arrival_rate": samples / (t_to - t_from) if t_to > t_from else math.nan,
        "span": span,
        "lat_p50": pct(lat_newest, 0.5),
        "lat_p90": pct(lat_newest, 0.9),
        "lat_max": max(lat_newest) if lat_newest else math.nan,
        "age_p50": pct(lat_oldest, 0.5),
        "sample_lat_p50": lat_sample,
        "lat_last10": pct(lat_newest[-max(1, len(lat_newest) // 10) :], 0.5),
    }


def run_feed(
    site: Site,
    instance_id: str,
    proc: Proc,
    rate: float,
    duration: float,
    start_params: dict[str, Any] | None,
    via_ocs: bool,
) -> dict[str, Any]:
    probe = FeedProbe()
    client = site.client(instance_id, timeout=15.0)
    run_async(client.subscribe("false_temperatures", probe), 20)
    start = run_async(client.request("start", "acq", start_params), 20)
    assert start.ok, start
    t0 = time.time()
    warm = min(3.0, duration / 4)
    deadline = t0 + warm + duration
    dead_at = None
    while time.time() < deadline:
        time.sleep(0.25)
        if not proc.alive():
            dead_at = time.time() - t0
            break
    t1 = time.time()
    stop = run_async(client.request("stop", "acq"), 20) if proc.alive() else None
    final = run_async(client.request("wait", "acq", timeout=20), 40) if proc.alive() else None
    time.sleep(1.5 if not via_ocs else 2.5)  # let the tail of the feed arrive
    events = probe.snapshot()
    run_async(client.close(), 10)
    stats = feed_stats(events, t0 + warm, t1)
    # The rate counts samples by timestamp; the agents never make the samples of their last
    # frame before the stop, so that count ends 1 s before it.
    stats["rate"] = samples_stamped_in(events, t0 + warm, t1 - 1.0) / (t1 - 1.0 - t0 - warm)
    stats["stop_ok"] = bool(stop and stop.ok)
    stats["dead_at"] = dead_at
    total = sum(e[3] for e in events)
    stats["received_total"] = total
    if not via_ocs:
        first, after, missing, gaps = seq_report(events)
        sent = (final.session.get("data", {}) or {}).get("samples_sent") if final else None
        stats.update(
            first_seq=first,
            next_seq=after,
            records_missing=missing,
            gaps=gaps[:5],
            samples_sent=sent,
            samples_lost=(sent - total) if sent is not None else None,
        )
    else:
        # No sequence numbers in OCS: judge continuity by the sample timestamps.
        stamps_gaps = 0
        prev_newest = None
        for e in sorted(events, key=lambda e: e[5]):
            if e[3] == 0:
                continue
            if prev_newest is not None and e[5] - prev_newest > 1.5 / rate:
                stamps_gaps += 1
            prev_newest = e[4]
        expected = None
        if events:
            with_samples = [e for e in events if e[3]]
            if with_samples:
                first_ts = min(e[5] for e in with_samples)
                last_ts = max(e[4] for e in with_samples)
                expected = round((last_ts - first_ts) * rate) + 1
        stats.update(
            timestamp_gaps=stamps_gaps,
            samples_expected=expected,
            samples_lost=(expected - total) if expected is not None else None,
        )
    return stats


def bench_feed(
    site: Site, res: Results, duration: float, rate: float, channels: int, ocs_rate: float
) -> None:
    say(f"\n== 2. feed: one agent -> crossbar -> one subscriber, {duration:.0f} s ==")
    ours = site.ours("bench-feed", "--num-channels", str(channels))
    wait_callable(site, ours, "bench-feed")
    say(f"ours: FakeData acq, {channels} channels at {rate:.0f} samples/s ...")
    o = run_feed(site, "bench-feed", ours, rate, duration, {"sample_rate": float(rate)}, False)
    ours.stop()
    say("ours: " + json.dumps(o, default=str))

    theirs = site.ocs("ocs-feed", "--num-channels", str(channels), "--sample-rate", str(ocs_rate))
    wait_callable(site, theirs, "ocs-feed")
    say(f"ocs: FakeDataAgent acq, {channels} channels at {ocs_rate:.0f} samples/s ...")
    c = run_feed(site, "ocs-feed", theirs, ocs_rate, duration, None, True)
    theirs.stop()
    say("ocs: " + json.dumps(c, default=str))
    res.raw["feed"] = {
        "ours": o,
        "ocs": c,
        "rate": rate,
        "ocs_rate": ocs_rate,
        "channels": channels,
        "duration": duration,
    }

    ours_ok_rate = o["rate"] >= 100_000 * 0.999  # the window's edges: a sample or two
    res.add(
        f"feed samples/s made and received ({channels} ch, {duration:.0f} s)",
        ">=100000",
        f"{o['rate']:,.0f}",
        f"{c['rate']:,.0f} (asked {ocs_rate:,.0f})",
        ours_ok_rate,
    )
    lost_ok = o.get("samples_lost") == 0 and o.get("records_missing") == 0 and o["first_seq"] == 0
    res.add(
        "feed samples lost (seq_no/seq_count contiguous)",
        "0",
        f"{o.get('samples_lost')} (gaps {o.get('records_missing')})",
        f"{c.get('samples_lost')} (ts gaps {c.get('timestamp_gaps')})"
        + (f", died at {c['dead_at']:.0f} s" if c.get("dead_at") else ""),
        lost_ok,
    )
    res.add(
        "feed median added latency (recv - newest sample)",
        "<=250 ms",
        ms(o["lat_p50"]),
        ms(c["lat_p50"]),
        o["lat_p50"] <= 0.25,
    )
    res.add(
        "feed median sample age at receipt",
        "-",
        ms(o["sample_lat_p50"]),
        ms(c["sample_lat_p50"]),
        None,
    )
    res.add(
        "feed added latency p90 | max",
        "-",
        f"{ms(o['lat_p90'])} | {ms(o['lat_max'])}",
        f"{ms(c['lat_p90'])} | {ms(c['lat_max'])}",
        None,
    )


# --- 3 + 4. spawn -> callable, SIGTERM -> exit ---------------------------------------------------


def bench_lifecycle(site: Site, res: Results, rounds: int) -> None:
    say(f"\n== 3+4. spawn -> callable and SIGTERM -> exit, {rounds} rounds each ==")
    data: dict[str, dict[str, list[float]]] = {
        "ours": {"spawn": [], "term": [], "cpu": []},
        "ocs": {"spawn": [], "term": [], "cpu": []},
    }
    for i in range(rounds):
        for kind in ("ours", "ocs"):
            iid = f"bench-life{i}" if kind == "ours" else f"ocs-life{i}"
            proc = site.ours(iid) if kind == "ours" else site.ocs(iid)
            data[kind]["spawn"].append(wait_callable(site, proc, iid))
            data[kind]["cpu"].append(proc.cpu_at_callable)
            time.sleep(0.3)  # let start-up settle (heartbeat running), as a user would
            elapsed = proc.stop(timeout=30)
            data[kind]["term"].append(elapsed if elapsed is not None else math.nan)
            say(
                f"{kind:4s} round {i}: spawn->callable {secs(data[kind]['spawn'][-1])} "
                f"(CPU {secs(data[kind]['cpu'][-1])}), SIGTERM->exit {secs(data[kind]['term'][-1])}"
            )
    res.raw["lifecycle"] = data
    sp_o, sp_c = pct(data["ours"]["spawn"], 0.5), pct(data["ocs"]["spawn"], 0.5)
    te_o, te_c = pct(data["ours"]["term"], 0.5), pct(data["ocs"]["term"], 0.5)
    res.add(
        f"spawn -> callable, median of {rounds}", "<=0.4 s", secs(sp_o), secs(sp_c), sp_o <= 0.4
    )
    res.add(
        "  CPU used until callable (load-independent)",
        "-",
        secs(pct(data["ours"]["cpu"], 0.5)),
        secs(pct(data["ocs"]["cpu"], 0.5)),
        None,
    )
    res.add(f"SIGTERM -> exit, median of {rounds}", "<=0.5 s", secs(te_o), secs(te_c), te_o <= 0.5)


# --- 5. hub killed and back -----------------------------------------------------------------------


def bench_hub(workdir: Path, res: Results, outage: float) -> None:
    say(f"\n== 5. hub killed, back after {outage:.0f} s ==")
    site = Site(workdir, ["ocs-hub"], name="hub-restart")
    try:
        _bench_hub(site, res, outage)
    finally:
        site.close()


def _bench_hub(site: Site, res: Results, outage: float) -> None:
    rate = 1000.0
    ours = site.ours("bench-hub", "--num-channels", "2")
    theirs = site.ocs("ocs-hub", "--num-channels", "2", "--sample-rate", "100")
    wait_callable(site, ours, "bench-hub")
    wait_callable(site, theirs, "ocs-hub")
    probe = FeedProbe()
    ocs_probe = FeedProbe()
    c = site.client("bench-hub")
    oc = site.client("ocs-hub")
    run_async(c.subscribe("false_temperatures", probe), 20)
    run_async(oc.subscribe("false_temperatures", ocs_probe), 20)
    before = run_async(c.request("start", "acq", {"sample_rate": rate}), 20)
    ocs_before = run_async(oc.request("start", "acq"), 20)
    assert before.ok and ocs_before.ok, (before, ocs_before)
    time.sleep(2.5)
    sid = before.session["session_id"]
    ocs_sid = ocs_before.session["session_id"]

    t_kill = time.perf_counter()
    wall_kill = time.time()
    exits: dict[str, float] = {}

    def watch_exit(name: str, proc: Proc) -> None:
        while proc.alive() and time.perf_counter() - t_kill < 60:
            time.sleep(0.05)
        if not proc.alive():
            exits[name] = time.perf_counter() - t_kill

    watchers = [
        threading.Thread(target=watch_exit, args=(n, p), daemon=True)
        for n, p in (("ours", ours), ("ocs", theirs))
    ]
    for w in watchers:
        w.start()
    site.kill_hub()
    run_async(c.close(), 5)
    run_async(oc.close(), 5)
    time.sleep(outage)
    site.start()
    t_back = time.perf_counter()
    wall_back = time.time()

    # Subscribe again at once (before the agent is back, if we can) and poll get_api.
    c2 = site.client("bench-hub", timeout=2.0)
    oc2 = site.client("ocs-hub", timeout=2.0)

    async def reconnect(client: AsyncClient, handler: Callable[..., Any]) -> None:
        while True:
            try:
                await client.subscribe("false_temperatures", handler)
                return
            except ClientError:
                await asyncio.sleep(0.01)

    async def back(client: AsyncClient, proc: Proc, timeout: float) -> tuple[float | None, Any]:
        t = await poll_api(client, timeout, 0.01, alive=proc.alive)
        status = None
        if t is not None:
            with contextlib.suppress(ClientError):
                status = await client.request("status", "acq")
        return t, status

    async def watch() -> tuple[tuple[float | None, Any], tuple[float | None, Any]]:
        await asyncio.wait_for(reconnect(c2, probe), 10)
        await asyncio.wait_for(reconnect(oc2, ocs_probe), 10)
        return await asyncio.gather(back(c2, ours, 10.0), back(oc2, theirs, 30.0))

    (ours_t, _), (ocs_t, ocs_after) = run_async(watch(), 60)
    ours_rereg = (ours_t - t_back) if ours_t else None
    ocs_rereg = (ocs_t - t_back) if ocs_t else None
    time.sleep(2.5)
    after = run_async(c2.request("status", "acq"), 10) if ours.alive() else None
    ours_exit = exits.get("ours")  # before we stop it ourselves
    stop = run_async(c2.request("stop", "acq"), 10) if ours.alive() else None
    if stop is not None:
        run_async(c2.request("wait", "acq", timeout=10), 20)
    time.sleep(0.5)
    # OCS gives up some seconds after the hub went away (crossbar_timeout, default 10 s)
    deadline = time.perf_counter() + 25
    while theirs.alive() and time.perf_counter() < deadline and time.perf_counter() - t_kill < 30:
        time.sleep(0.1)
    events = probe.snapshot()
    run_async(c2.close(), 5)
    run_async(oc2.close(), 5)
    ours.stop()
    theirs.stop(timeout=30)
    for w in watchers:
        w.join(1)
    ocs_exit = exits.get("ocs")

    same = bool(
        after
        and after.session.get("session_id") == sid
        and after.session.get("status") == "running"
    )
    ocs_same = bool(
        ocs_after
        and ocs_after.session.get("session_id") == ocs_sid
        and ocs_after.session.get("status") == "running"
    )
    first, nxt, missing, gaps = seq_report(events)
    resumed = any(e[0] > wall_back and e[3] > 0 for e in events)
    ocs_events = ocs_probe.snapshot()
    ocs_resumed = any(e[0] > wall_back and e[3] > 0 for e in ocs_events)
    # samples made while the hub was away and delivered after it came back (buffered)
    buffered = sum(e[3] for e in events if e[0] > wall_back and e[5] < wall_back)
    outage_samples = rate * (wall_back - wall_kill)
    info = {
        "ours_rereg": ours_rereg,
        "ocs_rereg": ocs_rereg,
        "ocs_exit_after_kill": ocs_exit,
        "ours_exit_after_kill": ours_exit,
        "same_session": same,
        "ocs_same_session": ocs_same,
        "resumed": resumed,
        "ocs_resumed": ocs_resumed,
        "first_seq": first,
        "next_seq": nxt,
        "records_missing": missing,
        "gaps": gaps,
        "buffered_samples_delivered": buffered,
        "outage_samples": outage_samples,
        "after": after.session.get("status") if after else None,
    }
    say("hub: " + json.dumps(info, default=str))
    res.raw["hub"] = info
    ocs_note = f"; exited {ocs_exit:.1f} s after the kill" if ocs_exit else ""
    res.add(
        f"hub back after {outage:.0f} s -> agent re-registered",
        "<=2 s",
        secs(ours_rereg) if ours_rereg is not None else "never",
        (secs(ocs_rereg) if ocs_rereg is not None else "never") + ocs_note,
        ours_rereg is not None and ours_rereg <= 2.0 and ours_exit is None,
    )
    ocs_state = (
        "agent gone"
        if ocs_after is None
        else (f"session {ocs_after.session.get('session_id')} {ocs_after.session.get('status')}")
    )
    res.add(
        "  running acq: same session, still running",
        "yes",
        "yes" if same else "no",
        ("yes" if ocs_same else "no") + f" ({ocs_state})",
        same,
    )
    res.add(
        "  feed resumed after the hub returned",
        "yes",
        "yes" if resumed else "no",
        "yes" if ocs_resumed else "no",
        resumed,
    )
    res.add(
        "  records lost | samples buffered and delivered",
        "gaps visible",
        f"{missing} lost {gaps[:2]} | {buffered}/{outage_samples:.0f}",
        "no seq numbers",
        first == 0 and resumed,
    )


# --- main -----------------------------------------------------------------------------------------


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


def add_output_arguments(parser: argparse.ArgumentParser) -> None:
    """--json and --keep, for `start_run` and `finish_run`."""
    parser.add_argument("--json", help="also write the raw figures to this file")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs)")


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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short runs, for development")
    parser.add_argument(
        "--only", default="op,feed,spawn,hub", help="comma-separated subset of op,feed,spawn,hub"
    )
    parser.add_argument("--feed-rate", type=float, default=100_000, help="our samples/s")
    parser.add_argument("--channels", type=int, default=4, help="feed channels (both agents)")
    add_output_arguments(parser)
    args = parser.parse_args()
    only = set(args.only.split(","))
    n_ops = 200 if args.quick else 1000
    duration = 10.0 if args.quick else 60.0
    rounds = 3 if args.quick else 7
    outage = 3.0 if args.quick else 10.0
    # OCS's feed dies once its 1-second message passes 1 MiB; stay just under that rate.
    ocs_rate = OCS_FEED_RATE_2CH * 3 / (args.channels + 1)

    workdir = start_run("socs-bench-", args.quick)
    res = Results()
    site = Site(workdir, ["ocs-ops", "ocs-feed"] + [f"ocs-life{i}" for i in range(rounds)])
    try:
        if "op" in only:
            bench_ops(site, res, n_ops)
        if "feed" in only:
            bench_feed(site, res, duration, args.feed_rate, args.channels, ocs_rate)
        if "spawn" in only:
            bench_lifecycle(site, res, rounds)
    finally:
        site.close()
    if "hub" in only:
        bench_hub(workdir, res, outage)
    finish_run(res, workdir, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
