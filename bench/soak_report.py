"""The soak's figures per agent, its verdict, and how both are shown (terminal table, JSON).

Per agent: restarts (all, and those no injected kill explains), hub losses (the agent's own
"lost the hub" log lines) inside and outside injected hub faults and the agent's own
freezes, loop lag from its heartbeats (p50/p99/max, and p99 outside those faults), resident
memory at start and end, its peak, and its steady growth per hour: over every process life
after its warm-up, outside injected faults (which fill bounded queues and backlogs; those show
in the peak). The dashboard (``web``) is measured beside the agents.

The verdict fails on any loss or duplicate of the ledger. Stuck states (something only a
person would have cleared) and missed targets are listed beside it; ``strict`` fails on
those too.
"""

from __future__ import annotations

import itertools
import statistics
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from soak_ledger import PathLedger
from soak_watch import Sample

LAG_TARGET_MS = 250.0
RSS_TARGET_MB_PER_H = 20.0
HUB_LOSS_MARK = "lost the hub"
DASHBOARD = "web"  # `socs-like up`'s name for the dashboard, measured beside the agents
SETTLE = 30.0  # s after a hub fault or a freeze in which a hub loss or a lag belongs to it
# A process's first minutes import what its first work needs and fill its caches and pools:
# in the 2-hour soak the run pipeline grew 105 -> 126 MB in its first 2 minutes, then 2 MB in 25.
WARM_UP = 300.0
DRAIN = 120.0  # s after a fault in which the backlogs it built (queues, catch-up) drain
MIN_STEADY = 1800.0  # s of steady samples below which a growth per hour says nothing


def windows(
    fault_log: Sequence[Mapping[str, Any]], target: str | None
) -> list[tuple[float, float]]:
    """Time spans of injected faults that may cost an agent its hub link or its loop: hub
    faults (`target` None) or the freezes of `target`, widened by SETTLE."""

    def relevant(e: Mapping[str, Any]) -> bool:
        if target is None:
            return e.get("kind") == "hub"
        return e.get("kind") == "stop" and e.get("target") == target

    spans = []
    begun: dict[float, float] = {}  # the fault's place in the schedule -> when it began
    for e in filter(relevant, fault_log):
        if e["event"] in ("hub killed", "frozen"):
            begun[float(e["at"])] = float(e["time"])
        elif e["event"] in ("hub back", "thawed") and float(e["at"]) in begun:
            spans.append((begun.pop(float(e["at"])) - 1.0, float(e["time"]) + SETTLE))
    spans += [(t - 1.0, time.time()) for t in begun.values()]  # never ended
    return spans


def fault_spans(fault_log: Sequence[Mapping[str, Any]]) -> list[tuple[float, float]]:
    """Every injected fault that lasts (all but kills), from its start to DRAIN after its end:
    the spans in which a process may rightly hold more memory for a while."""
    spans = []
    begun: dict[tuple[str, float], float] = {}
    for e in fault_log:
        if e.get("kind") in (None, "kill") or e["event"] == "failed":
            continue
        key = (str(e["kind"]), float(e["at"]))
        if key in begun:
            spans.append((begun.pop(key) - 1.0, float(e["time"]) + DRAIN))
        else:
            begun[key] = float(e["time"])
    spans += [(t - 1.0, time.time()) for t in begun.values()]  # never ended
    return spans


def _clock(t: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(t))


def _inside(t: float, spans: Iterable[tuple[float, float]]) -> bool:
    return any(a <= t <= b for a, b in spans)


def hub_losses(log_dir: Path, name: str) -> list[float]:
    """Times of the agent's "lost the hub" lines, over its rotated log files."""
    times = []
    for path in sorted(log_dir.glob(f"{name}.log*")):
        for line in path.read_text(errors="replace").splitlines():
            if HUB_LOSS_MARK in line and line[:4].isdigit():
                try:
                    stamp = time.mktime(time.strptime(line[:19], "%Y-%m-%d %H:%M:%S"))
                except ValueError:
                    continue
                times.append(stamp + int(line[20:23] or 0) / 1000)
    return sorted(times)


def _pct(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def steady_growth(
    samples: Sequence[Sample], faults: Sequence[tuple[float, float]]
) -> tuple[float | None, float]:
    """MB per hour grown between consecutive samples of one process, both past its warm-up
    and outside `faults`, summed over all its lives; None below MIN_STEADY seconds of such
    samples. Also returns those seconds."""
    born: dict[int | None, float] = {}
    grown_kib, seconds = 0, 0.0
    for a, b in itertools.pairwise(samples):
        born.setdefault(a.pid, a.time)
        if a.pid != b.pid or not a.rss_kib or not b.rss_kib or a.time < born[a.pid] + WARM_UP:
            continue
        if _inside(a.time, faults) or _inside(b.time, faults):
            continue
        grown_kib += b.rss_kib - a.rss_kib
        seconds += b.time - a.time
    if seconds < MIN_STEADY:
        return None, seconds
    return round(grown_kib / 1024 / (seconds / 3600), 1), seconds


def rss_figures(samples: Sequence[Sample], faults: Sequence[tuple[float, float]]) -> dict[str, Any]:
    have = [s for s in samples if s.rss_kib]
    if not have:
        return {
            "start_mb": None,
            "end_mb": None,
            "max_mb": None,
            "growth_mb_per_h": None,
            "steady_minutes": 0,
        }
    growth, seconds = steady_growth(have, faults)
    return {
        "start_mb": round(have[0].rss_kib / 1024, 1),  # type: ignore[operator]
        "end_mb": round(have[-1].rss_kib / 1024, 1),  # type: ignore[operator]
        "max_mb": round(max(s.rss_kib for s in have) / 1024, 1),  # type: ignore[type-var,operator]
        "growth_mb_per_h": growth,
        "steady_minutes": round(seconds / 60),
    }


def agent_figures(
    agents: Sequence[str],
    states: Mapping[str, Mapping[str, Any]],
    series: Mapping[str, Sequence[Sample]],
    lags: Mapping[str, Sequence[tuple[float, float]]],
    fault_log: Sequence[Mapping[str, Any]],
    log_dir: Path,
) -> dict[str, dict[str, Any]]:
    hub_spans = windows(fault_log, None)
    faults = fault_spans(fault_log)
    out = {}
    for name in [*agents, *(n for n in series if n == DASHBOARD)]:
        own = windows(fault_log, name)
        spans = hub_spans + own
        kills = sum(1 for e in fault_log if e["event"] == "killed" and e.get("target") == name)
        restarts = int((states.get(name) or {}).get("restarts", 0))
        losses = hub_losses(log_dir, name)
        outside = [t for t in losses if not _inside(t, spans)]
        all_lags = sorted(lag for _, lag in lags.get(name, []))
        calm = sorted(lag for t, lag in lags.get(name, []) if not _inside(t, spans))
        out[name] = {
            "state_at_end": (states.get(name) or {}).get("state"),
            "restarts": restarts,
            "kills_injected": kills,
            "restarts_unexplained": max(0, restarts - kills),
            "hub_losses": len(losses),
            "hub_losses_outside_faults": len(outside),
            "hub_losses_outside_at": [
                time.strftime("%H:%M:%S", time.localtime(t)) for t in outside
            ],
            "heartbeats": len(all_lags),
            "lag_p50_ms": _pct(all_lags, 50),
            "lag_p99_ms": _pct(all_lags, 99),
            "lag_max_ms": all_lags[-1] if all_lags else None,
            "lag_p99_outside_faults_ms": _pct(calm, 99),
        } | rss_figures(series.get(name, []), faults)
    return out


def verdict(
    ledgers: Sequence[PathLedger],
    agents: Mapping[str, Mapping[str, Any]],
    fault_log: Sequence[Mapping[str, Any]],
    strict: bool,
) -> dict[str, Any]:
    lost = sum(led.lost for led in ledgers)
    duplicates = sum(led.duplicated for led in ledgers)
    stuck = [
        f"{e['time']:.0f} {e['kind']} {e['target']}: {e['finding']}"
        for e in fault_log
        if e.get("finding")
    ]
    stuck += [
        f"{name}: {a['state_at_end']} at the end"
        for name, a in agents.items()
        if a["state_at_end"] != "running"
    ]
    missed = {
        "hub losses outside injected faults": {
            n: a["hub_losses_outside_faults"]
            for n, a in agents.items()
            if a["hub_losses_outside_faults"]
        },
        f"loop lag p99 outside faults > {LAG_TARGET_MS:.0f} ms": {
            n: a["lag_p99_outside_faults_ms"]
            for n, a in agents.items()
            if (a["lag_p99_outside_faults_ms"] or 0) > LAG_TARGET_MS
        },
        f"RSS growth > {RSS_TARGET_MB_PER_H:.0f} MB/h": {
            n: a["growth_mb_per_h"]
            for n, a in agents.items()
            if (a["growth_mb_per_h"] or 0) > RSS_TARGET_MB_PER_H
        },
        "restarts no injected kill explains": {
            n: a["restarts_unexplained"] for n, a in agents.items() if a["restarts_unexplained"]
        },
    }
    failed = [
        f"{e['kind']} {e['target']}: {e['error']}" for e in fault_log if e["event"] == "failed"
    ]
    # a fault the harness could not do (or undo) leaves the run proving less than it says
    ok = lost == 0 and duplicates == 0 and not failed
    if strict:
        ok = ok and not stuck and not any(missed.values())
    return {
        "ok": ok,
        "lost": lost,
        "duplicates": duplicates,
        "stuck": stuck,
        "faults_failed": failed,
        "targets_missed": missed,
    }


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.1f}" if value < 1000 else f"{value:,.0f}"
    return str(value)


def render(result: Mapping[str, Any], console: Console) -> None:
    paths = Table(title="Data paths")
    for column in ("path", "counts", "lost", "duplicates"):
        paths.add_column(column, overflow="fold")
    for name, led in result["ledger"].items():
        counts = "\n".join(f"{k}: {v:,}" for k, v in led["counts"].items())
        lost = f"[red]{led['lost']:,}" if led["lost"] else "0"
        dups = f"[red]{led['duplicates']:,}" if led["duplicates"] else "0"
        paths.add_row(name, counts, lost, dups)
    console.print(paths)

    agents = Table(title="Agents")
    columns = {
        "restarts": "restarts",
        "kills_injected": "kills",
        "hub_losses": "hub lost",
        "hub_losses_outside_faults": "outside faults",
        "lag_p50_ms": "lag p50 ms",
        "lag_p99_ms": "p99",
        "lag_max_ms": "max",
        "lag_p99_outside_faults_ms": "p99 outside",
        "start_mb": "RSS start MB",
        "end_mb": "end",
        "max_mb": "max",
        "growth_mb_per_h": "MB/h steady",
    }
    agents.add_column("agent")
    for title in columns.values():
        agents.add_column(title, justify="right")
    for name, a in result["agents"].items():
        agents.add_row(name, *(_fmt(a[key]) for key in columns))
    console.print(agents)

    faults = Table(title="Faults injected")
    for column in ("kind", "count", "detail"):
        faults.add_column(column, overflow="fold")
    for kind, f in result["faults"]["by_kind"].items():
        faults.add_row(kind, str(f["count"]), f["detail"])
    console.print(faults)
    for line in result["faults"]["notes"]:
        console.print(f"• {line}")

    for name, led in result["ledger"].items():
        for section in ("losses", "duplicate_kinds"):
            for category, c in led[section].items():
                console.print(f"[red]{name}: {category}: {c['count']:,}")
                for example in c["examples"]:
                    console.print(f"    {example}")
    v = result["verdict"]
    for line in v["faults_failed"]:
        console.print(f"[red]fault not done: {line}")
    for line in v["stuck"]:
        console.print(f"[yellow]stuck (needed a person): {line}")
    for target, who in v["targets_missed"].items():
        if who:
            console.print(f"[yellow]target missed: {target}: {who}")
    colour = "green" if v["ok"] else "red"
    console.print(
        f"[bold {colour}]verdict: {'PASS' if v['ok'] else 'FAIL'} — "
        f"{v['lost']:,} lost nobody counted, {v['duplicates']:,} duplicates, "
        f"{len(v['faults_failed'])} faults the harness could not do"
    )


def fault_summary(fault_log: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    by_kind: dict[str, dict[str, Any]] = {}
    done = {"killed", "frozen", "hub killed", "influxdb stopped", "sshd killed", "archive full"}
    for e in fault_log:
        if e["event"] not in done:
            continue
        f = by_kind.setdefault(e["kind"], {"count": 0, "aimed": 0, "caught": 0, "targets": set()})
        f["count"] += 1
        f["targets"].add(e["target"])
        if e.get("aim"):
            f["aimed"] += 1
            f["caught"] += bool(e.get("caught"))
    out = {}
    for kind, f in by_kind.items():
        detail = f"{len(f['targets'])} targets"
        if f["aimed"]:
            detail += f"; {f['aimed']} aimed, {f['caught']} caught the moment"
        out[kind] = {"count": f["count"], "detail": detail}
    return out
