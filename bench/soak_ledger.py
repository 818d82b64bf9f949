"""The soak's ledger of data paths: what was handed over, held against where it must have got.

Each function reconciles one path end to end from what is on disk once the site has stopped,
and answers a `PathLedger`: plain counts, and `problems` by category with examples. A
category is a *loss* (data that should be somewhere and is not, and no counter says why), a
*duplicate*, or *info* (worth knowing, lost nothing). The rules:

- **pysmurf → SupRsync → archive**: every file in the simulator's manifest has exactly one
  row in the file database, in its archive, with the manifest's md5 as its local md5, synced
  (or synced and then removed locally), and its archive copy (``<remote-basedir>/<remote
  path>``) has the manifest's md5.
- **DAQ runs → run pipeline → archive**: every run in the runs database is ``archived``; its
  ``raw_location`` names a bundle in the archive and a member ``<run>.tar.zst`` in it, whose
  files are byte-equal (md5) to the run folder the DAQ wrote; no run is in two bundles.
- **data logger windows**: every due time of each schedule between the start of the soak and
  the end of its faults has a run recorded in the data logger's database; each file a run
  names exists and is a readable HDF5 file, and a run that names none carries its reason.
- **recorded feeds**: see `feeds_ledger`.
"""

from __future__ import annotations

import bisect
import hashlib
import io
import itertools
import json
import re
import sqlite3
import subprocess
import tarfile
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
from croniter import croniter
from soak_watch import FeedLog

from socs_like.testing.influxdb import InfluxServer
from socs_like_agents.datalogger.models import Run as LoggerRun
from socs_like_agents.file_recorder.h5file import read_file
from socs_like_agents.filedb.models import FILES_TABLE, FileState
from socs_like_agents.run_pipeline.tables import EVENTS_TABLE, RUNS_TABLE

EXAMPLES = 5


@dataclass
class PathLedger:
    """One data path's reconciliation."""

    name: str
    counts: dict[str, int] = field(default_factory=dict)
    losses: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    duplicates: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    info: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    # a category's count when it is not the number of its examples (feeds: samples)
    sizes: dict[str, int] = field(default_factory=dict)

    def size(self, category: str, examples: Sequence[str]) -> int:
        return self.sizes.get(category, len(examples))

    @property
    def lost(self) -> int:
        return sum(self.size(c, e) for c, e in self.losses.items())

    @property
    def duplicated(self) -> int:
        return sum(self.size(c, e) for c, e in self.duplicates.items())

    def as_dict(self) -> dict[str, Any]:
        def cut(d: Mapping[str, list[str]]) -> dict[str, Any]:
            return {
                c: {"count": self.size(c, e), "examples": e[:EXAMPLES]} for c, e in d.items() if e
            }

        return {
            "counts": self.counts,
            "lost": self.lost,
            "duplicates": self.duplicated,
            "losses": cut(self.losses),
            "duplicate_kinds": cut(self.duplicates),
            "info": cut(self.info),
        }


def md5_file(path: Path) -> str:
    return hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()


def _rows(db: Path, query: str) -> list[sqlite3.Row]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
        con.row_factory = sqlite3.Row
        return list(con.execute(query))


# --- pysmurf files ----------------------------------------------------------------------------


def pysmurf_ledger(manifest: Path, db: Path, basedirs: Mapping[str, Path]) -> PathLedger:
    led = PathLedger("pysmurf → suprsync → archive")
    announced = [json.loads(line) for line in manifest.read_text().splitlines() if line.strip()]
    rows = _rows(db, f"SELECT * FROM {FILES_TABLE}")
    by_path: dict[str, list[sqlite3.Row]] = defaultdict(list)
    for row in rows:
        by_path[row["local_path"]].append(row)
    done = (FileState.SYNCED.value, FileState.REMOVED.value)
    verified = 0
    for entry in announced:
        path, md5 = entry["path"], entry["md5"]
        found = by_path.get(path, [])
        if not found:
            led.losses["not registered"].append(path)
            continue
        if len(found) > 1:
            led.duplicates["registered twice"].append(f"{path} ×{len(found)}")
        row = found[0]
        if row["archive_name"] != entry["archive"]:
            led.losses["registered in another archive"].append(
                f"{path}: {row['archive_name']} != {entry['archive']}"
            )
            continue
        if row["local_md5sum"] not in (None, md5):
            led.losses["registered with another md5"].append(f"{path}: {row['local_md5sum']}")
        if row["state"] not in done:
            why = row["checksum_error"] or f"{row['failed_copy_attempts']} failed copies"
            led.losses[f"not archived (state {row['state']})"].append(f"{path}: {why}")
            continue
        copy = basedirs[row["archive_name"]] / row["remote_path"]
        if not copy.is_file():
            led.losses["archive copy missing"].append(str(copy))
        elif md5_file(copy) != md5:
            led.losses["archive copy differs (md5)"].append(str(copy))
        else:
            verified += 1
    listed = {e["path"] for e in announced}
    extra = [r["local_path"] for r in rows if r["local_path"] not in listed]
    led.info["registered, not in the manifest (found by rescan)"] = extra
    led.counts = {
        "announced": len(announced),
        "registered": sum(1 for e in announced if e["path"] in by_path),
        "archived and verified": verified,
        "rows": len(rows),
    }
    return led


# --- DAQ runs ---------------------------------------------------------------------------------


def _zstd_tar_md5s(data: bytes) -> dict[str, str]:
    """The md5 of each file in a ``.tar.zst``, by base name."""
    raw = subprocess.run(["zstd", "-dc"], input=data, capture_output=True, check=True).stdout
    out = {}
    with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
        for member in tar.getmembers():
            f = tar.extractfile(member) if member.isfile() else None
            if f is not None:
                out[Path(member.name).name] = hashlib.md5(
                    f.read(), usedforsecurity=False
                ).hexdigest()
    return out


def runs_ledger(db: Path, daq_root: Path, archive: Path) -> PathLedger:
    led = PathLedger("DAQ runs → run pipeline → archive")
    runs = _rows(db, f"SELECT * FROM {RUNS_TABLE} ORDER BY name")
    last_event = {
        r["run"]: r["message"]
        for r in _rows(db, f"SELECT run, message FROM {EVENTS_TABLE} ORDER BY id")
        if r["message"]
    }
    bundles = sorted(p for p in archive.glob("*.tar") if p.is_file())
    members: Counter[str] = Counter()
    for bundle in bundles:
        try:
            with tarfile.open(bundle) as tar:
                members.update(Path(m.name).name for m in tar.getmembers())
        except (tarfile.TarError, OSError) as exc:
            led.losses["unreadable bundle"].append(f"{bundle.name}: {exc}")
    for name, n in members.items():
        if n > 1:
            led.duplicates["run in several bundles"].append(f"{name} ×{n}")
    led.info["other files in the archive"] = [
        p.name for p in archive.iterdir() if p.suffix != ".tar" and p.name != ".fault-filler"
    ]
    equal = 0
    for run in runs:
        name = run["name"]
        source = daq_root / name
        if run["raw_status"] != "archived":
            why = last_event.get(name, "")
            led.losses[f"not archived ({run['raw_status']}/{run['processed_status']})"].append(
                f"{name}: {why[:200]}"
            )
            continue
        bundle_path, _, member = str(run["raw_location"]).partition("#")
        if not source.is_dir():
            led.info["source folder gone: cannot compare"].append(name)
            continue
        expected = {p.name: md5_file(p) for p in source.iterdir() if p.is_file()}
        try:
            with tarfile.open(bundle_path) as tar:
                f = tar.extractfile(member)
                got = _zstd_tar_md5s(f.read()) if f is not None else {}
        except (KeyError, tarfile.TarError, OSError, subprocess.CalledProcessError) as exc:
            led.losses["archived copy unreadable"].append(f"{name}: {exc}")
            continue
        if got != expected:
            led.losses["archived copy differs from the DAQ's files"].append(
                f"{name}: {sorted(set(got.items()) ^ set(expected.items()))[:3]}"
            )
        else:
            equal += 1
    led.counts = {
        "acquired": len(runs),
        "archived": sum(1 for r in runs if r["raw_status"] == "archived"),
        "byte-equal in bundle": equal,
        "bundles": len(bundles),
    }
    return led


# --- data logger ------------------------------------------------------------------------------

_FILE_IN_MESSAGE = re.compile(r"(\S+\.h5): ")


def logger_ledger(
    db: Path, outdir: Path, schedules: Mapping[str, str], start: float, end: float
) -> PathLedger:
    """`schedules`: name (params, events) → cron expression; due times in (start, end]."""
    led = PathLedger("data logger windows")
    rows = _rows(db, f"SELECT * FROM {LoggerRun.__tablename__} ORDER BY id")
    by_due: dict[tuple[str, float], list[sqlite3.Row]] = defaultdict(list)
    for row in rows:
        by_due[(row["schedule"], float(row["due"]))].append(row)
    expected = 0
    for name, cron in schedules.items():
        it = croniter(cron, start)
        while (due := float(it.get_next(float))) <= end:
            expected += 1
            found = by_due.get((name, due), [])
            if not found:
                led.losses["due window with no run recorded"].append(f"{name} due {due:.0f}")
                continue
            if len(found) > 1:
                led.duplicates["window run twice"].append(f"{name} due {due:.0f} ×{len(found)}")
            for row in found:
                files = _FILE_IN_MESSAGE.findall(row["message"])
                if not files:
                    led.info["run without a file, reason recorded"].append(
                        f"{name} due {due:.0f}: {row['message'][:200]}"
                    )
                for f in files:
                    path = outdir / f
                    try:
                        with h5py.File(path, "r"):
                            pass
                    except OSError as exc:
                        led.losses["file named by a run missing or unreadable"].append(
                            f"{f}: {exc}"
                        )
    named = {f for row in rows for f in _FILE_IN_MESSAGE.findall(row["message"])}
    on_disk = [p.name for p in outdir.glob("*.h5")]
    led.info["files no recorded run names (grabbed again after a kill)"] = [
        f for f in on_disk if f not in named and _after(f, start)
    ]
    drafts = list((outdir / ".draft").glob("*")) if (outdir / ".draft").is_dir() else []
    led.info["drafts left behind"] = [p.name for p in drafts]
    led.counts = {
        "windows due": expected,
        "runs recorded": sum(1 for r in rows if float(r["due"]) > start),
        "files": len(on_disk),
    }
    return led


def _after(file_name: str, start: float) -> bool:
    # <prefix>_<created>_From_...: the file was started at <created>
    try:
        return float(file_name.split("_")[1]) > start
    except (IndexError, ValueError):
        return True


# --- recorded feeds ---------------------------------------------------------------------------


def hdf5_samples(data_dir: Path) -> tuple[dict[tuple[str, str, str], Counter[float]], list[str]]:
    """Every sample time in the FileRecorder's files, by (instance, feed, block), with how
    often it appears; and the files that could not be read (or were left as ``.part``)."""
    out: dict[tuple[str, str, str], Counter[float]] = defaultdict(Counter)
    bad = [f"{p.name}: left as .part" for p in data_dir.rglob("*.part")]
    for path in sorted(data_dir.rglob("*.h5")):
        try:
            blocks = read_file(path)
        except (OSError, KeyError) as exc:
            bad.append(f"{path.name}: {exc}")
            continue
        for key, block in blocks.items():
            out[key].update(block["timestamps"])
    return out, bad


def influx_times(server: InfluxServer, database: str, address: str, feed: str) -> set[int]:
    """The point times (µs) of one feed in InfluxDB."""
    q = f'SELECT * FROM "{address}" WHERE "feed" = \'{feed}\''
    times: set[int] = set()
    for series in server.query(q, database):
        col = series["columns"].index("time")
        times.update(int(v[col]) for v in series["values"])
    return times


@dataclass
class Sink:
    """A recorder: its instance id, what it counted as dropped with a reason (summed over
    its processes), and its kills: when, how far behind it was then (s), when it recorded
    again."""

    instance: str
    dropped: int = 0  # its queue was full (oldest first)
    rejected: int = 0  # the destination refused them
    empty: int = 0  # nothing to write (every field null)
    intake_lost: int = 0  # records it saw missing in the sequence numbers (no reason)
    kills: list[tuple[float, float, float]] = field(default_factory=list)
    # records published while it was not running or away from the hub, counted by it when
    # it started again or re-joined (intake.missed_while_down_by_feed and
    # missed_while_away_by_feed): [first, last] record numbers by feed address
    missed: dict[str, list[tuple[int, int]]] = field(default_factory=dict)

    @classmethod
    def of(
        cls,
        instance: str,
        runs: Iterable[Mapping[str, Any]],
        kills: list[tuple[float, float, float]],
    ) -> Sink:
        out = cls(instance, kills=kills)
        for data in runs:
            out.dropped += int(data.get("dropped") or 0)
            out.rejected += int(data.get("rejected") or 0)
            out.empty += int(data.get("empty") or 0)
            intake = data.get("intake") or {}
            out.intake_lost += int((intake.get("records") or {}).get("lost") or 0)
            for why in ("down", "away"):
                for feed, ranges in (intake.get(f"missed_while_{why}_by_feed") or {}).items():
                    out.missed.setdefault(feed, []).extend((int(a), int(b)) for a, b in ranges)
        return out

    def missed_spans(self, feed: str, log: FeedLog) -> list[tuple[float, float]]:
        """The sample-time spans of the watcher's events of `feed` (address) whose records
        this recorder counted as published while it was down."""
        ranges = self.missed.get(feed, [])
        return [
            (first, last)
            for seq, count, _, first, last in log.events
            if any(a <= seq + count - 1 and seq <= b for a, b in ranges)
        ]

    @property
    def counted(self) -> int:
        return self.dropped + self.rejected + self.empty


@dataclass(frozen=True)
class Causes:
    """What may explain a sample a recorder lacks (not excuse it: each is still a loss)."""

    hub_faults: Sequence[tuple[float, float]] = ()  # spans of injected hub faults

    def of(self, sink: Sink, t: float, feed_total: int, feed_missing: int) -> str:
        if feed_missing == feed_total:
            return f"a feed none of whose samples reach {sink.instance}"
        for k, behind, back in sink.kills:
            if k - max(KILL_QUEUE, behind + 2) <= t <= k:
                return f"in {sink.instance}'s memory when it was killed -9"
            if k < t <= back + 2:
                return f"published while {sink.instance} was restarting after a kill"
        if any(a <= t <= b for a, b in self.hub_faults):
            return (
                "published around a hub restart (before the recorder had subscribed again, "
                "or in flight)"
            )
        return "other"


# a recorder holds samples this long (s) before they are written, when it is not behind: its
# flush interval and a batch's round trip, with room for a loaded machine
KILL_QUEUE = 5.0


Stream = list[tuple[int, int, float, float, float]]


def _example(examples: list[str], text: str) -> None:
    if len(examples) < 50:
        examples.append(text)


def _streams(log: FeedLog) -> list[Stream]:
    """The feed's events split where a new publisher process started (numbers from 0)."""
    streams: list[Stream] = []
    last = -1
    for event in log.events:
        if not streams or (event[0] == 0 and last > 0):
            streams.append([])
            last = -1
        streams[-1].append(event)
        last = max(last, event[0] + event[1] - 1)
    return streams


def _unseen(
    log: FeedLog, held: set[float], window: tuple[float, float]
) -> list[tuple[int, tuple[float, float], str]]:
    """The gaps in the watcher's record numbers that no recorder fills (no sample in the gap's
    time span that the watcher lacks): (records, span, "after record <n> (t=...)")."""
    watched = {t for ts in log.samples.values() for t in ts}
    only_held = sorted(t for t in held if t not in watched)
    gaps = []
    for stream in _streams(log):
        for a, b in itertools.pairwise(sorted(stream)):
            gap = b[0] - (a[0] + a[1])
            if gap <= 0 or not (window[0] <= a[4] and b[3] <= window[1]):
                continue
            i = bisect.bisect_right(only_held, a[4])
            if not (i < len(only_held) and only_held[i] < b[3]):
                where = f"after record {a[0] + a[1] - 1} (t={a[4]:.3f}..{b[3]:.3f})"
                gaps.append((gap, (a[4], b[3]), where))
    return gaps


class _Missing:
    """Samples one recorder lacks, by probable cause, with examples."""

    def __init__(self, sink: Sink, causes: Causes) -> None:
        self.sink = sink
        self.causes = causes
        self.by_cause: Counter[str] = Counter()
        self.examples: dict[str, list[str]] = defaultdict(list)
        self.counted_down = 0  # lacking, and counted by the recorder as missed while down

    def add(
        self,
        label: str,
        lacking: Sequence[float],
        total: int,
        counted_down: Sequence[tuple[float, float]] = (),
    ) -> None:
        first: dict[str, float] = {}
        counts: Counter[str] = Counter()
        for t in sorted(lacking):
            # 1 µs of slack: InfluxDB's times are whole µs
            if any(a - 1e-6 <= t <= b + 1e-6 for a, b in counted_down):
                self.counted_down += 1
                continue
            cause = self.causes.of(self.sink, t, total, len(lacking))
            counts[cause] += 1
            first.setdefault(cause, t)
        for cause, n in counts.items():
            self.by_cause[cause] += n
            _example(self.examples[cause], f"{label}: {n} of {total}, first t={first[cause]:.3f}")

    def book(self, led: PathLedger, where: str) -> int:
        """Losses into `led`: every cause; the recorder's counters explain "other" first."""
        explained = min(self.sink.counted, self.by_cause.get("other", 0))
        for cause, n in sorted(self.by_cause.items()):
            n -= explained if cause == "other" else 0
            if n <= 0:
                continue
            key = f"not in {where}: {cause}"
            led.losses[key] = self.examples[cause]
            led.sizes[key] = n
        return sum(self.by_cause.values())


def feeds_ledger(
    logs: Mapping[tuple[str, str], FeedLog],
    hdf5: Mapping[tuple[str, str, str], Counter[float]],
    influx: Mapping[tuple[str, str], set[int]],
    window: tuple[float, float],
    prefix: str,
    recorder: Sink,
    publisher: Sink,
    source_dropped: int,
    causes: Causes = Causes(),
) -> PathLedger:
    """Every sample the watcher saw on a recorded feed, with time in `window`, against the
    HDF5 files and InfluxDB.

    A sample is (feed, block, time). *Published* is what any of the three saw (the watcher
    may miss events while it is away from the hub; a recorder cannot invent samples). Each
    recorder must hold every published sample, or have counted it as dropped with a reason
    (queue full, refused, empty) or as published while it was down or away from the hub (a
    sample of a record in its ``missed_while_down`` or ``missed_while_away`` ranges): the
    samples it lacks beyond its counters are a loss, shown by probable cause (`Causes`: a
    feed that never reaches it; in its memory when it was killed; around a hub restart;
    other). InfluxDB keeps one point per series and time, so
    there a sample is (feed, time). Records that a gap in the watcher's numbers leaves out
    and that no recorder holds either reached nobody: a loss unless the publishing agents
    counted them dropped.
    """
    led = PathLedger("recorded feeds → HDF5 + InfluxDB")
    t0, t1 = window

    def inside(times: Iterable[float]) -> Counter[float]:
        return Counter(t for t in times if t0 <= t <= t1)

    h5_missing, influx_missing = _Missing(recorder, causes), _Missing(publisher, causes)
    duplicated = published_total = 0
    unseen: dict[str, list[str]] = defaultdict(list)  # by cause
    nobody: Counter[str] = Counter()
    for (address, feed), log in sorted(logs.items()):
        instance = address.removeprefix(prefix)
        feed_h5 = {k: c for k, c in hdf5.items() if k[:2] == (instance, feed)}
        for block, times in log.samples.items():
            seen = inside(times)
            in_h5 = inside(feed_h5.get((instance, feed, block), Counter()).elements())
            published = seen | in_h5  # per sample, the most copies anyone saw
            published_total += sum(published.values())
            if not log.agg_params.get("exclude_aggregator"):
                lacking = list((published - in_h5).elements())
                h5_missing.add(
                    f"{instance}/{feed}/{block}",
                    lacking,
                    sum(published.values()),
                    recorder.missed_spans(f"{address}.feeds.{feed}", log),
                )
                for t, n in in_h5.items():
                    if n > max(1, seen[t]):
                        duplicated += n - max(1, seen[t])
                        _example(
                            led.duplicates["sample twice in HDF5"],
                            f"{instance}/{feed}/{block} t={t:.6f} ×{n}",
                        )
        have = influx.get((address, feed), set())
        if not log.agg_params.get("exclude_influx"):
            points = {round(t * 1e6) for ts in log.samples.values() for t in inside(ts)}
            points |= {round(t * 1e6) for c in feed_h5.values() for t in inside(c)}
            lacking_i = [p / 1e6 for p in points if not {p - 1, p, p + 1} & have]
            influx_missing.add(
                f"{instance}/{feed}",
                lacking_i,
                len(points),
                publisher.missed_spans(f"{address}.feeds.{feed}", log),
            )
        held = {t for c in feed_h5.values() for t in c} | {t / 1e6 for t in have}
        for n, (first, last), where in _unseen(log, held, window):
            hub = any(a <= last and first <= b for a, b in causes.hub_faults)
            cause = "around a hub restart" if hub else "other"
            nobody[cause] += n
            _example(unseen[cause], f"{instance}/{feed}: {n} {where}")
    missing_h5 = h5_missing.book(led, "HDF5")
    missing_influx = influx_missing.book(led, "InfluxDB")
    explained = min(source_dropped, nobody["other"])  # the agents' drops explain "other"
    for cause, n in sorted(nobody.items()):
        n -= explained if cause == "other" else 0
        if n > 0:
            key = f"records nobody received (gaps in the numbers): {cause}"
            led.losses[key] = unseen[cause]
            led.sizes[key] = n
    if duplicated:
        led.sizes["sample twice in HDF5"] = duplicated
    led.counts = {
        "feeds": len(logs),
        "samples published": published_total,
        "missing in HDF5": missing_h5,
        f"counted dropped by {recorder.instance}": recorder.counted,
        f"counted missed while down or away by {recorder.instance}": h5_missing.counted_down,
        f"{recorder.instance} intake lost (gaps, no reason)": recorder.intake_lost,
        "missing in InfluxDB": missing_influx,
        f"counted dropped/rejected/empty by {publisher.instance}": publisher.counted,
        f"counted missed while down or away by {publisher.instance}": influx_missing.counted_down,
        f"{publisher.instance} intake lost (gaps, no reason)": publisher.intake_lost,
        "records nobody received": sum(nobody.values()),
        "dropped at the source (agents' feed buffers)": source_dropped,
    }
    return led
