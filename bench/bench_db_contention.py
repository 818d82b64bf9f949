"""Benchmark: the real agents on one SQLite file: a PysmurfMonitor fed real announcements
at --rate per second and two SupRsync instances (archives ``timestreams`` and ``smurf``)
copying, verifying and deleting, all three as agent processes on a real hub, for --minutes
(default 3; --quick: 30 s of traffic, under a minute in all).

It prints how many "database is locked" errors reached an agent (target 0: the busy timeout
and the retry absorb contention; the retries absorbed are shown too), the rows the monitor
registered per second, and what the SupRsyncs copied and deleted meanwhile. Every figure
comes from the agents' own session data and the database.

    .venv/bin/python bench/bench_db_contention.py [--quick] [--minutes N] [--rate N]
"""

from __future__ import annotations

import os
import shutil
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness import bench_parser  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from socs_like.client import Client  # noqa: E402
from socs_like.db import Database  # noqa: E402
from socs_like.testing import free_port  # noqa: E402
from socs_like.testing.hub import AgentProcess, HubInfo, spawn_agent, start_hub  # noqa: E402
from socs_like_agents.filedb.models import FileState, RegisteredFile  # noqa: E402
from socs_like_agents.pysmurf_monitor.simulator import Publisher  # noqa: E402

ARCHIVES = ("timestreams", "smurf")
LOCKED = "database is locked"


def start_agents(hub: HubInfo, work: Path, db: Path, udp_port: int) -> list[AgentProcess]:
    monitor = spawn_agent(
        hub,
        "PysmurfMonitor",
        "monitor",
        work / "monitor.log",
        [
            "--udp-host",
            "127.0.0.1",
            "--udp-port",
            str(udp_port),
            "--db-path",
            str(db),
            "--local-root",
            str(work / "data"),
            "--stats-interval",
            "2",
        ],
    )
    syncers = [
        spawn_agent(
            hub,
            "SupRsync",
            f"suprsync-{archive}",
            work / f"suprsync-{archive}.log",
            [
                "--archive-name",
                archive,
                "--db-path",
                str(db),
                "--remote-basedir",
                str(work / "remote" / archive),
                "--suprsync-file-root",
                str(work / "finalization" / archive),
                "--sleep-time",
                "1s",
                "--delete-local-after",
                "5s",
            ],
        )
        for archive in ARCHIVES
    ]
    return [monitor, *syncers]


def announce(udp_port: int, data: Path, seconds: float, rate: float) -> int:
    """Write and announce real files at ``rate`` per second, both archives in turn."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    pub = Publisher("STREAMER:bench", sock, ("127.0.0.1", udp_port))
    timecode = int(time.time() // 100_000)
    start = time.monotonic()
    sent = 0
    while time.monotonic() - start < seconds:
        archive = ARCHIVES[sent % 2]
        path = data / archive / f"{timecode}" / "stream" / f"{sent:08d}.g3"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(os.urandom(1024))
        pub.send("g3_file", {"path": str(path), "archive_name": archive})
        sent += 1
        delay = start + sent / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    sock.close()
    return sent


def session_data(site_file: Path, instance_id: str) -> dict[str, Any]:
    client = Client(instance_id, site_config=str(site_file))
    try:
        return dict(client.run.status().session.get("data", {}))
    finally:
        client.close()


def state_counts(db: Database) -> dict[tuple[str, str], int]:
    """Rows per (archive, state)."""
    query = select(RegisteredFile.archive_name, RegisteredFile.state, func.count()).group_by(
        RegisteredFile.archive_name, RegisteredFile.state
    )
    return db.read(lambda s: {(a, st): n for a, st, n in s.execute(query)})


def unfinished(counts: dict[tuple[str, str], int]) -> int:
    return sum(n for (_, st), n in counts.items() if st in (FileState.PENDING, FileState.QUEUED))


def wait_settled(db: Database, sent: int, timeout: float) -> None:
    """Wait until every announced file is registered and copied, or ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        counts = state_counts(db)
        if sum(counts.values()) >= sent and unfinished(counts) == 0:
            return
        time.sleep(0.5)


def main() -> int:
    parser = bench_parser(__doc__, "30 s of traffic instead of --minutes")
    parser.add_argument("--minutes", type=float, default=3.0, help="traffic duration (default 3)")
    parser.add_argument("--rate", type=float, default=200.0, help="announcements/s (default 200)")
    args = parser.parse_args()
    seconds = 30.0 if args.quick else args.minutes * 60
    work = Path(tempfile.mkdtemp(prefix="bench-db-"))
    hub = start_hub(work / "hub")
    agents: list[AgentProcess] = []
    try:
        db_path = work / "suprsync.db"
        udp_port = free_port("udp")
        agents = start_agents(hub, work, db_path, udp_port)
        db = Database(db_path)
        started = time.time()
        sent = announce(udp_port, work / "data", seconds, args.rate)
        sending = time.time() - started
        wait_settled(db, sent, timeout=20.0)
        monitor = session_data(hub.site_file, "monitor")
        syncers = [session_data(hub.site_file, f"suprsync-{a}") for a in ARCHIVES]
        counts = state_counts(db)
        db.dispose()
    finally:
        for agent in agents:
            agent.stop()
        hub.hub.stop()
    logs = {a.instance_id: a.output() for a in agents}
    shutil.rmtree(work, ignore_errors=True)

    registered = monitor.get("files", {}).get("registered", 0)
    locked_in_logs = sum(text.count(LOCKED) for text in logs.values())
    retries = monitor.get("db", {}).get("lock_retries", 0) + sum(
        s.get("db", {}).get("lock_retries", 0) for s in syncers
    )
    failures = sum(s.get("db", {}).get("lock_failures", 0) for s in syncers)
    db_errors = monitor.get("db", {}).get("errors", 0) + sum(
        s.get("counters", {}).get("errors_db", 0) for s in syncers
    )
    # every lock retry logs the message once; what is left reached an agent as an error
    locked_errors = failures + max(0, locked_in_logs - retries)
    table = [
        ("traffic (s)", f"{sending:.0f}", ""),
        ("files announced", f"{sent:,}", ""),
        ("rows registered by the monitor", f"{registered:,}", "= announced"),
        ("monitor rows/s", f"{registered / sending:,.0f}", f"{args.rate:.0f}"),
    ]
    for archive, s in zip(ARCHIVES, syncers, strict=True):
        c = s.get("counters", {})
        table.append((f"{archive}: copied and verified", f"{c.get('copies', 0):,}", ""))
        table.append((f"{archive}: deleted locally", f"{c.get('deleted', 0):,}", ""))
    table += [
        ("files still queued or pending", f"{unfinished(counts):,}", "0"),
        (f'"{LOCKED}" errors', f"{locked_errors}", "0"),
        ("other database errors", f"{db_errors}", "0"),
        ("lock retries (absorbed)", f"{retries}", ""),
    ]
    width = max(len(r[0]) for r in table)
    print(f"{'measure':<{width}}  {'value':>10}  target")
    for name, value, target in table:
        print(f"{name:<{width}}  {value:>10}  {target}")
    ok = locked_errors == 0 and db_errors == 0 and registered == sent
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
