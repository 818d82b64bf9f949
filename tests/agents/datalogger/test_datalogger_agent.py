"""DataGrabber end to end: a real agent process on a real hub, the simulator over HTTP."""

from __future__ import annotations

import itertools
import os
import signal
import sqlite3
import time

import h5py

from socs_like.db import Database
from socs_like.testing import process_alive, wait_until
from socs_like_agents.datalogger.store import MIGRATIONS, record_run
from socs_like_agents.datalogger.window import Schedule, last_midnight, parse_stopat, stamp

from .conftest import ERROR_DEVICE, SLOW_DEVICE, TRICKLE_DEVICE, write_list


def test_grab_params_task_writes_file_stats_feed_and_page(
    hub, run_agent, make_client, feed_listener, logger_sim, tmp_path
):
    devices = write_list(tmp_path / "list.txt", "B:VIMIN", "I:IB", ERROR_DEVICE)
    run_agent(
        "DataGrabber",
        "grabber",
        args=[
            "--logger-url",
            logger_sim.url,
            "--device-list",
            str(devices),
            "--outdir",
            str(tmp_path / "out"),
            "--db-path",
            str(tmp_path / "stats.db"),
            "--param-schedule",
            "off",
            "--event-schedule",
            "off",
            "--retry-delay",
            "0.05",
        ],
    )
    feed = feed_listener("grabber", "stats")
    client = make_client("grabber")
    client.grab_params.start(stopat="2027-01-15 00:00:00", hours=3)
    reply = client.grab_params.wait(timeout=60)
    session = reply.session
    assert session["success"] is False  # a device stayed missing: said, never skipped
    [report] = session["data"]["reports"]
    assert report["missing"] == {
        ERROR_DEVICE: f"logger answered 503: {ERROR_DEVICE}: device in error "
        "(no readings from its front end)"
    }
    assert (session["data"]["progress"]["done"], session["data"]["progress"]["total"]) == (3, 3)
    assert any(f"missing {ERROR_DEVICE}" in m for _t, m in session["messages"])
    path = tmp_path / "out" / os.path.basename(report["file"])
    with h5py.File(path) as h5:
        assert sorted(h5) == ["B:VIMIN", "I:IB"]
        vimin = h5["B:VIMIN"][:, 1]
    with sqlite3.connect(tmp_path / "stats.db") as c:
        assert c.execute("SELECT count(*) FROM datalogger_stats").fetchone() == (20,)

    # the feed: one block per device, the window start as its time
    def blocks(events):
        found = {name: block for payload, _ in events for name, block in payload.items()}
        return found if {"B_VIMIN", "I_IB"} <= set(found) else None

    block = feed.wait_for(blocks, timeout=10)["B_VIMIN"]
    assert block["timestamps"] == [parse_stopat("2027-01-14 21:00:00")]
    assert block["data"]["max"] == [float(vimin.max())]
    assert block["data"]["min"] == [float(vimin.min())]
    assert "interval_mean" in block["data"]

    page = client.export_plots().session
    assert page["success"] is True
    assert page["data"]["page"] == str(tmp_path / "plots" / "index.html")  # beside stats.db

    # events through the agent: one dataset per code that occurred
    events = client.grab_events(stopat="2027-01-15 00:00:00", minutes=10, max_evt=0x10).session
    assert events["success"] is True
    assert events["data"]["reports"][0]["datasets"] == 4
    assert events["data"]["reports"][0]["empty"] == [
        f"{c:#04x}" for c in range(0x11) if c not in (0, 2, 7, 15)
    ]

    # the list is read at each grab: an aborted grab leaves no file behind
    before = sorted((tmp_path / "out").glob("*.h5"))
    write_list(devices, SLOW_DEVICE, "B:VIMIN")
    client.grab_params.start(stopat="2027-01-15 00:00:00", minutes=10)
    wait_until(lambda: client.grab_params.status().session["status"] == "running", timeout=10)
    client.grab_params.abort()
    aborted = client.grab_params.wait(timeout=30).session
    assert aborted["success"] is False
    assert any("param grab stopped; no file written" in m for _t, m in aborted["messages"])
    assert sorted((tmp_path / "out").glob("*.h5")) == before

    # ...and a list whose format changed is refused naming its line
    devices.write_text("MLrn B:VIMIN\nB:IMINER\n")
    refused = client.grab_params(stopat="2027-01-15 00:00:00", minutes=10).session
    assert refused["success"] is False
    assert any(
        f"{devices} line 2: 1 field(s); expected '<logger-node> <device>'" in m
        for _t, m in refused["messages"]
    )

    # distill refuses a path outside the output folder
    refused = client.distill(file="/etc/passwd").session
    assert refused["success"] is False
    assert any("outside the allowed roots" in m for _t, m in refused["messages"])


def test_missed_scheduled_runs_are_caught_up_at_start(
    hub, run_agent, make_client, logger_sim, tmp_path
):
    db_path = tmp_path / "stats.db"
    schedule = Schedule("0 1 * * *")
    last = schedule.last_due(time.time())
    db = Database(db_path)
    MIGRATIONS.upgrade(db)
    # the agent last ran three days before the latest due time, then was down
    db.write(lambda s: record_run(s, "params", last - 3 * 86400, last - 3 * 86400, True, "ok"))
    devices = write_list(tmp_path / "list.txt", "B:VIMIN")
    run_agent(
        "DataGrabber",
        "grabber-cron",
        args=[
            "--logger-url",
            logger_sim.url,
            "--device-list",
            str(devices),
            "--outdir",
            str(tmp_path / "out"),
            "--db-path",
            str(db_path),
            "--param-schedule",
            "0 1 * * *",
            "--event-schedule",
            "off",
            "--days",
            "0",
            "--minutes",
            "10",
        ],
    )
    client = make_client("grabber-cron")

    def files():
        return sorted(p.name for p in (tmp_path / "out").glob("MLParamData_*.h5"))

    wait_until(lambda: len(files()) == 3, timeout=60, message="three caught-up files")
    # each run grabbed the window it would have grabbed on its day
    for days_ago, name in zip((2, 1, 0), files(), strict=True):
        stop = last_midnight(last - days_ago * 86400)
        assert name.endswith(f"_From_MLrn_{stamp(stop - 600)}_to_{stamp(stop)}.h5"), name
    status = wait_until(
        lambda: (s := client.scheduler.status().session)["data"].get("runs") == 3 and s,
        timeout=20,
    )
    assert status["data"]["next"]["params"] == schedule.next_after(time.time())
    assert any("catching up 3 missed params run(s)" in m for _t, m in status["messages"])
    with sqlite3.connect(db_path) as c:
        dues = [d for (d,) in c.execute("SELECT due FROM datalogger_runs ORDER BY due")]
    assert dues == [last - 3 * 86400, last - 2 * 86400, last - 86400, last]


def test_timeline_logger_rotates_files_and_is_restarted_when_it_dies(
    hub, run_agent, make_client, logger_sim, tmp_path
):
    outdir = tmp_path / "timeline"
    agent = run_agent(
        "DataGrabber",
        "grabber-timeline",
        args=[
            "--logger-url",
            logger_sim.url,
            "--outdir",
            str(tmp_path / "out"),
            "--db-path",
            str(tmp_path / "stats.db"),
            "--param-schedule",
            "off",
            "--event-schedule",
            "off",
            "--timeline-outdir",
            str(outdir),
            "--timeline-rotate",
            "1",
        ],
    )
    client = make_client("grabber-timeline")

    def timeline_files():
        return sorted(outdir.glob("TimelineEventData_*.h5"))

    wait_until(lambda: len(timeline_files()) >= 2, timeout=30, message="two timeline files")
    first = client.timeline.status().session["data"]
    os.kill(first["pid"], signal.SIGKILL)
    second = wait_until(
        lambda: (d := client.timeline.status().session["data"]).get("restarts") == 1 and d,
        timeout=20,
    )
    assert second["pid"] != first["pid"]
    count = len(timeline_files())
    wait_until(lambda: len(timeline_files()) >= count + 2, timeout=30, message="more files")
    windows = []
    for path in timeline_files():
        with h5py.File(path) as h5:
            windows.append((h5.attrs["window_start"], h5.attrs["window_stop"]))
            events = h5["timeline"][()]
            assert ((events[:, 0] >= windows[-1][0]) & (events[:, 0] < windows[-1][1])).all()
    # the restarted logger resumed where the dead one stopped: no hole, no overlap
    assert all(a[1] == b[0] for a, b in itertools.pairwise(windows))
    # the agent killed -9 takes its logger along: a restarted agent would start another one,
    # and two would write the same windows
    os.kill(agent.pid, signal.SIGKILL)
    wait_until(lambda: not process_alive(second["pid"]), 20, message="the logger to end")


def test_a_grabber_killed_mid_scheduled_grab_grabs_the_window_once_after_restart(
    hub, run_agent, logger_sim, tmp_path
):
    outdir, db_path = tmp_path / "out", tmp_path / "stats.db"
    devices = tmp_path / "list.txt"
    # two logger nodes: the first node's file is finished when the second one's grab is killed
    devices.write_text(f"MLrn B:VIMIN\nMLslow {TRICKLE_DEVICE}\n")
    args = [
        *("--logger-url", logger_sim.url, "--device-list", str(devices)),
        *("--outdir", str(outdir), "--db-path", str(db_path)),
        *("--param-schedule", "0 1 * * *", "--event-schedule", "off"),
        *("--days", "0", "--minutes", "10"),
    ]
    first = run_agent("DataGrabber", "grabber-killed", args=args)
    [draft] = wait_until(
        lambda: list((outdir / ".draft").glob(".MLParamData_*_From_MLslow_*.h5.draft")),
        timeout=60,
        message="the second node's draft",
    )
    first.kill()
    assert draft.exists(), "the grab finished before it was killed"
    [node_a] = outdir.glob("MLParamData_*_From_MLrn_*.h5")
    # what a grab killed while it copied a draft from another file system leaves: unlocked
    (outdir / f".{node_a.name.replace('_MLrn_', '_MLslow_')}.part").write_bytes(b"\x89HDF")

    due = Schedule("0 1 * * *").last_due(time.time())
    run_agent("DataGrabber", "grabber-killed", args=args)

    def runs():
        with sqlite3.connect(db_path) as c:
            return c.execute("SELECT due, ok FROM datalogger_runs").fetchall()

    assert wait_until(runs, timeout=90, message="the interrupted run recorded") == [(due, True)]
    assert list((outdir / ".draft").iterdir()) == []
    assert [p.name for p in outdir.glob(".*")] == [".draft"]
    # one file per node for the window: the first node's is the one written before the kill
    assert list(outdir.glob("MLParamData_*_From_MLrn_*.h5")) == [node_a]
    [node_b] = outdir.glob("MLParamData_*_From_MLslow_*.h5")
    with h5py.File(node_b) as h5:
        assert list(h5) == [TRICKLE_DEVICE] and h5.attrs["complete"]
    with sqlite3.connect(db_path) as c:
        names = {n for (n,) in c.execute("SELECT DISTINCT file_name FROM datalogger_stats")}
    assert names == {node_a.name, node_b.name}
