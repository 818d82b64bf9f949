"""Grabbing from the simulator over real HTTP into HDF5, statistics into the database."""

from __future__ import annotations

import json
import sqlite3
import tempfile
import threading
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

import h5py
import numpy as np
import pytest

from socs_like.db import Database
from socs_like_agents.datalogger.client import HttpLogger
from socs_like_agents.datalogger.grab import GrabOptions, grab_events, grab_params
from socs_like_agents.datalogger.listfile import parse_device_list
from socs_like_agents.datalogger.service import Grabber, GrabberConfig
from socs_like_agents.datalogger.simulator import DeviceModel, event_times
from socs_like_agents.datalogger.store import MIGRATIONS
from socs_like_agents.datalogger.window import Window, make_window

from .conftest import (
    EMPTY_DEVICE,
    ERROR_DEVICE,
    FLAKY_DEVICE,
    SLOW_DEVICE,
    TRICKLE_DEVICE,
    TRICKLE_SECONDS,
    run_cli,
    write_list,
)

DAY = make_window(now=1_800_000_000.0, days=1)


def options(tmp_path: Path, **kw) -> GrabOptions:
    return GrabOptions(draftdir=tmp_path / "draft", outdir=tmp_path / "out", retry_delay=0.05, **kw)


def test_a_day_grabbed_with_an_erroring_device_recorded(logger_sim, tmp_path):
    devices = parse_device_list(
        f"MLrn B:VIMIN\nMLrn I:IB\nMLrn {ERROR_DEVICE}\nMLrn {EMPTY_DEVICE}\nMLrn {FLAKY_DEVICE}\n"
    )
    [report] = grab_params(HttpLogger(logger_sim.url), devices, DAY, options(tmp_path))
    assert report.path is not None and report.path.parent == tmp_path / "out"
    assert report.path.name.endswith("_From_MLrn_2027-01-14+00:00:00_to_2027-01-15+00:00:00.h5")
    assert list((tmp_path / "draft").iterdir()) == []
    assert report.missing == {
        ERROR_DEVICE: f"logger answered 503: {ERROR_DEVICE}: device in error "
        "(no readings from its front end)"
    }
    assert report.empty == [EMPTY_DEVICE]
    with h5py.File(report.path) as h5:
        # the flaky device failed once and was retried into the file
        assert sorted(h5) == sorted(["B:VIMIN", "I:IB", FLAKY_DEVICE])
        for name in h5:
            times, values = DeviceModel(name, 1.0).samples(DAY.start, DAY.stop)
            assert np.array_equal(h5[name][:, 0], times)
            assert np.allclose(h5[name][:, 1], values, rtol=1e-6)
            assert json.loads(h5[name].attrs["columns"]) == ["utc_seconds", "value"]
        assert len(h5["B:VIMIN"]) > 80_000  # a day at 1 Hz less the gaps
        assert (h5.attrs["window_start"], h5.attrs["window_stop"]) == (DAY.start, DAY.stop)
        assert h5.attrs["source"] == logger_sim.url
        assert h5.attrs["node"] == "MLrn"
        assert json.loads(h5.attrs["missing"]) == report.missing
        assert json.loads(h5.attrs["empty"]) == [EMPTY_DEVICE]
        assert not h5.attrs["complete"]


def test_a_device_that_times_out_is_missing_after_its_retries(logger_sim, tmp_path):
    devices = parse_device_list(f"MLrn {SLOW_DEVICE}\nMLrn B:VIMIN\n")
    hour = make_window(now=1_800_000_000.0, hours=1)
    [report] = grab_params(
        HttpLogger(logger_sim.url, timeout=0.5), devices, hour, options(tmp_path, retries=1)
    )
    assert list(report.samples) == ["B:VIMIN"]
    assert report.missing == {
        SLOW_DEVICE: f"no complete answer within the 0.5 s request timeout from {logger_sim.url}"
        + f"/v1/param?node=MLrn&device=B%3ASLOWPS&start={hour.start:.0f}"
        + f"&stop={hour.stop:.0f}"
    }


def test_the_timeout_bounds_a_whole_answer_that_trickles_in(logger_sim, tmp_path):
    """Every read of the trickled answer comes well within the timeout; the request does not."""
    devices = parse_device_list(f"MLrn {TRICKLE_DEVICE}\nMLrn B:VIMIN\n")
    hour = make_window(now=1_800_000_000.0, hours=1)
    timeout = 1.0
    started = time.monotonic()
    [report] = grab_params(
        HttpLogger(logger_sim.url, timeout=timeout), devices, hour, options(tmp_path, retries=1)
    )
    elapsed = time.monotonic() - started
    assert report.missing == {
        TRICKLE_DEVICE: f"no complete answer within the 1 s request timeout from {logger_sim.url}"
        + f"/v1/param?node=MLrn&device=B%3ATRICKL&start={hour.start:.0f}&stop={hour.stop:.0f}"
    }
    assert list(report.samples) == ["B:VIMIN"]
    assert report.path is not None
    with h5py.File(report.path) as h5:
        assert sorted(h5) == ["B:VIMIN"] and not h5.attrs["complete"]
    # two attempts, each ended at its timeout, never at the end of the trickle (the rest is
    # HTTP and HDF5 work, which a busy machine may slow by seconds)
    assert 2 * timeout <= elapsed < TRICKLE_SECONDS


@pytest.mark.parametrize("draft", ["draft", "out"])
def test_a_reader_polling_the_output_folder_never_sees_a_partial_file(logger_sim, tmp_path, draft):
    """Also when the draft folder is the output folder (the command line's default)."""
    outdir = tmp_path / "out"
    outdir.mkdir()
    names = [f"B:DEV{i:02d}" for i in range(12)]
    devices = parse_device_list("".join(f"MLrn {n}\n" for n in names))
    seen: dict[str, int] = {}
    drafts_seen = []
    bad = []
    done = threading.Event()

    def reader():
        while True:
            finished = done.is_set()  # one more look after the last grab
            for path in outdir.glob("*.h5"):
                if path.name in seen:
                    continue
                try:
                    with h5py.File(path, "r") as h5:
                        # every device is a dataset or listed empty (an hour-long outage)
                        seen[path.name] = len(h5) + len(json.loads(h5.attrs["empty"]))
                        if not h5.attrs.get("complete") or seen[path.name] != len(names):
                            bad.append(path.name)
                except (OSError, KeyError) as exc:  # unreadable, or its attributes not yet written
                    bad.append(f"{path.name}: {exc}")
            if finished:
                return

    def progress(done_n, total, name):
        drafts_seen.append(len(list((tmp_path / draft).glob(".*.draft"))))

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for hour in range(3):
            window = Window(start=DAY.start + hour * 3600, stop=DAY.start + (hour + 1) * 3600)
            grab_params(
                HttpLogger(logger_sim.url),
                devices,
                window,
                replace(options(tmp_path), draftdir=tmp_path / draft),
                progress=progress,
            )
    finally:
        done.set()
        thread.join()
    assert bad == []
    assert len(seen) == 3 and set(seen.values()) == {12}
    # while it grew, the file was in the draft folder
    assert drafts_seen and set(drafts_seen) == {1}


@pytest.mark.parametrize("draftdir", ["out", "out/.", "link-to-out"])
def test_a_draft_folder_that_is_the_output_folder_keeps_the_file(logger_sim, tmp_path, draftdir):
    (tmp_path / "out").mkdir()
    (tmp_path / "link-to-out").symlink_to(tmp_path / "out")
    hour = make_window(now=1_800_000_000.0, hours=1)
    devices = parse_device_list("MLrn B:VIMIN\nMLrn I:IB\n")
    opts = replace(options(tmp_path), draftdir=tmp_path / draftdir)
    [report] = grab_params(HttpLogger(logger_sim.url), devices, hour, opts)
    assert report.path is not None
    assert sorted((tmp_path / "out").iterdir()) == [report.path]
    with h5py.File(report.path) as h5:
        assert sorted(h5) == ["B:VIMIN", "I:IB"] and h5.attrs["complete"]


def test_a_draft_on_another_file_system_is_copied_whole(logger_sim, tmp_path):
    shm = Path("/dev/shm")
    if not shm.is_dir() or shm.stat().st_dev == tmp_path.stat().st_dev:
        pytest.skip("no second file system to draft on")
    hour = make_window(now=1_800_000_000.0, hours=1)
    devices = parse_device_list("MLrn B:VIMIN\n")
    with tempfile.TemporaryDirectory(dir=shm) as draftdir:
        opts = replace(options(tmp_path), draftdir=Path(draftdir))
        [report] = grab_params(HttpLogger(logger_sim.url), devices, hour, opts)
        assert list(Path(draftdir).iterdir()) == []
    assert report.path is not None
    assert sorted((tmp_path / "out").iterdir()) == [report.path]
    with h5py.File(report.path) as h5:
        assert sorted(h5) == ["B:VIMIN"] and h5.attrs["complete"]


def test_events_one_dataset_per_code_and_only_first(logger_sim, tmp_path):
    hour = make_window(now=1_800_000_000.0, hours=1)
    report = grab_events(HttpLogger(logger_sim.url), hour, options(tmp_path), max_evt=0x10)
    assert sorted(report.samples) == ["0x00", "0x02", "0x07", "0x0f"]
    assert len(report.empty) == 17 - 4
    assert report.path is not None and report.path.name.startswith("MLEventData_")
    with h5py.File(report.path) as h5:
        times, offsets = event_times(0x07, hour.start, hour.stop)
        assert np.array_equal(h5["0x07"][:, 0], times)
        assert np.array_equal(h5["0x07"][:, 1], offsets)
        assert len(times) == 3600
    first = grab_events(HttpLogger(logger_sim.url), hour, options(tmp_path), only_first=True)
    assert list(first.samples) == ["0x00"] and first.empty == []


def mode_by_counting(values: np.ndarray) -> float:
    counts = Counter(values.tolist())
    top = max(counts.values())
    return min(v for v, c in counts.items() if c == top)


def test_statistics_equal_numpy_computed_in_the_test_and_rerun_replaces(logger_sim, tmp_path):
    db = Database(tmp_path / "stats.db")
    config = GrabberConfig(
        logger_url=logger_sim.url,
        device_list=write_list(tmp_path / "list.txt", "B:VIMIN", "B:IMINER", "I:MDAT40"),
        options=options(tmp_path),
        plot_dir=tmp_path / "plots",
        site="test",
    )
    grabber = Grabber(config, db)
    grabber.upgrade()
    window = make_window(now=1_800_000_000.0, hours=6)
    [report] = grabber.grab_params(window)
    assert report.path is not None

    expected = {}
    with h5py.File(report.path) as h5:
        for name in h5:
            t, v = h5[name][:, 0], h5[name][:, 1]
            for param, x in ((name, v), (f"Interval_{name}", t[1:] - t[:-1])):
                expected[(param, "mode")] = mode_by_counting(x)
                expected[(param, "mean")] = x.sum() / len(x)
                expected[(param, "std")] = np.sqrt(((x - x.sum() / len(x)) ** 2).mean())
                expected[(param, "min")] = x.min()
                expected[(param, "max")] = x.max()

    def rows():
        with sqlite3.connect(tmp_path / "stats.db") as c:
            return {
                (p, s): (e, v, f)
                for e, p, s, v, f in c.execute(
                    "SELECT epoch_utc_sec, param_name, stat_name, stat_val, file_name "
                    "FROM datalogger_stats"
                )
            }

    stored = rows()
    assert set(stored) == set(expected) and len(stored) == 3 * 2 * 5
    for key, value in expected.items():
        epoch, got, file_name = stored[key]
        assert (epoch, file_name) == (int(window.start), report.path.name)
        assert got == pytest.approx(value, rel=1e-9, abs=1e-12), key
    # the plot page followed the new file
    assert (tmp_path / "plots" / "index.html").exists()

    # re-distilling replaces the file's rows, it never adds to them
    with sqlite3.connect(tmp_path / "stats.db") as c:
        c.execute("UPDATE datalogger_stats SET stat_val = -1 WHERE param_name = 'I:MDAT40'")
    grabber.distill(report.path.name)
    assert rows() == stored


def test_the_original_stats_table_is_imported(tmp_path):
    path = tmp_path / "GMPSAI.db"
    with sqlite3.connect(path) as c:
        c.execute(
            "CREATE TABLE ACNETparameterStats "
            "(epochUTCsec INTEGER, paramname TEXT, statname TEXT, statval REAL)"
        )
        c.executemany(
            "INSERT INTO ACNETparameterStats VALUES (?, ?, ?, ?)",
            [
                (1562025600, "B:VIMIN", "mode", 103.35),
                (1562025600, "Interval_B:VIMIN", "max", 15.0),
            ],
        )
    before, after = MIGRATIONS.upgrade(Database(path))
    assert (before, after) == (None, "0002")
    with sqlite3.connect(path) as c:
        assert sorted(c.execute("SELECT * FROM datalogger_stats")) == [
            (1562025600, "B:VIMIN", "mode", 103.35, None),
            (1562025600, "Interval_B:VIMIN", "max", 15.0, None),
        ]
        # the original table is left as it was
        assert c.execute("SELECT count(*) FROM ACNETparameterStats").fetchone() == (2,)


def test_cli_with_its_default_folders_keeps_the_files_here(logger_sim, tmp_path):
    """Draft and output folder both default to the current one: each file is there, whole."""
    write_list(tmp_path / "list.txt", "B:VIMIN", "I:IB")
    window = ("--stopat", "2027-01-15 00:00:00", "--hours", "1", "--db-path", "stats.db")
    params = run_cli("params", "--url", logger_sim.url, "--list", "list.txt", *window, cwd=tmp_path)
    assert params.returncode == 0, params.stderr
    [path] = tmp_path.glob("MLParamData_*.h5")
    assert f"{path.name}: 2 datasets, " in params.stdout
    with h5py.File(path) as h5:
        assert sorted(h5) == ["B:VIMIN", "I:IB"] and h5.attrs["complete"]
        assert len(h5["B:VIMIN"]) > 3000  # an hour at 1 Hz less the gaps
    events = run_cli("events", "--url", logger_sim.url, "--maxEvt", "0x10", *window, cwd=tmp_path)
    assert events.returncode == 0, events.stderr
    [path] = tmp_path.glob("MLEventData_*.h5")
    with h5py.File(path) as h5:
        assert sorted(h5) == ["0x00", "0x02", "0x07", "0x0f"]
    # nothing else was left behind: no draft beside the files
    assert sorted(p.name for p in tmp_path.glob("*.h5*")) == sorted(
        p.name for p in tmp_path.glob("ML*Data_*.h5")
    )
    assert not list(tmp_path.glob(".*"))


def test_cli_timeout_fails_a_device_whose_answer_trickles_in(logger_sim, tmp_path):
    write_list(tmp_path / "list.txt", TRICKLE_DEVICE, "B:VIMIN")
    done = run_cli(
        *("params", "--url", logger_sim.url, "--list", "list.txt", "--hours", "1"),
        *("--stopat", "2027-01-15 00:00:00", "--db-path", "stats.db"),
        *("--timeout", "1", "--retries", "0"),
        cwd=tmp_path,
    )
    assert done.returncode == 1, done.stderr
    [path] = tmp_path.glob("MLParamData_*.h5")
    assert f"{path.name}: 1 datasets, " in done.stdout
    assert (
        f"  missing {TRICKLE_DEVICE}: no complete answer within the 1 s request timeout from "
        f"{logger_sim.url}/v1/param?node=MLrn&device=B%3ATRICKL&" in done.stdout
    )


def test_cli_grabs_and_refuses_a_bad_list_file_naming_its_line(logger_sim, tmp_path):
    good = write_list(tmp_path / "list.txt", "B:VIMIN", "I:IB")
    done = run_cli(
        "params",
        "--url",
        logger_sim.url,
        "--list",
        str(good),
        "--stopat",
        "2027-01-15 00:00:00",
        "--hours",
        "2",
        "--outdir",
        "out",
        "--draftdir",
        "draft",
        "--db-path",
        "stats.db",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    [path] = (tmp_path / "out").glob("MLParamData_*.h5")
    assert "2027-01-14+22:00:00_to_2027-01-15+00:00:00" in path.name
    assert f"{path.name}: 2 datasets, " in done.stdout
    assert f"plot page at {tmp_path / 'plots' / 'index.html'}" in done.stdout

    # the event grabber's -o: stop after the first code with data
    events = run_cli(
        "events",
        "--url",
        logger_sim.url,
        "--stopat",
        "2027-01-15 00:00:00",
        "--minutes",
        "5",
        "--maxEvt",
        "0x10",
        "-o",
        "--outdir",
        "out",
        "--db-path",
        "stats.db",
        cwd=tmp_path,
    )
    assert events.returncode == 0, events.stderr
    [path] = (tmp_path / "out").glob("MLEventData_*_From_EventC_*.h5")
    assert f"{path.name}: 1 datasets, 5 samples, 0 empty, 0 missing" in events.stdout

    bad = tmp_path / "bad.txt"
    bad.write_text("MLrn B:VIMIN\n# the format changed:\nB:IMINER\n")
    refused = run_cli(
        "params",
        "--url",
        logger_sim.url,
        "--list",
        str(bad),
        "--outdir",
        "out2",
        "--db-path",
        "stats.db",
        cwd=tmp_path,
    )
    assert refused.returncode == 2
    assert refused.stderr.strip() == (
        f"socs-like grab: {bad} line 3: 1 field(s); expected '<logger-node> <device>': 'B:IMINER'"
    )
    assert not (tmp_path / "out2").exists() or not list((tmp_path / "out2").glob("*.h5"))
