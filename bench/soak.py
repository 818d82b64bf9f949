#!/usr/bin/env python
"""Soak: the whole demo site for a long time through a seeded fault campaign, then a ledger.

    .venv/bin/python bench/soak.py --duration 2h [--seed N] [--json FILE] [--keep]
    .venv/bin/python bench/soak.py --duration 3m --compressed      # what CI runs

1. The site (`soak_site`): every agent and simulator of ``site-config.yaml`` under
   ``socs-like up``, in a folder of its own with free ports, a real InfluxDB for the
   InfluxPublisher, and a small tmpfs on each archive folder. Changes to the demo, all for
   the ledger: the pysmurf simulator writes a manifest (``--manifest``), and the data
   logger's schedules run every few minutes (every minute compressed) on one-hour windows,
   so its windows come due during the soak.
2. The faults (`soak_schedule`, `soak_faults`), after every agent has beaten its heart and a
   warm-up: for ``--duration`` seconds, from ``--seed``. Loss and delay on the loopback (tc
   netem) is probed and, where the kernel lacks it, said so in the output.
3. The end: the producers stop (the pysmurf and DAQ simulators, FakeData's ``acq``), the site
   drains (until everything handed over is archived and the recorders' queues are empty, at
   most ``--drain`` s), ``socs-like up`` stops cleanly, and the ledger (`soak_ledger`) and the
   per-agent figures (`soak_report`) are made: a table on the terminal, JSON in
   ``<folder>/ledger.json`` (and ``--json``).

Exit status: 0 when nothing was lost that no counter explains and nothing was duplicated
(with ``--strict``, also no stuck state and no missed target), 1 otherwise, 2 when the
harness itself failed. The soak's folder is removed after a pass unless ``--keep``; after a
failure it is kept for its logs. Every process is stopped and every mount taken away in all
cases (`soak_site.cleanup`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import math
import pickle
import shutil
import sqlite3
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console
from soak_faults import Injector
from soak_ledger import (
    Causes,
    PathLedger,
    Sink,
    feeds_ledger,
    hdf5_samples,
    influx_times,
    logger_ledger,
    pysmurf_ledger,
    runs_ledger,
)
from soak_report import agent_figures, fault_summary, render, verdict, windows
from soak_schedule import schedule
from soak_site import SoakSite, argument, cleanup
from soak_watch import FeedLog, Sample, Sampler, Watcher, session_data

from socs_like.client import AsyncClient, ClientError
from socs_like.supervisor import NOT_AGENTS
from socs_like.testing.faults import netem_unavailable
from socs_like_agents.filedb.models import FILES_TABLE
from socs_like_agents.run_pipeline.tables import RUNS_TABLE

HERE = Path(__file__).resolve().parent
# the tables are wide: as wide as a terminal, and wider when the output goes to a file
console = Console() if sys.stdout.isatty() else Console(width=180)
# the data logger's schedules in the soak (cron, UTC) and its window length
LOGGER_SCHEDULES = {
    False: {"params": "*/5 * * * *", "events": "2-59/10 * * * *"},
    True: {"params": "* * * * *", "events": "*/2 * * * *"},
}
# bytes each archive's tmpfs holds per second of soak: the demo writes ~100 KB/s to each
ARCHIVE_RATE = 200_000
# the agents whose session data the ledger counts (sources' drops, recorders' losses)
LEDGER_CLASSES = ("FakeData", "FileRecorder", "InfluxPublisher")


def seconds(text: str) -> float:
    """``90``, ``90s``, ``5m``, ``2h`` as seconds."""
    units = {"s": 1, "m": 60, "h": 3600}
    if text[-1:] in units:
        return float(text[:-1]) * units[text[-1]]
    return float(text)


def say(text: str) -> None:
    console.print(f"[dim]{time.strftime('%H:%M:%S')}[/dim] {text}")


async def wait_for(
    what: str, check: Callable[[], Awaitable[bool] | bool], timeout: float, every: float = 1.0
) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if not isinstance(result, bool):
            result = await result
        if result:
            return True
        await asyncio.sleep(every)
    say(f"[yellow]{what}: not within {timeout:.0f} s")
    return False


def _caught_up(record: dict[str, Any]) -> bool:
    """A recorder's ``record`` session data says it holds nothing old: its queue is empty, or
    (the feeds that go on, its own stats among them, keep a second's worth waiting for the
    next batch) its oldest queued point waited less than two seconds while connected."""
    if record.get("pending", 1) == 0:
        return True
    return bool(record.get("connected")) and float(record.get("lag", math.inf)) < 2.0


class Soak:
    def __init__(self, args: argparse.Namespace, root: Path) -> None:
        self.args = args
        self.root = root
        compressed = args.compressed
        self.schedules = LOGGER_SCHEDULES[compressed]
        logger_args = [
            "--param-schedule",
            self.schedules["params"],
            "--event-schedule",
            self.schedules["events"],
            "--days",
            "0",
            "--hours",
            "1",
        ]
        extra: dict[str, list[str]] = {
            "sim-pysmurf": ["--manifest", str(root / "manifest.jsonl"), "--seed", str(args.seed)],
            "datalogger": logger_args,
        }
        # The ledger reads these agents' counters from their pushed session data, and a run
        # killed outright keeps only what its last push said: their data goes out every
        # second, as it did before data changes alone waited for --session-data-interval.
        source = yaml.safe_load(args.site_config.read_text())
        for host in source.get("hosts", {}).values():
            for instance in host.get("agent-instances", []):
                if instance.get("agent-class") in LEDGER_CLASSES:
                    extra.setdefault(instance["instance-id"], [])
                    extra[instance["instance-id"]] += ["--session-data-interval", "1"]
        archive_bytes = max(128 << 20, int(ARCHIVE_RATE * (args.duration + args.drain + 600)))
        self.site = SoakSite.create(root, args.site_config, extra, archive_bytes)
        self.watcher = Watcher(self.site)
        self.sampler = Sampler(self.site)
        self.injector = Injector(self.site, self.sampler, aim_window=20 if compressed else 60)
        self.notes: list[str] = []
        self.times: dict[str, float] = {}

    # --- phases -----------------------------------------------------------------------------

    def agents(self) -> dict[str, str]:
        return {
            n: s["class"] for n, s in self.sampler.states.items() if s["class"] not in NOT_AGENTS
        }

    async def start(self) -> None:
        say(f"site in {self.root}; ports {self.site.ports}")
        self.site.start()
        await self.site.wait_control()
        self._tasks = [
            asyncio.ensure_future(self.watcher.run()),
            asyncio.ensure_future(self.sampler.run()),
        ]
        await self.sampler.once()

        def ready() -> bool:
            agents = self.agents()
            return bool(agents) and all(n in self.watcher.lags for n in agents)

        if not await wait_for("every agent's heartbeat", ready, 180):
            missing = sorted(set(self.agents()) - set(self.watcher.lags))
            raise RuntimeError(f"no heartbeat from {missing}: see {self.root}/var/log")
        self.times["ready"] = time.time()
        say(f"all {len(self.agents())} agents beating; warming up {self.args.warmup:.0f} s")
        await asyncio.sleep(self.args.warmup)

    async def faults(self) -> None:
        archives = [str(fs.path) for fs in self.site.archives]
        plan = schedule(
            self.agents(), archives, self.args.duration, self.args.seed, self.args.compressed
        )
        (self.root / "schedule.json").write_text(json.dumps([f.as_dict() for f in plan], indent=1))
        say(f"{len(plan)} faults over {self.args.duration:.0f} s (seed {self.args.seed})")
        self.times["faults"] = time.time()
        await self.injector.run(plan)
        await asyncio.sleep(max(0.0, self.times["faults"] + self.args.duration - time.time()))
        self.times["end"] = time.time()

    async def stop_producers(self) -> None:
        for sim in ("sim-pysmurf", "sim-daq-runs"):
            with contextlib.suppress(Exception):
                await _control(self.site, "stop", sim)
        for instance in self.site.of_class("FakeData"):
            client = AsyncClient.from_site(instance, str(self.site.site_file), timeout=10)
            try:
                await client.request("stop", "acq")
                await client.request("wait", "acq", timeout=10)
            except ClientError as exc:
                self.notes.append(f"could not stop {instance} acq: {exc}")
            finally:
                await client.close()
        say("producers stopped; draining")

    async def drain(self) -> None:
        checks = {
            "pysmurf files archived": self._files_archived,
            "runs archived": self._runs_archived,
            "recorders caught up": self._recorders_caught_up,
        }
        done = dict.fromkeys(checks, False)
        deadline = time.monotonic() + self.args.drain
        while time.monotonic() < deadline and not all(done.values()):
            for name, check in checks.items():
                if not done[name]:
                    with contextlib.suppress(Exception):  # a database busy: next round
                        done[name] = await asyncio.to_thread(check)
            await asyncio.sleep(5)
        self.times["drained"] = time.time()
        left = [name for name, ok in done.items() if not ok]
        if left:
            self.notes.append(f"drain: not reached within {self.args.drain:.0f} s: {left}")
        say(f"drained in {self.times['drained'] - self.times['end']:.0f} s; left: {left or 'none'}")

    def _files_archived(self) -> bool:
        manifest = self.root / "manifest.jsonl"
        paths = {json.loads(line)["path"] for line in manifest.read_text().splitlines()}
        db = argument(self.site.args(self.site.of_class("PysmurfMonitor")[0]), "--db-path")
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
            done = {
                p
                for (p,) in con.execute(
                    f"SELECT local_path FROM {FILES_TABLE} WHERE state IN ('synced', 'removed')"
                )
            }
        return paths <= done

    def _runs_archived(self) -> bool:
        db = argument(self.site.args(self.site.of_class("RunPipeline")[0]), "--db-path")
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
            (left,) = con.execute(
                f"SELECT count(*) FROM {RUNS_TABLE} WHERE raw_status != 'archived'"
            ).fetchone()
        return bool(left == 0)

    def _recorders_caught_up(self) -> bool:
        for instance in (
            *self.site.of_class("FileRecorder"),
            *self.site.of_class("InfluxPublisher"),
        ):
            runs = self.watcher.session_data(instance, "record")
            if not runs or not _caught_up(runs[-1]):
                return False
        return True

    async def stop(self) -> Observed:
        """Stop watching, then stop `socs-like up`; what the run saw."""
        await self.sampler.once()
        for task in self._tasks:
            task.cancel()
        await self.watcher.close()
        say("stopping socs-like up")
        code = await asyncio.to_thread(self.site.stop_up)
        self.injector.close()
        return Observed(
            compressed=self.args.compressed,
            duration=self.args.duration,
            seed=self.args.seed,
            schedules=self.schedules,
            times=self.times,
            notes=[*self.notes, f"socs-like up exited with {code}"],
            agents=self.agents(),
            states=dict(self.sampler.states),
            series=dict(self.sampler.series),
            lags=dict(self.watcher.lags),
            feeds=self.watcher.feeds,
            sessions=self.watcher.sessions,
            away=self.watcher.away,
            fault_log=self.injector.log,
        )


@dataclass
class Observed:
    """What a run saw, kept in the soak's folder (``observed.pkl``) so that its ledger can
    be made again from the folder (``--ledger FOLDER``)."""

    compressed: bool
    duration: float
    seed: int
    schedules: dict[str, str]
    times: dict[str, float]
    notes: list[str]
    agents: dict[str, str]  # instance id -> agent class
    states: dict[str, dict[str, Any]]  # the supervisor's last list
    series: dict[str, list[Sample]]
    lags: dict[str, list[tuple[float, float]]]
    feeds: dict[tuple[str, str], FeedLog]
    sessions: dict[tuple[str, str, float], dict[str, Any]]
    away: list[list[float]]
    fault_log: list[dict[str, Any]]

    def kills(self, instance: str) -> list[tuple[float, float, float]]:
        """When recorder `instance` was killed, how far behind (s) its ``record`` op said it
        was last before (``lag``: the oldest queued sample's wait), and when the next
        ``record`` started."""
        runs = sorted(
            (start, s.get("data") or {})
            for (i, op, start), s in self.sessions.items()
            if (i, op) == (instance, "record")
        )
        out = []
        for e in self.fault_log:
            if e["event"] == "killed" and e["target"] == instance:
                k = float(e["time"])
                before = [data for start, data in runs if start < k]
                behind = float(before[-1].get("lag") or 0) if before else 0.0
                back = min((start for start, _ in runs if start > k), default=k + 10)
                out.append((k, behind, back))
        return out

    def session_data(self, instance: str, op_name: str) -> list[dict[str, Any]]:
        return session_data(self.sessions, instance, op_name)


def ledger(site: SoakSite, seen: Observed) -> list[PathLedger]:
    """Every data path reconciled (the site stopped, its InfluxDB running)."""
    monitor = site.args(site.of_class("PysmurfMonitor")[0])
    basedirs = {
        str(argument(site.args(i), "--archive-name")): Path(
            str(argument(site.args(i), "--remote-basedir"))
        )
        for i in site.suprsyncs
    }
    pipeline = site.args(site.of_class("RunPipeline")[0])
    logger = site.args(site.of_class("DataGrabber")[0])
    ledgers = [
        pysmurf_ledger(
            site.root / "manifest.jsonl", Path(str(argument(monitor, "--db-path"))), basedirs
        ),
        runs_ledger(
            Path(str(argument(pipeline, "--db-path"))),
            Path(str(argument(pipeline, "--daq-root"))),
            site.pipeline_archive(),
        ),
        logger_ledger(
            Path(str(argument(logger, "--db-path"))),
            Path(str(argument(logger, "--outdir"))),
            seen.schedules,
            seen.times["ready"],
            # the logger keeps running while the site drains: a run due up to a minute
            # before the end of the drain has had time to finish
            seen.times["drained"] - 60,
        ),
    ]
    recorder = site.of_class("FileRecorder")[0]
    publisher = site.of_class("InfluxPublisher")[0]
    hdf5, bad = hdf5_samples(Path(str(argument(site.args(recorder), "--data-dir"))))
    database = str(argument(site.args(publisher), "--database"))
    influx = {key: influx_times(site.influx, database, *key) for key in seen.feeds}
    source_dropped = sum(
        int(d.get("feed_dropped") or 0)
        for i in site.of_class("FakeData")
        for d in seen.session_data(i, "acq")
    )
    feeds = feeds_ledger(
        seen.feeds,
        hdf5,
        influx,
        (seen.times["ready"] + 5, seen.times["end"]),
        f"{site.address_root}.",
        Sink.of(recorder, seen.session_data(recorder, "record"), seen.kills(recorder)),
        Sink.of(publisher, seen.session_data(publisher, "record"), seen.kills(publisher)),
        source_dropped,
        Causes(hub_faults=windows(seen.fault_log, None)),
    )
    if bad:
        feeds.losses["HDF5 files unreadable or left unfinished"] = bad
    return [*ledgers, feeds]


def conclude(site: SoakSite, seen: Observed, strict: bool) -> dict[str, Any]:
    """The ledger, the figures per agent and the verdict, as JSON-ready data."""
    ledgers = ledger(site, seen)
    agents = agent_figures(
        sorted(seen.agents),
        seen.states,
        seen.series,
        seen.lags,
        seen.fault_log,
        site.root / "var" / "log",
    )
    netem = netem_unavailable()
    return {
        "run": {
            "duration_s": seen.duration,
            "seed": seen.seed,
            "compressed": seen.compressed,
            "folder": str(site.root),
            "times": seen.times,
            "watcher_away": seen.away,
        },
        "faults": {
            "by_kind": fault_summary(seen.fault_log),
            "notes": [f"loopback loss/delay: {netem or 'available, not used'}", *seen.notes],
        },
        "ledger": {led.name: led.as_dict() for led in ledgers},
        "agents": agents,
        "verdict": verdict(ledgers, agents, seen.fault_log, strict),
    }


async def _control(site: SoakSite, op: str, target: str) -> None:
    from socs_like_agents.host_manager.control import request

    await request(site.control, op, id=target)


async def run(args: argparse.Namespace, root: Path) -> tuple[SoakSite, Observed]:
    soak = Soak(args, root)
    try:
        await soak.start()
        await soak.faults()
        await soak.stop_producers()
        await soak.drain()
        seen = await soak.stop()
    finally:
        soak.injector.close()
        soak.site.stop_up()
    with (root / "observed.pkl").open("wb") as out:
        pickle.dump(seen, out)
    return soak.site, seen


def make_ledger(site: SoakSite, seen: Observed, strict: bool) -> dict[str, Any]:
    """`conclude` with the site's InfluxDB running, then everything stopped."""
    say("making the ledger")
    try:
        if site.influx.process is None:
            site.influx.start()
        return conclude(site, seen, strict)
    finally:
        left = site.close()
        if left:
            say(f"[yellow]killed {len(left)} processes still running at the end: {left}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--duration", type=seconds, default=seconds("10m"), help="of the faults")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument(
        "--compressed",
        action="store_true",
        help="every kind of fault at least once, shortened (default for --duration < 20m)",
    )
    p.add_argument("--drain", type=seconds, default=None, help="at most (default 600 s; 240)")
    p.add_argument("--warmup", type=seconds, default=30.0, help="before the first fault")
    p.add_argument("--site-config", type=Path, default=HERE.parent / "site-config.yaml")
    p.add_argument(
        "--workdir",
        type=Path,
        default=Path(tempfile.gettempdir()),
        help="the soak's folder is made in it (made if missing)",
    )
    p.add_argument("--json", type=Path, help="also write the result here")
    p.add_argument("--keep", action="store_true", help="keep the soak's folder after a pass")
    p.add_argument("--strict", action="store_true", help="stuck states and missed targets fail")
    p.add_argument(
        "--ledger",
        type=Path,
        metavar="FOLDER",
        help="no run: make the ledger again from the folder a soak kept",
    )
    args = p.parse_args(argv)
    # the watcher loses the hub on purpose: no WAMP library warnings about it
    logging.getLogger("socs_like.client").setLevel(logging.ERROR)
    args.compressed = args.compressed or args.duration < 20 * 60
    if args.drain is None:
        args.drain = 240.0 if args.compressed else 600.0
    if not args.ledger:
        args.workdir.mkdir(parents=True, exist_ok=True)
    root = args.ledger or Path(tempfile.mkdtemp(prefix="soak-", dir=args.workdir))
    try:
        if args.ledger:
            site = SoakSite.existing(root)
            with (root / "observed.pkl").open("rb") as f:
                seen = pickle.load(f)
        else:
            site, seen = asyncio.run(run(args, root))
        result = make_ledger(site, seen, args.strict)
    except Exception:
        console.print_exception()
        cleanup(root)
        say(f"[red]the harness failed; its folder is kept: {root}")
        return 2
    text = json.dumps(result, indent=1, default=str)
    (root / "ledger.json").write_text(text)
    if args.json:
        args.json.write_text(text)
    render(result, console)
    ok = bool(result["verdict"]["ok"])
    if ok and not args.keep and not args.ledger:
        shutil.rmtree(root, ignore_errors=True)
    else:
        say(f"logs, databases and ledger.json kept in {root}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
