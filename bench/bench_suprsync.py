"""SupRsync benchmark: bookkeeping on a large database, and copy + verify over loopback SSH.

    .venv/bin/python bench/bench_suprsync.py            # 1 000 000 rows, 10 000 files
    .venv/bin/python bench/bench_suprsync.py --quick    # 100 000 rows, 1 000 files

Targets (issue 3): choosing the next copy batch <= 50 ms and archive stats <= 200 ms on a
1 000 000-row SQLite database; copying and verifying 10 000 small files over loopback SSH
<= 60 s. Where the `socs` package is installed (`pip install socs`), its SupRsync code runs
on the same workload and the table shows the ratio socs / ours.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness import bench_parser, work_folder

from socs_like.commands import SshSettings
from socs_like.db import Database
from socs_like.testing.sshd import SshServer
from socs_like_agents.filedb import queries as files
from socs_like_agents.filedb import queries as store
from socs_like_agents.filedb.schema import upgrade
from socs_like_agents.suprsync.commands import SshTarget
from socs_like_agents.suprsync.sync import Syncer, SyncSettings

ARCHIVES = ("timestreams", "smurf")
BACKLOG = 2000  # queued files per archive, as after a weekend outage
AWAITING_DELETION = 5000
STUCK = 50  # over the attempt limit
BATCH = 1000
NOTES: list[str] = []
SOCS_BATCH = 1000

try:
    from socs.db.suprsync import SupRsyncFileHandler, SupRsyncFilesManager
except ImportError:
    SupRsyncFilesManager = SupRsyncFileHandler = None


def rows_for(n: int):
    """(archive, id, timestamp, remote_path, state, attempts, md5) for n rows, oldest first."""
    per_archive = n // len(ARCHIVES)
    t0 = time.time() - per_archive * 60.0
    md5 = "d41d8cd98f00b204e9800998ecf8427e"
    for a, archive in enumerate(ARCHIVES):
        for i in range(per_archive):
            t = t0 + i * 60.0
            left = per_archive - i
            if left <= BACKLOG:
                state, attempts = "queued", (5 if left <= STUCK else 0)
            elif left <= BACKLOG + AWAITING_DELETION:
                state, attempts = "synced", 0
            else:
                state, attempts = "removed", 0
            remote = f"{int(t // 1e5)}/stream{i % 8}/{int(t)}_{i % 1000:03d}.g3"
            yield archive, a * per_archive + i + 1, t, remote, state, attempts, md5


def timed(fn, repeat: int) -> tuple[float, float]:
    """(median, max) wall time in ms."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), max(times)


def build_ours(path: Path, n: int) -> Database:
    db = Database(path)
    upgrade(db)
    raw = db.engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute("BEGIN")
        cur.executemany(
            "INSERT INTO registered_files (id, local_path, archive_name, remote_path, timestamp,"
            " state, timecode, local_md5sum, remote_md5sum, copied, verified, removed,"
            " failed_copy_attempts, deletable, ignore) VALUES"
            " (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, 0)",
            (
                (
                    i,
                    f"/data/{arch}/{remote}",
                    arch,
                    remote,
                    t,
                    state,
                    int(remote[:5]),
                    md5,
                    md5 if state != "queued" else None,
                    t + 30 if state != "queued" else None,
                    t + 30 if state != "queued" else None,
                    t + 90 if state == "removed" else None,
                    attempts,
                )
                for arch, i, t, remote, state, attempts, md5 in rows_for(n)
            ),
        )
        cur.execute("COMMIT")
        cur.execute("ANALYZE")
    finally:
        raw.close()
    return db


def build_socs(path: Path, n: int):
    srfm = SupRsyncFilesManager(str(path), create_all=True)
    raw = srfm._engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.executemany(
            "INSERT INTO supersync_v0 (id, local_path, local_md5sum, archive_name, remote_path,"
            " timestamp, remote_md5sum, copied, removed, failed_copy_attempts, deletable,"
            " ignore) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, 0)",
            (
                (
                    i,
                    f"/data/{arch}/{remote}",
                    md5,
                    arch,
                    remote,
                    t,
                    md5 if state != "queued" else None,
                    t + 30 if state != "queued" else None,
                    t + 90 if state == "removed" else None,
                    attempts,
                )
                for arch, i, t, remote, state, attempts, md5 in rows_for(n)
            ),
        )
        raw.commit()
    finally:
        raw.close()
    return srfm


def bench_bookkeeping(tmp: Path, n: int, repeat: int, with_socs: bool) -> list[tuple]:
    start = time.perf_counter()
    db = build_ours(tmp / "ours.db", n)
    print(f"  built {n} rows in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    arch = ARCHIVES[0]
    batch = db.read(lambda s: store.next_batch(s, arch, 5, BATCH))
    assert len(batch) == BACKLOG - STUCK if BATCH > BACKLOG else BATCH, len(batch)
    ours_next = timed(lambda: db.read(lambda s: store.next_batch(s, arch, 5, BATCH)), repeat)
    # what the loop does each minute: a running file count plus the indexed aggregates
    syncer = Syncer(
        db,
        SyncSettings(
            archive_name=arch, instance_id="bench", remote_basedir="/x", file_root=str(tmp / "fin")
        ),
    )
    start = time.perf_counter()
    stats = syncer.archive_stats()
    first = (time.perf_counter() - start) * 1000
    assert stats["num_files"] == n // 2 and stats["uncopied_files"] == BACKLOG, stats
    ours_stats = timed(syncer.archive_stats, repeat)
    db.dispose()
    socs_next = socs_stats = None
    if with_socs:
        start = time.perf_counter()
        srfm = build_socs(tmp / "socs.db", n)
        print(f"  built {n} socs rows in {time.perf_counter() - start:.1f} s", file=sys.stderr)
        socs_next = timed(
            lambda: srfm.get_copyable_files(arch, max_copy_attempts=5, num_files=BATCH),
            max(1, repeat // 4),
        )
        socs_stats = timed(lambda: srfm.get_archive_stats(arch), max(1, repeat // 10))
    return [
        (f"next batch of {BATCH}, {n} rows (ms)", ours_next, socs_next, 50.0),
        (f"archive stats, {n} rows (ms)", ours_stats, socs_stats, 200.0),
        ("  first stats after start, counting all (ms)", (first, first), None, 1000.0),
    ]


def make_files(root: Path, count: int) -> list[tuple[str, str, str]]:
    """(local path, remote path, md5) of `count` 1 kB files in 10 stream folders."""
    out = []
    tc = int(time.time() // 1e5)
    for i in range(count):
        rel = f"{tc}/stream{i % 10}/{i:06d}.g3"
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        data = os.urandom(1024)
        path.write_bytes(data)
        out.append((str(path), rel, hashlib.md5(data).hexdigest()))
    return out


def bench_copy(tmp: Path, count: int, with_socs: bool) -> list[tuple]:
    server = SshServer(tmp / "sshd", alias="archive")
    server.start()
    try:
        made = make_files(tmp / "local", count)
        db = Database(tmp / "copy.db")
        upgrade(db)
        db.write(
            lambda s: files.register(
                s,
                [
                    files.NewFile(
                        local_path=p,
                        archive_name="timestreams",
                        remote_path=r,
                        timestamp=time.time(),
                        local_md5sum=m,
                    )
                    for p, r, m in made
                ],
            )
        )
        settings = SyncSettings(
            archive_name="timestreams",
            instance_id="bench",
            remote_basedir=str(tmp / "remote"),
            file_root=str(tmp / "fin"),
            copy_timeout=600,
            cmd_timeout=600,
            files_per_batch=5000,
            ssh=SshTarget(host="archive", settings=SshSettings(config_path=str(server.ssh_config))),
        )
        syncer = Syncer(db, settings)
        start = time.perf_counter()
        while syncer.copy_batch()["num_files"]:
            pass
        ours = time.perf_counter() - start
        done = syncer.archive_stats()
        assert done["uncopied_files"] == 0 and done["num_files"] == count, done
        db.dispose()

        socs_time = None
        if with_socs:
            try:
                socs_time = bench_socs_copy(tmp, server, made)
            except Exception as e:
                NOTES.append(
                    f"socs copy of {count} files failed: {type(e).__name__}: {str(e)[:200]}"
                )
        if socs_time is not None:
            NOTES.append(
                f"socs copied in batches of {SOCS_BATCH} (one batch of {count} fails: "
                "its md5sum command line is over the kernel's limit); ours in "
                f"batches of {settings.files_per_batch or count}"
            )
        return [
            (
                f"copy + verify {count} files over SSH (s)",
                (ours, ours),
                None if socs_time is None else (socs_time, socs_time),
                60.0,
            )
        ]
    finally:
        server.stop()


def bench_socs_copy(tmp: Path, server: SshServer, made) -> float:
    # socs runs plain `ssh HOST`: a wrapper on PATH points it at the test server's config
    bindir = tmp / "bin"
    bindir.mkdir()
    wrapper = bindir / "ssh"
    wrapper.write_text(f'#!/bin/sh\nexec {shutil.which("ssh")} -F {server.ssh_config} "$@"\n')
    wrapper.chmod(0o755)
    os.environ["PATH"] = f"{bindir}:{os.environ['PATH']}"
    srfm = SupRsyncFilesManager(str(tmp / "socs-copy.db"), create_all=True)
    with srfm.Session.begin() as session:
        for p, r, m in made:
            srfm.add_file(p, r, "timestreams", local_md5sum=m, session=session)
    handler = SupRsyncFileHandler(
        srfm,
        "timestreams",
        str(tmp / "remote-socs"),
        ssh_host="archive",
        cmd_timeout=600,
        copy_timeout=600,
    )
    # socs passes every remote path of a batch on the ssh command line; beyond ~1500 files
    # that passes the kernel's 128 kB limit for one argument and the batch fails, so it
    # runs in batches of 1000 here
    start = time.perf_counter()
    while srfm.get_copyable_files("timestreams", max_copy_attempts=5, num_files=1):
        handler.copy_files(max_copy_attempts=5, num_files=SOCS_BATCH)
    elapsed = time.perf_counter() - start
    left = srfm.get_copyable_files("timestreams", max_copy_attempts=5)
    assert not left, f"socs left {len(left)} files uncopied"
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = bench_parser(__doc__, "smaller sizes, a short run")
    parser.add_argument("--rows", type=int, default=None, help="database rows")
    parser.add_argument("--files", type=int, default=None, help="files to copy")
    parser.add_argument("--no-socs", action="store_true", help="skip the socs comparison")
    args = parser.parse_args(argv)
    rows = args.rows or (100_000 if args.quick else 1_000_000)
    count = args.files or (1_000 if args.quick else 10_000)
    with_socs = SupRsyncFilesManager is not None and not args.no_socs
    with work_folder("bench-suprsync-", keep=False) as tmp:
        results = bench_bookkeeping(tmp, rows, 5 if args.quick else 20, with_socs)
        results += bench_copy(tmp, count, with_socs)

    print(
        f"{'measure':44} {'ours med':>9} {'ours max':>9} {'socs med':>9} {'socs/ours':>9}"
        f" {'target':>7}  ok"
    )
    for name, ours, theirs, target in results:
        ratio = f"{theirs[0] / ours[0]:9.1f}" if theirs else f"{'n/a':>9}"
        socs_med = f"{theirs[0]:9.1f}" if theirs else f"{'n/a':>9}"
        ok = "yes" if ours[1] <= target else "NO"
        print(f"{name:44} {ours[0]:9.1f} {ours[1]:9.1f} {socs_med} {ratio} {target:7.0f}  {ok}")
    for note in NOTES:
        print(note)
    if not with_socs and not args.no_socs:
        print("(socs not installed: `pip install socs` to compare)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
