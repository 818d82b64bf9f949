"""The soak's fault schedule: which fault, on what, when and for how long, from a seed (pure).

Kinds (what `soak_faults` does for each):

- ``kill``: SIGKILL of an agent process (`socs-like up` restarts it). Some are *aimed*: the
  injector waits (a bounded time) for a moment worth hitting — ``rsync`` (a copy running),
  ``tar`` (packing or bundling), ``job`` (a processing job running), ``grab`` (a data-logger
  file growing), ``announce`` (a file just announced to the monitor) — and ``tree`` kills
  the agent's children with it, as a crash of the whole machine would.
- ``stop``: SIGSTOP of an agent for ``length`` s, then SIGCONT (a frozen process).
- ``hub``: the hub killed (its whole process group), back after ``length`` s.
- ``influx``: InfluxDB stopped for ``length`` s.
- ``sshd``: the DAQ worker's sshd (and its connections) killed, back after ``length`` s.
- ``full``: an archive file system filled to ENOSPC for ``length`` s, then freed.

A full run spreads them over ``duration`` at the rates below (every agent killed about twice
an hour, a freeze every 20 minutes, a hub restart every 30, InfluxDB away 10 minutes once per
two hours, ...). A *compressed* run (for CI: minutes) has each kind at least once — every
agent killed once, each archive filled once — with shortened lengths. Faults on one target
never overlap, and every fault ends before ``duration``.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

# aims an agent's kills may take, by agent class; the rest are killed at random moments
AIMS: Mapping[str, tuple[str, ...]] = {
    "SupRsync": ("rsync",),
    "RunPipeline": ("rsync", "tar", "job"),
    "DataGrabber": ("grab",),
    "PysmurfMonitor": ("announce",),
}
# the whole process tree is killed for these aims (the issue's "the pass and the rsync it
# started killed"); the agent alone for the others
TREE_AIMS = ("rsync", "tar", "job")
HOUR = 3600.0


@dataclass(frozen=True)
class Fault:
    at: float  # seconds after the faults began
    kind: str  # kill | stop | hub | influx | sshd | full
    target: str  # an instance id; "hub"; "influxdb"; "sshd"; an archive folder
    length: float = 0.0  # how long it lasts (0: a kill)
    aim: str = ""  # kill: the moment to catch, see the module doc
    tree: bool = False  # kill: the agent's children too

    @property
    def end(self) -> float:
        return self.at + self.length

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Plan:
    """How many of each and how long, for one run."""

    kills_per_agent: int
    stops: int
    stop_length: tuple[float, float]
    hubs: int
    hub_length: tuple[float, float]
    influx: int
    influx_length: float
    sshd: int
    sshd_length: tuple[float, float]
    fills_per_archive: int
    full_length: tuple[float, float]
    margin: float  # no fault starts in the first `margin` s


def plan(duration: float, compressed: bool) -> Plan:
    if compressed:
        return Plan(
            kills_per_agent=1,
            stops=1,
            stop_length=(30.0, 30.0),
            hubs=1,
            hub_length=(5.0, 10.0),
            influx=1,
            influx_length=max(30.0, 600.0 * duration / (2 * HOUR)),
            sshd=1,
            sshd_length=(20.0, 20.0),
            fills_per_archive=1,
            full_length=(30.0, 30.0),
            margin=5.0,
        )
    hours = duration / HOUR
    return Plan(
        kills_per_agent=max(1, round(2 * hours)),
        stops=max(1, round(3 * hours)),
        stop_length=(30.0, 90.0),
        hubs=max(1, round(2 * hours)),
        hub_length=(5.0, 30.0),
        influx=max(1, round(hours / 2)),
        influx_length=min(600.0, duration / 3),
        sshd=max(1, round(hours)),
        sshd_length=(60.0, 300.0),
        fills_per_archive=max(1, round(hours / 2)),
        full_length=(120.0, 300.0),
        margin=60.0,
    )


def _place(
    rng: random.Random,
    taken: dict[str, list[tuple[float, float]]],
    target: str,
    length: float,
    duration: float,
    margin: float,
) -> float | None:
    """A start time for a fault on `target` that overlaps none of its others (with a gap of
    10 s around each, so the agent is back before the next one); None if none fits."""
    latest = duration - length - 1.0
    if latest < margin:
        return None
    for _ in range(200):
        at = rng.uniform(margin, latest)
        if all(at + length + 10 <= a or at >= b + 10 for a, b in taken.get(target, [])):
            taken.setdefault(target, []).append((at, at + length))
            return at
    return None


def schedule(
    agents: Mapping[str, str],
    archives: Sequence[str],
    duration: float,
    seed: int,
    compressed: bool = False,
) -> list[Fault]:
    """The faults of one run, in time order. `agents`: instance id → agent class (every
    agent that may be killed or frozen); `archives`: the archive folders that may fill up."""
    rng = random.Random(seed)
    p = plan(duration, compressed)
    taken: dict[str, list[tuple[float, float]]] = {}
    faults: list[Fault] = []

    def add(kind: str, target: str, length: float, lock: str | None = None, **kw: Any) -> None:
        at = _place(rng, taken, lock or target, length, duration, p.margin)
        if at is not None:
            faults.append(Fault(round(at, 1), kind, target, round(length, 1), **kw))

    for instance, agent_class in sorted(agents.items()):
        for _ in range(p.kills_per_agent):
            aims = AIMS.get(agent_class, ())
            aim = rng.choice(aims) if aims and rng.random() < 0.75 else ""
            add("kill", instance, 0.0, aim=aim, tree=aim in TREE_AIMS and rng.random() < 0.5)
    for _ in range(p.stops):
        add("stop", rng.choice(sorted(agents)), rng.uniform(*p.stop_length))
    for _ in range(p.hubs):
        add("hub", "hub", rng.uniform(*p.hub_length))
    for _ in range(p.influx):
        add("influx", "influxdb", p.influx_length)
    for _ in range(p.sshd):
        add("sshd", "sshd", rng.uniform(*p.sshd_length))
    for archive in archives:
        for _ in range(p.fills_per_archive):
            add("full", archive, rng.uniform(*p.full_length))
    return sorted(faults, key=lambda f: (f.at, f.kind, f.target))
