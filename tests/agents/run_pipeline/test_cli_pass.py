"""``socs-like runs`` from cron as a deployer sees it: a pass with nothing to do loads little
and asks nobody; a dry run says each thing once; the archive copy has only the options its
target needs."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from socs_like.testing import free_port
from socs_like_agents.run_pipeline import states
from socs_like_agents.run_pipeline.store import NewRun
from socs_like_agents.run_pipeline.tables import RUNS_TABLE

from .conftest import Site, assert_archived_once, tree

# modules a pass that finds nothing to do has no use for: SSH (asyncssh and its crypto), the
# hub and its site config (pydantic, YAML), migrations (the schema is current), agents
HEAVY = (
    "alembic",
    "asyncssh",
    "cryptography",
    "pydantic",
    "yaml",
    "socs_like.hub",
    "socs_like.site_config",
    "twisted",
    "autobahn",
)
LOADED = f"""
import json, sys
from socs_like.cli import main
code = main(sys.argv[1:])
print(json.dumps({{"code": code, "loaded": [m for m in {HEAVY!r} if m in sys.modules]}}))
"""


def socs_like_runs(*argv: str) -> tuple[list[str], dict[str, object]]:
    """``socs-like runs ARGV`` as cron runs it (the ``socs-like`` command): its output lines
    (stdout, then stderr) and its exit code and which of HEAVY it loaded."""
    done = subprocess.run(
        [sys.executable, "-c", LOADED, "runs", *argv],
        capture_output=True,
        text=True,
        timeout=120,
    )
    *lines, last = done.stdout.splitlines()
    return lines + done.stderr.splitlines(), json.loads(last)


def test_a_pass_with_nothing_to_do_loads_no_heavy_module_and_asks_no_host(
    site: Site, tmp_path: Path
):
    site.acquire("run_0001", tags=frozenset({states.DO_NOT_TRANSFER}))  # nothing is due
    config = tmp_path / "ssh_config"
    config.write_text(f"Host daq\n  HostName 127.0.0.1\n  Port {free_port()}\n")
    lines, result = socs_like_runs(
        *site.args(),
        # the DAQ is unreachable: asking it whether it is live would fail the pass
        *("--daq-host", "daq", "--daq-live-process", "kodiaq", "--ssh-config", str(config)),
    )
    assert (lines, result) == (
        [
            "transfer: 0 done, 0 failed, 0 released",
            "process: 0 done, 0 failed, 0 released",
            "archive: 0 done, 0 failed, 0 released",
        ],
        {"code": 0, "loaded": []},
    )


# the statements a pass sends, its database writes and the commands it runs (here or on a
# host), counted where they leave the pipeline
COUNTED = """
import json, sys
from sqlalchemy import event
from sqlalchemy.engine import Engine
from socs_like.cli import main
from socs_like.db.engine import Database
from socs_like_agents.run_pipeline import hosts
seen = {"statements": [], "writes": 0, "commands": []}
event.listen(
    Engine, "before_cursor_execute", lambda c, cur, sql, *a: seen["statements"].append(sql)
)
def counted(owner, method, record):
    real = getattr(owner, method)
    def wrapper(*args, **kwargs):
        record(args)
        return real(*args, **kwargs)
    setattr(owner, method, wrapper)
counted(Database, "write", lambda args: seen.update(writes=seen["writes"] + 1))
counted(hosts.Host, "run", lambda args: seen["commands"].append(" ".join(args[1])))
code = main(sys.argv[1:])
print(json.dumps({"code": code, **seen}))
"""


def counted_pass(site: Site, *argv: str) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", COUNTED, "runs", *site.args(*argv)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout.splitlines()[-1])
    return result


def test_a_pass_with_nothing_to_do_asks_the_runs_table_once_and_runs_nothing(site: Site):
    """Every run archived (and cleaned after), one the DAQ must keep: a cron line's pass
    learns that from one query, writes nothing and runs no command here or on a host."""
    site.store.add(
        [
            NewRun(
                name=f"run_{i:04}",
                raw_location=f"/archive/bundle-1.tar#run_{i:04}.tar.zst",
                raw_status=states.ARCHIVED,
                processed_status=states.PROCESSED,
            )
            for i in range(1, 4)
        ]
    )
    site.acquire("run_0004", tags=frozenset({states.DO_NOT_TRANSFER}))
    result = counted_pass(site)
    asked = [sql for sql in result["statements"] if RUNS_TABLE in sql]  # type: ignore[attr-defined]
    assert len(asked) == 1 and asked[0].lstrip().startswith("SELECT"), asked
    assert (result["code"], result["writes"], result["commands"]) == (0, 0, [])


@pytest.mark.slow
def test_a_pass_killed_before_its_cleaning_leaves_work_for_the_next_pass(site: Site):
    """Killed once the bundle is recorded archived, before the files the runs no longer need
    are removed: the database says so, so the next cron pass cleans up although no run is
    due for anything."""
    want = {name: site.ondeck(name) for name in ("clean_0001", "clean_0002")}
    killed = site.cli_killed_at("archiving.Archiver._clean", "--archive", "--bundle-runs", "2")
    assert killed.returncode == -9, killed.stderr
    assert tree(site.work / "compressed") != {}, "the killed pass left its packed runs"
    assert {site.status(name) for name in want} == {(states.ARCHIVED, states.PROCESSED)}

    result = counted_pass(site)
    assert result["code"] == 0 and result["commands"], result
    assert_archived_once(site, want)
    assert [site.store.get(name).owner for name in want] == [None, None]
    # and then nothing is left to do
    result = counted_pass(site)
    assert (result["writes"], result["commands"]) == (0, [])


def test_a_dry_run_says_once_what_it_would_release(site: Site):
    site.acquire("run_0001")
    gone = subprocess.Popen(["true"])
    gone.wait()
    assert site.store.change(
        "run_0001",
        (states.ACQUIRED, states.NONE),
        (states.TRANSFERRING, states.NONE),
        "claim",
        owner=f"{socket.gethostname()}:{gone.pid}",
    )
    out = site.cli("--dry-run")
    assert out.returncode == 0, out.stderr
    said = [line for line in out.stdout.splitlines() if line.startswith("# would")]
    assert said == [
        f"# would release run_0001: claim of {socket.gethostname()}:{gone.pid} released: "
        "process gone"
    ]
    assert site.status("run_0001") == (states.TRANSFERRING, states.NONE)


def archive_copy(site: Site, *extra: str) -> str:
    """The rsync line a dry run would copy a waiting bundle with."""
    out = site.cli("--dry-run", "--archive", "--flush", *extra)
    assert out.returncode == 0, out.stderr
    [line] = [line for line in out.stdout.splitlines() if line.startswith("rsync ")]
    return line


def test_the_archive_copy_is_given_ssh_only_for_a_remote_target(site: Site):
    site.store.add(
        [
            NewRun(
                name="run_0001",
                raw_location="localhost:/x/run_0001.tar.zst",
                raw_status=states.COMPRESSED,
                processed_status=states.PROCESSED,
            )
        ]
    )
    local = archive_copy(site)
    assert local.startswith("rsync --archive --inplace /") and " -e " not in local
    assert f" {site.work}/archive/.bundle-run_0001-1-" in local
    remote = archive_copy(site, "--archive-target", "tape:/archive")
    assert remote.startswith("rsync --archive --inplace -e 'ssh -o BatchMode=yes ")
    assert " tape:/archive/.bundle-run_0001-1-" in remote
