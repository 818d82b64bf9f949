"""The overview's HostManager states and the agents' panels in real headless Chromium, each
against the real agent process and its simulator (started as that agent's own tests start
them: their fixtures are imported here), on the real hub. Driving is done with the client;
the browser only looks. Screenshots go to ``var/test-output/screenshots/``.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

from playwright.sync_api import expect

from socs_like.testing import wait_until
from tests.agents.daq_worker.conftest import worker  # noqa: F401  (fixture)
from tests.agents.datalogger.conftest import logger_sim, write_list  # noqa: F401  (fixture)
from tests.agents.difx_relay.conftest import guiserver  # noqa: F401  (fixture)
from tests.agents.difx_relay.test_difx_agent import _agent_args as difx_agent_args
from tests.agents.host_manager.test_host_manager import CRASH_LINE, fake, host  # noqa: F401
from tests.agents.run_pipeline.conftest import site  # noqa: F401  (fixture)

TIMEOUT = 20_000  # ms: generous, the machine is shared


def test_a_crash_looping_instance_shows_with_its_last_error_line(host, web, browser_page):  # noqa: F811
    w = web()
    page = browser_page.page
    page.goto(w.url + "/")
    h = host([fake("hmw-broken", agent_class="Broken"), fake("hmw-fine")])
    row = page.locator('tr[data-agent="hmw-broken"]')
    # it never came up, so only the HostManager knows it
    expect(row.locator("td.state > span")).to_have_text("crash-looping", timeout=TIMEOUT)
    expect(row.locator(".last-line")).to_contain_text(CRASH_LINE)
    # the restarts shown are the supervisor's (it backs off, so the count settles)
    said = row.locator(".host-said")
    expect(said).to_contain_text(re.compile(r"^\d+ restarts"))
    wait_until(
        lambda: int(said.inner_text().split()[0]) == h.instances()["hmw-broken"]["restarts"],
        30,
        message="the page's restarts = the HostManager's",
    )
    expect(row.locator("td").nth(1)).to_have_text("Broken")
    fine = page.locator('tr[data-agent="hmw-fine"]')
    expect(fine.locator("td.state > span")).to_have_text("alive", timeout=TIMEOUT)
    expect(fine.locator("td.host")).not_to_have_text("")
    browser_page.screenshot("crash-looping")
    # a dashboard started later has it at once from the manager's session, not the next change
    later = web()
    page.goto(later.url + "/")
    expect(page.locator('tr[data-agent="hmw-broken"] td.state > span')).to_have_text(
        "crash-looping", timeout=TIMEOUT
    )
    # killed, and brought back by the supervisor: alive again, the restart counted
    os.kill(h.instances()["hmw-fine"]["pid"], signal.SIGKILL)
    expect(fine.locator(".host-said")).to_have_text("1 restart", timeout=TIMEOUT)
    expect(fine.locator("td.state > span")).to_have_text("alive", timeout=TIMEOUT)
    # stopped on request: the supervisor's word, though the heartbeat is still fresh
    h.task("stop", instance_id="hmw-fine")
    expect(fine.locator("td.state > span")).to_have_text("stopped", timeout=TIMEOUT)
    assert browser_page.console_errors == []


def test_difx_panel_shows_a_jobs_progress(guiserver, run_agent, make_client, web, browser_page):  # noqa: F811
    # a 6 s job, its progress pushed every second: a few pushes land mid-way (at the default 5 s
    # a 3 s job could go from nothing to "Done" in one push)
    sim = guiserver("--step-seconds", "0.3", "--job-steps", "20", "--load-interval", "30")
    args = [*difx_agent_args(sim), "--session-data-interval", "1"]
    agent = run_agent("DiFXRelay", "panel-difx", args=args)
    client = make_client("panel-difx")
    w = web("--expire-after", "3")
    page = browser_page.page
    page.goto(w.url + "/")
    panel = page.locator('.panel[data-panel="DiFXRelay"]')
    expect(panel.locator("p").nth(1)).to_have_text(
        f"connected to 127.0.0.1:{sim.port}", timeout=TIMEOUT
    )
    job = sim.sandbox / "corr" / "exp" / "panel_1.input"
    job.parent.mkdir(parents=True)
    job.write_text("DATASTREAM ENTRIES: 1\n")
    machines = {"head": "difxhead", "datastreams": ["ds1"], "processors": ["cn01:7"]}
    assert client.start_job(input=str(job), wait=False, **machines).session["success"]
    row = panel.locator('tr[data-job="panel_1"]')
    # mid-way: running, with a progress strictly between 0 and 100
    expect(row.locator("td").nth(1)).to_have_text("Running", timeout=TIMEOUT)
    expect(row.locator("td").nth(2)).to_have_text(
        re.compile(r"^ ([1-9]|[1-9]\d) %$"), timeout=TIMEOUT
    )
    browser_page.screenshot("difx-running")
    expect(row.locator("td").nth(1)).to_have_text("Done", timeout=TIMEOUT)
    expect(row.locator("td").nth(2)).to_have_text(" 100 %")
    relay = client.relay.status().session["data"]
    assert relay["jobs"]["panel_1"]["progress"] == 100.0
    assert row.locator(".bar > span").get_attribute("style") == "width:100%"
    # the agent gone: the panel says its numbers are no longer live
    agent.kill()
    expect(panel.locator(".panel-state")).to_contain_text("panel-difx is expired", timeout=TIMEOUT)
    expect(panel).to_have_class(re.compile(r"\bstale\b"))
    browser_page.screenshot("difx-expired")
    assert browser_page.console_errors == []


def test_daq_worker_panel_shows_each_workers_state(
    run_agent,
    make_client,
    sshd,
    worker,  # noqa: F811
    web,
    browser_page,
    tmp_path,
):
    worker.start(files=3, size=100)
    run_agent(
        "DaqWorker",
        "panel-daq",
        args=[
            "--hosts",
            "worker",
            "--ssh-config",
            str(sshd.ssh_config),
            "--data-router-name",
            worker.router_name,
            "--ecc-server-name",
            worker.ecc_name,
            "--monitor-interval",
            "0.5",
            "--file-root",
            str(tmp_path),
        ],
    )
    client = make_client("panel-daq")
    w = web()
    page = browser_page.page
    page.goto(w.url + "/")
    row = page.locator('.panel[data-panel="DaqWorker"] tr[data-host="worker"]')
    # data alone, pushed once per --session-data-interval: a sweep may come a push later
    for column, text in enumerate(("ok", "up", "up", "3"), start=1):
        expect(row.locator("td").nth(column)).to_have_text(text, timeout=TIMEOUT)
    hosts = client.monitor.status().session["data"]["hosts"]
    assert (hosts["worker"]["state"], hosts["worker"]["graw_files"]) == ("ok", 3)
    # the data router stops: the next sweep says so on the page
    worker.stop()
    expect(row.locator("td").nth(3)).to_have_text("down", timeout=TIMEOUT)
    browser_page.screenshot("daq-worker")
    assert browser_page.console_errors == []


def test_datalogger_panel_shows_the_last_file_and_the_plot_page(
    run_agent,
    make_client,
    logger_sim,  # noqa: F811
    web,
    browser_page,
    tmp_path,
):
    devices = write_list(tmp_path / "list.txt", "B:VIMIN", "I:IB")
    run_agent(
        "DataGrabber",
        "panel-logger",
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
        ],
    )
    client = make_client("panel-logger")
    w = web()
    page = browser_page.page
    page.goto(w.url + "/")
    panel = page.locator('.panel[data-panel="DataGrabber"]')
    expect(panel).to_contain_text("No grab and no scheduler run yet.", timeout=TIMEOUT)
    client.grab_params.start(stopat="2027-01-15 00:00:00", hours=1)
    grab = client.grab_params.wait(timeout=60).session
    assert grab["success"], grab["messages"]
    [report] = grab["data"]["reports"]
    page_path = str((tmp_path / "plots" / "index.html").resolve())  # beside the stats DB
    assert grab["data"]["page"] == page_path
    files = panel.locator("tr[data-file]")
    expect(files).to_have_count(1, timeout=TIMEOUT)
    expect(files.locator("td").nth(0)).to_have_text(report["file"].rsplit("/", 1)[1])
    expect(files.locator("td").nth(1)).to_have_text(str(report["datasets"]))
    expect(files.locator("td").nth(2)).to_have_text(str(report["samples"]))
    link = panel.locator("a.plot-page")
    expect(link).to_have_text(page_path, timeout=TIMEOUT)
    assert link.get_attribute("href") == f"file://{page_path}"
    browser_page.screenshot("datalogger")
    assert browser_page.console_errors == []


def test_datalogger_panel_dates_its_scheduled_runs(
    run_agent,
    make_client,
    logger_sim,  # noqa: F811
    web,
    browser_page,
    tmp_path,
):
    """Runs are days or a year apart: "1:00:00 AM" alone does not say which day."""
    devices = write_list(tmp_path / "list.txt", "B:VIMIN")
    run_agent(
        "DataGrabber",
        "panel-logger-dates",
        args=[
            *("--logger-url", logger_sim.url, "--device-list", str(devices)),
            *("--outdir", str(tmp_path / "out"), "--db-path", str(tmp_path / "stats.db")),
            # yearly: the catch-up run at start is last January's, the next is next January's
            *("--param-schedule", "0 1 1 1 *", "--event-schedule", "off"),
            *("--days", "0", "--hours", "1"),
        ],
    )
    client = make_client("panel-logger-dates")

    def scheduled():
        data = client.scheduler.status().session.get("data") or {}
        return data if data.get("last", {}).get("params") and data.get("next") else None

    data = wait_until(scheduled, 60, message="the scheduler's catch-up run")
    w = web()
    page = browser_page.page
    page.goto(w.url + "/")
    row = page.locator('.panel[data-panel="DataGrabber"] tr[data-schedule="params"]')

    def dated(t: float) -> str:  # the browser runs on this machine's time zone
        return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t))

    expect(row.locator("td").nth(1)).to_have_text(
        dated(data["last"]["params"]["due"]), timeout=TIMEOUT
    )
    expect(row.locator("td").nth(3)).to_have_text(dated(data["next"]["params"]))
    browser_page.screenshot("datalogger-dates")
    assert browser_page.console_errors == []


def test_run_pipeline_panel_shows_runs_per_status_and_transitions(
    site,  # noqa: F811
    run_agent,
    make_client,
    web,
    browser_page,
):
    run_agent(
        "RunPipeline",
        "panel-pipeline",
        args=[
            *site.args("--bundle-runs", "2"),
            *("--transfer-period", "0.5", "--process-period", "0.5"),
            *("--archive-period", "0.5", "--monitor-period", "0.3"),
        ],
    )
    client = make_client("panel-pipeline")
    w = web()
    page = browser_page.page
    page.goto(w.url + "/")
    panel = page.locator('.panel[data-panel="RunPipeline"]')
    expect(panel.locator('td[data-status="raw_acquired"]')).to_have_text("0", timeout=TIMEOUT)
    sim = subprocess.run(
        [
            sys.executable,
            "-m",
            "socs_like_agents.run_pipeline.simulator",
            *("--db-path", str(site.db_path), "--data-dir", str(site.daq)),
            *("--runs", "3", "--run-seconds", "0.1", "--gap", "0.1"),
            *("--files", "1", "--size", "1024"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert sim.returncode == 0, sim.stderr
    # two runs fill a bundle and are archived; the third waits, compressed
    expect(panel.locator('td[data-status="raw_archived"]')).to_have_text("2", timeout=30_000)
    expect(panel.locator('td[data-status="raw_compressed"]')).to_have_text("1", timeout=TIMEOUT)
    processed = panel.locator('td[data-status="processed_processed"]')
    expect(processed).to_have_text("3", timeout=TIMEOUT)

    def agent_counts():
        data = client.monitor.status().session["data"]
        return data["counts"] if data.get("counts", {}).get("raw_archived") == 2 else None

    counts = wait_until(agent_counts, 15, message="the monitor's counts")
    # the panel has them from a push of data alone: once per --session-data-interval at most
    for status, n in counts.items():
        expect(panel.locator(f'td[data-status="{status}"]')).to_have_text(str(n), timeout=TIMEOUT)
    # the newest transition first, as the runs' log has it (nothing moves any more)
    *_, (_id, newest) = site.store.events_after(0)
    first = panel.locator("table.transitions tr[data-run]").first
    expect(first.locator("td").nth(1)).to_have_text(newest.run, timeout=TIMEOUT)
    expect(first.locator("td").nth(2)).to_have_text(newest.action)
    # an event that moves no status (the archive's "cleaned") shows a dash there
    expect(first.locator("td").nth(3)).to_have_text(newest.to_status or "—")
    # a page opened now has them from the stream's snapshot (no transition comes any more)
    page.reload()
    expect(first.locator("td").nth(1)).to_have_text(newest.run, timeout=TIMEOUT)
    expect(panel.locator('tr[data-pass="archive"] td.activity')).to_have_text(
        "idle", timeout=TIMEOUT
    )
    passes = panel.locator('tr[data-pass="transfer"] td').nth(2).inner_text()
    assert int(passes) >= 1
    browser_page.screenshot("run-pipeline")
    # the monitor stopped: its counts are said to be as of then, not live
    client.monitor.stop()
    expect(panel.locator(".monitor-ended")).to_contain_text("monitor ended", timeout=TIMEOUT)
    assert browser_page.console_errors == []
