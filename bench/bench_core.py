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

import asyncio
import contextlib
import json
import math
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from feed_probe import FeedProbe, feed_stats, samples_stamped_in, seq_report
from harness import (
    ExitWatch,
    Proc,
    Results,
    Site,
    bench_parser,
    cpu_total,
    finish_run,
    ms,
    ocs_start_wait_times,
    pct,
    poll_api,
    run_async,
    say,
    secs,
    start_run,
    timed_calls,
    tree,
    wait_callable,
)

from socs_like.client import AsyncClient, Client, ClientError

OCS_FEED_RATE_2CH = 12_000  # OCS's recorded feed dies near 13 000 samples/s with 2 channels


# --- 1. op start+wait -----------------------------------------------------------------------------


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
    say_spread("ours  AsyncClient WAMP", ours_async)

    def sync_loop(client: Any) -> list[float]:
        times, reply = timed_calls(lambda: client.delay_task(delay=0), n, warmup=50)
        assert reply[0] == 0 and reply[2]["success"], reply
        return times

    c = Client("bench-ops", site_config=str(site.site_file))
    ours_sync = sync_loop(c)
    c.close()
    say_spread("ours  Client WAMP", ours_sync)
    ch = Client("bench-ops", site_config=str(site.site_file), transport="http")
    ours_http = sync_loop(ch)
    say_spread("ours  Client HTTP", ours_http)

    try:
        ocs_wamp = ocs_start_wait_times(site, "ocs-ops", n, params)
    except RuntimeError as e:
        say(str(e))
        ocs_wamp = []
    say_spread("ocs   client_t WAMP", ocs_wamp)

    from ocs.ocs_client import OCSClient

    oc = OCSClient("ocs-ops", args=["--site-file", str(site.ocs_site_file)])
    ocs_http = sync_loop(oc)
    say_spread("ocs   OCSClient HTTP", ocs_http)
    ours.stop()
    theirs.stop()

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
    c50, oh50 = pct(ocs_wamp, 0.5), pct(ocs_http, 0.5)
    wamp_target = "<=1.0 ms, <=1/2 OCS"
    for path, who, ours_t, ocs_t, target, ok in (
        ("WAMP", "AsyncClient | client_t", ours_async, ocs_wamp, wamp_target, None),
        ("WAMP", "sync Client | client_t", ours_sync, ocs_wamp, wamp_target, None),
        ("HTTP", "Client | OCSClient", ours_http, ocs_http, "<= OCS", pct(ours_http, 0.5) <= oh50),
    ):
        o50 = pct(ours_t, 0.5)
        if ok is None:
            ok = o50 <= 1e-3 and (math.isnan(c50) or o50 <= c50 / 2)
        res.add(f"op start+wait {path} median ({who})", target, ms(o50), ms(pct(ocs_t, 0.5)), ok)
        res.add(
            f"op start+wait {path} p90 ({who})",
            "-",
            ms(pct(ours_t, 0.9)),
            ms(pct(ocs_t, 0.9)),
            None,
        )


def say_spread(label: str, times: list[float]) -> None:
    say(f"{label:25s}median {ms(pct(times, 0.5))}  p90 {ms(pct(times, 0.9))}")


# --- 2. feed throughput ---------------------------------------------------------------------------


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
    time.sleep(warm)
    # CPU over the window, % of one core: the agent, the hub (crossbar's process tree) and
    # the subscriber (this process: the AsyncClient's loop decodes every event)
    assert site.info is not None and site.info.hub.process is not None
    who = {"agent": [proc.p.pid], "hub": tree(site.info.hub.process.pid), "sub": [os.getpid()]}
    cpu0 = {k: cpu_total(v) for k, v in who.items()}
    tc0 = time.time()
    while time.time() < deadline:
        time.sleep(0.25)
        if not proc.alive():
            dead_at = time.time() - t0
            break
    t1 = time.time()
    cpu = {k: 100 * (cpu_total(v) - cpu0[k]) / (t1 - tc0) for k, v in who.items()}
    stop = run_async(client.request("stop", "acq"), 20) if proc.alive() else None
    final = run_async(client.request("wait", "acq", timeout=20), 40) if proc.alive() else None
    time.sleep(1.5 if not via_ocs else 2.5)  # let the tail of the feed arrive
    events = probe.snapshot()
    run_async(client.close(), 10)
    stats = feed_stats(events, t0 + warm, t1)
    # The rate counts samples by timestamp; the agents never make the samples of their last
    # frame before the stop, so that count ends 1 s before it.
    stats["rate"] = samples_stamped_in(events, t0 + warm, t1 - 1.0) / (t1 - 1.0 - t0 - warm)
    stats["cpu"] = cpu
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
    site: Site,
    res: Results,
    duration: float,
    rate: float,
    channels: int,
    ocs_rate: float,
    lists_copy: bool,
) -> None:
    say(f"\n== 2. feed: one agent -> crossbar -> one subscriber, {duration:.0f} s ==")
    ours = site.ours("bench-feed", "--num-channels", str(channels), legacy=lists_copy)
    wait_callable(site, ours, "bench-feed")
    copy = " (and OCS's lists copy)" if lists_copy else ""
    say(f"ours: FakeData acq, {channels} channels at {rate:.0f} samples/s{copy} ...")
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

    ours_ok_rate = o["rate"] >= rate * 0.999  # the window's edges: a sample or two
    res.add(
        f"feed samples/s made and received ({channels} ch, {duration:.0f} s)",
        f">={rate:.0f}",
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
        "feed CPU % of a core: agent | hub | subscriber",
        "-",
        " | ".join(f"{o['cpu'][k]:.0f}" for k in ("agent", "hub", "sub")),
        " | ".join(f"{c['cpu'][k]:.0f}" for k in ("agent", "hub", "sub")),
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
    with Site(workdir, ["ocs-hub"], name="hub-restart") as site:
        _bench_hub(site, res, outage)


def still_running(status: Any, session_id: Any) -> bool:
    """Whether a status reply shows the session `session_id`, still running."""
    session = status.session if status is not None else {}
    return bool(session.get("session_id") == session_id and session.get("status") == "running")


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

    wall_kill = time.time()
    watch_exits = ExitWatch({"ours": ours, "ocs": theirs})
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
    ours_exit = watch_exits.exits.get("ours")  # before we stop it ourselves
    stop = run_async(c2.request("stop", "acq"), 10) if ours.alive() else None
    if stop is not None:
        run_async(c2.request("wait", "acq", timeout=10), 20)
    time.sleep(0.5)
    # OCS gives up some seconds after the hub went away (crossbar_timeout, default 10 s)
    watch_exits.wait("ocs", min(30, time.perf_counter() - watch_exits.t0 + 25))
    events = probe.snapshot()
    run_async(c2.close(), 5)
    run_async(oc2.close(), 5)
    ours.stop()
    theirs.stop(timeout=30)
    watch_exits.join(1)
    ocs_exit = watch_exits.exits.get("ocs")

    same, ocs_same = still_running(after, sid), still_running(ocs_after, ocs_sid)
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


def main() -> int:
    parser = bench_parser(__doc__, json=True, keep=True)
    parser.add_argument(
        "--only", default="op,feed,spawn,hub", help="comma-separated subset of op,feed,spawn,hub"
    )
    parser.add_argument("--feed-rate", type=float, default=100_000, help="our samples/s")
    parser.add_argument("--channels", type=int, default=4, help="feed channels (both agents)")
    parser.add_argument(
        "--lists-copy",
        action="store_true",
        help="our agent reads a site file with the hub's legacy endpoint, so its recorded feed "
        "publishes OCS's lists beside the packed blocks (docs/wire.md)",
    )
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
    with Site(workdir, ["ocs-ops", "ocs-feed"] + [f"ocs-life{i}" for i in range(rounds)]) as site:
        if "op" in only:
            bench_ops(site, res, n_ops)
        if "feed" in only:
            bench_feed(
                site, res, duration, args.feed_rate, args.channels, ocs_rate, args.lists_copy
            )
        if "spawn" in only:
            bench_lifecycle(site, res, rounds)
    if "hub" in only:
        bench_hub(workdir, res, outage)
    finish_run(res, workdir, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
