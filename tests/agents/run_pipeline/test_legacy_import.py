"""Importing the original's runs database as a lab switching over does: its acquired runs
name the DAQ host (``zinc``) as their location; the import maps that name to the DAQ folder,
and what it cannot map is refused then, not by every pass after."""

from __future__ import annotations

import sqlite3
import subprocess
from pathlib import Path

import socs_like_agents.run_pipeline

from .conftest import CLI, Site, write_run

README = Path(socs_like_agents.run_pipeline.__file__).with_name("README.md").read_text()


def original_db(path: Path, *runs: tuple[str, str, str, str]) -> Path:
    """The original's tables holding ``(name, raw_status, raw_location, processed_status)``."""
    con = sqlite3.connect(path)
    con.executescript(
        """
        CREATE TABLE runs (name TEXT, raw_status TEXT, raw_location TEXT,
            processed_status TEXT, events INT, source TEXT, raw_size INT, comments TEXT);
        CREATE TABLE logs (name TEXT, log TEXT);
        """
    )
    con.executemany(
        "INSERT INTO runs VALUES (?, ?, ?, ?, 1000, 'bg', 0, '')",
        runs,
    )
    con.commit()
    con.close()
    return path


def import_cli(site: Site, old: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, "import", str(old), "--db-path", str(site.db_path), *extra],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_host_named_locations_map_to_the_daq_folder_and_the_runs_transfer(site: Site):
    for name in ("160101_1200", "160101_1300"):
        write_run(site.daq / name, 2, 1000)
    old = original_db(
        site.root / "fulliautomatix.db",
        ("160101_1200", "acquired", "zinc", "none"),
        ("160101_1300", "transferring", "zinc", "none"),  # comes back acquired
        ("151231_0900", "ondeck", "conte/user", "processed"),
    )
    done = import_cli(site, old, "--daq-root", str(site.daq), "--daq-folder", f"zinc={site.daq}")
    assert done.returncode == 0, done.stderr
    assert "imported 3 runs" in done.stdout
    for name in ("160101_1200", "160101_1300"):
        run = site.store.get(name)
        assert (run.status, run.raw_location) == (("acquired", "none"), str(site.daq / name))
    # a run past its transfer keeps the location the original recorded
    assert site.store.get("151231_0900").raw_location == "conte/user"

    passed = site.cli("--transfer")
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert passed.stdout.startswith("transfer: 2 done, 0 failed")
    assert site.status("160101_1200") == site.status("160101_1300") == ("ondeck", "none")


def test_a_location_that_cannot_be_mapped_refuses_the_import(site: Site):
    old = original_db(
        site.root / "fulliautomatix.db",
        ("160101_1200", "acquired", "zinc", "none"),
        ("160101_1300", "acquired", "zinc", "none"),
        ("160101_1400", "acquired", "/elsewhere/160101_1400", "none"),
        ("160101_1500", "acquired", str(site.daq / "160101_1500"), "none"),
        ("151231_0900", "archived", "fortress", "processed"),
    )
    refused = import_cli(site, old, "--daq-root", str(site.daq))
    assert refused.returncode == 1
    assert refused.stderr.splitlines() == [
        f"socs-like runs: cannot import {old}, nothing imported: the acquired runs of 2 raw "
        "locations are not in run folders below a --daq-root:",
        "  'zinc' (2 runs: 160101_1200, 160101_1300): the DAQ host's name; "
        "give --daq-folder zinc=DIR, DIR the DAQ folder that holds their run folders",
        "  '/elsewhere/160101_1400' (1 run: 160101_1400): raw location '/elsewhere/160101_1400' "
        f"refused (outside_roots): is outside the allowed roots: {site.daq}",
    ]
    assert site.store.listing(limit=10) == []
    # a host name mapped outside the DAQ roots is refused too
    mapped = import_cli(site, old, "--daq-root", str(site.daq), "--daq-folder", "zinc=/data/zinc")
    assert mapped.returncode == 1
    assert "'zinc' (2 runs: 160101_1200, 160101_1300): raw location '/data/zinc/160101_1200' " in (
        mapped.stderr
    )
    assert site.store.listing(limit=10) == []


def test_the_readme_names_the_option():
    assert "--daq-folder HOST=DIR" in README
