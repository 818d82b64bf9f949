#!/usr/bin/env python
"""How long `socs-like` commands take end to end, as an operator or a cron line runs them.

    .venv/bin/python bench/bench_cli_start.py [--quick] [--rounds N] [--hub]

Each command runs N times (10 by default) as a fresh ``python -m socs_like`` process; the
median wall time is printed with the load average, since the figure means little without it.
``status`` asks a hub that is not there (a free port on loopback), so it shows what the
command costs itself; with ``--hub``, also against a hub (`socs_like.testing.start_hub`) and
two FakeData agents. A pipeline pass runs over an empty runs database. ``python -X
importtime`` then names the five modules that take longest to import for ``status``.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from harness import bench_parser

from socs_like.testing import free_port
from socs_like.testing.hub import spawn_agent, start_hub


def site_without_hub(folder: Path) -> Path:
    port = free_port()
    site = folder / "site.yaml"
    hub = {
        "wamp_server": f"ws://127.0.0.1:{port}/ws",
        "wamp_http": f"http://127.0.0.1:{port}/call",
        "wamp_realm": "bench",
        "address_root": "observatory",
    }
    agents = [{"agent-class": "FakeData", "instance-id": f"fd{i}", "arguments": []} for i in (1, 2)]
    site.write_text(
        yaml.safe_dump({"hub": hub, "hosts": {"localhost": {"agent-instances": agents}}})
    )
    return site


def status_with_hub(folder: Path, rounds: int) -> dict[str, float]:
    """Medians of ``socs-like status`` against a hub and two live FakeData agents, without
    and with a Registry (whose fresh sightings spare the wait for live heartbeats)."""
    hub = start_hub(folder / "hub")
    agents = []
    medians = {}
    try:
        site = yaml.safe_load(hub.site_file.read_text())
        names = {"fd1": "FakeData", "fd2": "FakeData", "registry": "Registry"}
        for name, agent_class in names.items():
            agents.append(spawn_agent(hub, agent_class, name, folder / f"{name}.log"))
        time.sleep(3)  # the Registry has seen every agent beat
        for label, listed in (
            ("socs-like status (hub, 2 agents)", ["fd1", "fd2"]),
            ("socs-like status (hub, + Registry)", list(names)),
        ):
            instances = [{"agent-class": names[i], "instance-id": i} for i in listed]
            site["hosts"] = {"localhost": {"agent-instances": instances}}
            site_file = folder / "hub-site.yaml"
            site_file.write_text(yaml.safe_dump(site))
            argv = [sys.executable, "-m", "socs_like", "status", "--site-config", str(site_file)]
            medians[label] = median_seconds(argv, rounds)
        return medians
    finally:
        for agent in agents:
            agent.stop()
        hub.hub.stop()


def ocs_command(module: str) -> list[str]:
    """An OCS console script (``ocs.MODULE:main``) as its installed wrapper runs it."""
    return [sys.executable, "-c", f"import sys; from ocs.{module} import main; sys.exit(main())"]


def median_seconds(argv: list[str], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        subprocess.run(argv, capture_output=True, check=False)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def top_importers(argv: list[str], count: int = 5) -> list[tuple[int, str]]:
    """The modules with the largest cumulative import time, in microseconds (nested ones
    included in their parents, so the list reads from the top of the tree)."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", *argv], capture_output=True, text=True
    )
    rows = []
    for line in done.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            _, cumulative, name = line.removeprefix("import time:").split("|")
            if cumulative.strip().isdigit():
                rows.append((int(cumulative), name.rstrip()))
    return sorted(rows, reverse=True)[:count]


def main() -> int:
    parser = bench_parser(__doc__, "3 rounds instead of 10")
    parser.add_argument("--rounds", type=int, help="runs of each command (10; 3 with --quick)")
    parser.add_argument("--hub", action="store_true", help="also status against a live hub")
    args = parser.parse_args()
    rounds = args.rounds or (3 if args.quick else 10)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        site = str(site_without_hub(folder))
        runs = ["--db-path", str(folder / "runs.db"), "--work-dir", str(folder / "work")]
        cli = [sys.executable, "-m", "socs_like"]
        subprocess.run([*cli, "runs", "list", runs[0], runs[1]], capture_output=True, check=True)
        commands = {
            "socs-like --help": [*cli, "--help"],
            "socs-like status (no hub)": [*cli, "status", "--site-config", site],
            "socs-like grab --help": [*cli, "grab", "--help"],
            "socs-like runs (nothing to do)": [*cli, "runs", *runs],
            # OCS's own command lines, for scale
            "ocsbow --help (OCS)": [*ocs_command("ocsbow"), "--help"],
            "ocs-client-cli --help (OCS)": [*ocs_command("client_cli"), "--help"],
        }
        print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        for label, argv in commands.items():
            median = median_seconds(argv, rounds)
            print(f"{label:34} median of {rounds}: {median:.3f} s")
        if args.hub:
            for label, median in status_with_hub(folder, rounds).items():
                print(f"{label:34} median of {rounds}: {median:.3f} s")
        print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        print("status, top importers (cumulative):")
        for micros, name in top_importers(["-m", "socs_like", "status", "--site-config", site]):
            print(f"  {micros / 1000:7.1f} ms  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
